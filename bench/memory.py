"""Memory over time: gateway + journal writer RSS at 64 beds with waves.

A real ``icu-gateway run --headless`` (journal on the disk of the working directory) fed by
``icu-gateway simulate --beds 64 --waveforms`` over MLLP, both subprocesses. Every
``--every`` seconds it prints the resident memory (VmRSS, /proc) of the gateway and of its
journal writer process, and at the end how much each grew over the second half of the run
(a memory that levels off grows ~0 there). DESIGN.md: memory flat over hours, < 5 MB per
bed.

Beside the memory, each sample says how much of one core each process used since the last
(user + system time, /proc): the CPU budget's figure (DESIGN.md: gateway + writer ≤ 25 %
of one core at 64 beds with waves), and the simulator's, which shares the machine.

``python -m bench memory`` runs 20 minutes: what the writer remembers of recent messages
fills for the duplicate window's 10 minutes, so the second half shows whether memory has
levelled off; ``python -m bench.memory --minutes N`` as long as asked.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BEDS = 64
ROOT = Path(__file__).resolve().parents[1]
_TICKS = os.sysconf("SC_CLK_TCK")
DEFAULT_MINUTES = 20.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_s(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (None when it is gone)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def code_env() -> dict[str, str]:
    """The environment that runs this checkout's code in a subprocess started in another
    folder (a relative PYTHONPATH, or none, would start the copy installed in the venv)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def writer_of(journal: Path) -> int | None:
    """The journal writer process writing ``journal``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes()
            if b"gateway.journal.writer" in command and str(journal).encode() in command:
                return int(entry.name)
    return None


Sample = tuple[float, float, float, float, float, float]
"""Seconds, gateway MB, writer MB, and the share of a core of gateway, writer, simulator."""


def run(minutes: float, every_s: float) -> list[Sample]:
    """Run the ward for ``minutes``; return a :data:`Sample` every ``every_s``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=Path.cwd()))
    journal = folder / "journal.sqlite"
    port = _free_port()
    cli = [sys.executable, "-m", "gateway.app.cli"]
    samples: list[Sample] = []
    env = code_env()
    with (folder / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            [*cli, "run", "--headless", "--listen", f"127.0.0.1:{port}", "--journal", str(journal)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )
        simulator = None
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline or gateway.poll() is not None:
                    raise RuntimeError(f"the gateway did not start (see {folder}/gateway.log)")
                time.sleep(0.1)
            simulator = subprocess.Popen(
                [
                    *cli,
                    "simulate",
                    "--beds",
                    str(BEDS),
                    "--waveforms",
                    "--to",
                    f"mllp://127.0.0.1:{port}",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
            )
            started = time.monotonic()
            pids = (gateway.pid, writer_of(journal), simulator.pid)
            last = [cpu_s(pid) or 0.0 for pid in pids]
            last_t = started
            end = started + minutes * 60
            print(f"memory: {BEDS} beds with waves for {minutes:g} min, RSS every {every_s:g} s")
            print(
                f"{'t (s)':>7} {'gateway MB':>11} {'writer MB':>10} {'total MB':>9}"
                f" {'gateway %':>10} {'writer %':>9} {'simulator %':>12}"
            )
            while time.monotonic() < end:
                time.sleep(every_s)
                writer = writer_of(journal)
                gw = rss_mb(gateway.pid) or 0.0
                wr = (rss_mb(writer) if writer else None) or 0.0
                now = time.monotonic()
                t = now - started
                pids = (gateway.pid, writer, simulator.pid)
                used = [cpu_s(pid) or 0.0 for pid in pids]
                shares = [100 * (u - b) / (now - last_t) for u, b in zip(used, last, strict=True)]
                last, last_t = used, now
                samples.append((t, gw, wr, shares[0], shares[1], shares[2]))
                print(
                    f"{t:7.0f} {gw:11.1f} {wr:10.1f} {gw + wr:9.1f} {shares[0]:10.1f}"
                    f" {shares[1]:9.1f} {shares[2]:12.1f}",
                    flush=True,
                )
        finally:
            if simulator is not None:
                simulator.terminate()
                simulator.wait(10)
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
    size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(journal.name))
    hours = (samples[-1][0] if samples else minutes * 60) / 3600
    print(
        f"memory: journal {size / 2**20:.1f} MiB after the run:"
        f" {size / 2**20 / BEDS / hours:.1f} MiB per bed-hour (simulated monitors with waves)"
    )
    shutil.rmtree(folder, ignore_errors=True)
    return samples


def summary(samples: list[Sample]) -> None:
    if len(samples) < 4:
        return
    steady = samples[1:]  # the first interval holds the start-up
    gateway, writer, simulator = (
        sum(sample[i] for sample in steady) / len(steady) for i in (3, 4, 5)
    )
    print(
        f"cpu: share of one core after the first sample: gateway {gateway:.1f} %, writer"
        f" {writer:.1f} % (together {gateway + writer:.1f} %), simulator {simulator:.1f} %"
    )
    half = samples[len(samples) // 2]
    last = samples[-1]
    minutes = (last[0] - half[0]) / 60
    print(
        f"memory: over the second half ({minutes:.1f} min): gateway {half[1]:.1f} → {last[1]:.1f}"
        f" MB ({last[1] - half[1]:+.1f}), writer {half[2]:.1f} → {last[2]:.1f} MB"
        f" ({last[2] - half[2]:+.1f}); per bed {(last[1] + last[2]) / BEDS:.2f} MB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory")
    parser.add_argument("--minutes", type=float, default=DEFAULT_MINUTES)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args([] if argv is None else argv)
    summary(run(args.minutes, args.every))


if __name__ == "__main__":
    main(sys.argv[1:])

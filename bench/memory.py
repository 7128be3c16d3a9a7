"""Memory over time: gateway + journal writer RSS at 64 beds with waves.

A real ``icu-gateway run --headless`` (journal on the disk of the working directory) fed by
``icu-gateway simulate --beds 64 --waveforms`` over MLLP, both subprocesses. Every
``--every`` seconds it prints the resident memory (VmRSS, /proc) of the gateway and of its
journal writer process, and at the end how much each grew over the second half of the run
(a memory that levels off grows ~0 there). DESIGN.md: memory flat over hours, < 5 MB per
bed.

``python -m bench memory`` runs 20 minutes: what the writer remembers of recent messages
fills for the duplicate window's 10 minutes, so the second half shows whether memory has
levelled off; ``python -m bench.memory --minutes N`` as long as asked.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BEDS = 64
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


def run(minutes: float, every_s: float) -> list[tuple[float, float, float]]:
    """Run the ward for ``minutes``; return (seconds, gateway MB, writer MB) samples."""
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=Path.cwd()))
    journal = folder / "journal.sqlite"
    port = _free_port()
    cli = [sys.executable, "-m", "gateway.app.cli"]
    samples: list[tuple[float, float, float]] = []
    with (folder / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            [*cli, "run", "--headless", "--listen", f"127.0.0.1:{port}", "--journal", str(journal)],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
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
            )
            started = time.monotonic()
            end = started + minutes * 60
            print(f"memory: {BEDS} beds with waves for {minutes:g} min, RSS every {every_s:g} s")
            print(f"{'t (s)':>7} {'gateway MB':>11} {'writer MB':>10} {'total MB':>9}")
            while time.monotonic() < end:
                time.sleep(every_s)
                writer = writer_of(journal)
                gw = rss_mb(gateway.pid) or 0.0
                wr = (rss_mb(writer) if writer else None) or 0.0
                t = time.monotonic() - started
                samples.append((t, gw, wr))
                print(f"{t:7.0f} {gw:11.1f} {wr:10.1f} {gw + wr:9.1f}", flush=True)
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


def summary(samples: list[tuple[float, float, float]]) -> None:
    if len(samples) < 4:
        return
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

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
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import programs
from bench.programs import cpu_s, rss_mb, writer_of

BEDS = 64
DEFAULT_MINUTES = 20.0


Sample = tuple[float, float, float, float, float, float]
"""Seconds, gateway MB, writer MB, and the share of a core of gateway, writer, simulator."""


def run(minutes: float, every_s: float) -> list[Sample]:
    """Run the ward for ``minutes``; return a :data:`Sample` every ``every_s``."""
    folder = Path(tempfile.mkdtemp(prefix="bench-memory-", dir=Path.cwd()))
    journal = folder / "journal.sqlite"
    port = programs.free_port()
    samples: list[Sample] = []
    listen = ("--listen", f"127.0.0.1:{port}", "--journal", str(journal))
    beds = ("--beds", str(BEDS), "--waveforms", "--to", f"mllp://127.0.0.1:{port}")
    with (
        programs.gateway(folder, *listen, log=folder / "gateway.log", port=port) as gateway,
        programs.simulator(*beds) as simulator,
    ):
        started = time.monotonic()
        pids = (gateway.pid, writer_of(journal), simulator.pid)
        last = [cpu_s(pid) for pid in pids]
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
            wr = rss_mb(writer) or 0.0
            now = time.monotonic()
            t = now - started
            pids = (gateway.pid, writer, simulator.pid)
            used = [cpu_s(pid) for pid in pids]
            shares = [100 * (u - b) / (now - last_t) for u, b in zip(used, last, strict=True)]
            last, last_t = used, now
            samples.append((t, gw, wr, shares[0], shares[1], shares[2]))
            print(
                f"{t:7.0f} {gw:11.1f} {wr:10.1f} {gw + wr:9.1f} {shares[0]:10.1f}"
                f" {shares[1]:9.1f} {shares[2]:12.1f}",
                flush=True,
            )
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

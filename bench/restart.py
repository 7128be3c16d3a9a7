"""Restart: how soon a gateway with a full journal answers monitors again, the whole ward
back on screen (stale, with its true age).

``python -m bench restart [--beds 64] [--minutes 12]``:

1. builds a journal of ``--beds`` beds × ``--minutes`` of record time ending now, with the
   bench's waves (``bench/disk.py``'s load: per bed and second a numerics ORU and a message
   with ECG, pleth and respiration), every bed's messages of one second committed together;
2. times ``icu-gateway run --headless`` on it (a fresh process, as a service restarts)
   until its MLLP port accepts a connection: the gateway rebuilds the ward from the
   journal's last 10 minutes before any listener opens (``gateway/app/service.py``), so
   the ward is back by then; its log says how many reports that took;
3. in this process, the same steps the service takes before listening (open the journal,
   :func:`gateway.app.service.rebuild`), timed, and the beds the ward then shows counted.

What the journal's length changes: the rebuild reads the last 10 minutes through the time
index, the writer loads the last 10 minutes' MSH-10s, and the alarm history of 24 h is
read — so a journal longer than ~10 minutes costs these steps only a deeper B-tree (and,
on a cold page cache, reads further into a larger file). The back-fill of the older trends
runs beside the listeners and is not timed here. DESIGN.md: restart to a full
(stale-marked) ward in < 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import disk

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def build(path: Path, beds: int, seconds: int, end_ns: int) -> int:
    """A journal of ``beds`` × ``seconds`` of the bench's waves, its last second ``end_ns``."""
    from adapters.hl7 import er7
    from gateway.domain import ReceivedMessage
    from gateway.hub import Hub
    from gateway.journal.client import Journal
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    start_ns = end_ns - (seconds - 1) * 1_000_000_000
    count = 0
    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        for second in range(seconds):
            now = start_ns + second * 1_000_000_000
            submits = []
            for bed in range(1, beds + 1):
                for raw, reports in disk._bench_waves(bed, second, t0_ns=start_ns):
                    device = reports[0].device if reports else None
                    message = ReceivedMessage(
                        raw, "mllp", "p", now, er7.parse(raw).control_id, device
                    )
                    submits.append(hub.submit(message, reports))
            await asyncio.gather(*submits)
            count += len(submits)
    return count


def time_to_port(path: Path) -> tuple[float, str]:
    """Seconds from starting ``icu-gateway run --headless`` to its port accepting, and the
    log line saying what the rebuild fed back."""
    port = _free_port()
    log = path.parent / "gateway.log"
    command = [sys.executable, "-m", "gateway.app.cli", "run", "--headless"]
    command += ["--listen", f"127.0.0.1:{port}", "--journal", str(path)]
    # The code of this checkout, whatever the folder it runs in (a relative PYTHONPATH, or
    # none, would start the copy installed in the virtual environment).
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with log.open("wb") as out:
        started = time.perf_counter()
        gateway = subprocess.Popen(
            command, cwd=path.parent, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env
        )
        try:
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if gateway.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"the gateway did not open its port (see {log})")
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
    text = log.read_text()
    rebuilt = [line for line in text.splitlines() if "rebuilt the ward" in line]
    if not rebuilt:
        print(text[-2000:])
    return elapsed, (rebuilt[-1].split("rebuilt", 1)[-1] if rebuilt else "(no rebuild logged)")


async def in_process(path: Path) -> tuple[float, float, int, int]:
    """What the service does before it listens, timed: (open s, rebuild s, reports, beds)."""
    from gateway.app.service import build_hub, open_journal, rebuild
    from gateway.config.load import default_config

    config = dataclasses.replace(default_config(), journal=path)
    hub = build_hub(config)
    started = time.perf_counter()
    journal = await open_journal(config, hub)
    opened = time.perf_counter()
    try:
        reports = await rebuild(hub, path)
        rebuilt = time.perf_counter()
        beds = len(hub.snapshot().beds)
    finally:
        await journal.close()
    return opened - started, rebuilt - opened, reports, beds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench restart")
    parser.add_argument("--beds", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args([] if argv is None else argv)
    folder = Path(tempfile.mkdtemp(prefix=".bench-restart-", dir=Path.cwd()))
    try:
        path = folder / "journal.sqlite"
        seconds = round(args.minutes * 60)
        began = time.perf_counter()
        end_ns = time.time_ns() - 5_000_000_000
        count = asyncio.run(build(path, args.beds, seconds, end_ns))
        aged_s = (time.time_ns() - end_ns) / 1e9
        if aged_s > 300:  # the journal ends when the build began
            print(
                f"warning: the journal ended {aged_s:.0f} s before these runs: a restart now"
                " has less (or none) of its last 10 minutes to rebuild; time the rebuild in"
                " process at the journal's end instead (gateway.app.service.rebuild, now_ns)"
            )
        size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(path.name))
        print(
            f"\n== restart: a journal of {args.beds} beds × {args.minutes:g} min of bench waves"
            f" ({count} messages, {size / 2**20:.0f} MiB, built in"
            f" {time.perf_counter() - began:.0f} s)"
        )
        for run in range(1, args.runs + 1):
            elapsed, rebuilt = time_to_port(path)
            opened, rebuilding, reports, beds = asyncio.run(in_process(path))
            print(
                f"run {run}: icu-gateway run --headless: port open after {elapsed:.2f} s"
                f" (rebuilt{rebuilt}); in process: journal open {opened:.2f} s, rebuild"
                f" {rebuilding:.2f} s of {reports} reports, {beds} of {args.beds} beds in the ward"
            )
        print("target: the port open and every bed in the ward within 3 s of start")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

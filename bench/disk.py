"""The journal's disk per bed-hour, with a breakdown of where the bytes go.

``python -m bench disk [--minutes M] [--beds B]`` writes ``B`` beds × ``M`` minutes of
record time (default 64 × 2: a ward's size, so that a packing window holds as many devices
as it would in a ward, and as few messages of each) through the real journal (the writer
process, its commits, its packing, its bed index, its checkpoints) in two loads:

- **bench waves**: per bed and second, a 1 Hz numerics ORU (7 values) and one message with
  ECG 250 Hz, pleth 125 Hz and respiration 62.5 Hz (``bench/journal.py``'s load);
- **mixed-ward**: the simulator's ``mixed-ward`` scenario with waveforms, as
  ``icu-gateway simulate --waveforms`` sends it: numerics, alarm updates, and ECG, pleth,
  respiration (and ABP on beds with an arterial line) in a message each — parsed and
  decoded by the real parser and PCD decoder, as the listener does.

A bed's messages of one second are committed together (one monitor's burst); the beds
follow one another, so a commit never holds two beds' messages — the least a bundle
shares, as at a quiet ward's pace. The journal is then closed, and its writer packs what is
left, as at every stop. It prints MiB per bed-hour — the file's pages in use after a full
checkpoint, scaled: the free pages packing left are printed apart, since in a long run new
commits reuse them (what stays free is about one window's commit bundles) — the writer
process's CPU time, and a breakdown from SQLite's ``dbstat``: each table and index, the
stored length of the bundles and what was received.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

MIB = 1024 * 1024
T0_NS = 1_700_000_000 * 1_000_000_000


def _bench_waves(bed: int, second: int, t0_ns: int = T0_NS) -> list[tuple[bytes, list[Any]]]:
    """``bench/journal.py``'s load for one bed-second (from ``t0_ns``): numerics, and three
    waves in one."""
    from adapters.hl7 import er7, pcd
    from bench.journal import WAVES, _signal
    from bench.load import ORU
    from gateway.domain import WaveformChunk

    now = t0_ns + second * 1_000_000_000
    eui = f"00122118390{bed:05d}"
    raw = ORU.format(eui=eui, id=f"n{second}", bed=bed).encode()
    reports = pcd.decode(er7.parse(raw), transport="mllp", peer="p", receive_time_ns=now)
    device = reports[0].device
    chunks, rows = [], []
    for n, (code, refid, unit, rate, decimals) in enumerate(WAVES, 1):
        samples = _signal(code, rate, second + bed * 100_000)  # beds differ in their noise
        chunks.append(
            WaveformChunk(device, code, refid, rate, now, samples.astype(np.float32), unit)
        )
        text = "^".join(f"{v:.{decimals}f}" for v in samples)
        rows.append(f"OBX|{n}|NA|{code}^{refid}^MDC|1.1.1.{n}|{text}|{unit}|||||R")
    wave_raw = (
        f"MSH|^~\\&|MON^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|"
        f"w{second}|P|2.6|||AL|NE\rPID|||P{bed}\rPV1||I|ICU^{bed}^1\rOBR|1||w{second}|"
        "182777000^monitoring of patient^SCT\r" + "\r".join(rows) + "\r"
    ).encode()
    wave_report = reports[0].__class__(
        device, "mllp", "p", now, f"w{second}", reports[0].location, f"P{bed}",
        waveforms=tuple(chunks),
    )  # fmt: skip
    return [(raw, list(reports)), (wave_raw, [wave_report])]


class _MixedWard:
    """The simulator's mixed-ward monitors with waves, decoded as the listener would."""

    def __init__(self, beds: int) -> None:
        from simulators.scenario import load_scenario
        from simulators.ward import SimulatedMonitor, build_monitors

        scenario = load_scenario("mixed-ward")
        self.monitors = [
            SimulatedMonitor(index, device, bed, model)
            for index, device, bed, model, _ in build_monitors(beds, 1, scenario)
        ]

    def second(self, bed: int, second: int) -> list[tuple[bytes, list[Any]]]:
        from adapters.hl7 import er7, pcd

        now = T0_NS + second * 1_000_000_000
        monitor = self.monitors[bed]
        readout = monitor.tick(1.0, now)
        out = []
        for raw in monitor.hl7_messages(readout, now, waveforms=True):
            reports = pcd.decode(er7.parse(raw), transport="mllp", peer="p", receive_time_ns=now)
            out.append((raw, list(reports)))
        return out


async def _write(path: Path, load: str, beds: int, seconds: int) -> int:
    from adapters.hl7 import er7
    from gateway.domain import ReceivedMessage
    from gateway.hub import Hub
    from gateway.journal.client import Journal
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    ward = _MixedWard(beds) if load == "mixed-ward" else None
    count = 0
    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        for second in range(seconds):
            now = T0_NS + second * 1_000_000_000
            for bed in range(beds):
                burst = _bench_waves(bed + 1, second) if ward is None else ward.second(bed, second)
                submits = []
                for raw, reports in burst:
                    device = reports[0].device if reports else None
                    message = ReceivedMessage(
                        raw, "mllp", "p", now, er7.parse(raw).control_id, device
                    )
                    submits.append(hub.submit(message, reports))
                await asyncio.gather(*submits)
                count += len(submits)
    return count


def breakdown(path: Path) -> tuple[int, dict[str, int]]:
    """The file's size after a full checkpoint, and bytes by table/index and column."""
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        parts: dict[str, int] = {}
        (page,) = conn.execute("PRAGMA page_size").fetchone()
        (free,) = conn.execute("PRAGMA freelist_count").fetchone()
        parts["free pages"] = int(free) * int(page)
        for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            parts[f"table/index {name}"] = int(size)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(messages)")]
        sums = [f"sum(length({c}))" for c in columns if c in ("bundle", "reports", "samples")]
        sums.append("sum(raw_size)")
        found = conn.execute(f"SELECT {', '.join(sums)} FROM messages").fetchone()
        for name, value in zip(sums, found, strict=True):
            parts[f"column {name}"] = int(value or 0)
        packs = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'packs'")
        if packs.fetchone()[0]:
            (length,) = conn.execute("SELECT sum(length(data)) FROM packs").fetchone()
            parts["column sum(length(packs.data))"] = int(length or 0)
        (count,) = conn.execute("SELECT count(*) FROM messages").fetchone()
        parts["messages"] = int(count)
    finally:
        conn.close()
    return path.stat().st_size, parts


def measure(load: str, beds: int, minutes: float) -> tuple[float, dict[str, int], int]:
    """MiB per bed-hour of ``load`` (the file's pages in use), the breakdown (bytes,
    unscaled) and messages. The breakdown's "writer CPU" is the writer process's user +
    system time (it is this process's only child), packing at close included."""
    folder = Path(tempfile.mkdtemp(prefix=".bench-disk-", dir="."))
    try:
        path = folder / f"{load}.sqlite"
        seconds = round(minutes * 60)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        asyncio.run(_write(path, load, beds, seconds))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        size, parts = breakdown(path)
        parts["file"] = size
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        parts["writer CPU ms"] = round(cpu * 1000)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    bed_hours = beds * seconds / 3600
    return (size - parts["free pages"]) / MIB / bed_hours, parts, parts["messages"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench disk")
    parser.add_argument("--beds", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--load", choices=("bench", "mixed-ward", "both"), default="both")
    args = parser.parse_args(sys.argv[2:] if argv is None else argv)
    loads = ("bench", "mixed-ward") if args.load == "both" else (args.load,)
    bed_hours = args.beds * round(args.minutes * 60) / 3600
    print(f"\n== journal disk: {args.beds} beds × {args.minutes:g} min each load")
    for load in loads:
        per_hour, parts, messages = measure(load, args.beds, args.minutes)
        print(
            f"{load}: {per_hour:.2f} MiB per bed-hour ({messages} messages);"
            f" 64 beds × 72 h: {per_hour * 64 * 72 / 1024:.1f} GiB;"
            f" days of retention per 100 GB at 64 beds: {100e9 / MIB / (per_hour * 64 * 24):.1f}"
        )
        cpu_s = parts["writer CPU ms"] / 1000
        print(
            f"   writer CPU: {cpu_s:.2f} s, {cpu_s / bed_hours:.2f} s per bed-hour"
            f" ({cpu_s / bed_hours * 64 / 36:.2f} % of a core at 64 beds)"
        )
        for name, value in parts.items():
            if name not in ("messages", "writer CPU ms"):
                print(f"   {name}: {value / MIB / bed_hours:.2f} MiB per bed-hour")


if __name__ == "__main__":
    main(sys.argv[1:])

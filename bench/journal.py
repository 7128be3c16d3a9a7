"""The journal: MLLP ingest with ACK-after-commit, and disk used per bed-hour.

1. Ingest: the gateway (listener → parse → decode → hub → journal, group commit, ACK when
   the commit returns) in this process; 16 monitors in a child process, each waiting for
   its ACK before sending the next. Saturated (msg/s, ACK p50/p99), then paced at
   1,000 msg/s (ACK p50/p99), side by side with python-hl7's MLLP server, which parses
   and ACKs but stores nothing, and an ACK-only server (canned ACK per frame: the load
   client's ceiling), the three interleaved in :data:`ROUNDS` rounds (each round in another
   order) so a change of the machine's speed hits all three alike. DESIGN.md targets:
   ≥ 10× python-hl7 and ≥ 60 % of the ACK-only server; ACK p99 < 10 ms at 1,000 msg/s.
2. Size: one bed at realistic load — a 1 Hz numerics ORU (7 values) and 1 s waveform chunks
   of ECG 250 Hz, pleth 125 Hz, respiration 62.5 Hz (built directly as WaveformChunks, with
   their ER7 text as the raw message) — journaled for 10 minutes of record time, and the
   file size scaled to a bed-hour and a 16- and 64-bed ward-day; then the numerics alone,
   one message at a time (each its own commit and bundle, as at a ward's real pace).

The journal file lives in a temporary folder on the disk the working directory is on (a
tmpfs would hide the fsync).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import numpy as np

from bench.load import (
    CONNECTIONS,
    ORU,
    SECONDS,
    WARM_UP_SECONDS,
    ack_only_server,
    listening,
    measure,
    percentile,
    python_hl7_server,
)
from bench.programs import cpu_s

PACED_RATE = 1000.0
ROUNDS = 3
"""Saturated runs of each server, interleaved (``--rounds``)."""


# --------------------------------------------------------------------------- ingest


@dataclasses.dataclass
class Cpu:
    """CPU seconds (user + system) of each process over a measured run."""

    gateway: float = 0.0
    """This process: the event loop (listener, parse, decode, hub, the journal's client)."""
    writer: float = 0.0
    """The journal's writer process (SQLite, the WAL's writes, fsync, packing)."""
    monitors: float = 0.0
    """The load client's process (16 monitors)."""


async def _journal_ingest(
    folder: Path, rate: float, name: str = ""
) -> tuple[int, list[float], int, int, Cpu]:
    from gateway.hub import Hub
    from gateway.journal.client import Journal
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    path = folder / f"ingest-{rate:g}{name}.sqlite"
    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        async with listening(hub) as port:
            await measure(port, rate, seconds=WARM_UP_SECONDS)  # unmeasured
            before = dataclasses.replace(journal.counters)
            times, writer = os.times(), cpu_s(journal.writer_pid)
            total, latencies = await measure(port, rate)
            ended, writer = os.times(), cpu_s(journal.writer_pid) - writer
        after = journal.counters
        cpu = Cpu(
            gateway=ended.user + ended.system - times.user - times.system,
            writer=writer,
            # The load's child process was reaped by measure(): its times are the children's.
            monitors=ended.children_user
            + ended.children_system
            - times.children_user
            - times.children_system,
        )
        stored, commits = after.stored - before.stored, after.commits - before.commits
        return total, latencies, stored, commits, cpu


async def _peer_ingest(
    server: Callable[[], AbstractAsyncContextManager[int]],
) -> tuple[int, list[float]]:
    async with server() as port:
        await measure(port, seconds=WARM_UP_SECONDS)  # unmeasured, as ours
        return await measure(port)


Round = dict[str, tuple[int, list[float], int, int, Cpu]]
"""Per server (ours, python-hl7, floor): ACKed, round trips, stored, commits, CPU (ours)."""


def _ingest_rounds(folder: Path, rounds: int) -> list[Round]:
    """Saturated runs of the three servers, interleaved, each round in another order."""

    def ours(n: int) -> tuple[int, list[float], int, int, Cpu]:
        return asyncio.run(_journal_ingest(folder, 0.0, f"-{n}"))

    def peer(n: int) -> tuple[int, list[float], int, int, Cpu]:
        total, latencies = asyncio.run(_peer_ingest(python_hl7_server))
        return total, latencies, 0, 0, Cpu()

    def floor(n: int) -> tuple[int, list[float], int, int, Cpu]:
        total, latencies = asyncio.run(_peer_ingest(ack_only_server))
        return total, latencies, 0, 0, Cpu()

    servers = [("ours", ours), ("python-hl7", peer), ("floor", floor)]
    found: list[Round] = []
    for n in range(rounds):
        order = servers[n % 3 :] + servers[: n % 3]
        found.append({name: run(n) for name, run in order})
    return found


def _print_ingest(rounds: list[Round]) -> None:
    print(
        f"\n== journal: MLLP ingest with ACK after commit (SQLite WAL, synchronous=FULL),"
        f" {CONNECTIONS} connections each waiting for its ACK, {SECONDS:g} s after"
        f" {WARM_UP_SECONDS:g} s of warm-up, {len(rounds)} rounds interleaved"
    )
    print(
        f"{'round':>5} {'ours msg/s':>11} {'python-hl7':>11} {'ACK-only':>9}"
        f" {'ours/python-hl7':>16} {'ours/ACK-only':>14}"
    )
    ratios_peer, ratios_floor = [], []
    for n, found in enumerate(rounds, 1):
        ours, peer, floor = (found[k][0] / SECONDS for k in ("ours", "python-hl7", "floor"))
        ratios_peer.append(ours / max(peer, 1e-9))
        ratios_floor.append(ours / max(floor, 1e-9))
        print(
            f"{n:>5} {ours:>11,.0f} {peer:>11,.0f} {floor:>9,.0f}"
            f" {ratios_peer[-1]:>15.1f}× {ratios_floor[-1]:>13.0%}"
        )

    def median(name: str) -> float:
        return statistics.median(found[name][0] / SECONDS for found in rounds)

    print(
        f"median {median('ours'):>10,.0f} {median('python-hl7'):>11,.0f}"
        f" {median('floor'):>9,.0f} {statistics.median(ratios_peer):>15.1f}×"
        f" {statistics.median(ratios_floor):>13.0%}"
    )
    for name, label in (
        ("ours", "icu-gateway + journal"),
        ("python-hl7", "python-hl7 MLLP server (parses, ACKs, stores nothing)"),
        ("floor", "ACK-only server (canned ACK per frame: no parse, no store)"),
    ):
        latencies = [t for found in rounds for t in found[name][1]]
        p50, p99 = _percentiles(latencies)
        print(f"{label}: ACK p50 {p50:.2f} ms  p99 {p99:.2f} ms", end="")
        if name == "ours":
            total = sum(found[name][0] for found in rounds)
            stored = sum(found[name][2] for found in rounds)
            commits = sum(found[name][3] for found in rounds)
            print(
                f"   ({stored} stored = {total} ACKed; {commits} commits,"
                f" {stored / max(commits, 1):.1f} messages per fsync)",
                end="",
            )
        print()
    _print_cpu(rounds)
    print("targets: ours ≥ 10× python-hl7 and ≥ 60 % of the ACK-only server")


def _print_cpu(rounds: list[Round]) -> None:
    """Ours: CPU per message by process, and the rate the machine's cores would give if
    every one of them were busy with that work (what any batching or scheduling could reach
    at these costs)."""
    total = sum(found["ours"][0] for found in rounds)
    cpu = [found["ours"][4] for found in rounds]
    gateway, writer, monitors = (
        sum(getattr(c, part) for c in cpu) / max(total, 1) * 1e6
        for part in ("gateway", "writer", "monitors")
    )
    cores = len(os.sched_getaffinity(0))
    bound = cores / ((gateway + writer + monitors) * 1e-6)
    print(
        f"ours, CPU µs per message: gateway loop {gateway:.0f}, journal writer {writer:.0f},"
        f" load client {monitors:.0f} (sum {gateway + writer + monitors:.0f}); all {cores}"
        f" cores busy with it would give {bound:,.0f} msg/s"
    )


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    return percentile(latencies, 0.5), percentile(latencies, 0.99)


# --------------------------------------------------------------------------- size

SIZE_SECONDS = 600
WAVES = (  # code, label, unit, rate, ER7 decimals
    (131330, "MDC_ECG_ELEC_POTL_II", "mV", 250.0, 3),
    (150452, "MDC_PULS_OXIM_PLETH", "", 125.0, 0),
    (151780, "MDC_IMPED_TTHOR", "", 62.5, 0),
)


def _signal(code: int, rate: float, start_s: float) -> np.ndarray:
    """One second of a plausible, quantised signal (as monitors send: fixed resolution)."""
    t = start_s + np.arange(int(rate)) / rate
    rng = np.random.default_rng(int(start_s * 1000) + code)
    if code == 131330:  # ECG II, 72/min: P, QRS, T as Gaussians, 5 µV steps, noise
        phase = (t * 1.2) % 1.0
        wave = (
            0.15 * np.exp(-(((phase - 0.2) / 0.025) ** 2))
            + 1.1 * np.exp(-(((phase - 0.35) / 0.01) ** 2))
            - 0.2 * np.exp(-(((phase - 0.38) / 0.012) ** 2))
            + 0.3 * np.exp(-(((phase - 0.6) / 0.05) ** 2))
            + rng.normal(0, 0.01, t.size)
        )
        return np.round(wave / 0.005) * 0.005
    if code == 150452:  # pleth, 12-bit counts
        phase = (t * 1.2) % 1.0
        wave = 2000 + 1200 * np.exp(-(((phase - 0.3) / 0.12) ** 2)) + rng.normal(0, 8, t.size)
        return np.round(wave)
    wave = 2048 + 600 * np.sin(2 * np.pi * t * 16 / 60) + rng.normal(0, 6, t.size)  # resp
    return np.round(wave)


async def _bed_hour_size(
    folder: Path, *, waves: bool = True
) -> tuple[float, dict[str, float], int]:
    from gateway.domain import BedId, DeviceId, ReceivedMessage, WaveformChunk
    from gateway.hub import Hub
    from gateway.journal.client import Journal
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    path = folder / ("size.sqlite" if waves else "size-numerics.sqlite")
    device = DeviceId("EUI-64:0012211839000001", "MON")
    t0 = 1_700_000_000 * 1_000_000_000
    from adapters.hl7 import er7, pcd

    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        for second in range(SIZE_SECONDS):
            now = t0 + second * 1_000_000_000
            raw = ORU.format(eui="0012211839000001", id=f"n{second}", bed=1).encode()
            reports = pcd.decode(er7.parse(raw), transport="mllp", peer="p", receive_time_ns=now)
            numerics = ReceivedMessage(raw, "mllp", "p", now, f"n{second}", device)
            if not waves:  # a monitor sending numerics only, once a second
                await hub.submit(numerics, reports)
                continue
            chunks, rows = [], []
            for n, (code, refid, unit, rate, decimals) in enumerate(WAVES, 1):
                samples = _signal(code, rate, second)
                chunks.append(
                    WaveformChunk(device, code, refid, rate, now, samples.astype(np.float32), unit)
                )
                text = "^".join(f"{v:.{decimals}f}" for v in samples)
                rows.append(f"OBX|{n}|NA|{code}^{refid}^MDC|1.1.1.{n}|{text}|{unit}|||||R")
            wave_raw = (
                "MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|"
                f"w{second}|P|2.6|||AL|NE\rPID|||P1\rPV1||I|ICU^1^1\rOBR|1||w{second}|"
                "182777000^monitoring of patient^SCT\r" + "\r".join(rows) + "\r"
            ).encode()
            wave_message = ReceivedMessage(wave_raw, "mllp", "p", now, f"w{second}", device)
            wave_report = reports[0].__class__(
                device, "mllp", "p", now, f"w{second}", reports[0].location, "P1",
                waveforms=tuple(chunks),
            )  # fmt: skip
            await asyncio.gather(
                hub.submit(numerics, reports), hub.submit(wave_message, [wave_report])
            )
        _ = BedId  # routing made the bed
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tables: dict[str, float] = {}
    for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        tables[name] = size * 3600 / SIZE_SECONDS
    # Pages in use: the pages packing freed when the journal closed are reused by new
    # commits in a longer run (bench/disk.py prints them apart).
    (pages,) = conn.execute("PRAGMA page_count").fetchone()
    (free,) = conn.execute("PRAGMA freelist_count").fetchone()
    (page,) = conn.execute("PRAGMA page_size").fetchone()
    conn.close()
    size = (pages - free) * page * 3600 / SIZE_SECONDS
    return size, tables, SIZE_SECONDS * (2 if waves else 1)


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.journal")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved ingest rounds")
    parser.add_argument("--ingest-only", action="store_true", help="skip the paced run and size")
    args = parser.parse_args([] if argv is None else argv)
    folder = Path(tempfile.mkdtemp(prefix=".bench-journal-", dir="."))
    try:
        rounds = _ingest_rounds(folder, args.rounds)
        if not args.ingest_only:
            paced = asyncio.run(_journal_ingest(folder, PACED_RATE))
            size, tables, messages = asyncio.run(_bed_hour_size(folder))
            numerics_size, _, _ = asyncio.run(_bed_hour_size(folder, waves=False))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    _print_ingest(rounds)
    if args.ingest_only:
        return
    paced_total, paced_latencies, _, paced_commits, _ = paced
    paced_p50, paced_p99 = _percentiles(paced_latencies)
    print(
        f"paced at {PACED_RATE:,.0f} msg/s: {paced_total / SECONDS:,.0f} msg/s   ACK p50"
        f" {paced_p50:.2f} ms  p99 {paced_p99:.2f} ms   ({paced_commits} commits)"
    )
    print("target: ACK p99 < 10 ms at 1,000 msg/s")
    mb = 1024 * 1024
    print(
        f"\n== journal size: one bed, 1 Hz numerics (7 values) + ECG 250 Hz, pleth 125 Hz,"
        f" resp 62.5 Hz in 1 s chunks ({messages} messages over {SIZE_SECONDS} s, scaled)"
    )
    print(f"per bed-hour: {size / mb:.1f} MiB   per bed-day: {size * 24 / mb:.0f} MiB")
    print(
        f"numerics only (no waveforms): {numerics_size / mb:.1f} MiB per bed-hour,"
        f" {numerics_size * 24 / mb:.0f} MiB per bed-day"
    )
    print(
        f"ward of 16 beds: {size * 24 * 16 / 1024**3:.1f} GiB/day,"
        f" {size * 72 * 16 / 1024**3:.1f} GiB for the default 72 h retention;"
        f" 64 beds: {size * 24 * 64 / 1024**3:.1f} GiB/day,"
        f" {size * 72 * 64 / 1024**3:.1f} GiB for 72 h"
    )
    print(
        "per bed-hour by table and index: "
        + ", ".join(f"{name} {value / mb:.2f} MiB" for name, value in sorted(tables.items()))
    )


if __name__ == "__main__":
    main(sys.argv[1:])

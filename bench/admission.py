"""Admission limits: 10,000 invented identities from one peer against a real gateway.

1. Attack: ``icu-gateway run --headless`` (default limits, journal on the disk the working
   directory is on) with 16 honest monitors streaming from 127.0.0.1 (one bed each, 5
   messages a second each, each waiting for its ACK), and one sender on 127.0.0.66 sending
   10,000 ORU^R01, each from a new device at a new location, pipelined on one connection.
   Printed: the gateway's RSS before and after, the beds the journal says were made, the
   flood's ACK codes, the honest ACKs during the flood and their p99.
2. Per bed: the ward, router and alarm engine of one process (tracemalloc) fed one report
   (7 numerics) for each of 2,000 new beds, limits lifted so every one is made: the memory
   of an idle bed; then the same beds with their trends read once (rings allocated).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import shutil
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

from adapters.hl7 import er7, pcd
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from bench.load import ORU, percentile
from bench.programs import code_env, free_port, rss_mb
from gateway.admission import AdmissionLimits
from gateway.clock import ManualClock
from gateway.domain import BedId, ReceivedMessage
from gateway.hub import Hub
from gateway.journal.reader import JournalReader
from gateway.ward.routing import Router
from gateway.ward.state import WardState

FAKE_IDENTITIES = 10_000
HONEST_BEDS = 16
HONEST_PERIOD_S = 0.2
FLOOD_SOURCE = "127.0.0.66"
PER_BED_SAMPLE = 2000


def _oru(control_id: str, bed: int, eui: str) -> bytes:
    return ORU.format(eui=eui, id=control_id, bed=bed).encode()


async def _ack(reader: asyncio.StreamReader, framer: MllpFramer, pending: list[str]) -> str:
    while not pending:
        data = await asyncio.wait_for(reader.read(65536), 30)
        if not data:
            raise ConnectionError("the gateway closed the connection")
        for item in framer.feed(data):
            if isinstance(item, OversizeFrame):
                raise ConnectionError("oversize ACK")
            msa = er7.parse(item).first("MSA")
            pending.append("" if msa is None else msa.get(1))
    return pending.pop(0)


async def _honest(
    port: int, bed: int, latencies: list[tuple[float, float]], stop: asyncio.Event
) -> None:
    """One monitor: ``(sent at, ACK latency)`` of each message into ``latencies``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer, pending = MllpFramer(), list[str]()
    n = 0
    try:
        while not stop.is_set():
            started = time.perf_counter()
            writer.write(frame(_oru(f"honest-{bed}-{n}", bed, f"00122118390000{bed:02X}")))
            if await _ack(reader, framer, pending) == "CA":
                latencies.append((started, time.perf_counter() - started))
            n += 1
            await asyncio.sleep(HONEST_PERIOD_S)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _flood(port: int) -> dict[str, int]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(FLOOD_SOURCE, 0))
    framer, pending = MllpFramer(), list[str]()
    codes: dict[str, int] = {}

    async def read_acks() -> None:
        for _ in range(FAKE_IDENTITIES):
            code = await _ack(reader, framer, pending)
            codes[code] = codes.get(code, 0) + 1

    acks = asyncio.create_task(read_acks())
    for n in range(FAKE_IDENTITIES):
        writer.write(frame(_oru(f"fake-{n}", 1000 + n, f"F{n:015X}")))
        if n % 100 == 99:
            await writer.drain()
    await writer.drain()
    await acks
    writer.close()
    return codes


@dataclass(frozen=True, slots=True)
class _Attack:
    rss_before_mb: float
    rss_after_mb: float
    beds: int
    codes: dict[str, int]
    flood_s: float
    honest_acks: int
    during: list[float]
    """ACK latencies (s) of the honest messages sent while the flood was sent."""
    faults: int


async def _attack(folder: Path) -> _Attack:
    port, journal = free_port(), folder / "journal.sqlite"
    with (folder / "gateway.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.app.cli", "run", "--headless",
            "--listen", f"127.0.0.1:{port}", "--journal", str(journal),
            cwd=folder, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=log, env=code_env(),
        )  # fmt: skip
    stop = asyncio.Event()
    latencies: list[tuple[float, float]] = []
    try:
        async with asyncio.timeout(30):
            while True:
                try:
                    _, probe = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.1)
                    continue
                probe.close()
                break
        honest = [
            asyncio.create_task(_honest(port, bed, latencies, stop))
            for bed in range(1, HONEST_BEDS + 1)
        ]
        await asyncio.sleep(3.0)
        before = rss_mb(process.pid) or float("nan")
        flood_start = time.perf_counter()
        codes = await _flood(port)
        flood_end = time.perf_counter()
        await asyncio.sleep(2.0)
        after = rss_mb(process.pid) or float("nan")
        stop.set()
        await asyncio.gather(*honest)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    with JournalReader(journal) as reader:
        beds = {item.routed.bed.key for item in reader.reports() if item.routed.bed is not None}
    during = [latency for sent, latency in latencies if flood_start <= sent <= flood_end]
    log_text = (folder / "gateway.log").read_text()
    return _Attack(
        before,
        after,
        len(beds),
        codes,
        flood_end - flood_start,
        len(latencies),
        during,
        log_text.count(f"admission {FLOOD_SOURCE}:"),
    )


def _per_bed() -> tuple[float, float]:
    """Traced bytes per bed: idle (one report each), then with its trends read once."""
    clock = ManualClock()
    lifted = AdmissionLimits(
        max_auto_beds=10**6, max_devices=10**6, new_identities_per_minute=10**9
    )
    hub = Hub(WardState(), Router(admission=lifted), clock)
    messages = []
    for n in range(PER_BED_SAMPLE):
        raw = _oru(f"m{n}", n, f"F{n:015X}")
        message = er7.parse(raw)
        reports = pcd.decode(
            message, transport="mllp", peer="10.0.0.9:5000", receive_time_ns=clock.now_ns()
        )
        messages.append(
            (
                ReceivedMessage(
                    raw, "mllp", "10.0.0.9:5000", clock.now_ns(), f"m{n}", reports[0].device
                ),
                reports,
            )
        )

    async def submit() -> None:
        for message, reports in messages:
            await hub.submit(message, reports)

    gc.collect()
    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    asyncio.run(submit())
    hub.snapshot()
    gc.collect()
    idle = (tracemalloc.get_traced_memory()[0] - start) / PER_BED_SAMPLE
    now = clock.now_ns()
    for bed in hub.snapshot().beds:
        for code in bed.readings:
            hub.ward.trend(BedId(bed.bed.key), code, 3600, 60, now)
    gc.collect()
    read = (tracemalloc.get_traced_memory()[0] - start) / PER_BED_SAMPLE
    tracemalloc.stop()
    return idle, read


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix=".bench-admission-", dir=".")).resolve()
    try:
        found = asyncio.run(_attack(folder))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    idle, read = _per_bed()
    during = found.during
    p99 = percentile(during, 0.99) if during else float("nan")
    print(
        f"\n== admission: {FAKE_IDENTITIES:,} invented identities from {FLOOD_SOURCE} on one"
        f" connection, {HONEST_BEDS} honest monitors from 127.0.0.1 (default limits)"
    )
    print(
        f"gateway RSS {found.rss_before_mb:.1f} MB before the flood, {found.rss_after_mb:.1f}"
        f" MB after; beds made {found.beds} (honest {HONEST_BEDS}); flood ACKs {found.codes}"
        f" in {found.flood_s:.1f} s; faults about the flooding peer {found.faults}"
    )
    print(
        f"honest ACKs {found.honest_acks} in all, {len(during)} during the flood, p99 {p99:.1f} ms"
    )
    print(
        f"per bed (7 numerics, one report; ward + router + alarm engine, traced):"
        f" {idle / 1024:.1f} kB idle, {read / 1024:.1f} kB once its 7 trends are read"
    )


if __name__ == "__main__":
    main()

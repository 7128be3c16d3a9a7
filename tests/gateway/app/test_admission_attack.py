"""A sender inventing identities cannot blind the ward: a real ``icu-gateway run --headless``
with its default admission limits, honest monitors streaming from one loopback address, and
one sender from another inventing 2,000 locations and device ids as fast as it can.

Asserted: the gateway stays up; the honest monitors' ACKs keep coming during the flood and
every one of their messages goes to their own bed; the automatic beds stop at the cap and
the flood's messages are all journaled (the refused ones as unassigned); one fault in the
log and one ADMISSION LIMIT alarm for the flooding peer, no UNASSIGNED alarm for the
identities refused; the gateway's memory stays under :data:`RSS_BOUND_MB`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import pytest
from gateway_process import connect_when_listening, free_port, start_gateway
from journal_support import Monitor, oru
from waiting import eventually

from adapters.hl7 import er7
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from gateway.admission import DEFAULT_MAX_AUTO_BEDS
from gateway.domain import AlarmChange
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome

FAKE_IDENTITIES = 2000
HONEST_MONITORS = 4
FLOOD_SOURCE = "127.0.0.66"
"""The flooding sender's own loopback address (Linux routes all of 127/8 to loopback)."""
RSS_BOUND_MB = 150
"""The gateway process after the flood (it starts near 50 MB; unbounded beds took ~92 kB
each, 2,000 of them 180 MB more)."""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def honest_stream(monitor: Monitor, bed: int, acked: list[str], stop: asyncio.Event) -> None:
    """A monitor of bed ``ICU^<bed>^1``: send, wait for the ACK, repeat."""
    n = 0
    while not stop.is_set():
        control_id = f"honest-{bed}-{n}"
        eui = f"00122118390000{bed:02X}"
        code, echoed = await monitor.send(oru(control_id, bed=bed, eui=eui, hr=60 + n % 30))
        assert (code, echoed) == ("CA", control_id)
        acked.append(control_id)
        n += 1
        await asyncio.sleep(0.02)


async def flood(port: int) -> list[str]:
    """Send every invented identity's message at once on one connection (pipelined), and
    read back one ACK each: their MSA-1 codes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(FLOOD_SOURCE, 0))
    codes: list[str] = []

    async def read_acks() -> None:
        framer = MllpFramer()
        while len(codes) < FAKE_IDENTITIES:
            data = await asyncio.wait_for(reader.read(65536), 20)
            assert data, "the gateway closed the flood's connection"
            for item in framer.feed(data):
                assert not isinstance(item, OversizeFrame)
                msa = er7.parse(item).first("MSA")
                assert msa is not None
                codes.append(msa.get(1))

    acks = asyncio.create_task(read_acks())
    for n in range(FAKE_IDENTITIES):
        writer.write(frame(oru(f"fake-{n}", bed=1000 + n, eui=f"F{n:015X}")))
        if n % 100 == 99:
            await writer.drain()
    await writer.drain()
    await acks
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return codes


@pytest.mark.timeout(60)
async def test_a_sender_inventing_2000_identities_is_bounded_and_honest_beds_stay_live(
    tmp_path: Path,
) -> None:
    port, journal, log = free_port(), tmp_path / "j.sqlite", tmp_path / "gateway.log"
    process = await start_gateway(port, journal, log)
    acked: list[str] = []
    stop = asyncio.Event()
    try:
        monitors = [await connect_when_listening(port, process) for _ in range(HONEST_MONITORS)]
        streams = [
            asyncio.create_task(honest_stream(m, bed, acked, stop))
            for bed, m in enumerate(monitors, start=1)
        ]
        await eventually(lambda: len(acked) >= 4 * HONEST_MONITORS, "honest ACKs", 30)
        before_flood = len(acked)
        codes = await flood(port)
        during_flood = len(acked) - before_flood
        await eventually(lambda: len(acked) >= before_flood + during_flood + 8, "ACKs after", 20)
        assert process.returncode is None, "the gateway died"
        rss = rss_mb(process.pid)
        await asyncio.sleep(1.5)  # the alarm transitions are journaled every second
        stop.set()
        await asyncio.gather(*streams)
        for monitor in monitors:
            await monitor.close()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        stop.set()
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert codes == ["CA"] * FAKE_IDENTITIES  # refused an identity, never a message
    assert during_flood > 0, "no honest ACK while the flood was sent"
    assert rss < RSS_BOUND_MB, f"gateway RSS {rss:.0f} MB after the flood"

    with JournalReader(journal) as reader:
        stored = {
            m.control_id
            for m in reader.messages()
            if m.outcome is Outcome.ACCEPTED and m.control_id.startswith("fake-")
        }
        beds_of: dict[str, set[str | None]] = {}
        for item in reader.reports():
            bed = item.routed.bed
            beds_of.setdefault(item.routed.report.message_id.split("-")[0], set()).add(
                None if bed is None else bed.key
            )
            if item.routed.report.message_id.startswith("honest-"):
                wanted = f"ICU^{item.routed.report.message_id.split('-')[1]}^1"
                assert bed is not None and bed.key == wanted, item.routed.report.message_id
        transitions = reader.alarm_log(ward=True)
    assert len(stored) == FAKE_IDENTITIES, "a flood message was not journaled"
    flood_beds = beds_of["fake"] - {None}
    assert None in beds_of["fake"], "no flood message was refused a bed"
    assert 0 < len(flood_beds) <= DEFAULT_MAX_AUTO_BEDS - HONEST_MONITORS
    refused_reports = FAKE_IDENTITIES - len(flood_beds)

    raised = [t.text for t in transitions if t.change is AlarmChange.RAISED]
    assert raised.count(f"ADMISSION LIMIT {FLOOD_SOURCE}") == 1
    assert not [text for text in raised if "UNASSIGNED" in text], "an alarm per refused identity"
    assert not [text for text in raised if "ADMISSION" in text and FLOOD_SOURCE not in text]

    text = log.read_text()
    first = f"admission {FLOOD_SOURCE}: ADMISSION LIMIT: new beds/devices refused"
    assert text.count(first) == 1, text[-2000:]
    assert text.count(f"admission {FLOOD_SOURCE}:") <= 2  # the first, at most one summary
    assert "admission 127.0.0.1" not in text  # the honest address was refused nothing
    assert refused_reports >= FAKE_IDENTITIES - DEFAULT_MAX_AUTO_BEDS

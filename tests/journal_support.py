"""What the journal tests share: a gateway (journal → hub → MLLP listener) on loopback, and a
monitor's side of an MLLP connection. Real parts only: SQLite files under tmp_path, real
sockets, the real parser and decoder."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from adapters.hl7 import er7, pcd
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from gateway.clock import Clock, ManualClock
from gateway.domain import BedId, DeviceReport, ReceivedMessage, WaveformChunk
from gateway.errors import JournalError
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport
from gateway.ward.routing import Router
from gateway.ward.state import WardState

EUI = "0012211839000001"


def oru(control_id: str, *, bed: int = 1, hr: float = 72, eui: str = EUI, when: str = "") -> bytes:
    """A PCD-01 ORU^R01 with HR and SpO2 for bed ``ICU^<bed>^1``, asking for a commit ACK."""
    return (
        f"MSH|^~\\&|MON^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{control_id}|P|2.6"
        f"|||AL|NE\rPID|||P{bed}^^^^MR||DOE^JOHN\rPV1||I|ICU^{bed}^1\r"
        f"OBR|1||{control_id}|182777000^monitoring of patient^SCT|||{when}\r"
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr:g}|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        "|||||R\r"
        "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R\r"
    ).encode()


def received(
    raw: bytes, clock: Clock, peer: str = "127.0.0.1:4000"
) -> tuple[ReceivedMessage, list[DeviceReport]]:
    """What the listener hands the hub for ``raw``, decoded by the real parser."""
    message = er7.parse(raw)
    now = clock.now_ns()
    reports = pcd.decode(message, transport="mllp", peer=peer, receive_time_ns=now)
    return (
        ReceivedMessage(raw, "mllp", peer, now, message.control_id, reports[0].device),
        reports,
    )


class Monitor:
    """A monitor's side of one MLLP connection: send a frame, read the ACK's MSA."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = MllpFramer()
        self.pending: list[er7.Message] = []

    @classmethod
    async def connect(cls, port: int, source: str | None = None) -> Monitor:
        """Connect from ``source`` (another loopback address: another peer) if given."""
        local = None if source is None else (source, 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=local)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[str, str]:
        """Send one message and return (MSA-1, MSA-2) of its acknowledgement."""
        self.writer.write(frame(raw))
        await self.writer.drain()
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 10)
            assert data, "the gateway closed the connection"
            for item in self.framer.feed(data):
                assert not isinstance(item, OversizeFrame)
                self.pending.append(er7.parse(item))
        msa = self.pending.pop(0).first("MSA")
        assert msa is not None
        return msa.get(1), msa.get(2)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Gateway:
    """Journal, hub and listener wired as ``icu-gateway run`` wires them."""

    def __init__(self, hub: Hub, journal: Journal, listener: MllpListener) -> None:
        self.hub, self.journal, self.listener = hub, journal, listener

    async def monitor(self) -> Monitor:
        return await Monitor.connect(self.listener.port)


@contextlib.asynccontextmanager
async def running_gateway(
    path: Path,
    *,
    clock: ManualClock | None = None,
    router: Router | None = None,
    **journal_options: float | int | None,
) -> AsyncIterator[Gateway]:
    clock = clock or ManualClock()
    journal = Journal(path, clock=clock, **journal_options)  # type: ignore[arg-type]
    hub = Hub(WardState(), router or Router(), clock, journal=journal)
    try:
        try:
            await journal.start()
        except JournalError as exc:  # as the service does: run on, showing RECORDING FAILED
            hub.note_recording_failed(str(exc))
        async with MllpListener(hub, host="127.0.0.1", port=0, clock=clock) as listener:
            serving = asyncio.create_task(listener.serve_forever())
            try:
                yield Gateway(hub, journal, listener)
            finally:
                serving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await serving
    finally:
        await journal.close()


SCHEMA2_START_NS = 1_700_000_000 * 1_000_000_000


def schema2_messages() -> list[tuple[ReceivedMessage, list[RoutedReport]]]:
    """What tests/fixtures/journal/schema2.sqlite holds (its make_schema2.py wrote it)."""
    clock = ManualClock(SCHEMA2_START_NS)
    out = []
    for n in range(12):
        message, reports = received(oru(f"s2-{n}", bed=n % 2 + 1, hr=60 + n), clock)
        report = reports[0]
        if n % 4 == 3:
            wave = (np.arange(50, dtype=np.float32) * 0.005 - 0.1).astype(np.float32)
            chunk = WaveformChunk(report.device, 131330, "ECG", 250.0, clock.now_ns(), wave)
            report = dataclasses.replace(report, waveforms=(chunk,))
        out.append((message, [RoutedReport(report, BedId(f"B{n % 2 + 1}"), f"Bed {n % 2 + 1}")]))
        clock.advance(1)
    return out


def view(path: Path) -> tuple[list[str], list[str]]:
    """Everything a reader gives back, as text: every message (its bytes and fields) and
    every report (its observations, alarms and every waveform sample's bits)."""
    with JournalReader(path) as reader:
        messages = [repr(m) for m in reader.messages()]
        reports = []
        for stored in reader.reports():
            report = stored.routed.report
            waves = [
                (repr(dataclasses.replace(w, samples=w.samples[:0])), w.samples.tobytes())
                for w in report.waveforms
            ]
            bare = dataclasses.replace(
                stored.routed, report=dataclasses.replace(report, waveforms=())
            )
            reports.append(repr((stored.message_row, stored.report_seq, bare, waves)))
    return messages, reports

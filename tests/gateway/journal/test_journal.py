"""The journal: what an ACK promises is on disk, whole; one commit per batch; resends stored
once; rejects kept for inspection. Real SQLite files, real sockets, the real parser."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from journal_support import EUI, oru, received, running_gateway
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.clock import ManualClock
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    DeviceId,
    DeviceReport,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome, RoutedReport


async def test_an_acknowledged_message_is_in_the_journal_with_what_it_said(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    raw = load_sample("01")
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(raw) == ("CA", "HP0122182658686QQ000CND119C0WS61")
        await monitor.close()
    decoded = pcd.decode(er7.parse(raw), transport="mllp", peer="x", receive_time_ns=0)
    with JournalReader(path) as reader:
        (message,) = reader.messages()
        (stored,) = reader.reports()
    assert message.raw == raw
    assert message.outcome is Outcome.ACCEPTED
    assert message.control_id == "HP0122182658686QQ000CND119C0WS61"
    assert message.peer.startswith("127.0.0.1:")
    assert message.device == decoded[0].device.key
    assert stored.routed.bed == BedId("HO SURGERY^OR^1")
    assert stored.routed.bed_label == "HO Surgery OR-1"
    report = stored.routed.report
    assert report.location == decoded[0].location
    assert report.patient_id == decoded[0].patient_id
    assert report.receive_time_ns == message.receive_time_ns
    assert len(report.observations) == len(decoded[0].observations) > 5
    for got, sent in zip(report.observations, decoded[0].observations, strict=True):
        assert (got.code, got.label, got.value, got.unit, got.status) == (
            sent.code,
            sent.label,
            sent.value,
            sent.unit,
            sent.status,
        )
        assert (got.device_time_ns, got.sub_id, got.source_code, got.message_id) == (
            sent.device_time_ns,
            sent.sub_id,
            sent.source_code,
            sent.message_id,
        )


async def test_waveforms_and_alarm_transitions_come_back_as_they_went_in(tmp_path: Path) -> None:
    device = DeviceId(f"EUI-64:{EUI}", "MON")
    ecg = np.sin(np.linspace(0, 20, 250)).astype(np.float32)
    chunk = WaveformChunk(device, 131330, "ECG II", 250.0, 1_000, ecg, "mV", "m1", "1.1.1.2")
    alarm = AlarmEvent(
        device,
        196648,
        "SpO2 low",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "start",
        "active",
        "enabled",
        AlarmSource.DEVICE,
        2_000,
        alarm_id="A7",
        parameter_code=150456,
        parameter_label="SpO2",
        value=84.0,
        unit="%",
        limits="90-100",
        sub_id="1.2.1",
        message_id="m1",
    )
    report = DeviceReport(device, "mllp", "p:1", 3_000, "m1", waveforms=(chunk,), alarms=(alarm,))
    async with Journal(tmp_path / "j.sqlite", clock=ManualClock()) as journal:
        message = ReceivedMessage(b"MSH|...", "mllp", "p:1", 3_000, "m1", device)
        assert await journal.record(message, [RoutedReport(report, BedId("B1"), "Bed 1")])
    with JournalReader(tmp_path / "j.sqlite") as reader:
        (stored,) = reader.reports(bed=BedId("B1"))
        (kept_alarm,) = reader.alarms(BedId("B1"))
    (wave,) = stored.routed.report.waveforms
    assert wave.samples.dtype == np.float32
    assert np.array_equal(wave.samples, ecg)
    assert (wave.code, wave.label, wave.sample_rate_hz, wave.start_time_ns, wave.unit) == (
        131330,
        "ECG II",
        250.0,
        1_000,
        "mV",
    )
    assert wave.sub_id == "1.1.1.2"
    (back,) = stored.routed.report.alarms
    assert back == alarm
    assert kept_alarm.event.text == "SpO2 low"
    assert kept_alarm.event.priority is AlarmPriority.HIGH


async def test_one_commit_covers_every_message_that_arrived_meanwhile(tmp_path: Path) -> None:
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        records = []
        for n in range(300):
            message, reports = received(oru(f"m{n}", bed=n % 8), clock)
            routed = [RoutedReport(r, BedId(f"B{n % 8}"), "") for r in reports]
            records.append(journal.record(message, routed))
        assert all(await asyncio.gather(*records))
        assert journal.counters.stored == 300
        # Without group commit this would be 300 commits (300 fsyncs).
        assert journal.counters.commits < 30, journal.counters.commits
    with JournalReader(tmp_path / "j.sqlite") as reader:
        assert [m.control_id for m in reader.messages()] == [f"m{n}" for n in range(300)]
        assert sum(1 for _ in reader.reports(bed=BedId("B3"))) == 300 // 8 + (3 < 300 % 8)


async def test_a_resend_is_stored_once_and_acknowledged_again(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(oru("r1", hr=80)) == ("CA", "r1")
        assert await monitor.send(oru("r1", hr=80)) == ("CA", "r1")  # timeout on its side
        assert await monitor.send(oru("r1", hr=80)) == ("CA", "r1")
        # Same MSH-10, other content: a device that reuses ids is not a resend — kept.
        assert await monitor.send(oru("r1", hr=81)) == ("CA", "r1")
        await monitor.close()
        assert gateway.journal.counters.resends == 2
    with JournalReader(path) as reader:
        messages = list(reader.messages())
        values = [s.routed.report.observations[0].value for s in reader.reports()]
    assert [(m.control_id, m.resends) for m in messages] == [("r1", 2), ("r1", 0)]
    assert values == [80.0, 81.0]


async def test_a_resend_after_a_restart_is_still_recognised(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    message, reports = received(oru("x9"), clock)
    routed = [RoutedReport(reports[0], BedId("B"), "")]
    async with Journal(path, clock=clock) as journal:
        assert await journal.record(message, routed) is True
    clock.advance(30)
    async with Journal(path, clock=clock) as journal:
        assert await journal.record(message, routed) is False
    clock.advance(11 * 60)  # past the duplicate window: a new message after all
    async with Journal(path, clock=clock) as journal:
        later = ReceivedMessage(
            message.raw, "mllp", message.peer, clock.now_ns(), "x9", message.device
        )
        assert await journal.record(later, routed) is True


async def test_a_rejected_message_is_kept_with_why(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    adt = b"MSH|^~\\&|HIS|H|||20240101||ADT^A01|adt1|P|2.6\rPID|||1\r"
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(adt) == ("AR", "adt1")
        await monitor.close()
    with JournalReader(path) as reader:
        (message,) = reader.messages()
        assert list(reader.reports()) == []
    assert message.outcome is Outcome.REJECTED
    assert message.raw == adt
    assert message.reason is not None and "ADT^A01" in message.reason


async def test_messages_and_reports_are_found_by_bed_and_time(tmp_path: Path) -> None:
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        for n in range(20):
            message, reports = received(oru(f"t{n}", bed=n % 2, hr=60 + n), clock)
            await journal.record(message, [RoutedReport(reports[0], BedId(f"B{n % 2}"), "")])
            clock.advance(60)
    start = ManualClock().now_ns()
    with JournalReader(tmp_path / "j.sqlite") as reader:
        minute = 60 * 10**9
        window = list(
            reader.reports(
                bed=BedId("B1"), since_ns=start + 5 * minute, until_ns=start + 17 * minute
            )
        )
        assert [s.routed.report.message_id for s in window] == [
            "t5",
            "t7",
            "t9",
            "t11",
            "t13",
            "t15",
        ]
        assert reader.beds() == [(BedId("B0"), ""), (BedId("B1"), "")]
        assert reader.time_range() == (start, start + 19 * 60 * 10**9)

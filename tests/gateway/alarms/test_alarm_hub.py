"""The alarm engine inside the gateway: device PCD-04 alarms from the reference samples on the
right bed, limit alarms from real messages over MLLP, every transition in the journal with
its operator, RECORDING FAILED, a restart, and a failing rule that never stops the listener."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path

import pytest
from journal_support import oru, received, running_gateway
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.rules import EffectiveLimits
from gateway.alarms.settings import AlarmSettings
from gateway.app.service import flush_alarm_log, rebuild
from gateway.clock import ManualClock
from gateway.domain import AlarmChange, AlarmPriority, BedId, ReceivedMessage
from gateway.hub import Hub
from gateway.journal.reader import JournalReader
from gateway.ward.routing import Router, location_key
from gateway.ward.state import WardState

HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


async def submit_sample(hub: Hub, name: str) -> None:
    raw = load_sample(name)
    message = er7.parse(raw)
    now = hub.clock.now_ns()
    reports = pcd.decode(message, transport="mllp", peer="10.0.0.5:4001", receive_time_ns=now)
    await hub.submit(
        ReceivedMessage(raw, "mllp", "10.0.0.5:4001", now, message.control_id), reports
    )


def bed_of(raw_location: str) -> BedId:
    return BedId(location_key(raw_location))


@pytest.mark.parametrize(
    ("samples", "location", "expected"),
    [
        (["03"], "HO Surgery^OR^1", [("Low SpO2 88", MEDIUM, "device", "physiological")]),
        (["04"], "HO 3 West ICU^10^1", [("Occlusion", MEDIUM, "device", "technical")]),
        (["04", "05"], "HO 3 West ICU^10^1", []),  # started, then ended by the pump
        # Dräger's reference alarm is MSH-11 D (debugging data): a low advisory marked DEMO.
        (["12"], "CU1^^Bed001^TAM", [("DEMO CO2 Sensor unplugged", LOW, "device", "advisory")]),
    ],
)
async def test_reference_pcd04_alarms_are_active_or_ended_on_the_right_bed(
    samples: list[str], location: str, expected: list[tuple[str, AlarmPriority, str, str]]
) -> None:
    hub = Hub(WardState(), Router(), ManualClock())
    for name in samples:
        await submit_sample(hub, name)
    bed = bed_of(location)
    hub.snapshot()
    assert [b.bed for b in hub.snapshot().beds] == [bed]
    shown = hub.alarms.snapshot().of_bed(bed)
    assert [(a.text, a.priority, a.source.value, a.kind.value) for a in shown] == expected
    assert hub.alarms.snapshot().of_bed(None) == ()


async def test_the_pump_occlusion_start_and_end_are_two_transitions_of_one_alarm() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    await submit_sample(hub, "04")
    clock.advance(9)
    await submit_sample(hub, "05")
    history = hub.alarms.history(bed_of("HO 3 West ICU^10^1"))
    assert [(t.change, t.text) for t in reversed(history)] == [
        (AlarmChange.RAISED, "Occlusion"),
        (AlarmChange.ENDED, "Occlusion"),
    ]
    assert history[0].alarm == history[1].alarm
    assert history[0].device is not None and history[0].device.key == "EUI-64:0012211839000001"


async def test_a_limit_alarm_from_real_messages_is_journaled_with_its_operator(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with running_gateway(path, clock=clock) as gateway:
        hub = gateway.hub
        hub.alarms.sign_in("Nurse Martin")
        monitor = await gateway.monitor()
        for n in range(7):  # HR 130 for 6 s: past the 5 s condition delay
            assert (await monitor.send(oru(f"h{n}", hr=130)))[0] == "CA"
            clock.advance(1)
        bed = BedId("ICU^1^1")
        assert [(a.text, a.priority) for a in hub.alarms.snapshot().of_bed(bed)] == [
            ("HR HIGH 130", MEDIUM)
        ]
        hub.alarms.acknowledge(bed)
        assert (await monitor.send(oru("h7", hr=80)))[0] == "CA"
        assert await flush_alarm_log(hub, gateway.journal)
        await monitor.close()
    with JournalReader(path) as reader:
        log = reader.alarm_log(bed)
        ward = reader.alarm_log(None)
    assert [(t.change.value, t.text, t.operator, t.bed_label) for t in log] == [
        ("raised", "HR HIGH 130", "gateway", "ICU 1-1"),
        ("acknowledged", "HR HIGH 130", "Nurse Martin", "ICU 1-1"),
        ("ended", "HR HIGH 130", "gateway", "ICU 1-1"),
    ]
    assert [t.time_ns for t in log] == sorted(t.time_ns for t in log)
    assert [(t.change.value, t.text) for t in ward] == [("operator", "operator Nurse Martin")]


async def test_recording_failure_is_a_high_ward_alarm_until_recording_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with running_gateway(path, busy_timeout_s=0.1) as gateway:
        monitor = await gateway.monitor()
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            assert (await monitor.send(oru("k1")))[0] == "CE"
            shown = gateway.hub.alarms.snapshot().of_bed(None)
            assert [(a.text, a.priority, a.kind.value) for a in shown] == [
                ("RECORDING FAILED", HIGH, "technical")
            ]
            # The alarm log waits for the journal too, and says so.
            assert not await flush_alarm_log(gateway.hub, gateway.journal)
            assert "alarm transitions not recorded" in gateway.hub.faults[-1].text
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert (await monitor.send(oru("k1")))[0] == "CA"
        assert gateway.hub.alarms.snapshot().of_bed(None) == ()
        assert await flush_alarm_log(gateway.hub, gateway.journal)
        await monitor.close()
    with JournalReader(path) as reader:
        assert [(t.change.value, t.text) for t in reader.alarm_log(None)] == [
            ("raised", "RECORDING FAILED"),
            ("ended", "RECORDING FAILED"),
        ]


async def test_a_restart_raises_still_active_device_alarms_again_and_keeps_the_history(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with running_gateway(path, clock=clock) as gateway:
        raw = load_sample("03")
        message, reports = received(raw, clock)
        await gateway.hub.submit(message, reports)
        assert await flush_alarm_log(gateway.hub, gateway.journal)
    clock.advance(60)
    hub = Hub(WardState(), Router(), clock)
    assert await rebuild(hub, path) == 1
    bed = bed_of("HO Surgery^OR^1")
    (alarm,) = hub.alarms.snapshot().of_bed(bed)
    assert (alarm.text, alarm.acknowledged) == ("Low SpO2 88", False)
    history = hub.alarms.history(bed)
    assert [(t.change.value, t.text) for t in reversed(history)] == [
        ("raised", "Low SpO2 88"),  # from the journal, before the restart
        ("raised", "Low SpO2 88 (after a restart)"),
    ]


async def test_a_failing_alarm_rule_is_a_fault_and_the_device_still_gets_its_ack(
    tmp_path: Path,
) -> None:
    def broken(bed: BedId) -> Mapping[str, EffectiveLimits]:
        raise RuntimeError("limits table corrupted")

    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        engine = AlarmEngine(AlarmSettings(limits=broken), clock=clock)
        engine.on_fault = gateway.hub.fault
        gateway.hub.alarms = engine
        monitor = await gateway.monitor()
        assert await monitor.send(oru("x1", hr=200)) == ("CA", "x1")
        assert await monitor.send(oru("x2", hr=200)) == ("CA", "x2")
        snapshot = gateway.hub.snapshot()
        assert snapshot.beds[0].readings[147842].value == 200  # the ward is still live
        assert [f.text for f in snapshot.faults if f.source == "alarms"] == [
            "alarm rule report failed: RuntimeError('limits table corrupted');"
            " the other rules keep running"
        ]
        await monitor.close()


async def test_retention_prunes_the_alarm_log_too(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with running_gateway(path, clock=clock) as gateway:
        gateway.hub.alarms.sign_in("Nurse Old")
        assert await flush_alarm_log(gateway.hub, gateway.journal)
        clock.advance(3600)
        gateway.hub.alarms.sign_in("Nurse New")
        assert await flush_alarm_log(gateway.hub, gateway.journal)
        await gateway.journal.prune_before(clock.now_ns() - 60 * 10**9)
    with JournalReader(path) as reader:
        assert [t.text for t in reader.alarm_log(ward=True)] == ["operator Nurse New"]

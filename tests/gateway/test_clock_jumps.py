"""The system clock stepping an hour forward or back (NTP after an outage, a wrong BIOS clock)
while monotonic time runs on: live beds stay live, a silent bed stays stale then lost with
its true age, no alarm is raised, ended or held back by the step (limit-alarm delays,
DEVICE LOST, apnoea, the 2-minute audio pause, latching), the step is one fault, and
retention never prunes faster than real time. The fake clock is the project's ManualClock,
whose wall time steps on its own (``step_wall``)."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from alarm_support import MONITOR, VENTILATOR, vitals
from journal_support import oru, running_gateway

from gateway.alarms.snapshot import Audible
from gateway.app.service import retention_horizon
from gateway.clock import NS_PER_S, ClockSteps, ManualClock, monotonic_of
from gateway.domain import AlarmPriority, BedId, Connectivity, DeviceId, ReceivedMessage
from gateway.hub import Hub
from gateway.journal.reader import read_reports
from gateway.ward.routing import Router
from gateway.ward.state import WardState

HOUR_S = 3600.0
SILENT = DeviceId("EUI-64:00A037EB21750001", "MR-SILENT")
LOST_AT, STALE_AT = 60.0, 10.0
RECEIVED = ReceivedMessage(b"MSH|...", "mllp", "10.0.0.5:4001", 0)


BedLine = tuple[
    str, Connectivity, float | None, tuple[tuple[str, float, bool], ...], tuple[float, ...]
]
"""A bed as a second showed it: label, connectivity, silence, (label, age, stale) of each
reading, the age of each device's last message as a view computes it."""


class Second(NamedTuple):
    beds: dict[str, BedLine]
    alarms: tuple[tuple[str, AlarmPriority, bool], ...]
    """(text, priority, latched) of each alarm shown."""
    alarm_ages: tuple[float, ...]
    paused_s: float | None
    audible: Audible
    changes: tuple[tuple[str, str, int], ...]
    """(change, text, time on the monotonic scale) of each transition journaled."""

    def texts(self) -> list[str]:
        return [text for text, _, _ in self.alarms]


async def ward_day(
    step_s: float, *, step_at: int = 3, seconds: int = 125
) -> tuple[list[Second], list[str]]:
    """Three beds for ``seconds`` seconds of monotonic time, the wall clock stepped by
    ``step_s`` at ``step_at``: MONITOR keeps a high heart rate (HR HIGH after its 5 s
    delay), VENTILATOR a respiration rate of 0 (APNOEA after 20 s) until it breathes again
    at 40 s (APNOEA latched), SILENT speaks once at 0 (NO DATA at 10 s, DEVICE LOST, high, at 60 s);
    the audio is paused at 2 s (over at 122 s). Returns what each second showed, and the
    clock faults."""
    clock = ManualClock()
    hub = Hub(WardState(STALE_AT, LOST_AT), Router(), clock)
    seen: list[Second] = []
    for second in range(seconds + 1):
        if second == step_at:
            clock.step_wall(step_s)
        rr = 16.0 if second >= 40 else 0.0
        reports = [vitals(clock, hr=130, spo2=97), vitals(clock, device=VENTILATOR, rr=rr)]
        if second == 0:
            reports.append(vitals(clock, device=SILENT, hr=72, spo2=97))
        await hub.submit(RECEIVED, reports)
        if second == 2:
            assert hub.alarms.pause_audio() is True
        snap = hub.snapshot()
        assert snap.time_ns == clock.now_ns()  # the header's clock follows the wall clock
        assert snap.alarms is not None
        offset = clock.now_ns() - clock.monotonic_ns()
        beds: dict[str, BedLine] = {}
        for bed in snap.beds:
            ages = tuple(sorted((r.label, r.age_s, r.stale) for r in bed.readings.values()))
            links = tuple((snap.time_ns - link.last_seen_ns) / NS_PER_S for link in bed.devices)
            beds[bed.label] = (bed.label, bed.connectivity, bed.silent_s, ages, links)
        shown = snap.alarms.alarms
        seen.append(
            Second(
                beds,
                tuple((a.text, a.priority, a.latched) for a in shown),
                tuple((snap.alarms.time_ns - a.onset_ns) / NS_PER_S for a in shown),
                snap.alarms.paused_remaining_s,
                hub.alarms.audible(),
                tuple(
                    (t.change.value, t.text, t.time_ns - offset)
                    for t in hub.alarms.take_transitions()
                ),
            )
        )
        clock.advance(1)
    return seen, [f.text for f in hub.faults if f.source == "clock"]


@pytest.mark.parametrize("step_s", [HOUR_S, -HOUR_S])
async def test_a_wall_clock_step_changes_no_age_and_raises_or_ends_no_alarm(
    step_s: float,
) -> None:
    steady, no_faults = await ward_day(0.0)
    stepped, faults = await ward_day(step_s)
    assert no_faults == []
    assert faults == [
        f"system clock stepped {step_s:+.0f} s: times shown and recorded follow it;"
        " ages and alarm timers do not"
    ]  # one fault for the step, not one per snapshot or per bed
    assert stepped == steady  # second by second, the same ward and the same alarms


async def test_the_scenario_exercises_every_timer_it_claims_to() -> None:
    """What the differential test above compares: each timer fires at its monotonic time."""
    day, _ = await ward_day(HOUR_S)
    assert "HR HIGH 130" not in day[4].texts()
    assert "HR HIGH 130" in day[5].texts()  # the 5 s condition delay, across the step
    assert not any(t.startswith(("NO DATA", "DEVICE LOST")) for t in day[10].texts())
    assert f"NO DATA {SILENT}" in day[11].texts()
    assert "APNOEA" not in day[19].texts()
    assert "APNOEA" in day[20].texts()
    assert ("APNOEA", AlarmPriority.HIGH, True) in day[45].alarms  # breathing again: latched
    assert day[30].beds[SILENT.label][1:4] == (
        Connectivity.STALE,
        30.0,
        (("HR", 30.0, True), ("SpO2", 30.0, True)),
    )
    assert day[61].beds[SILENT.label][1] is Connectivity.LOST
    live = day[100].beds[MONITOR.label]
    assert live[1] is Connectivity.CONNECTED and live[4] == (0.0,)
    assert day[3].paused_s == 119.0  # the pause counts down in real seconds
    assert day[121].paused_s == 1.0
    assert day[122].paused_s is None
    resumed = [n for n, second in enumerate(day) for c in second.changes if c[0] == "audio-resumed"]
    assert resumed == [122]  # 2 + 120 s, neither an hour early nor an hour late


async def test_transitions_are_recorded_in_wall_time_ages_in_monotonic_time() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    await hub.submit(RECEIVED, [vitals(clock, hr=130)])
    clock.advance(2)
    clock.step_wall(-HOUR_S)
    clock.advance(3)
    snap = hub.snapshot()
    (raised,) = [t for t in hub.alarms.take_transitions() if t.change.value == "raised"]
    assert raised.time_ns == clock.now_ns()  # the record: when, by the (stepped) wall clock
    assert snap.alarms is not None
    (alarm,) = snap.alarms.alarms
    assert alarm.text == "HR HIGH 130"
    assert snap.alarms.time_ns - alarm.onset_ns == 0  # raised just now, not an hour ago


def test_a_step_is_reported_once_and_slow_drift_never() -> None:
    clock = ManualClock()
    steps = ClockSteps(clock)
    for _ in range(100):  # NTP slewing: 1 s over 100 looks, never a step
        clock.advance(0.25)
        clock.step_wall(0.01)
        assert steps.look() == 0
    clock.step_wall(-3)
    assert steps.look() == -3 * NS_PER_S
    assert steps.look() == 0


def test_a_value_read_back_from_the_journal_keeps_its_true_age_and_is_never_younger() -> None:
    clock = ManualClock()
    then = clock.now_ns()
    clock.advance(40)
    assert monotonic_of(clock, then) == clock.monotonic_ns() - 40 * NS_PER_S
    clock.step_wall(-HOUR_S)  # what was recorded before the step now lies "in the future"
    assert monotonic_of(clock, then) == clock.monotonic_ns()


def test_retention_never_prunes_faster_than_real_time() -> None:
    clock = ManualClock()
    retention_h = 72.0
    horizon = retention_horizon(clock, retention_h, None)
    assert horizon[0] == clock.now_ns() - round(retention_h * HOUR_S * NS_PER_S)
    first = horizon[0]
    clock.step_wall(5 * 365 * 24 * HOUR_S)  # a BIOS clock five years ahead, set by NTP
    clock.advance(60)
    horizon = retention_horizon(clock, retention_h, horizon)
    assert horizon[0] == first + 60 * NS_PER_S  # one minute pruned, not 72 h or everything
    clock.step_wall(-5 * 365 * 24 * HOUR_S - HOUR_S)  # and back, past where it started
    clock.advance(60)
    horizon = retention_horizon(clock, retention_h, horizon)
    assert horizon[0] == clock.now_ns() - round(retention_h * HOUR_S * NS_PER_S)
    assert horizon[0] < first  # behind what was pruned already: nothing more goes


@pytest.mark.parametrize("step_s", [HOUR_S, -HOUR_S])
async def test_through_the_listener_a_step_keeps_a_live_bed_live_and_a_silent_one_stale(
    tmp_path: Path, step_s: float
) -> None:
    """Real MLLP sockets, the real parser and the real journal writer, on the fake clock."""
    clock = ManualClock()
    path = tmp_path / "j.sqlite"
    async with running_gateway(path, clock=clock) as gateway:
        hub = gateway.hub
        live, silent = await gateway.monitor(), await gateway.monitor()
        assert await silent.send(oru("s0", bed=2, eui="00A037EB21750002")) == ("CA", "s0")
        for second in range(30):
            assert await live.send(oru(f"l{second}", bed=1)) == ("CA", f"l{second}")
            hub.snapshot()
            clock.advance(1)
        before = hub.snapshot()
        assert before.alarms is not None
        alarms_before = [(a.text, a.priority) for a in before.alarms.alarms]
        (lost,) = before.alarms.alarms
        assert lost.text.startswith("NO DATA") and lost.bed == BedId("ICU^2^1")
        assert lost.priority is AlarmPriority.MEDIUM  # silent 30 s: past stale, not yet lost
        clock.step_wall(step_s)
        assert await live.send(oru("after", bed=1)) == ("CA", "after")
        after = hub.snapshot()
        beds = {bed.label: bed for bed in after.beds}
        assert beds["ICU 1-1"].connectivity is Connectivity.CONNECTED
        assert beds["ICU 1-1"].readings[147842].age_s == 0.0
        assert not beds["ICU 1-1"].readings[147842].stale
        assert beds["ICU 2-1"].connectivity is Connectivity.STALE
        assert beds["ICU 2-1"].silent_s == 30.0
        assert beds["ICU 2-1"].readings[147842].age_s == 30.0
        assert after.alarms is not None
        assert [(a.text, a.priority) for a in after.alarms.alarms] == alarms_before
        assert [f.source for f in hub.faults].count("clock") == 1
        await live.close()
        await silent.close()
    stored = [s.routed.report async for batch in read_reports(path) for s in batch]
    last = stored[-1]
    assert last.receive_time_ns == clock.now_ns()  # recorded by the wall clock, stepped
    assert last.receive_time_ns - stored[-2].receive_time_ns == round((step_s + 1) * NS_PER_S)

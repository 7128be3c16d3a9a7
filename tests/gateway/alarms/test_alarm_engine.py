"""The alarm engine's state machine: latch, acknowledge, audio pause and break-through, device
alarms' lifecycle, ward-wide technical alarms, the journal's transitions with the operator,
restarts — and a failing rule that must be a fault, never an exception on the ingest path."""

from __future__ import annotations

import dataclasses

import pytest
from alarm_support import (
    BED,
    HIGH,
    LOW,
    MEDIUM,
    MONITOR,
    OTHER_BED,
    Rig,
    device_alarm,
    report,
    vitals,
)

from gateway.alarms.rules import BY_NAME, EffectiveLimits
from gateway.alarms.settings import AlarmSettings
from gateway.alarms.snapshot import Audible
from gateway.domain import AlarmKind, AlarmPriority, BedId, DeviceId, DeviceReport, Location

NO_DELAY = AlarmSettings(
    limits=lambda bed: {
        p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, 0.0)
        for p in BY_NAME.values()
    }
)


def rig() -> Rig:
    return Rig(NO_DELAY)


# ------------------------------------------------------------------ latch and acknowledge


def test_a_high_physiological_alarm_latches_when_its_condition_ends() -> None:
    r = rig()
    r.vitals(spo2=80)
    r.vitals(spo2=97)
    (alarm,) = r.alarms()
    assert (alarm.text, alarm.priority, alarm.latched) == ("SpO2 LOW 80", HIGH, True)
    assert r.engine.audible() == Audible(HIGH)  # latched and unacknowledged: still sounds
    assert r.engine.acknowledge(BED) == 1
    assert r.alarms() == ()
    assert [c for c, _ in r.changes()] == ["raised", "latched", "cleared"]


def test_a_medium_alarm_does_not_latch() -> None:
    r = rig()
    r.vitals(spo2=88)
    r.vitals(spo2=97)
    assert r.alarms() == ()
    assert [c for c, _ in r.changes()] == ["raised", "ended"]


def test_a_technical_high_alarm_does_not_latch() -> None:
    r = rig()
    r.engine.set_recording_failed("disk full")
    assert r.shown(None) == [("RECORDING FAILED", HIGH)]
    r.engine.set_recording_failed(None)
    assert r.shown(None) == []


def test_an_acknowledged_alarm_stays_shown_silent_while_its_condition_holds() -> None:
    r = rig()
    r.vitals(hr=130)
    r.engine.acknowledge(BED)
    (alarm,) = r.alarms()
    assert alarm.acknowledged and not alarm.latched
    assert r.engine.audible() == Audible(None)
    r.vitals(hr=100)
    assert r.alarms() == ()


def test_an_acknowledged_high_alarm_that_ends_is_not_latched_again() -> None:
    r = rig()
    r.vitals(hr=160)
    r.engine.acknowledge(BED)
    r.vitals(hr=80)
    assert r.alarms() == ()


def test_escalation_undoes_the_acknowledgement() -> None:
    r = rig()
    r.vitals(hr=130)
    r.engine.acknowledge(BED)
    r.vitals(hr=155)
    (alarm,) = r.alarms()
    assert (alarm.priority, alarm.acknowledged) == (HIGH, False)
    assert r.engine.audible() == Audible(HIGH)


def test_acknowledge_touches_only_the_bed_it_is_given() -> None:
    r = rig()
    r.vitals(hr=130)
    r.vitals(OTHER_BED, hr=130)
    r.engine.acknowledge(OTHER_BED)
    assert [a.acknowledged for a in r.alarms(BED)] == [False]
    assert [a.acknowledged for a in r.alarms(OTHER_BED)] == [True]


def test_a_latched_alarm_that_recurs_is_active_again() -> None:
    r = rig()
    r.vitals(spo2=80)
    r.vitals(spo2=97)
    r.vitals(spo2=82)
    (alarm,) = r.alarms()
    assert (alarm.text, alarm.latched) == ("SpO2 LOW 82", False)


# ------------------------------------------------------------------ order and markers


def test_alarms_are_listed_by_priority_then_age_with_ward_wide_ones_included() -> None:
    r = rig()
    r.vitals(temp=38.8)  # low
    r.clock.advance(1)
    r.vitals(OTHER_BED, hr=130)  # medium
    r.clock.advance(1)
    r.vitals(spo2=88)  # medium, newer
    r.clock.advance(1)
    r.engine.set_recording_failed("disk full")  # high, ward-wide
    snapshot = r.engine.snapshot()
    assert [(a.bed, a.text, a.marker) for a in snapshot.alarms] == [
        (None, "RECORDING FAILED", "!!!"),
        (OTHER_BED, "HR HIGH 130", "!!"),
        (BED, "SpO2 LOW 88", "!!"),
        (BED, "Temp HIGH 38.8", "!"),
    ]
    top = snapshot.top(BED)
    assert top is not None and top.text == "SpO2 LOW 88"


def test_a_tile_takes_the_unacknowledged_alarm_of_its_highest_priority() -> None:
    r = rig()
    r.vitals(hr=130)
    r.engine.acknowledge(BED)
    r.clock.advance(1)
    r.vitals(spo2=88)
    top = r.engine.snapshot().top(BED)
    assert top is not None and top.text == "SpO2 LOW 88"


# ------------------------------------------------------------------ audio pause


def test_audio_pause_silences_for_its_time_with_a_countdown_then_sounds_again() -> None:
    r = rig()
    r.vitals(hr=130)
    assert r.engine.audible() == Audible(MEDIUM)
    assert r.engine.pause_audio() is True
    assert r.engine.audible() == Audible(None)
    r.keep(30, hr=130)
    assert r.engine.snapshot().paused_remaining_s == 90.0
    r.keep(90, hr=130)
    assert r.engine.snapshot().paused_remaining_s is None
    assert r.engine.audible() == Audible(MEDIUM)
    assert [c for c, _ in r.changes()][-2:] == ["audio-paused", "audio-resumed"]


def test_p_again_ends_the_pause() -> None:
    r = rig()
    r.vitals(hr=130)
    r.engine.pause_audio()
    assert r.engine.pause_audio() is False
    assert r.engine.audible() == Audible(MEDIUM)


# (alarm shown when the pause began, new alarm during it, the new one sounds through?)
BREAK_THROUGH: list[tuple[dict[str, float], dict[str, float], AlarmPriority | None]] = [
    ({"hr": 130}, {"spo2": 88}, None),  # medium, then a new medium: stays silent
    ({"temp": 38.8}, {"spo2": 88}, MEDIUM),  # low, then a new medium: higher, sounds
    ({"hr": 130}, {"temp": 38.8}, None),  # medium, then a new low: silent
    ({"hr": 160}, {"spo2": 80}, HIGH),  # high, then a new high: every new high sounds
    ({"hr": 130}, {"spo2": 80}, HIGH),  # medium, then a new high
    ({}, {"temp": 38.8}, LOW),  # nothing shown: any new alarm is higher than nothing
]


@pytest.mark.parametrize(("before", "new", "sounds"), BREAK_THROUGH)
def test_break_through(
    before: dict[str, float], new: dict[str, float], sounds: AlarmPriority | None
) -> None:
    r = rig()
    if before:
        r.vitals(**before)
    r.engine.pause_audio()
    r.clock.advance(1)
    r.vitals(**new)
    assert r.engine.audible() == Audible(sounds, new_low=sounds is LOW)
    assert ("broke-through" in [c for c, _ in r.changes()]) == (sounds is not None)


def test_an_alarm_escalated_to_high_during_a_pause_sounds_through() -> None:
    r = rig()
    r.vitals(hr=130)
    r.engine.pause_audio()
    r.clock.advance(1)
    r.vitals(hr=155)
    assert r.engine.audible() == Audible(HIGH)


def test_an_alarm_already_active_when_paused_stays_silent_through_the_pause() -> None:
    r = rig()
    r.vitals(hr=160)
    r.engine.pause_audio()
    r.keep(60, hr=160)
    assert r.engine.audible() == Audible(None)


def test_a_low_alarm_sounds_once() -> None:
    r = rig()
    r.vitals(temp=38.8)
    assert r.engine.audible() == Audible(LOW, new_low=True)
    assert r.engine.audible() == Audible(LOW, new_low=False)


# ------------------------------------------------------------------ journal and operator


def test_every_transition_carries_its_time_and_who_made_it() -> None:
    r = rig()
    r.engine.sign_in("  Nurse Dupont ")
    r.vitals(spo2=80)
    r.clock.advance(2)
    r.vitals(spo2=97)
    r.clock.advance(3)
    r.engine.acknowledge(BED)
    taken = r.engine.take_transitions()
    assert [(t.change.value, t.operator) for t in taken] == [
        ("operator", "Nurse Dupont"),
        ("raised", "gateway"),  # the engine's own doing: never the nurse's name
        ("latched", "gateway"),
        ("cleared", "Nurse Dupont"),  # hers
    ]
    start = taken[0].time_ns
    assert [(t.time_ns - start) // 10**9 for t in taken] == [0, 0, 2, 5]
    assert {t.bed for t in taken[1:]} == {BED}
    assert {t.bed_label for t in taken[1:]} == {"Bed 1"}
    assert r.engine.take_transitions() == []


def test_an_empty_name_is_unknown() -> None:
    r = rig()
    r.engine.sign_in("")
    assert r.engine.snapshot().operator == "unknown"


def test_transitions_the_journal_could_not_store_are_tried_again_first() -> None:
    r = rig()
    r.vitals(hr=130)
    first = r.engine.take_transitions()
    r.vitals(hr=80)
    r.engine.return_transitions(first)
    assert [t.change.value for t in r.engine.take_transitions()] == ["raised", "ended"]


def test_history_of_a_bed_is_newest_first_and_only_that_bed() -> None:
    r = rig()
    r.vitals(hr=130)
    r.vitals(OTHER_BED, spo2=88)
    r.vitals(hr=80)
    assert [(t.change.value, t.text) for t in r.engine.history(BED)] == [
        ("ended", "HR HIGH 130"),
        ("raised", "HR HIGH 130"),
    ]


# ------------------------------------------------------------------ device alarms


def test_device_alarm_lifecycle_start_continue_end_keyed_by_device_and_id() -> None:
    r = rig()
    r.feed(report(r.clock, alarms=(device_alarm("A1", text="Low SpO2"),)))
    r.feed(report(r.clock, alarms=(device_alarm("A2", text="HR high", priority=HIGH),)))
    assert r.shown() == [("HR high", HIGH), ("Low SpO2", MEDIUM)]
    r.clock.advance(30)
    r.feed(report(r.clock, alarms=(device_alarm("A1", phase="continue", priority=HIGH),)))
    r.feed(report(r.clock, alarms=(device_alarm("A2", phase="end", state="inactive"),)))
    # A2 ended; it latches (high physiological) until acknowledged; A1 escalated.
    assert [(a.text, a.priority, a.latched) for a in r.alarms()] == [
        ("Low SpO2", HIGH, False),  # the older of the two high ones first
        ("HR high", HIGH, True),
    ]
    assert r.alarms()[0].source.value == "device"


def test_a_device_alarms_own_transitions_say_device_and_an_acknowledgement_says_who() -> None:
    r = rig()
    r.engine.sign_in("Nurse Dupont")
    r.feed(report(r.clock, alarms=(device_alarm("A1", text="Low SpO2"),)))
    r.clock.advance(5)
    r.engine.acknowledge(BED)
    r.feed(report(r.clock, alarms=(device_alarm("A1", phase="end", state="inactive"),)))
    taken = [(t.change.value, t.operator) for t in r.engine.take_transitions()]
    assert taken == [
        ("operator", "Nurse Dupont"),
        ("raised", "device"),
        ("acknowledged", "Nurse Dupont"),
        ("ended", "device"),
    ]


def test_a_remote_acknowledgement_names_its_operator_and_touches_only_the_alarms_named() -> None:
    r = rig()
    r.engine.sign_in("Nurse Dupont")
    r.feed(report(r.clock, alarms=(device_alarm("A1", text="Low SpO2"),)))
    r.feed(report(r.clock, alarms=(device_alarm("A2", text="HR high", priority=HIGH),)))
    r.engine.take_transitions()
    first = next(a for a in r.alarms() if a.text == "Low SpO2")
    assert r.engine.acknowledge_alarms([*first.members, "no-such-key"], " Dr Remote ") == 1
    assert [(a.text, a.acknowledged) for a in r.alarms()] == [
        ("HR high", False),  # not named: not acknowledged
        ("Low SpO2", True),
    ]
    assert [(t.change.value, t.operator) for t in r.engine.take_transitions()] == [
        ("acknowledged", "Dr Remote")
    ]
    assert r.engine.operator == "Nurse Dupont"  # the local screen's operator is unchanged
    assert r.engine.acknowledge_alarms(first.members, "Dr Remote") == 0  # already done


def test_a_device_latched_alarm_is_shown_until_acknowledged_and_not_raised_twice() -> None:
    r = rig()
    for _ in range(3):
        r.feed(report(r.clock, alarms=(device_alarm("L", state="latched", priority=LOW),)))
    assert [(a.text, a.latched) for a in r.alarms()] == [("Low SpO2", True)]
    assert [c for c, _ in r.changes()] == ["raised", "latched"]


def test_a_device_alarm_silenced_at_the_bedside_is_shown_but_not_sounded() -> None:
    r = rig()
    event = device_alarm("S", inactivation="audio-paused", priority=HIGH)
    r.feed(report(r.clock, alarms=(event,)))
    (alarm,) = r.alarms()
    assert alarm.silenced
    assert r.engine.audible() == Audible(None)


def test_an_alarm_without_lifecycle_lasts_while_repeated() -> None:
    r = rig()
    for _ in range(5):
        r.feed(report(r.clock, alarms=(device_alarm("P", phase="present"),)))
        r.after(5)
    assert ("Low SpO2", MEDIUM) in r.shown()
    r.after(5.25)  # 10.25 s after its last repeat
    assert ("Low SpO2", MEDIUM) not in r.shown()


def test_priority_none_is_no_alarm_and_an_end_never_seen_started_is_ignored() -> None:
    r = rig()
    r.feed(report(r.clock, alarms=(device_alarm("N", priority=AlarmPriority.NONE),)))
    r.feed(report(r.clock, alarms=(device_alarm("E", phase="end", state="inactive"),)))
    assert r.alarms() == ()
    assert r.changes() == []


def test_a_device_alarm_value_is_in_its_text() -> None:
    r = rig()
    event = dataclasses.replace(device_alarm("V"), value=84.0)
    r.feed(report(r.clock, alarms=(event,)))
    assert r.shown() == [("Low SpO2 84", MEDIUM)]


# ------------------------------------------------------------------ ward-wide technical


def test_an_unassigned_device_is_a_low_ward_alarm_while_it_talks() -> None:
    r = rig()
    stray = DeviceId("EUI-64:1111111111111111", "MX-9")
    unassigned = DeviceReport(
        stray, "mllp", "10.0.0.9:4000", r.clock.now_ns(), "m1", Location("ICU^9^1", "ICU", "9", "1")
    )
    r.feed(unassigned, bed=None)
    assert r.shown(None) == [("UNASSIGNED MX-9 ICU 9-1", LOW)]
    r.after(10.25)
    assert r.shown(None) == []


def test_an_unassigned_devices_own_alarms_are_shown_ward_wide() -> None:
    r = rig()
    r.feed(report(r.clock, alarms=(device_alarm("U", priority=HIGH),)), bed=None)
    texts = {(a.text, a.bed_label) for a in r.alarms(None)}
    assert ("Low SpO2", f"UNASSIGNED {MONITOR}") in texts


# ------------------------------------------------------------------ faults, restarts


def test_a_failing_rule_is_a_fault_once_a_minute_and_other_beds_keep_their_alarms() -> None:
    def limits(bed: BedId) -> dict[str, EffectiveLimits]:
        if bed == OTHER_BED:
            raise ZeroDivisionError("a bug")
        return NO_DELAY.limits(bed)  # type: ignore[return-value]

    r = Rig(AlarmSettings(limits=limits))
    for _ in range(3):
        r.vitals(OTHER_BED, hr=130)  # never raises into the caller
        r.clock.advance(1)
    r.vitals(hr=130)
    assert r.shown() == [("HR HIGH 130", MEDIUM)]
    assert len(r.faults) == 1
    assert r.faults[0].startswith("alarm rule report failed: ZeroDivisionError('a bug')")
    r.clock.advance(60)
    r.vitals(OTHER_BED, hr=130)
    assert len(r.faults) == 2
    assert "(3 times)" in r.faults[1]


def test_restoring_after_a_restart_raises_again_only_what_is_still_active() -> None:
    r = rig()
    with r.engine.restoring():
        r.feed(report(r.clock, alarms=(device_alarm("A", priority=HIGH),)))
        r.feed(report(r.clock, alarms=(device_alarm("B", priority=HIGH),)))
        r.feed(vitals(r.clock, spo2=80))
        r.feed(vitals(r.clock, spo2=97))  # ended before the restart: not latched again
        r.feed(report(r.clock, alarms=(device_alarm("B", phase="end", state="inactive"),)))
    assert r.shown() == [("Low SpO2", HIGH)]
    assert r.changes() == [("raised", "Low SpO2 (after a restart)")]


def test_a_limit_alarm_held_by_its_hysteresis_at_the_stop_holds_on_after_a_restart() -> None:
    """SpO2 fell to 88 (below 90) an hour ago and has stayed at 90.5 since: inside the limit
    but not back by the hysteresis (5 %), so its alarm still holds. The minutes a restart
    reads back hold only the 90.5s; the alarm must hold on, not end with the restart."""
    before = rig()
    before.vitals(spo2=88)
    before.keep(3, spo2=90.5)
    assert before.shown() == [("SpO2 LOW 90", MEDIUM)]
    after = Rig(NO_DELAY, clock=before.clock)
    after.engine.load_history(reversed(before.engine.history(ward=True)))
    with after.engine.restoring():
        after.vitals(spo2=90.5)
    assert after.shown() == [("SpO2 LOW 90", MEDIUM)]
    after.keep(2, spo2=96)  # back inside by the hysteresis: it ends as it would have
    assert after.shown() == []
    # An alarm that had ended before the stop is not brought back by the same value.
    again = Rig(NO_DELAY, clock=after.clock)
    again.engine.load_history(reversed(after.engine.history(ward=True)))
    with again.engine.restoring():
        again.vitals(spo2=90.5)
    assert again.shown() == []


def test_no_device_is_blamed_for_the_time_the_gateway_was_down() -> None:
    r = rig()
    r.clock.advance(-600)  # a report from ten minutes before the engine started
    with r.engine.restoring():
        r.feed(vitals(r.clock, hr=72))
    r.clock.advance(600)
    r.after(5)
    assert r.shown() == []
    r.after(5.25)
    assert r.shown() == [(f"NO DATA {MONITOR}", MEDIUM)]


def test_device_alarm_kind_is_kept_as_sent() -> None:
    r = rig()
    event = device_alarm("T", kind=AlarmKind.TECHNICAL, text="Occlusion", priority=HIGH)
    r.feed(report(r.clock, alarms=(event,)))
    r.feed(report(r.clock, alarms=(device_alarm("T", phase="end", state="inactive"),)))
    assert r.alarms() == ()  # a technical alarm does not latch


# ------------------------------------------------------------------ limits changed while running


def limits_with(**changed: tuple[float | None, float | None]) -> AlarmSettings:
    """No-delay limits with some parameters' (low, high) changed."""

    def limits(bed: BedId) -> dict[str, EffectiveLimits]:
        out = dict(NO_DELAY.limits(bed))
        for name, (low, high) in changed.items():
            p = BY_NAME[name]
            out[name] = EffectiveLimits(p, low, high, None, None, 0.0)
        return out

    return dataclasses.replace(NO_DELAY, limits=limits)


def test_new_limits_judge_the_last_value_at_once_and_a_moved_limit_ends_its_alarm() -> None:
    r = rig()
    r.vitals(hr=110)
    assert r.shown() == []  # inside the built-in 50-120
    assert r.engine.set_limits(limits_with(hr=(50, 100)).limits) == ["Bed 1"]
    assert r.shown() == [("HR HIGH 110", MEDIUM)]  # raised now, no new reading needed
    r.vitals(hr=112)
    assert r.shown() == [("HR HIGH 112", MEDIUM)]
    r.engine.set_limits(limits_with(hr=(50, 130)).limits)
    assert r.shown() == []  # the limit moved away from the value: ended
    r.vitals(hr=125)
    assert r.shown() == []  # the fast path goes by the new limits too
    r.vitals(hr=135)
    assert r.shown() == [("HR HIGH 135", MEDIUM)]


def delayed_limits(hr_high: float, delay_s: float = 5.0) -> AlarmSettings:
    """The built-in limits with a condition delay, HR's high limit at ``hr_high``."""

    def limits(bed: BedId) -> dict[str, EffectiveLimits]:
        out = {
            p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, delay_s)
            for p in BY_NAME.values()
        }
        hr = BY_NAME["hr"]
        out["hr"] = EffectiveLimits(hr, hr.low, hr_high, None, None, delay_s)
        return out

    return dataclasses.replace(NO_DELAY, limits=limits)


def test_an_alarm_still_past_its_moved_limit_goes_on_without_a_gap() -> None:
    """A limit tightened while its alarm stands: the value is past the new limit too, so the
    alarm stays — not ended, then raised again once a fresh condition delay has run."""
    r = Rig(delayed_limits(120))
    r.keep(8, hr=130)
    assert r.shown() == [("HR HIGH 130", MEDIUM)]
    r.engine.set_limits(delayed_limits(110).limits)
    assert r.shown() == [("HR HIGH 130", MEDIUM)]
    r.keep(2, hr=131)
    assert r.shown() == [("HR HIGH 131", MEDIUM)]
    assert [c for c, _ in r.changes()].count("raised") == 1
    assert "ended" not in [c for c, _ in r.changes()]
    # Moved past the value, it ends; the built-in hysteresis applies as on any reading.
    r.engine.set_limits(delayed_limits(150).limits)
    assert r.shown() == []


def test_unchanged_limits_change_nothing_and_a_bed_heard_later_takes_the_new_ones() -> None:
    r = rig()
    r.vitals(hr=110)
    assert r.engine.set_limits(NO_DELAY.limits) == []
    r.engine.set_limits(limits_with(hr=(50, 100)).limits)
    r.vitals(OTHER_BED, hr=105)
    assert r.shown(OTHER_BED) == [("HR HIGH 105", MEDIUM)]

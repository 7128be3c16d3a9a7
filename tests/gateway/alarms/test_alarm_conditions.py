"""A monitor's own alarm and the gateway's limit alarm for the same thing are one condition on
screen (issue #5): same bed, same parameter (MDC code), same direction — shown once, at the
higher priority, with the device's text when its priority is the higher or equal one; both
stay in the journal as they are; acknowledge, latch and audio pause act on the condition
as shown."""

from __future__ import annotations

import pytest
from alarm_support import BED, HIGH, LOW, MEDIUM, MONITOR, OTHER_BED, Rig, readings, report
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.alarms.conditions import device_condition, device_direction
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.rules import BY_NAME, EffectiveLimits
from gateway.alarms.settings import AlarmSettings
from gateway.alarms.snapshot import Audible
from gateway.clock import ManualClock
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    DeviceReport,
)
from gateway.hub import Hub
from gateway.journal.records import RoutedReport
from gateway.ward.routing import Router
from gateway.ward.state import WardState

NO_DELAY = AlarmSettings(
    limits=lambda bed: {
        p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, 0.0)
        for p in BY_NAME.values()
    }
)
SPO2, HR, NIBP_SYS = (BY_NAME[name].codes[0] for name in ("spo2", "hr", "nibp_sys"))
EVT_LO, EVT_HI = 196670, 196648
PHYSIO, TECHNICAL = AlarmKind.PHYSIOLOGICAL, AlarmKind.TECHNICAL


def monitor_alarm(
    text: str,
    *,
    parameter: int | None = SPO2,
    code: int = EVT_LO,
    priority: AlarmPriority = MEDIUM,
    kind: AlarmKind = PHYSIO,
    phase: str = "start",
    state: str = "active",
    alarm_id: str = "A1",
) -> AlarmEvent:
    """A physiological PCD-04 alarm of the monitor, as acm.py decodes one."""
    return AlarmEvent(
        MONITOR, code, text, priority, kind, phase, state, "enabled", AlarmSource.DEVICE, 0,
        alarm_id, parameter_code=parameter,
    )  # fmt: skip


def rig() -> Rig:
    return Rig(NO_DELAY)


def alarm(r: Rig, event: AlarmEvent, bed: BedId = BED) -> None:
    r.feed(report(r.clock, alarms=(event,)), bed)


def lines(r: Rig, bed: BedId = BED) -> list[tuple[str, AlarmPriority, str]]:
    """What the bed shows: (text, priority, state word)."""
    return [
        (a.text, a.priority, "ended" if a.latched else "ack" if a.acknowledged else "")
        for a in r.alarms(bed)
    ]


# ------------------------------------------------------------------ which alarms are one

# (the monitor's alarm, what the gateway sees, what the bed shows)
MERGE: list[tuple[str, AlarmEvent, dict[str, float], list[tuple[str, AlarmPriority]]]] = [
    (
        "same parameter and direction, same priority: once, the device's text",
        monitor_alarm("SpO2 low", priority=MEDIUM),
        {"spo2": 88},
        [("SpO2 low", MEDIUM)],
    ),
    (
        "the device's higher: once, the device's text",
        monitor_alarm("SpO2 low", priority=HIGH),
        {"spo2": 88},
        [("SpO2 low", HIGH)],
    ),
    (
        "the gateway's higher: once, the gateway's text at its priority",
        monitor_alarm("SpO2 low", priority=MEDIUM),
        {"spo2": 80},
        [("SpO2 LOW 80", HIGH)],
    ),
    (
        "NIBP: the issue's example",
        monitor_alarm("NIBP sys low 88", parameter=NIBP_SYS),
        {"nibp_sys": 88},
        [("NIBP sys low 88", MEDIUM)],
    ),
    (
        "another parameter: both",
        monitor_alarm("HR low", parameter=HR),
        {"spo2": 88},
        [("HR low", MEDIUM), ("SpO2 LOW 88", MEDIUM)],
    ),
    (
        "the other direction: both",
        monitor_alarm("SpO2 high", code=EVT_HI),
        {"spo2": 88},
        [("SpO2 high", MEDIUM), ("SpO2 LOW 88", MEDIUM)],
    ),
    (
        "direction from the text when the event code does not say (MDIL-ALERT)",
        monitor_alarm("SpO2 low 86 < 90", code=0),
        {"spo2": 86},
        [("SpO2 low 86 < 90", MEDIUM)],
    ),
    (
        "a text that names no direction: both",
        monitor_alarm("SpO2 desaturation", code=0),
        {"spo2": 86},
        [("SpO2 desaturation", MEDIUM), ("SpO2 LOW 86", MEDIUM)],
    ),
    (
        "a technical alarm about the parameter is not the parameter too low",
        monitor_alarm("SpO2 LOW PERF", code=0, kind=TECHNICAL, priority=LOW),
        {"spo2": 88},
        [("SpO2 LOW 88", MEDIUM), ("SpO2 LOW PERF", LOW)],
    ),
    (
        "a device alarm that names no parameter: both",
        monitor_alarm("Low SpO2", parameter=None),
        {"spo2": 88},
        [("Low SpO2", MEDIUM), ("SpO2 LOW 88", MEDIUM)],
    ),
]


@pytest.mark.parametrize(
    ("event", "values", "shown"), [case[1:] for case in MERGE], ids=[case[0] for case in MERGE]
)
def test_a_device_alarm_and_a_limit_alarm_of_one_condition_are_shown_once(
    event: AlarmEvent, values: dict[str, float], shown: list[tuple[str, AlarmPriority]]
) -> None:
    for device_first in (True, False):
        r = rig()
        if device_first:
            alarm(r, event)
        r.feed(readings(r.clock, values))
        if not device_first:
            alarm(r, event)
        # Equal priorities come in the order raised: compare as sets of lines.
        assert sorted(r.shown()) == sorted(shown), f"device first: {device_first}"


def test_the_same_condition_on_another_bed_is_another_alarm() -> None:
    r = rig()
    alarm(r, monitor_alarm("SpO2 low"), OTHER_BED)
    r.vitals(spo2=88)
    assert r.shown() == [("SpO2 LOW 88", MEDIUM)]
    assert r.shown(OTHER_BED) == [("SpO2 low", MEDIUM)]


def test_one_line_names_both_alarms_and_the_journal_keeps_both_as_they_are() -> None:
    r = rig()
    alarm(r, monitor_alarm("SpO2 low"))
    r.vitals(spo2=88)
    (shown,) = r.alarms()
    assert shown.source is AlarmSource.DEVICE
    assert shown.parameter_code == SPO2
    assert len(shown.members) == 2
    assert any(key.endswith("|low") for key in shown.members)  # the gateway's
    assert any("|device|" in key for key in shown.members)
    journal = r.engine.take_transitions()
    assert [(t.change.value, t.source, t.text) for t in journal] == [
        ("raised", AlarmSource.DEVICE, "SpO2 low"),
        ("raised", AlarmSource.GATEWAY, "SpO2 LOW 88"),
    ]


# ------------------------------------------------------------------ one ends before the other

# (steps, each a device alarm or gateway values, and what the bed shows after each step)
Step = AlarmEvent | dict[str, float]
LIFECYCLES: list[tuple[str, list[tuple[Step, list[tuple[str, AlarmPriority, str]]]]]] = [
    (
        "the device's alarm ends first: the gateway's goes on, then ends",
        [
            (monitor_alarm("SpO2 low"), [("SpO2 low", MEDIUM, "")]),
            ({"spo2": 88}, [("SpO2 low", MEDIUM, "")]),
            (
                monitor_alarm("SpO2 low", phase="end", state="inactive"),
                [("SpO2 LOW 88", MEDIUM, "")],
            ),
            ({"spo2": 97}, []),
        ],
    ),
    (
        "the gateway's alarm ends first: the device's goes on, then ends",
        [
            ({"spo2": 88}, [("SpO2 LOW 88", MEDIUM, "")]),
            (monitor_alarm("SpO2 low"), [("SpO2 low", MEDIUM, "")]),
            ({"spo2": 97}, [("SpO2 low", MEDIUM, "")]),
            (monitor_alarm("SpO2 low", phase="end", state="inactive"), []),
        ],
    ),
    (
        "a high gateway alarm ends first: shown, active, while the device's lasts; then latched",
        [
            (monitor_alarm("SpO2 low"), [("SpO2 low", MEDIUM, "")]),
            ({"spo2": 80}, [("SpO2 LOW 80", HIGH, "")]),
            ({"spo2": 97}, [("SpO2 LOW 80", HIGH, "")]),
            (
                monitor_alarm("SpO2 low", phase="end", state="inactive"),
                [("SpO2 LOW 80", HIGH, "ended")],
            ),
        ],
    ),
    (
        "a high device alarm ends first: latched once the gateway's has ended too",
        [
            ({"spo2": 88}, [("SpO2 LOW 88", MEDIUM, "")]),
            (monitor_alarm("SpO2 low", priority=HIGH), [("SpO2 low", HIGH, "")]),
            (monitor_alarm("SpO2 low", phase="end", state="inactive"), [("SpO2 low", HIGH, "")]),
            ({"spo2": 97}, [("SpO2 low", HIGH, "ended")]),
        ],
    ),
]


@pytest.mark.parametrize(
    "steps", [case[1] for case in LIFECYCLES], ids=[case[0] for case in LIFECYCLES]
)
def test_one_alarm_of_a_condition_ending_leaves_the_other_shown(
    steps: list[tuple[Step, list[tuple[str, AlarmPriority, str]]]],
) -> None:
    r = rig()
    for number, (step, shown) in enumerate(steps, 1):
        r.clock.advance(1)
        if isinstance(step, AlarmEvent):
            alarm(r, step)
        else:
            r.vitals(**step)
        assert lines(r) == shown, f"after step {number}"
    if shown and shown[0][2] == "ended":
        assert r.engine.acknowledge(BED) >= 1  # a latched condition clears as one
        assert lines(r) == []


# ------------------------------------------------------------------ acknowledge, pause, sound


def test_an_acknowledged_condition_stays_acknowledged_when_its_other_alarm_comes() -> None:
    r = rig()
    alarm(r, monitor_alarm("SpO2 low"))
    assert r.engine.acknowledge(BED) == 1
    r.clock.advance(3)
    r.vitals(spo2=88)  # the gateway's own limit alarm, for what staff acknowledged already
    assert lines(r) == [("SpO2 low", MEDIUM, "ack")]
    assert r.engine.audible() == Audible(None)
    assert r.changes()[-1] == ("acknowledged", "SpO2 LOW 88 (shown as one with SpO2 low)")


def test_a_condition_made_more_urgent_by_its_other_alarm_sounds_and_needs_acknowledging() -> None:
    r = rig()
    alarm(r, monitor_alarm("SpO2 low"))
    r.engine.acknowledge(BED)
    r.vitals(spo2=80)  # the gateway's is high: the condition escalates
    assert lines(r) == [("SpO2 LOW 80", HIGH, "")]
    assert r.engine.audible() == Audible(HIGH)
    assert r.engine.acknowledge(BED) == 1  # the one not yet acknowledged
    assert lines(r) == [("SpO2 LOW 80", HIGH, "ack")]


def test_acknowledging_the_condition_silences_both_of_its_alarms() -> None:
    r = rig()
    r.vitals(spo2=88)
    alarm(r, monitor_alarm("SpO2 low"))
    assert r.engine.audible() == Audible(MEDIUM)
    assert r.engine.acknowledge(BED) == 2
    assert lines(r) == [("SpO2 low", MEDIUM, "ack")]
    assert r.engine.audible() == Audible(None)


def test_a_condition_on_screen_when_the_sound_was_paused_does_not_sound_through() -> None:
    r = rig()
    alarm(r, monitor_alarm("SpO2 low", priority=HIGH))
    r.engine.pause_audio()
    r.clock.advance(1)
    r.vitals(spo2=80)  # a new high alarm, but of the condition already shown: not new
    assert r.engine.audible() == Audible(None)
    assert "broke-through" not in [change for change, _ in r.changes()]
    r.vitals(hr=160)  # a new high condition still sounds through
    assert r.engine.audible() == Audible(HIGH)


def test_a_low_condition_rings_its_single_bell_once() -> None:
    r = rig()
    alarm(
        r, monitor_alarm("Temp high", parameter=BY_NAME["temp"].codes[0], code=EVT_HI, priority=LOW)
    )
    assert r.engine.audible() == Audible(LOW, new_low=True)
    r.vitals(temp=38.8)  # the gateway's Temp HIGH, low priority too
    assert lines(r) == [("Temp high", LOW, "")]
    assert r.engine.audible() == Audible(LOW, new_low=False)


# ------------------------------------------------------------------ from real messages


def decoded(prefix: str, now: int) -> tuple[DeviceReport, ...]:
    message = er7.parse(load_sample(prefix))
    return pcd.decode_message(message, transport="mllp", peer="p", receive_time_ns=now).reports


def test_a_philips_monitors_alert_rows_and_the_gateways_limits_show_each_condition_once() -> None:
    # 16: HR 128 (red alarm "HR 128 > 120"), SpO2 86 (yellow "SpO2 low 86 < 90"), Temp 38.6,
    # a hard and a soft INOP: one message through the hub.
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock, alarms=AlarmEngine(NO_DELAY, clock=clock))
    routed = []
    for item in decoded("16", clock.now_ns()):
        route = hub.router.route(item)
        assert route is not None
        routed.append(RoutedReport(item, route.bed, route.label))
    hub.apply(routed)
    shown = [(a.text, a.priority, a.source.value) for a in hub.alarms.snapshot().alarms]
    assert shown == [
        ("HR 128 > 120", HIGH, "device"),  # the device's red is above the gateway's medium
        ("SpO2 low 86 < 90", MEDIUM, "device"),  # equal: the device's text
        ("NBP CUFF OVERPRESS", MEDIUM, "device"),
        ("Temp HIGH 38.6", LOW, "gateway"),  # the monitor did not alarm on it
        ("SpO2 NOISY SIGNAL", LOW, "device"),  # technical: stands alone
    ]


def test_the_ihe_mindray_low_spo2_alarm_is_one_condition_with_the_gateways() -> None:
    # 03: MDC_EVT_LO "Low SpO2" from the SpO2 channel (OBX-4 1.3.1.150456.n), value 88.
    r = rig()
    (event,) = decoded("03", r.clock.now_ns())[0].alarms
    assert device_direction(event) == "low"
    assert device_condition(BED, event) == f"{BED.key}|{SPO2}|low"
    alarm(r, event)
    r.vitals(spo2=88)
    assert r.shown() == [("Low SpO2 88", MEDIUM)]


@pytest.mark.parametrize(
    ("code", "text", "direction"),
    [
        (EVT_LO, "anything", "low"),
        (EVT_HI, "anything", "high"),
        (196674, "SPO2 LOW", "low"),  # MDC_EVT_LO_VAL_LT_LIM (Masimo)
        (196650, "", "high"),  # MDC_EVT_HI_GT_LIM
        (199854, "Desat", "low"),  # MDC_EVT_DESAT
        (0, "Low SpO2", "low"),
        (0, "HR HI", "high"),
        (0, "HR 128 > 120", "high"),
        (0, "SpO2 86 < 90", "low"),
        (0, "HR high, limit low", None),  # says both
        (0, "Brady", None),
        (0, "Slow flow", None),  # a word containing "low" is not "low"
    ],
)
def test_the_direction_of_a_device_alarm(code: int, text: str, direction: str | None) -> None:
    assert device_direction(monitor_alarm(text, code=code)) == direction

"""The gateway's limit rules, table by table: thresholds and priorities of the adult defaults,
configured limits, hysteresis, condition delay, escalation, apnoea, invalid parameters,
device lost — each driven by a ManualClock through the engine as the hub feeds it."""

from __future__ import annotations

from pathlib import Path

import pytest
from alarm_support import (
    HIGH,
    INVALID,
    LOW,
    MEDIUM,
    MONITOR,
    OTHER_BED,
    VALID,
    VENTILATOR,
    Rig,
    observation,
    report,
    vitals,
)

from gateway.alarms.rules import (
    BY_NAME,
    EffectiveLimits,
    LimitWatch,
    RuleSettings,
    effective_limits,
)
from gateway.alarms.settings import AlarmSettings
from gateway.config.load import load_config
from gateway.domain import AlarmPriority, BedId, ObservationStatus

NO_DELAY = AlarmSettings(limits=lambda bed: _limits(delay_s=0.0))


def _limits(delay_s: float) -> dict[str, EffectiveLimits]:
    return {
        p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, delay_s)
        for p in BY_NAME.values()
    }


# (parameter, value, the alarm the bed shows) — the built-in adult ICU limits.
THRESHOLDS = [
    ("hr", 72, None),
    ("hr", 50, None),
    ("hr", 49, ("HR LOW 49", MEDIUM)),
    ("hr", 40, ("HR LOW 40", MEDIUM)),
    ("hr", 39, ("HR LOW 39", HIGH)),
    ("hr", 120, None),
    ("hr", 121, ("HR HIGH 121", MEDIUM)),
    ("hr", 150, ("HR HIGH 150", MEDIUM)),
    ("hr", 151, ("HR HIGH 151", HIGH)),
    ("spo2", 90, None),
    ("spo2", 89, ("SpO2 LOW 89", MEDIUM)),
    ("spo2", 84, ("SpO2 LOW 84", HIGH)),
    ("spo2", 100, None),
    ("nibp_sys", 89, ("NIBP sys LOW 89", MEDIUM)),
    ("nibp_sys", 69, ("NIBP sys LOW 69", HIGH)),
    ("nibp_sys", 161, ("NIBP sys HIGH 161", MEDIUM)),
    ("nibp_sys", 201, ("NIBP sys HIGH 201", HIGH)),
    ("nibp_mean", 64, ("NIBP mean LOW 64", MEDIUM)),
    ("nibp_mean", 49, ("NIBP mean LOW 49", HIGH)),
    ("abp_sys", 88, ("ABP sys LOW 88", MEDIUM)),
    ("abp_mean", 131, ("ABP mean HIGH 131", HIGH)),
    ("rr", 7, ("RR LOW 7", MEDIUM)),
    ("rr", 4, ("RR LOW 4", HIGH)),
    ("rr", 31, ("RR HIGH 31", MEDIUM)),
    ("rr", 41, ("RR HIGH 41", HIGH)),
    ("etco2", 24, ("EtCO2 LOW 24", MEDIUM)),
    ("etco2", 61, ("EtCO2 HIGH 61", HIGH)),
    ("temp", 37.0, None),
    ("temp", 38.6, ("Temp HIGH 38.6", LOW)),
    ("temp", 40.1, ("Temp HIGH 40.1", MEDIUM)),
    ("temp", 35.4, ("Temp LOW 35.4", LOW)),
    ("temp", 33.9, ("Temp LOW 33.9", MEDIUM)),
]


@pytest.mark.parametrize(("name", "value", "expected"), THRESHOLDS)
def test_a_value_past_a_default_limit_alarms_at_that_limits_priority(
    name: str, value: float, expected: tuple[str, AlarmPriority] | None
) -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(**{name: value})
    assert rig.shown() == ([] if expected is None else [expected])


# (what the value does, seconds apart, the priority shown after each reading); delay 5 s.
DELAYS = [
    ("a single reading past the limit", [(0, 85.0)], [None]),
    ("past the limit for less than the delay", [(0, 88), (4, 88), (1, 95)], [None, None, None]),
    ("past the limit for the delay", [(0, 88), (2.5, 88), (2.5, 88)], [None, None, MEDIUM]),
    ("the delay restarts when the value comes back", [(0, 88), (4, 92), (2, 88), (4, 88)],
     [None, None, None, None]),
    ("straight to the extreme: high after the delay", [(0, 80), (5, 80)], [None, HIGH]),
    ("medium, then the extreme for its own delay", [(0, 88), (5, 88), (1, 80), (4, 80), (1, 80)],
     [None, MEDIUM, MEDIUM, MEDIUM, HIGH]),
    ("escalated never drops back while it lasts", [(0, 80), (5, 80), (1, 88), (10, 88)],
     [None, HIGH, HIGH, HIGH]),
]  # fmt: skip


@pytest.mark.parametrize(("what", "steps", "expected"), DELAYS, ids=[d[0] for d in DELAYS])
def test_condition_delay_and_escalation_of_spo2(
    what: str, steps: list[tuple[float, float]], expected: list[AlarmPriority | None]
) -> None:
    rig = Rig(AlarmSettings(limits=lambda bed: _limits(delay_s=5.0)))
    seen = []
    for seconds, value in steps:
        rig.clock.advance(seconds)
        rig.vitals(spo2=value)
        alarms = rig.alarms()
        seen.append(alarms[0].priority if alarms else None)
    assert seen == expected


def test_the_delay_runs_out_on_the_timer_when_no_new_reading_comes() -> None:
    rig = Rig(AlarmSettings(limits=lambda bed: _limits(delay_s=5.0)))
    rig.vitals(nibp_sys=60)  # one NIBP measurement, not re-sent
    rig.after(4.75)
    assert rig.shown() == []
    rig.after(0.25)
    assert rig.shown() == [("NIBP sys LOW 60", HIGH)]


# Hysteresis 5 %: SpO2 LOW (limit 90) ends at 94.5 or above; HR HIGH (120) at 114 or below.
HYSTERESIS = [
    ("spo2", [88, 91, 94, 94.5], [True, True, True, False]),
    ("spo2", [88, 92, 88, 95], [True, True, True, False]),
    ("hr", [125, 119, 115, 114], [True, True, True, False]),
    ("hr", [125, 100], [True, False]),
]


@pytest.mark.parametrize(("name", "values", "alarming"), HYSTERESIS)
def test_an_alarm_ends_only_once_the_value_is_back_inside_by_the_hysteresis(
    name: str, values: list[float], alarming: list[bool]
) -> None:
    rig = Rig(NO_DELAY)
    seen = []
    for value in values:
        rig.clock.advance(1)
        rig.vitals(**{name: value})
        seen.append(bool(rig.shown()))
    assert seen == alarming


def test_hysteresis_is_configurable_and_zero_means_the_limit_itself() -> None:
    settings = AlarmSettings(
        rules=RuleSettings(hysteresis_pct=0.0), limits=lambda bed: _limits(delay_s=0.0)
    )
    rig = Rig(settings)
    rig.vitals(spo2=89)
    rig.vitals(spo2=90)
    assert rig.shown() == []


def test_the_text_follows_the_value_while_the_alarm_lasts() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(hr=130)
    rig.vitals(hr=135)
    assert rig.shown() == [("HR HIGH 135", MEDIUM)]
    assert [c for c, _ in rig.changes()] == ["raised"]  # a new value is no new transition


@pytest.mark.parametrize(
    ("status", "value"),
    [(INVALID, 40.0), (INVALID, 0.0), (INVALID, "---"), (VALID, "***")],
    ids=["invalid 40", "invalid 0", "invalid text", "a text value"],
)
def test_only_valid_numbers_trigger_limit_alarms(
    status: ObservationStatus, value: float | str
) -> None:
    rig = Rig(NO_DELAY)
    rig.feed(report(rig.clock, observation("hr", value, rig.clock.now_ns(), status=status)))
    assert not any("HR LOW" in text or "HR HIGH" in text for text, _ in rig.shown())


def test_an_invalid_reading_ends_a_medium_limit_alarm_there_is_no_number_to_judge() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(hr=130)
    rig.feed(report(rig.clock, observation("hr", 130, rig.clock.now_ns(), status=INVALID)))
    assert rig.shown() == []


def test_a_stale_reading_ends_a_limit_alarm_and_a_high_one_stays_latched() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(hr=130, spo2=80)
    rig.after(10.25)  # past the stale timeout: no number to judge any more
    assert rig.shown() == [
        ("SpO2 LOW 80", HIGH),  # latched: high physiological
        (f"NO DATA {MONITOR}", MEDIUM),
    ]
    assert rig.alarms()[0].latched


def test_a_value_in_an_unknown_unit_is_never_compared_and_says_so_once() -> None:
    rig = Rig(NO_DELAY)
    for _ in range(3):
        rig.feed(report(rig.clock, observation("temp", 100.0, rig.clock.now_ns(), unit="K")))
    assert rig.shown() == []
    assert rig.faults == ["Bed 1: Temp comes in 'K', not °C: its limits are not checked"]


@pytest.mark.parametrize(
    ("name", "value", "unit", "expected"),
    [
        ("etco2", 3.0, "kPa", ("EtCO2 LOW 23", MEDIUM)),  # 3 kPa = 22.5 mmHg
        ("etco2", 5.3, "kPa", None),  # 39.8 mmHg
        ("temp", 102.0, "°F", ("Temp HIGH 38.9", LOW)),
    ],
)
def test_values_in_another_known_unit_are_converted_before_comparing(
    name: str, value: float, unit: str, expected: tuple[str, AlarmPriority] | None
) -> None:
    rig = Rig(NO_DELAY)
    rig.feed(report(rig.clock, observation(name, value, rig.clock.now_ns(), unit=unit)))
    assert rig.shown() == ([] if expected is None else [expected])


# ------------------------------------------------------------------ configured limits


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ward.toml"
    path.write_text(text, encoding="utf-8")
    return path


LIMITS_TOML = """
[alarms]
condition_delay_s = 3
[alarms.limits]
hr = { low = 45, high = 130 }
spo2 = { low = 92 }
temp = { high = 38.0, delay_s = 60 }

[[beds]]
id = "bed-2"
label = "Bed 2"
locations = ["ICU^2^1"]
limits.hr = { high = 140 }
limits.spo2 = { low = 80 }
limits.rr = { low = 6 }
"""


# (bed, parameter, (low, high, extreme low, extreme high, delay)) in force.
CONFIGURED = [
    ("bed-1", "hr", (45, 130, 40, 150, 3)),  # the ward's, as written
    ("bed-2", "hr", (45, 140, 40, 150, 3)),  # the bed overrides high only
    ("bed-1", "spo2", (92, None, 85, None, 3)),
    ("bed-2", "spo2", (80, None, 75, None, 3)),  # moved past the extreme: it moves along
    ("bed-1", "temp", (None, 38.0, None, 40, 60)),  # written without low: no low alarm
    ("bed-1", "rr", (8, 30, 5, 40, 3)),  # not written: the built-in default
    ("bed-2", "rr", (6, 30, 5, 40, 3)),  # a bed override over the built-in default
]


@pytest.mark.parametrize(("bed", "name", "expected"), CONFIGURED)
def test_configured_limits_replace_the_defaults_per_parameter_then_per_bed_field(
    tmp_path: Path, bed: str, name: str, expected: tuple[float | None, ...]
) -> None:
    config = load_config(_config(tmp_path, LIMITS_TOML))
    limits, problems = effective_limits(config, bed)
    got = limits[name]
    assert (got.low, got.high, got.extreme_low, got.extreme_high, got.delay_s) == expected
    assert problems == []


def test_a_bed_limit_crossing_a_builtin_one_drops_the_builtin_side_as_a_fault(
    tmp_path: Path,
) -> None:
    config = load_config(
        _config(tmp_path, '[[beds]]\nid = "b"\nlocations = ["X^1"]\nlimits.hr = { low = 125 }\n')
    )
    limits, problems = effective_limits(config, "b")
    assert (limits["hr"].low, limits["hr"].high) == (125, None)
    assert problems == [
        "bed b: hr low 125 is not below high 120; the built-in high limit 120 is not used"
        " for this bed"
    ]


def test_a_configured_bed_alarms_at_its_own_limits(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, LIMITS_TOML))
    settings, _ = AlarmSettings.from_config(config)
    rig = Rig(settings)
    rig.vitals(BedId("bed-2"), hr=135)
    rig.vitals(BedId("other"), hr=135)
    rig.after(3)
    rig.vitals(BedId("bed-2"), hr=135)
    rig.vitals(BedId("other"), hr=135)
    assert rig.shown(BedId("bed-2")) == []
    assert rig.shown(BedId("other")) == [("HR HIGH 135", MEDIUM)]


def test_the_low_tier_of_a_limit_watch_has_no_extreme_when_the_parameter_has_none() -> None:
    p = BY_NAME["spo2"]
    watch = LimitWatch(EffectiveLimits(p, 90, 99, None, None, 0.0), "SpO2", RuleSettings())
    low, high = watch.reading(70, 0)
    assert (low.priority, high.priority) == (MEDIUM, None)
    low, high = watch.reading(100, 1)
    assert (low.priority, high.priority) == (None, MEDIUM)


# ------------------------------------------------------------------ apnoea


def test_apnoea_after_20_s_of_rate_zero_is_high_and_latches() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(rr=14)
    rig.clock.advance(1)
    for _ in range(20):
        rig.vitals(rr=0, hr=80)
        # The rate's own low limit has alarmed since the first 0 (its delay, not 20 s).
        assert rig.shown() == [("RR LOW 0", HIGH)]
        rig.clock.advance(1)
    rig.vitals(rr=0, hr=80)  # 20 s after the first 0
    assert rig.shown() == [("RR LOW 0", HIGH), ("APNOEA", HIGH)]
    rig.clock.advance(1)
    rig.vitals(rr=12)
    assert [(a.text, a.latched) for a in rig.alarms()] == [("RR LOW 0", True), ("APNOEA", True)]


def test_apnoea_when_the_rate_is_no_longer_sent_by_a_device_still_talking() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(rr=14, hr=80)
    for _ in range(19):
        rig.clock.advance(1)
        rig.vitals(hr=80)
    assert rig.shown() == []
    rig.clock.advance(1)
    rig.vitals(hr=80)
    assert rig.shown() == [("APNOEA", HIGH)]


def test_no_apnoea_when_another_device_talks_or_the_rate_never_was_valid() -> None:
    rig = Rig(NO_DELAY)
    rig.vitals(rr=14)  # the monitor measures the rate …
    rig.feed(report(rig.clock, observation("rr", 0, rig.clock.now_ns(), status=INVALID)), OTHER_BED)
    for _ in range(30):
        rig.clock.advance(1)
        rig.feed(report(rig.clock, observation("etco2", 38, rig.clock.now_ns()), device=VENTILATOR))
        rig.feed(
            report(rig.clock, observation("rr", 0, rig.clock.now_ns(), status=INVALID)), OTHER_BED
        )
    assert ("APNOEA", HIGH) not in rig.shown()  # … and it fell silent: that is DEVICE LOST
    assert ("APNOEA", HIGH) not in rig.shown(OTHER_BED)  # never a valid rate: RR INVALID instead
    assert ("RR INVALID", LOW) in rig.shown(OTHER_BED)


# ------------------------------------------------------------------ technical


def test_a_parameter_invalid_for_10_s_is_a_low_technical_alarm_until_valid_again() -> None:
    rig = Rig(NO_DELAY)
    for _ in range(10):
        rig.feed(report(rig.clock, observation("spo2", 0, rig.clock.now_ns(), status=INVALID)))
        assert rig.shown() == []
        rig.clock.advance(1)
    rig.feed(report(rig.clock, observation("spo2", 0, rig.clock.now_ns(), status=INVALID)))
    assert rig.shown() == [("SpO2 INVALID", LOW)]
    assert rig.alarms()[0].kind.value == "technical"
    rig.vitals(spo2=97)
    assert rig.shown() == []


# (seconds of silence, what the bed shows); stale timeout 10 s, lost after 60 s.
LOST = [
    (5, []),
    (10, []),
    (10.25, [(f"NO DATA {MONITOR}", MEDIUM)]),
    (60, [(f"NO DATA {MONITOR}", MEDIUM)]),
    (60.25, [(f"DEVICE LOST {MONITOR}", HIGH)]),
]


@pytest.mark.parametrize(("silent", "expected"), LOST)
def test_a_silent_device_is_lost_medium_then_high(
    silent: float, expected: list[tuple[str, AlarmPriority]]
) -> None:
    rig = Rig()
    rig.vitals(hr=72)
    rig.after(silent)
    assert rig.shown() == expected


def test_a_lost_device_that_speaks_again_ends_its_alarm_at_once() -> None:
    rig = Rig()
    rig.vitals(hr=72)
    rig.after(61)
    rig.vitals(hr=72)
    assert rig.shown() == []
    assert [c for c, _ in rig.changes()] == ["raised", "escalated", "ended"]


def test_lost_is_per_device_and_escalates_on_the_configured_timeouts() -> None:
    rig = Rig(AlarmSettings(rules=RuleSettings(stale_timeout_s=2), lost_after_s=5))
    rig.vitals(hr=72)
    rig.feed(vitals(rig.clock, etco2=38, device=VENTILATOR))
    for _ in range(5):
        rig.after(1)
        rig.vitals(hr=72)
    rig.after(0.5)
    assert rig.shown() == [(f"DEVICE LOST {VENTILATOR}", HIGH)]

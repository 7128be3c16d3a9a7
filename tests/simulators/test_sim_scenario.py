"""The scenario format: built-ins load, times parse, every mistake is reported with its line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from gateway.errors import ConfigError
from simulators.scenario import (
    Artefact,
    Change,
    Disconnect,
    SetRhythm,
    builtin_names,
    load_scenario,
    parse_scenario,
    parse_time,
)
from simulators.signals import Rhythm

BUILTINS = [
    "arrest", "desaturation", "deteriorating", "flaky-device", "hypotension", "mixed-ward",
    "stable",
]  # fmt: skip


def test_every_builtin_named_in_the_issue_is_there_and_valid() -> None:
    assert builtin_names() == BUILTINS
    for name in BUILTINS:
        assert load_scenario(name).name == name


def test_the_example_timeline_reads_as_written() -> None:
    ward = parse_scenario(
        """
        name = "example"
        [[events]]
        at = "00:30"
        change = "SpO2"
        to = 82
        over = "60 s"
        [[events]]
        at = "02:00"
        artefact = "sensor_off"
        duration = "20s"
        [[events]]
        at = "03:00"
        disconnect = "40s"
        [[events]]
        at = "05:00"
        rhythm = "asystole"
        """.replace("SpO2", "spo2").replace("60 s", "60s")
    )
    [bed] = ward.beds
    assert [(e.at_s, e.action) for e in bed.events] == [
        (30.0, Change("spo2", 82.0, 60.0)),
        (120.0, Artefact("sensor_off", 20.0)),
        (180.0, Disconnect(40.0)),
        (300.0, SetRhythm(Rhythm.ASYSTOLE)),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("00:30", 30), ("05:00", 300), ("1:02:03", 3723), ("90s", 90), ("2m", 120),
     ("1m30s", 90), ("1h", 3600), (45, 45), (2.5, 2.5), ("0.5s", 0.5)],
)  # fmt: skip
def test_times_parse(text: str | float, seconds: float) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1:75", "-5", "5 parsecs", True, -1])
def test_bad_times_say_what_is_allowed(text: object) -> None:
    with pytest.raises(ValueError, match=r"time|below 60"):
        parse_time(text)


def test_every_problem_is_reported_at_once_with_file_line_and_what_is_allowed() -> None:
    text = """name = "broken"
[patient]
hr = 500
bogus = 1

[[events]]
at = "0x:30"
change = "spo"
to = 82

[[events]]
at = "01:00"
artefact = "sensr_off"
duration = "5s"

[[events]]
rhythm = "vf"

[[events]]
at = "02:00"
rhythm = "vf"
disconnect = "10s"
"""
    with pytest.raises(ConfigError) as error:
        parse_scenario(text, "ward.toml")
    problems = error.value.problems
    assert problems == [
        "ward.toml:2: patient.hr: 500 is not a heart_rate from 0 to 300",
        problems[1],
        'ward.toml:6: events[0].at: \'0x:30\': a time is "mm:ss", "h:mm:ss", "90s", "2m", '
        '"1m30s", "1h" or a number of seconds',
        problems[3],
        "ward.toml:11: events[1].artefact: unknown artefact 'sensr_off'; allowed: motion, "
        "lead_off, sensor_off",
        'ward.toml:16: events[2]: has no "at" (when it happens, e.g. at = "02:00")',
        "ward.toml:19: events[3]: needs exactly one of change, rhythm, artefact, disconnect "
        "(found: rhythm, disconnect)",
    ]
    assert problems[1].startswith("ward.toml:2: patient.bogus: unknown key; allowed: rhythm,")
    assert problems[3].startswith("ward.toml:6: events[0].change: unknown parameter 'spo';")


def test_a_ward_file_hands_its_beds_out_in_turn_with_delays() -> None:
    ward = parse_scenario(
        """
        name = "two"
        [[beds]]
        scenario = "desaturation"
        delay = "1m"
        [[beds]]
        name = "lost"
        [[beds.events]]
        at = "00:10"
        disconnect = "forever"
        """
    )
    assert [ward.for_bed(i).name for i in range(4)] == ["desaturation", "lost"] * 2
    assert ward.for_bed(0).events[0].at_s == 20 + 60
    assert ward.for_bed(1).events[0].action == Disconnect(math.inf)


def test_a_ward_cannot_reference_an_unknown_scenario() -> None:
    with pytest.raises(ConfigError, match="'nope' is not a built-in bed scenario"):
        parse_scenario('[[beds]]\nscenario = "nope"\n', "w.toml")


def test_a_file_path_loads_and_a_missing_one_names_the_builtins(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[events]]\nat = "00:05"\nrhythm = "af"\n')
    assert load_scenario(path).beds[0].events[0].action == SetRhythm(Rhythm.AF)
    with pytest.raises(ConfigError, match="built-ins: arrest, desaturation"):
        load_scenario(tmp_path / "missing.toml")


def test_the_mixed_ward_mixes_alarms_stale_and_lost_devices_early() -> None:
    ward = load_scenario("mixed-ward")
    actions = [(e.at_s, e.action) for bed in ward.beds for e in bed.events]
    disconnects = [(t, a.duration_s) for t, a in actions if isinstance(a, Disconnect)]
    assert any(t <= 120 and d == math.inf for t, d in disconnects), "a device lost early"
    assert any(t <= 120 and 10 < d < 60 for t, d in disconnects), "a device stale early"
    assert any(t <= 60 and isinstance(a, Change) and a.parameter == "spo2" for t, a in actions)
    assert any(isinstance(a, SetRhythm) and a.rhythm is Rhythm.VT for _, a in actions)

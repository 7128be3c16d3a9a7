"""Scenarios: what happens to a simulated patient and its monitor, and when — as TOML.

A *bed scenario* is a starting point (``[patient]``) and a timeline (``[[events]]``), each
event at a time since the start (``at = "02:00"``) doing one thing::

    change = "spo2", to = 82, over = "60s"   # a parameter moves to a value over a time
    rhythm = "asystole"                      # the heart changes rhythm (optional rate)
    artefact = "sensor_off", duration = "20s"  # motion | lead_off | sensor_off
    disconnect = "40s"                       # the device goes silent ("forever" too)

``repeat_every = "6m"`` replays the timeline for as long as the simulation runs. A *ward
scenario* lists ``[[beds]]`` (each a built-in name, ``scenario = "arrest"``, or a bed
scenario of its own, optionally started later with ``delay``), handed out to the beds in
turn. Files are validated as a whole: every problem is reported with the file, the line
and what is allowed, as :class:`~gateway.errors.ConfigError`.

Built-ins live beside this module in ``scenarios/*.toml``, in the same format; a tester
copies one to start a new scenario. This module only reads and checks scenarios: it must
not run them (``monitor`` does) nor know any wire format.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import ConfigError
from simulators.physiology import PARAMETERS
from simulators.signals import RHYTHM_NAMES, Rhythm

BUILTIN_DIR = Path(__file__).parent / "scenarios"

PARAMETER_NAMES: dict[str, str] = {
    **{name: name for name in PARAMETERS},
    "hr": "heart_rate",
    "rr": "resp_rate",
    "temperature": "temperature_c",
    "temp": "temperature_c",
    "sys": "nibp_sys",
    "dia": "nibp_dia",
    "pi": "perfusion",
}
"""Names a scenario may use for a parameter → the :class:`~simulators.physiology.Baseline` field."""

PARAMETER_BOUNDS: dict[str, tuple[float, float]] = {
    "heart_rate": (0, 300),
    "spo2": (0, 100),
    "resp_rate": (0, 80),
    "temperature_c": (25, 43),
    "nibp_sys": (0, 300),
    "nibp_dia": (0, 250),
    "perfusion": (0, 20),
}
ARTEFACTS = ("motion", "lead_off", "sensor_off")
FOREVER = math.inf


@dataclass(frozen=True, slots=True)
class Change:
    """A parameter moves to ``to`` over ``over_s`` seconds (0: at once)."""

    parameter: str
    to: float
    over_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SetRhythm:
    """The heart changes to ``rhythm``; ``rate`` (beats/min) when the scenario says."""

    rhythm: Rhythm
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Artefact:
    """An artefact or a sensor problem for ``duration_s`` seconds."""

    kind: str
    duration_s: float


@dataclass(frozen=True, slots=True)
class Disconnect:
    """The device stops talking for ``duration_s`` seconds (``math.inf``: for good)."""

    duration_s: float


Action = Change | SetRhythm | Artefact | Disconnect


@dataclass(frozen=True, slots=True)
class Event:
    at_s: float
    action: Action


@dataclass(frozen=True, slots=True)
class PatientSetup:
    """Where the patient starts; what is not given is drawn from the seed."""

    values: dict[str, float] = field(default_factory=dict)
    rhythm: Rhythm = Rhythm.SINUS
    variability: float = 1.0
    arterial_line: bool = False
    nibp_interval_s: float = 300.0


@dataclass(frozen=True, slots=True)
class BedScenario:
    name: str
    description: str = ""
    patient: PatientSetup = field(default_factory=PatientSetup)
    events: tuple[Event, ...] = ()
    repeat_every_s: float | None = None
    """The timeline starts over every this many seconds (None: it plays once)."""

    def delayed(self, delay_s: float) -> BedScenario:
        """The same scenario with every event ``delay_s`` later."""
        if delay_s == 0:
            return self
        events = tuple(Event(e.at_s + delay_s, e.action) for e in self.events)
        return BedScenario(self.name, self.description, self.patient, events, self.repeat_every_s)


@dataclass(frozen=True, slots=True)
class WardScenario:
    """Bed scenarios handed to beds in turn: bed ``i`` plays ``beds[i % len(beds)]``."""

    name: str
    description: str
    beds: tuple[BedScenario, ...]

    def for_bed(self, index: int) -> BedScenario:
        return self.beds[index % len(self.beds)]


STABLE = BedScenario("stable", "a stable patient; nothing happens")


# --------------------------------------------------------------------------- public API


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> WardScenario:
    """A built-in by name (``"arrest"``) or a TOML file; a bed scenario is a ward of one."""
    text_name = str(name_or_path)
    builtin = BUILTIN_DIR / f"{text_name}.toml"
    if "/" not in text_name and not text_name.endswith(".toml") and builtin.is_file():
        path = builtin
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise ConfigError(
                [
                    f"{text_name}: no such scenario file, and not a built-in; built-ins: "
                    + ", ".join(builtin_names())
                ]
            )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([f"{path}: cannot read the scenario: {error}"]) from None
    return parse_scenario(text, str(path), default_name=path.stem)


def parse_scenario(
    text: str, source: str = "<scenario>", *, default_name: str = ""
) -> WardScenario:
    """Check TOML text as a bed or ward scenario; :class:`ConfigError` lists every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([f"{source}: not valid TOML: {error}"]) from None
    checker = _Checker(source, text)
    scenario = checker.document(raw, default_name)
    if checker.problems:
        raise ConfigError(checker.problems)
    assert scenario is not None
    return scenario


def parse_time(value: object) -> float:
    """``"02:30"`` (mm:ss), ``"1:02:30"`` (h:mm:ss), ``"90s"``, ``"2m"``, ``"1m30s"``,
    ``"1h"`` or a number of seconds → seconds. ``ValueError`` says what is allowed."""
    if isinstance(value, bool):
        raise ValueError(_TIME_HELP)
    if isinstance(value, int | float):
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"{value} is not a time ≥ 0")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(_TIME_HELP)
    text = value.strip()
    if match := _CLOCK.fullmatch(text):
        hours, minutes, seconds = match["h"], match["m"], match["s"]
        if (int(match["m"]) >= 60 and hours is not None) or float(seconds) >= 60:
            raise ValueError(f"{value!r}: minutes and seconds must be below 60")
        return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    if (match := _UNITS.fullmatch(text)) and any(match.groups()):
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        return h * 3600 + m * 60 + s
    raise ValueError(f"{value!r}: {_TIME_HELP}")


_TIME_HELP = 'a time is "mm:ss", "h:mm:ss", "90s", "2m", "1m30s", "1h" or a number of seconds'
_CLOCK = re.compile(r"(?:(?P<h>\d+):)?(?P<m>\d+):(?P<s>\d+(?:\.\d+)?)")
_UNITS = re.compile(
    r"(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m(?:in)?)?\s*(?:(\d+(?:\.\d+)?)\s*s)?"
)


# --------------------------------------------------------------------------- checking


class _Checker:
    """Collects every problem, each with the file and the line it is on."""

    _HEADER = re.compile(r"\s*\[\[\s*(beds|events|beds\.events)\s*\]\]")
    _TABLE = re.compile(r"\s*\[\s*(patient|beds\.patient)\s*\]")

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.problems: list[str] = []
        # tomllib gives no positions: find the line of every [[beds]], [[events]] and
        # [[beds.events]] header so a problem can say where it is.
        self._lines: dict[tuple[Any, ...], int] = {}
        beds = events = -1
        bed_events = 0
        for number, line in enumerate(text.splitlines(), 1):
            if header := self._HEADER.match(line):
                kind = header[1]
                if kind == "beds":
                    beds += 1
                    bed_events = 0
                    self._lines[("beds", beds)] = number
                elif kind == "events":
                    events += 1
                    self._lines[("events", events)] = number
                else:
                    self._lines[("beds", beds, "events", bed_events)] = number
                    bed_events += 1
            elif table := self._TABLE.match(line):
                key = ("patient",) if table[1] == "patient" else ("beds", beds, "patient")
                self._lines[key] = number

    def add(self, where: tuple[Any, ...], message: str) -> None:
        line = None
        probe = where
        while probe and line is None:
            line = self._lines.get(probe)
            probe = probe[:-1]
        place = f"{self.source}:{line}" if line else self.source
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in where).lstrip(".")
        self.problems.append(f"{place}: {path or 'scenario'}: {message}")

    def document(self, raw: dict[str, Any], default_name: str) -> WardScenario | None:
        name = self.string(raw, "name", ()) or default_name or "scenario"
        description = self.string(raw, "description", ()) or ""
        if "beds" in raw:
            self.unknown(raw, {"name", "description", "beds"}, ())
            beds_raw = raw["beds"]
            if not isinstance(beds_raw, list) or not beds_raw:
                self.add(("beds",), "must be one or more [[beds]] tables")
                return None
            beds = [self.ward_bed(entry, ("beds", i)) for i, entry in enumerate(beds_raw)]
            if any(b is None for b in beds):
                return None
            return WardScenario(name, description, tuple(b for b in beds if b is not None))
        bed = self.bed(raw, (), name, description)
        return None if bed is None else WardScenario(name, description, (bed,))

    def ward_bed(self, raw: object, where: tuple[Any, ...]) -> BedScenario | None:
        if not isinstance(raw, dict):
            self.add(where, "must be a table")
            return None
        delay = 0.0
        if "delay" in raw:
            delay = self.time(raw["delay"], (*where, "delay")) or 0.0
        if "scenario" in raw:
            self.unknown(raw, {"scenario", "delay"}, where)
            reference = raw["scenario"]
            if not isinstance(reference, str) or reference not in builtin_names():
                self.add(
                    (*where, "scenario"),
                    f"{reference!r} is not a built-in bed scenario; "
                    f"built-ins: {', '.join(builtin_names())}",
                )
                return None
            if reference == "mixed-ward":
                self.add((*where, "scenario"), "a ward cannot contain a ward scenario")
                return None
            ward = load_scenario(reference)
            return ward.beds[0].delayed(delay)
        inline = {k: v for k, v in raw.items() if k != "delay"}
        name = self.string(inline, "name", where) or f"bed {where[-1] + 1}"
        bed = self.bed(inline, where, name, self.string(inline, "description", where) or "")
        return None if bed is None else bed.delayed(delay)

    def bed(
        self, raw: dict[str, Any], where: tuple[Any, ...], name: str, description: str
    ) -> BedScenario | None:
        self.unknown(raw, {"name", "description", "patient", "events", "repeat_every"}, where)
        patient = self.patient(raw.get("patient", {}), (*where, "patient"))
        repeat = None
        if "repeat_every" in raw:
            repeat = self.time(raw["repeat_every"], (*where, "repeat_every"))
            if repeat is not None and repeat <= 0:
                self.add((*where, "repeat_every"), "must be a time above 0")
                repeat = None
        events_raw = raw.get("events", [])
        if not isinstance(events_raw, list):
            self.add((*where, "events"), "must be [[events]] tables")
            return None
        events = []
        for index, entry in enumerate(events_raw):
            event = self.event(entry, (*where, "events", index))
            if event is not None:
                events.append(event)
        if repeat is not None and events and max(e.at_s for e in events) >= repeat:
            self.add((*where, "repeat_every"), "must be later than the last event")
        events.sort(key=lambda e: e.at_s)
        return BedScenario(name, description, patient, tuple(events), repeat)

    def patient(self, raw: object, where: tuple[Any, ...]) -> PatientSetup:
        if not isinstance(raw, dict):
            self.add(where, "must be a table of starting values")
            return PatientSetup()
        values: dict[str, float] = {}
        setup: dict[str, Any] = {}
        for key, value in raw.items():
            here = (*where, key)
            if key == "rhythm":
                rhythm = self.rhythm(value, here)
                if rhythm is not None:
                    setup["rhythm"] = rhythm
            elif key == "variability":
                if _number(value) and 0 <= value <= 5:
                    setup["variability"] = float(value)
                else:
                    self.add(here, f"{value!r} is not a number from 0 to 5")
            elif key == "arterial_line":
                if isinstance(value, bool):
                    setup["arterial_line"] = value
                else:
                    self.add(here, "must be true or false")
            elif key == "nibp_interval":
                interval = self.time(value, here)
                if interval is not None and interval < 30:
                    self.add(here, "a cuff cannot cycle faster than every 30 s")
                elif interval is not None:
                    setup["nibp_interval_s"] = interval
            elif key in PARAMETER_NAMES:
                parameter = PARAMETER_NAMES[key]
                if self.value(parameter, value, here):
                    values[parameter] = float(value)
            else:
                self.add(
                    here,
                    "unknown key; allowed: rhythm, variability, arterial_line, nibp_interval, "
                    + ", ".join(PARAMETER_NAMES),
                )
        return PatientSetup(values=values, **setup)

    def event(self, raw: object, where: tuple[Any, ...]) -> Event | None:
        if not isinstance(raw, dict):
            self.add(where, "must be a table")
            return None
        if "at" not in raw:
            self.add(where, 'has no "at" (when it happens, e.g. at = "02:00")')
            return None
        at = self.time(raw["at"], (*where, "at"))
        actions = [k for k in ("change", "rhythm", "artefact", "disconnect") if k in raw]
        if len(actions) != 1:
            found = ", ".join(actions) or "none"
            self.add(
                where,
                f"needs exactly one of change, rhythm, artefact, disconnect (found: {found})",
            )
            return None
        kind = actions[0]
        allowed = {
            "change": {"at", "change", "to", "over"},
            "rhythm": {"at", "rhythm", "rate"},
            "artefact": {"at", "artefact", "duration"},
            "disconnect": {"at", "disconnect"},
        }[kind]
        self.unknown(raw, allowed, where)
        action: Action | None = None
        if kind == "change":
            action = self.change(raw, where)
        elif kind == "rhythm":
            rhythm = self.rhythm(raw["rhythm"], (*where, "rhythm"))
            rate = raw.get("rate")
            if rate is not None and not (_number(rate) and 10 <= rate <= 300):
                self.add((*where, "rate"), f"{rate!r} is not a rate from 10 to 300 beats/min")
                rate = None
            if rhythm is not None:
                action = SetRhythm(rhythm, None if rate is None else float(rate))
        elif kind == "artefact":
            artefact = raw["artefact"]
            if artefact not in ARTEFACTS:
                self.add(
                    (*where, "artefact"),
                    f"unknown artefact {artefact!r}; allowed: {', '.join(ARTEFACTS)}",
                )
            elif "duration" not in raw:
                self.add(where, 'an artefact needs a duration (e.g. duration = "20s")')
            else:
                duration = self.time(raw["duration"], (*where, "duration"))
                if duration is not None:
                    action = Artefact(artefact, duration)
        else:
            value = raw["disconnect"]
            if value == "forever":
                action = Disconnect(FOREVER)
            else:
                duration = self.time(value, (*where, "disconnect"))
                if duration is not None:
                    action = Disconnect(duration)
        if at is None or action is None:
            return None
        return Event(at, action)

    def change(self, raw: dict[str, Any], where: tuple[Any, ...]) -> Change | None:
        name = raw["change"]
        if name not in PARAMETER_NAMES:
            self.add(
                (*where, "change"),
                f"unknown parameter {name!r}; allowed: {', '.join(PARAMETER_NAMES)}",
            )
            return None
        parameter = PARAMETER_NAMES[name]
        if "to" not in raw:
            self.add(where, 'a change needs "to" (the value it goes to)')
            return None
        if not self.value(parameter, raw["to"], (*where, "to")):
            return None
        over = self.time(raw.get("over", 0), (*where, "over"))
        return None if over is None else Change(parameter, float(raw["to"]), over)

    def value(self, parameter: str, value: object, where: tuple[Any, ...]) -> bool:
        low, high = PARAMETER_BOUNDS[parameter]
        if _number(value) and low <= value <= high:  # type: ignore[operator]
            return True
        self.add(where, f"{value!r} is not a {parameter} from {low:g} to {high:g}")
        return False

    def rhythm(self, value: object, where: tuple[Any, ...]) -> Rhythm | None:
        if isinstance(value, str) and value in RHYTHM_NAMES:
            return RHYTHM_NAMES[value]
        self.add(where, f"unknown rhythm {value!r}; allowed: {', '.join(RHYTHM_NAMES)}")
        return None

    def time(self, value: object, where: tuple[Any, ...]) -> float | None:
        try:
            return parse_time(value)
        except ValueError as error:
            self.add(where, str(error))
            return None

    def string(self, raw: dict[str, Any], key: str, where: tuple[Any, ...]) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.add((*where, key), "must be text")
            return None
        return value

    def unknown(self, raw: dict[str, Any], allowed: set[str], where: tuple[Any, ...]) -> None:
        for key in raw:
            if key not in allowed:
                self.add((*where, key), f"unknown key; allowed: {', '.join(sorted(allowed))}")


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)

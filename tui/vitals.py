"""What the dashboard writes about a bed: pure functions from snapshot records to Rich Text.

No Textual, no state, no clock here: the same snapshot always gives the same text, which is
what lets a tile redraw only when its text changes. Nothing here decides whether a value is
fresh — ``Reading.stale`` and ``BedSnapshot.connectivity`` come from :mod:`gateway.ward` —
this module only makes what they say impossible to miss.

How each state reads on screen; every state has a text cue, colour is never the only one:

==================================  ========================================================
``HR     72 /min``                  live value, in its parameter's colour
``HR     -- /min``                  the bed reports no such parameter
``HR     72 /min ?34s``             stale: greyed, nothing received for 34 s
``HR    ~72 /min``                  questionable: the device flagged the value as doubtful
``HR    *** /min INV``              invalid: the device said the value is wrong; hidden
``NIBP 117/82 (90) mmHg 12m``       live; the cuff measurement was taken 12 min ago
``NIBP 117/82 (90) mmHg ?12m``      stale: greyed; the age is the older of "last received"
                                    and "measured", so it never understates how old it is
``NO DATA 01:23``                   no device of the bed spoke for 1 min 23 s (STALE / LOST)
``NO DATA --:--``                   no device of the bed has ever spoken
==================================  ========================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

from gateway import nomenclature as mdc
from gateway.domain import Connectivity, ObservationStatus
from gateway.ward import BedSnapshot, Reading

LABEL_WIDTH = 5
VALUE_WIDTH = 3

MISSING = "--"
INVALID = "***"
INVALID_MARK = "INV"
QUESTIONABLE_MARK = "~"
STALE_MARK = "?"

STALE_STYLE = "grey50"
STALE_AGE_STYLE = "bold grey70"
MISSING_STYLE = "grey50"
INVALID_MARK_STYLE = "bold reverse"
MEASURED_AGE_STYLE = "grey70"
NO_DATA_STALE_STYLE = "bold black on yellow"
NO_DATA_LOST_STYLE = "bold white on red3"
NO_DATA_NEVER_STYLE = "bold black on grey62"


@dataclass(frozen=True, slots=True)
class Vital:
    """A single-valued parameter as a tile shows it, whichever of ``codes`` carried it."""

    label: str
    codes: tuple[int, ...]
    colour: str

    @property
    def unit(self) -> str:
        """The unit shown when the bed has no reading to take it from."""
        known = mdc.parameter(self.codes[0])
        return known.unit if known is not None else ""


@dataclass(frozen=True, slots=True)
class Pressure:
    """A blood pressure shown as ``sys/dia (mean)``, with the age of its measurement."""

    label: str
    systolic: tuple[int, ...]
    diastolic: tuple[int, ...]
    mean: tuple[int, ...]
    colour: str
    unit: str = "mmHg"


# Colours as on bedside monitors (HR green, SpO2 cyan, blood pressure red, RR yellow, Temp
# magenta), given as RGB so that no terminal theme can map two of them to the same colour.
HEART_RATE = Vital("HR", mdc.HEART_RATE, "#5fff5f")
SPO2 = Vital("SpO2", mdc.SPO2, "#5fffff")
NIBP = Pressure("NIBP", mdc.NIBP_SYS, mdc.NIBP_DIA, mdc.NIBP_MEAN, "#ff5f5f")
RESP_RATE = Vital("RR", mdc.RESP_RATE, "#ffff5f")
TEMPERATURE = Vital("Temp", mdc.TEMPERATURE, "#ff87ff")

TILE_LINES = 6
"""Lines of a tile's face: the status line, then HR, SpO2, NIBP, RR, Temp."""


def pick(bed: BedSnapshot, codes: Sequence[int]) -> Reading | None:
    """The bed's reading for the first of ``codes`` it has (codes are in preference order)."""
    for code in codes:
        reading = bed.readings.get(code)
        if reading is not None:
            return reading
    return None


def format_age(seconds: float) -> str:
    """An age in at most 3-4 cells: ``34s``, ``12m``, ``3h``, ``2d`` (rounded down)."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h"
    return f"{whole // 86400}d"


def format_silence(silent_s: float | None) -> str:
    """How long a bed has been silent, ``mm:ss`` (``h:mm:ss`` past an hour); ``--:--`` if
    no device of it ever spoke."""
    if silent_s is None:
        return "--:--"
    minutes, seconds = divmod(max(0, int(silent_s)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{seconds:02d}"
    return f"{minutes:02d}:{seconds:02d}"


def format_reading(reading: Reading) -> str:
    """The value at its parameter's precision; ``***`` when the device marked it invalid."""
    if reading.status is ObservationStatus.INVALID:
        return INVALID
    known = mdc.parameter(reading.code)
    text = mdc.format_value(reading.value, known.precision if known is not None else 1)
    if reading.status is ObservationStatus.QUESTIONABLE:
        return QUESTIONABLE_MARK + text
    return text


def vital_line(vital: Vital, reading: Reading | None) -> Text:
    """``HR     72 /min``, greyed with ``?34s`` when stale; see the module docstring."""
    line = Text(no_wrap=True, overflow="ellipsis")
    head = f"{vital.label:<{LABEL_WIDTH}} "
    if reading is None:
        line.append(head, vital.colour)
        line.append(f"{MISSING:>{VALUE_WIDTH}} {vital.unit}", MISSING_STYLE)
        return line
    colour = STALE_STYLE if reading.stale else vital.colour
    line.append(head, colour)
    line.append(f"{format_reading(reading):>{VALUE_WIDTH}}", _value_style(colour, reading.stale))
    line.append(f" {reading.unit or vital.unit}", colour)
    if reading.status is ObservationStatus.INVALID:
        line.append(" ")
        line.append(INVALID_MARK, INVALID_MARK_STYLE)
    if reading.stale:
        line.append(f" {STALE_MARK}{format_age(reading.age_s)}", STALE_AGE_STYLE)
    return line


def pressure_line(pressure: Pressure, bed: BedSnapshot, width: int) -> Text:
    """``NIBP 117/82 (90) mmHg 12m``, tightened (then without its unit) to fit ``width``."""
    parts = [pick(bed, codes) for codes in (pressure.systolic, pressure.diastolic, pressure.mean)]
    present = [reading for reading in parts if reading is not None]
    sys_, dia, mean = (MISSING if r is None else format_reading(r) for r in parts)
    unit = next((r.unit for r in present if r.unit), pressure.unit)
    stale = any(r.stale for r in present)
    colour = STALE_STYLE if stale else pressure.colour
    tail: list[tuple[str, str]] = []
    if any(r.status is ObservationStatus.INVALID for r in present):
        tail += [(" ", colour), (INVALID_MARK, INVALID_MARK_STYLE)]
    if stale:
        # The older of the two ages: a cuff reading re-sent until a minute ago is still as
        # old as its measurement, and the screen must never make a value look younger.
        age = max(max(r.age_s, r.measured_age_s) for r in present)
        tail.append((f" {STALE_MARK}{format_age(age)}", STALE_AGE_STYLE))
    elif present:
        age = max(r.measured_age_s for r in present)
        tail.append((f" {format_age(age)}", MEASURED_AGE_STYLE))
    value_style = _value_style(colour, stale)
    variants = (
        (f"{pressure.label} ", f"{sys_}/{dia} ({mean})", f" {unit}"),
        (f"{pressure.label} ", f"{sys_}/{dia}({mean})", f" {unit}"),
        (f"{pressure.label} ", f"{sys_}/{dia}({mean})", ""),
    )
    tail_len = sum(cell_len(text) for text, _ in tail)
    head, values, unit_text = next(
        (v for v in variants if sum(map(cell_len, v)) + tail_len <= width), variants[-1]
    )
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(head, colour)
    line.append(values, value_style if present else MISSING_STYLE)
    line.append(unit_text, colour if present else MISSING_STYLE)
    for text, style in tail:
        line.append(text, style)
    return line


def status_line(bed: BedSnapshot, width: int) -> Text:
    """``NO DATA mm:ss`` across the tile when the bed is STALE or LOST; blank when live.

    The blank line is kept, not collapsed, so every tile has the same height.
    """
    if bed.connectivity is Connectivity.CONNECTED:
        return Text(no_wrap=True)
    if bed.connectivity is Connectivity.STALE:
        style = NO_DATA_STALE_STYLE
    elif bed.silent_s is None:
        style = NO_DATA_NEVER_STYLE
    else:
        style = NO_DATA_LOST_STYLE
    text = f"NO DATA {format_silence(bed.silent_s)}"
    return Text(text.center(max(width, cell_len(text))), style=style, no_wrap=True)


def bed_title(bed: BedSnapshot) -> str:
    """The bed's label, and its patient id when a device sent one."""
    return f"{bed.label} · {bed.patient_id}" if bed.patient_id else bed.label


def bed_face(bed: BedSnapshot, width: int) -> Text:
    """Everything a tile shows inside its border, :data:`TILE_LINES` lines of ``width``."""
    lines = (
        status_line(bed, width),
        vital_line(HEART_RATE, pick(bed, HEART_RATE.codes)),
        vital_line(SPO2, pick(bed, SPO2.codes)),
        pressure_line(NIBP, bed, width),
        vital_line(RESP_RATE, pick(bed, RESP_RATE.codes)),
        vital_line(TEMPERATURE, pick(bed, TEMPERATURE.codes)),
    )
    for line in lines:
        # Cut, never wrap: a wrapped line would push the vitals below it out of the tile.
        line.truncate(width, overflow="ellipsis")
    return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)


def _value_style(colour: str, stale: bool) -> str:
    return colour if stale else f"bold {colour}"

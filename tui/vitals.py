"""What the dashboard writes about a bed: pure functions from snapshot records to Rich Text.

No Textual, no state, no clock here: the same snapshot always gives the same text, which is
what lets a tile redraw only when its text changes. Nothing here decides whether a value is
fresh — ``Reading.stale`` and ``BedSnapshot.connectivity`` come from :mod:`gateway.ward` —
this module only makes what they say impossible to miss.

How each state reads on screen; every state has a text cue, colour is never the only one:

==================================  ========================================================
``HR 72``                           live value, in its parameter's colour
``HR --``                           the bed reports no such parameter
``HR 72?34s``                       stale: greyed, nothing received for 34 s
``SpO2 ~88``                        questionable: the device flagged the value as doubtful
``HR ***INV``                       invalid: the device said the value is wrong; hidden
``HR 72 DEMO``                      demo or test data (a monitor in demo mode): never the
                                    patient's; a full tile also says ``DEMO DATA`` across
                                    its status line
``NIBP 117/82 (90) mmHg 12m``       live; the cuff measurement was taken 12 min ago
``NIBP 117/82 (90) mmHg ?12m``      stale: greyed; the age is the older of "last received"
                                    and "measured", so it never understates how old it is
``NO DATA 01:23``                   no device of the bed spoke for 1 min 23 s (STALE / LOST)
``NO DATA --:--``                   no device of the bed has ever spoken
==================================  ========================================================

On a full tile HR and SpO2 are big digits; their marks (``?34s``, ``INV``, ``~``) follow
the label and unit on the line above them (``HR /min ?34s``). The bed screen lists every
parameter the same way, one per line (:func:`parameter_line`).

A tile comes in two variants (:class:`Variant`), chosen by the grid from the room it has:

* **full** — HR and SpO2 in 3-line digits under a label line that carries their unit and
  marks (``HR /min ?34s``, ``SpO2 % INV``, ``SpO2 % ~``), then NIBP (and ABP when the bed
  has it), RR, Temp, EtCO2, the ventilator line when the bed has a ventilator
  (``VENT PEEP 5 Ppk 21 VT 450 MV 6.3 RRv 14 FiO2 40``; after RR/Temp/EtCO2 on the same
  line when ABP takes its room), and the wave strip;
* **compact** — one text line each for HR+SpO2, a pressure (ABP when present, else NIBP),
  RR/Temp/EtCO2 (then the ventilator's values), and the wave strip (replaced by
  ``NO DATA`` when the bed is silent).

The first line of a full face (the status line) and the wave line of a compact one are
where the alarm engine will write a bed's alarm.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

from gateway import nomenclature as mdc
from gateway.domain import Connectivity, ObservationStatus
from gateway.ward.snapshot import BedSnapshot, Reading

MISSING = "--"
INVALID = "***"
INVALID_MARK = "INV"
QUESTIONABLE_MARK = "~"
STALE_MARK = "?"
DEMO_MARK = "DEMO"
DEMO_BANNER = "DEMO DATA - not a patient"

STALE_STYLE = "grey50"
STALE_AGE_STYLE = "bold grey70"
MISSING_STYLE = "grey50"
INVALID_MARK_STYLE = "bold reverse"
DEMO_MARK_STYLE = "bold white on magenta"
MEASURED_AGE_STYLE = "grey70"
NO_DATA_STALE_STYLE = "bold black on yellow"
NO_DATA_LOST_STYLE = "bold white on red3"
NO_DATA_NEVER_STYLE = "bold black on grey62"
CONFLICT_STYLE = "bold black on #ffd700"


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
    """A blood pressure shown as ``sys/dia (mean)``; an intermittent one (NIBP) with the
    age of its measurement, a continuous one (ABP) without."""

    label: str
    systolic: tuple[int, ...]
    diastolic: tuple[int, ...]
    mean: tuple[int, ...]
    colour: str
    unit: str = "mmHg"
    intermittent: bool = True

    @property
    def codes(self) -> tuple[int, ...]:
        return self.systolic + self.diastolic + self.mean


# Colours as on bedside monitors (HR green, SpO2 cyan, blood pressure red, RR yellow, Temp
# magenta), given as RGB so that no terminal theme can map two of them to the same colour.
HEART_RATE = Vital("HR", mdc.HEART_RATE, "#5fff5f")
SPO2 = Vital("SpO2", mdc.SPO2, "#5fffff")
NIBP = Pressure("NIBP", mdc.NIBP_SYS, mdc.NIBP_DIA, mdc.NIBP_MEAN, "#ff5f5f")
ABP = Pressure("ABP", mdc.ABP_SYS, mdc.ABP_DIA, mdc.ABP_MEAN, "#ff5f5f", intermittent=False)
RESP_RATE = Vital("RR", mdc.RESP_RATE, "#ffff5f")
TEMPERATURE = Vital("Temp", mdc.TEMPERATURE, "#ff87ff")
ETCO2 = Vital("EtCO2", mdc.ETCO2, "#ffd75f")
FICO2 = Vital("FiCO2", mdc.FICO2, "#ffd75f")
VENT_COLOUR = "#87d7ff"
VENTILATOR = (
    Vital("PEEP", (151976,), VENT_COLOUR),
    Vital("Ppk", (151817,), VENT_COLOUR),
    Vital("VT", (151868,), VENT_COLOUR),
    Vital("MV", (151880,), VENT_COLOUR),
    Vital("RRv", (151586,), VENT_COLOUR),
    Vital("FiO2", (152196,), VENT_COLOUR),
)
"""The ventilator line: a ventilator's (or a monitor's spirometry) values, on its bed's tile."""
VENTILATOR_MARK = "VENT"


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
    if any(r.demo for r in present):
        tail += [(" ", colour), (DEMO_MARK, DEMO_MARK_STYLE)]
    if stale:
        # The older of the two ages: a cuff reading re-sent until a minute ago is still as
        # old as its measurement, and the screen must never make a value look younger.
        age = max(max(r.age_s, r.measured_age_s) for r in present)
        tail.append((f" {STALE_MARK}{format_age(age)}", STALE_AGE_STYLE))
    elif present and pressure.intermittent:
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
    """``NO DATA mm:ss`` across the tile when the bed is STALE or LOST; when live,
    ``BED CONFLICT`` with every source of its location when it is in conflict, else
    ``DEMO DATA`` when a value is demo or test data, else blank.

    The blank line is kept, not collapsed, so every tile has the same height.
    """
    if bed.connectivity is Connectivity.CONNECTED:
        if bed.conflict is not None:
            return conflict_line(bed)
        if any(r.demo for r in bed.readings.values()):
            return Text(
                DEMO_BANNER.center(max(width, cell_len(DEMO_BANNER))),
                style=DEMO_MARK_STYLE,
                no_wrap=True,
            )
        return Text(no_wrap=True)
    if bed.connectivity is Connectivity.STALE:
        style = NO_DATA_STALE_STYLE
    elif bed.silent_s is None:
        style = NO_DATA_NEVER_STYLE
    else:
        style = NO_DATA_LOST_STYLE
    text = f"NO DATA {format_silence(bed.silent_s)}"
    return Text(text.center(max(width, cell_len(text))), style=style, no_wrap=True)


def conflict_line(bed: BedSnapshot, *, full: bool = False) -> Text:
    """``BED CONFLICT P1 | P2``: every live source of the bed's location by its patient id
    (by its device when it sends none); ``full``: ``P1 MONA on ICU 12-1 | …``, with the
    device and the bed each one's values are on."""
    line = Text("BED CONFLICT", CONFLICT_STYLE, no_wrap=True)
    conflict = bed.conflict
    if conflict is None:
        return Text(no_wrap=True)
    for index, source in enumerate(conflict.sources):
        line.append(" | " if index else " ")
        if full:
            patient = source.patient_id or "no patient id"
            line.append(f"{patient} {source.device} on {source.bed_label}", "bold")
        else:
            line.append(source.patient_id or str(source.device), "bold")
    return line


def _value_style(colour: str, stale: bool) -> str:
    return colour if stale else f"bold {colour}"


# --------------------------------------------------------------------------- tile variants


class Variant(enum.Enum):
    FULL = "full"
    COMPACT = "compact"


FULL_BASE_LINES = 8
"""Lines of a full face without its wave strip: status, labels, 3 digit lines, 3 more."""
COMPACT_BASE_LINES = 3
"""Lines of a compact face without its wave strip: HR+SpO2, a pressure, RR/Temp/EtCO2."""


def face_lines(variant: Variant, wave_lines: int) -> int:
    """How many lines a face of ``variant`` with a ``wave_lines``-line strip has."""
    base = FULL_BASE_LINES if variant is Variant.FULL else COMPACT_BASE_LINES
    return base + max(1, wave_lines)


# 3-line digits (after Textual's DIGITS3X3_BOLD); ``*`` is the invalid value.
BIG_GLYPHS: dict[str, tuple[str, str, str]] = {
    "0": ("┏━┓", "┃ ┃", "┗━┛"),
    "1": ("╺┓ ", " ┃ ", "╺┻╸"),
    "2": ("╺━┓", "┏━┛", "┗━╸"),
    "3": ("╺━┓", " ━┫", "╺━┛"),
    "4": ("╻ ╻", "┗━┫", "  ╹"),
    "5": ("┏━╸", "┗━┓", "╺━┛"),
    "6": ("┏━╸", "┣━┓", "┗━┛"),
    "7": ("╺━┓", "  ┃", "  ╹"),
    "8": ("┏━┓", "┣━┫", "┗━┛"),
    "9": ("┏━┓", "┗━┫", "╺━┛"),
    "-": ("   ", "╺━╸", "   "),
    "*": ("╲ ╱", "━╋━", "╱ ╲"),
    ".": (" ", " ", "▪"),
    " ": ("   ", "   ", "   "),
}
BIG_HEIGHT = 3


def big_text(text: str, gap: int = 0) -> tuple[str, str, str] | None:
    """``text`` in 3-line digits ``gap`` columns apart, or None if it has a character the
    font lacks."""
    if any(char not in BIG_GLYPHS for char in text):
        return None
    rows = zip(*(BIG_GLYPHS[char] for char in text), strict=True)
    top, middle, bottom = ((" " * gap).join(row) for row in rows)
    return top, middle, bottom


def marks(reading: Reading | None) -> list[tuple[str, str]]:
    """What must follow a value shown apart from its number: demo data, invalid, doubtful,
    stale age."""
    if reading is None:
        return []
    out: list[tuple[str, str]] = []
    if reading.demo:
        out.append((DEMO_MARK, DEMO_MARK_STYLE))
    if reading.status is ObservationStatus.INVALID:
        out.append((INVALID_MARK, INVALID_MARK_STYLE))
    elif reading.status is ObservationStatus.QUESTIONABLE:
        out.append((QUESTIONABLE_MARK, STALE_AGE_STYLE))
    if reading.stale:
        out.append((f"{STALE_MARK}{format_age(reading.age_s)}", STALE_AGE_STYLE))
    return out


def token(vital: Vital, reading: Reading | None) -> Text:
    """A value as a short token: ``HR 72``, ``HR 72?34s``, ``HR ***INV``, ``SpO2 ~88``,
    ``HR 72 DEMO``."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if reading is None:
        line.append(f"{vital.label} ", vital.colour)
        line.append(MISSING, MISSING_STYLE)
        return line
    colour = STALE_STYLE if reading.stale else vital.colour
    line.append(f"{vital.label} ", colour)
    line.append(format_reading(reading), _value_style(colour, reading.stale))
    for text, style in marks(reading):
        if text == DEMO_MARK:
            line.append(" ")  # a word, not a suffix of the number
        if text != QUESTIONABLE_MARK:  # already in front of the value
            line.append(text, style)
    return line


def pack(tokens: Sequence[Text], width: int, lines: int) -> list[Text]:
    """Tokens side by side, two cells apart (one if that is what makes them fit), in at
    most ``lines`` lines of ``width``.

    Whatever does not fit ends the last line with an ellipsis: a value cut from a tile must
    show that something is missing (the bed screen shows all).
    """
    packed = _pack(tokens, width, lines, 2)
    if packed[-1].plain.endswith("…"):
        packed = _pack(tokens, width, lines, 1)
    return packed


def _pack(tokens: Sequence[Text], width: int, lines: int, gap: int) -> list[Text]:
    out: list[Text] = []
    current = Text(no_wrap=True, overflow="ellipsis")
    for piece in tokens:
        needed = piece.cell_len + (gap if current.cell_len else 0)
        if current.cell_len and current.cell_len + needed > width:
            out.append(current)
            current = Text(no_wrap=True, overflow="ellipsis")
            needed = piece.cell_len
        if len(out) == lines:
            last = out[-1]
            last.truncate(max(0, width - 1))
            last.append("…", MISSING_STYLE)
            return out
        if current.cell_len:
            current.append(" " * gap)
        current.append_text(piece)
    if current.cell_len or not out:
        out.append(current)
    if len(out) > lines:
        kept = out[:lines]
        kept[-1].truncate(max(0, width - 1))
        kept[-1].append("…", MISSING_STYLE)
        return kept
    return out


def _big_half(vital: Vital, reading: Reading | None, width: int, room: int) -> list[Text]:
    """A label line (label, unit, marks) within ``room`` cells, and 3 lines of digits,
    ``width`` cells each."""
    if reading is None:
        label = Text(f"{vital.label} {vital.unit}", vital.colour, no_wrap=True)
        colour, style, text = vital.colour, MISSING_STYLE, MISSING
    else:
        colour = STALE_STYLE if reading.stale else vital.colour
        unit = reading.unit or vital.unit
        # The marks are the safety cues: when room is short the unit goes, never a mark.
        candidates = []
        for head, gap in ((f"{vital.label} {unit}", " "), (vital.label, " "), (vital.label, "")):
            candidate = Text(head, colour, no_wrap=True)
            for index, (mark, mark_style) in enumerate(marks(reading)):
                candidate.append(" " if index == 0 else gap)
                candidate.append(mark, mark_style)
            candidates.append(candidate)
        label = next((c for c in candidates if c.cell_len <= room), candidates[-1])
        text = format_reading(reading).lstrip(QUESTIONABLE_MARK)
        style = _value_style(colour, reading.stale)
    label.truncate(width)
    field = max(0, width - 2)
    # Digits a column apart when they fit: run together, "118" reads as one bar under
    # "11" beside a two-digit SpO2 (the 1's foot joins the next digit's).
    digits = big_text(text, gap=1)
    if digits is not None and cell_len(digits[0]) > field:
        digits = big_text(text)
    # A value the font cannot draw (a text value) is written plain, on the middle line.
    drawable = digits is not None and cell_len(digits[0]) <= field
    rows = digits if digits is not None and drawable else ("", text, "")
    body = [Text(f"{row:>{field}}", style=style, no_wrap=True) for row in rows]
    for row in body:
        row.truncate(width)
    return [label, *body]


def full_body(bed: BedSnapshot, width: int) -> list[Text]:
    """A full tile above its wave: status line, big HR and SpO2, pressures and the rest."""
    half = width // 2
    left = _big_half(HEART_RATE, pick(bed, HEART_RATE.codes), half, half - 1)
    right = _big_half(SPO2, pick(bed, SPO2.codes), width - half, width - half)
    big = []
    for one, two in zip(left, right, strict=True):
        line = one.copy()
        line.pad_right(half - line.cell_len)
        line.append_text(two)
        big.append(line)
    rest = [pressure_line(NIBP, bed, width)]
    if pick(bed, ABP.systolic) is not None:
        rest.append(pressure_line(ABP, bed, width))
    room = FULL_BASE_LINES - 5 - len(rest)
    vent = ventilator_tokens(bed)
    if vent and room >= 2:  # a line of its own, under the other values
        rest += pack(_small_tokens(bed), width, room - 1)
        rest += pack(vent, width, 1)
    else:  # no room (NIBP and ABP): after them, cut with "…" (the bed screen shows all)
        rest += pack(_small_tokens(bed) + vent, width, room)
    while len(rest) < FULL_BASE_LINES - 5:
        rest.append(Text(no_wrap=True))
    return _fit([status_line(bed, width), *big, *rest], width)


def compact_body(bed: BedSnapshot, width: int) -> list[Text]:
    """A compact tile above its wave: HR+SpO2, a pressure, RR/Temp/EtCO2."""
    first = pack(
        [token(HEART_RATE, pick(bed, HEART_RATE.codes)), token(SPO2, pick(bed, SPO2.codes))],
        width,
        1,
    )
    pressure = ABP if pick(bed, ABP.systolic) is not None else NIBP
    small = _small_tokens(bed) + ventilator_tokens(bed)
    lines = [*first, pressure_line(pressure, bed, width), *pack(small, width, 1)]
    return _fit(lines, width)


def ventilator_tokens(bed: BedSnapshot) -> list[Text]:
    """``VENT PEEP 5 Ppk 21 VT 450 …``: the ventilation values the bed has, after a mark
    that says where they come from; none when the bed has no ventilation value."""
    if not any(code in bed.readings for code in mdc.VENTILATION):
        return []
    tokens = [Text(VENTILATOR_MARK, f"bold {VENT_COLOUR}", no_wrap=True)]
    for vital in VENTILATOR:
        reading = pick(bed, vital.codes)
        if reading is not None:
            tokens.append(token(vital, reading))
    return tokens


def _small_tokens(bed: BedSnapshot) -> list[Text]:
    tokens = [token(RESP_RATE, pick(bed, RESP_RATE.codes))]
    tokens.append(token(TEMPERATURE, pick(bed, TEMPERATURE.codes)))
    etco2 = pick(bed, ETCO2.codes)
    if etco2 is not None:
        tokens.append(token(ETCO2, etco2))
    fico2 = pick(bed, FICO2.codes)  # inspired CO2 (GE 151716), shown when sent
    if fico2 is not None:
        tokens.append(token(FICO2, fico2))
    return tokens


def face_body(bed: BedSnapshot, width: int, variant: Variant) -> list[Text]:
    """What a tile shows above its wave strip."""
    return full_body(bed, width) if variant is Variant.FULL else compact_body(bed, width)


def face_tail(bed: BedSnapshot, width: int, variant: Variant, wave: Sequence[Text]) -> list[Text]:
    """The wave strip's lines — or, on a compact tile whose bed is silent, ``NO DATA`` in
    their place (a full tile says it on its status line)."""
    tail = list(wave) or [Text(no_wrap=True)]
    if variant is Variant.COMPACT and bed.connectivity is not Connectivity.CONNECTED:
        tail = [status_line(bed, width)] + [Text(no_wrap=True) for _ in tail[1:]]
    return _fit(tail, width)


def tile_face(bed: BedSnapshot, width: int, variant: Variant, wave: Sequence[Text]) -> Text:
    """Everything a tile shows inside its border, :func:`face_lines` lines of ``width``."""
    lines = [*face_body(bed, width, variant), *face_tail(bed, width, variant, wave)]
    return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)


_VALUE_CODES = (
    *HEART_RATE.codes, *SPO2.codes, *RESP_RATE.codes, *TEMPERATURE.codes, *ETCO2.codes,
    *FICO2.codes, *(code for vital in VENTILATOR for code in vital.codes),
)  # fmt: skip
_PRESSURE_CODES = (*NIBP.codes, *ABP.codes)


def body_key(bed: BedSnapshot, width: int, variant: Variant) -> tuple[object, ...]:
    """Everything :func:`face_body` depends on, as it would be written: equal keys give
    equal bodies, so a tile rebuilds its text only when something shown changed (an age
    that ticks from ``?14s`` to ``?15s`` changes the key; one under its stale timeout
    does not)."""
    key: list[object] = [width, variant, bed.connectivity, bed.conflict]
    if bed.connectivity is not Connectivity.CONNECTED:
        key.append(format_silence(bed.silent_s))
    readings = bed.readings
    key.append(any(r.demo for r in readings.values()))  # the DEMO DATA status line
    for code in _VALUE_CODES:
        r = readings.get(code)
        if r is not None:
            key.append((code, r.value, r.unit, r.status, r.demo, r.stale and format_age(r.age_s)))
    for code in _PRESSURE_CODES:
        r = readings.get(code)
        if r is not None:
            ages = (format_age(r.age_s), format_age(r.measured_age_s))
            key.append((code, r.value, r.unit, r.status, r.demo, r.stale, ages))
    return tuple(key)


def _fit(lines: list[Text], width: int) -> list[Text]:
    for line in lines:
        # Cut, never wrap: a wrapped line would push the vitals below it out of the tile.
        line.truncate(width, overflow="ellipsis")
    return lines


# --------------------------------------------------------------------------- bed screen

PARAMETER_ORDER: tuple[tuple[tuple[int, ...], str], ...] = (
    (mdc.HEART_RATE, HEART_RATE.colour),
    ((149530, 149538, 149546, 148066), HEART_RATE.colour),
    ((131841, 131842, 131901, 147232, 147236, 184327), HEART_RATE.colour),
    ((*mdc.SPO2, 150448, 150488), SPO2.colour),
    (NIBP.codes, NIBP.colour),
    (
        (*ABP.codes, 150032, 150036, 150044, 150045, 150046, 150047, 150052, 150084, 150087),
        ABP.colour,
    ),
    (mdc.RESP_RATE, RESP_RATE.colour),
    ((*mdc.ETCO2, *mdc.FICO2), ETCO2.colour),
    (mdc.TEMPERATURE, TEMPERATURE.colour),
    ((*mdc.VENTILATION, 152196), VENT_COLOUR),
)
"""Clinical order of the bed screen's list, each group in its colour; others follow."""
OTHER_COLOUR = "#d0d0d0"
PARAMETER_LABEL_WIDTH = 10


def parameter_colour(code: int) -> str:
    for codes, colour in PARAMETER_ORDER:
        if code in codes:
            return colour
    return OTHER_COLOUR


def ordered_readings(bed: BedSnapshot) -> list[Reading]:
    """Every reading of the bed: the known parameters in clinical order, then the rest."""
    rank = {
        code: (i, j) for i, (codes, _) in enumerate(PARAMETER_ORDER) for j, code in enumerate(codes)
    }
    last = (len(PARAMETER_ORDER), 0)
    return sorted(bed.readings.values(), key=lambda r: (rank.get(r.code, last), _label(r), r.code))


def _label(reading: Reading) -> str:
    known = mdc.parameter(reading.code)
    return known.label if known is not None else reading.label


def parameter_line(reading: Reading) -> Text:
    """``HR          72 /min`` with the same marks as a tile, plus the measurement's age
    when it is older than its last receipt (a held NIBP): ``measured 12m ago``."""
    colour = STALE_STYLE if reading.stale else parameter_colour(reading.code)
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f"{_label(reading)[:PARAMETER_LABEL_WIDTH]:<{PARAMETER_LABEL_WIDTH}} ", colour)
    line.append(f"{format_reading(reading):>5}", _value_style(colour, reading.stale))
    line.append(f" {reading.unit}", colour)
    for text, style in marks(reading):
        if text != QUESTIONABLE_MARK:
            line.append(" ")
            line.append(text, style)
    if not reading.stale and reading.measured_age_s - reading.age_s >= 60:
        line.append(f" measured {format_age(reading.measured_age_s)} ago", MEASURED_AGE_STYLE)
    return line

"""How a bed's values are written on a tile: tui.vitals, from snapshot records to text."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.text import Text

from gateway.domain import BedId, Connectivity, ObservationStatus
from gateway.ward.snapshot import BedSnapshot, Reading
from tui import vitals
from tui.widgets import TILE_MIN_WIDTH

VALID = ObservationStatus.VALID


def reading(
    code: int,
    value: float | str,
    unit: str = "mmHg",
    *,
    age_s: float = 1.0,
    measured_age_s: float | None = None,
    stale: bool = False,
    status: ObservationStatus = VALID,
) -> Reading:
    measured = age_s if measured_age_s is None else measured_age_s
    return Reading(code, str(code), value, unit, status, age_s, measured, stale)


def bed(
    *readings: Reading,
    connectivity: Connectivity = Connectivity.CONNECTED,
    silent_s: float | None = 1.0,
) -> BedSnapshot:
    return BedSnapshot(
        BedId("icu-1"),
        "Bed 1",
        "",
        MappingProxyType({r.code: r for r in readings}),
        (),
        connectivity,
        silent_s,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3, "0s"), (0, "0s"), (59.9, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"),
     (86399, "23h"), (86400, "1d")],
)  # fmt: skip
def test_ages_are_short_and_rounded_down(seconds: float, text: str) -> None:
    assert vitals.format_age(seconds) == text


@pytest.mark.parametrize(
    ("silent_s", "text"),
    [(None, "--:--"), (0, "00:00"), (75.9, "01:15"), (3599, "59:59"), (3725, "1:02:05")],
)
def test_silence_reads_as_minutes_and_seconds(silent_s: float | None, text: str) -> None:
    assert vitals.format_silence(silent_s) == text


def test_the_first_code_of_a_group_wins() -> None:
    ecg_hr = reading(147842, 80, "/min")
    pulse = reading(149530, 79, "/min")
    assert vitals.pick(bed(pulse, ecg_hr), vitals.HEART_RATE.codes) is ecg_hr
    assert vitals.pick(bed(pulse), vitals.HEART_RATE.codes) is pulse
    assert vitals.pick(bed(), vitals.HEART_RATE.codes) is None


def test_values_use_the_parameters_precision() -> None:
    line = vitals.token(vitals.TEMPERATURE, reading(150344, 37.04, "°C"))
    assert line.plain == "Temp 37.0"
    line = vitals.token(vitals.HEART_RATE, reading(147842, 71.6, "/min"))
    assert line.plain == "HR 72"
    line = vitals.parameter_line(reading(150344, 37.04, "°C"))
    assert line.plain.split() == ["Temp", "37.0", "°C"]


def test_a_stale_value_keeps_its_number_but_loses_its_colour_and_shows_its_age() -> None:
    stale = reading(150456, 95, "%", age_s=42, stale=True)
    for line, words in (
        (vitals.token(vitals.SPO2, stale), ["SpO2", "95?42s"]),
        (vitals.parameter_line(stale), ["SpO2", "95", "%", "?42s"]),
    ):
        assert line.plain.split() == words
        assert all(vitals.SPO2.colour not in str(span.style) for span in line.spans)


def test_an_invalid_value_is_never_shown_as_a_number() -> None:
    invalid = reading(147842, 250, "/min", status=ObservationStatus.INVALID)
    assert vitals.token(vitals.HEART_RATE, invalid).plain == "HR ***INV"
    assert vitals.parameter_line(invalid).plain.split() == ["HR", "***", "/min", "INV"]
    face = vitals.tile_face(bed(invalid), 24, vitals.Variant.FULL, [])
    assert "250" not in face.plain
    assert "HR /min INV" in face.plain


def test_a_doubtful_value_is_marked() -> None:
    doubtful = reading(150456, 88, "%", status=ObservationStatus.QUESTIONABLE)
    assert vitals.token(vitals.SPO2, doubtful).plain == "SpO2 ~88"
    face = vitals.tile_face(bed(doubtful), 24, vitals.Variant.FULL, [])
    assert "SpO2 % ~" in face.plain


@pytest.mark.parametrize("text", ["0123456789", "-", "***", "--", "37.5"])
def test_big_digits_are_three_lines_of_three_cells_a_digit(text: str) -> None:
    rows = vitals.big_text(text)
    assert rows is not None
    widths = {cell_len(row) for row in rows}
    assert widths == {sum(1 if char == "." else 3 for char in text)}


def test_text_the_big_font_cannot_draw_is_refused() -> None:
    assert vitals.big_text("Sinus") is None


def test_tokens_that_do_not_fit_end_with_an_ellipsis() -> None:
    tokens = [vitals.token(vitals.RESP_RATE, reading(151562, 16, "/min"))] * 5
    lines = vitals.pack(tokens, 20, 1)
    assert len(lines) == 1
    assert lines[0].plain.endswith("…")
    assert lines[0].cell_len <= 20
    assert [line.plain for line in vitals.pack(tokens[:2], 20, 1)] == ["RR 16  RR 16"]


def test_the_bed_screen_lists_parameters_in_clinical_order() -> None:
    readings = [
        reading(150344, 37.0, "°C"),  # Temp
        reading(999999, 1.0, ""),  # unknown: last
        reading(150021, 117),  # NIBP sys
        reading(150456, 97, "%"),  # SpO2
        reading(147842, 72, "/min"),  # HR
    ]
    order = [r.code for r in vitals.ordered_readings(bed(*readings))]
    assert order == [147842, 150456, 150021, 150344, 999999]


def test_a_stale_pressure_shows_the_older_of_its_two_ages() -> None:
    parts = [
        reading(code, value, age_s=30, measured_age_s=15 * 60, stale=True)
        for code, value in ((150021, 117), (150022, 82), (150023, 90))
    ]
    line = vitals.pressure_line(vitals.NIBP, bed(*parts), 26)
    assert line.plain.split() == ["NIBP", "117/82", "(90)", "mmHg", "?15m"]


@pytest.mark.parametrize("stale", [False, True])
def test_the_widest_pressure_still_fits_the_narrowest_tile(stale: bool) -> None:
    parts = [
        reading(code, value, measured_age_s=25 * 60, stale=stale)
        for code, value in ((150021, 230), (150022, 140), (150023, 170))
    ]
    narrowest = TILE_MIN_WIDTH - 4  # a border and a padding cell on each side
    line = vitals.pressure_line(vitals.NIBP, bed(*parts), narrowest)
    assert cell_len(line.plain) <= narrowest
    assert "230/140" in line.plain
    assert "(170)" in line.plain
    assert line.plain.endswith("?25m" if stale else " 25m")


def test_an_invalid_part_of_a_pressure_is_hidden() -> None:
    parts = [
        reading(150021, 300, status=ObservationStatus.INVALID),
        reading(150022, 82),
        reading(150023, 90),
    ]
    line = vitals.pressure_line(vitals.NIBP, bed(*parts), 40)
    assert "300" not in line.plain
    assert line.plain.split()[:2] == ["NIBP", "***/82"]
    assert "INV" in line.plain.split()


def test_the_status_line_is_blank_while_live_and_spans_the_tile_when_silent() -> None:
    assert vitals.status_line(bed(), 26).plain == ""
    stale = vitals.status_line(bed(connectivity=Connectivity.STALE, silent_s=14.2), 26)
    assert stale.plain.strip() == "NO DATA 00:14"
    assert cell_len(stale.plain) == 26
    never = vitals.status_line(bed(connectivity=Connectivity.LOST, silent_s=None), 26)
    assert never.plain.strip() == "NO DATA --:--"


WAVE = [Text("II " + "⠤" * 20)]


@pytest.mark.parametrize("variant", list(vitals.Variant))
@pytest.mark.parametrize("wave_lines", [1, 2, 3])
def test_every_face_has_the_same_number_of_lines(variant: vitals.Variant, wave_lines: int) -> None:
    wave = [Text("II ⠤⠤")] * wave_lines
    expected = vitals.face_lines(variant, wave_lines)
    assert len(vitals.tile_face(bed(), 24, variant, wave).plain.split("\n")) == expected
    full = bed(
        reading(147842, 72, "/min"),
        reading(150456, 97, "%"),
        reading(150021, 117),
        reading(150033, 120),
        reading(151708, 35),
        connectivity=Connectivity.STALE,
        silent_s=20,
    )
    assert len(vitals.tile_face(full, 24, variant, wave).plain.split("\n")) == expected


@pytest.mark.parametrize("variant", list(vitals.Variant))
def test_no_face_line_is_wider_than_the_tile_even_with_extreme_ages(
    variant: vitals.Variant,
) -> None:
    invalid = ObservationStatus.INVALID
    readings = {
        code: Reading(code, "x", 120.0, "mmHg", invalid, 9e8, 9e8, True)
        for code in (150021, 150022, 150023, 147842, 150456, 150033, 151562, 150344, 151708)
    }
    bed = BedSnapshot(BedId("b"), "Bed", "", readings, (), Connectivity.LOST, 9e8)
    width = 24
    for line in vitals.tile_face(bed, width, variant, WAVE).split("\n"):
        assert line.cell_len <= width, line.plain


def test_a_silent_compact_tile_says_no_data_where_the_wave_was() -> None:
    silent = bed(
        reading(147842, 72, "/min", age_s=40, stale=True),
        connectivity=Connectivity.STALE,
        silent_s=40,
    )
    lines = vitals.tile_face(silent, 24, vitals.Variant.COMPACT, WAVE).plain.split("\n")
    assert lines[0].startswith("HR 72?40s")
    assert lines[-1].strip() == "NO DATA 00:40"
    assert "⠤" not in "".join(lines)


@pytest.mark.parametrize("width", [24, 25, 26, 30])
def test_the_marks_of_the_big_values_are_never_cut_nor_run_together(width: int) -> None:
    invalid = ObservationStatus.INVALID
    hr = reading(147842, 72, "/min", age_s=15, stale=True, status=invalid)
    spo2 = reading(150456, 97, "%", age_s=15 * 3600, stale=True, status=invalid)
    labels = vitals.tile_face(bed(hr, spo2), width, vitals.Variant.FULL, []).plain.split("\n")[1]
    left, right = labels[: width // 2], labels[width // 2 :]
    assert left.split()[:1] == ["HR"] and "INV" in left and left.rstrip().endswith("?15s")
    assert left.endswith(" ")  # a gap before SpO2
    assert right.startswith("SpO2") and "INV" in right and right.rstrip().endswith("?15h")


CODES = (147842, 150456, 151562, 150344, 151708, 150021, 150022, 150023, 150033, 150034, 150035)


@st.composite
def aged_beds(draw: st.DrawFn) -> tuple[BedSnapshot, BedSnapshot]:
    """A bed, and the same bed a little later (ages moved, nothing received)."""
    statuses = st.sampled_from(list(ObservationStatus))
    codes = draw(st.lists(st.sampled_from(CODES), unique=True))
    later_by = draw(st.floats(0, 120))
    first: dict[int, Reading] = {}
    second: dict[int, Reading] = {}
    for code in codes:
        value = float(draw(st.integers(0, 300)))
        status = draw(statuses)
        age = draw(st.floats(0, 4000))
        measured = age + draw(st.floats(0, 4000))
        for readings, shift in ((first, 0.0), (second, later_by)):
            readings[code] = Reading(
                code, "x", value, "u", status, age + shift, measured + shift, age + shift > 10
            )
    silent = draw(st.none() | st.floats(0, 4000))
    connectivity = draw(st.sampled_from(list(Connectivity)))
    one = BedSnapshot(BedId("b"), "Bed", "", first, (), connectivity, silent)
    two = BedSnapshot(
        BedId("b"),
        "Bed",
        "",
        second,
        (),
        connectivity,
        None if silent is None else silent + later_by,
    )
    return one, two


@given(aged_beds(), st.sampled_from(list(vitals.Variant)), st.integers(22, 40))
@settings(max_examples=300, deadline=None)
def test_a_tile_body_is_rebuilt_whenever_what_it_shows_changes(
    beds: tuple[BedSnapshot, BedSnapshot], variant: vitals.Variant, width: int
) -> None:
    one, two = beds
    if vitals.body_key(one, width, variant) == vitals.body_key(two, width, variant):
        assert vitals.face_body(one, width, variant) == vitals.face_body(two, width, variant)


def test_demo_data_is_marked_demo_on_the_tile_and_the_bed_screen() -> None:
    from dataclasses import replace as with_

    from tui import vitals as v

    demo = with_(reading(147842, 124.0, "/min"), demo=True)
    assert v.token(v.HEART_RATE, demo).plain == "HR 124 DEMO"
    assert "DEMO" in v.parameter_line(demo).plain
    assert v.marks(with_(demo, demo=False)) == []


def test_a_ventilators_values_have_a_line_of_their_own_on_the_tile() -> None:
    ventilated = bed(
        reading(147842, 72, "/min"),
        reading(150021, 117),
        reading(151562, 14, "/min"),
        reading(151976, 5.0, "mbar"),
        reading(151817, 21.5, "mbar"),
        reading(151868, 450, "mL"),
        reading(152196, 40, "%"),
    )
    lines = [line.plain for line in vitals.full_body(ventilated, 40)]
    assert lines[-1] == "VENT  PEEP 5  Ppk 22  VT 450  FiO2 40"  # the last line, its own
    assert any(line.startswith("RR 14") for line in lines[:-1])
    assert not any(line.startswith("VENT") for line in lines[:-1])
    without = [line.plain for line in vitals.full_body(bed(reading(152196, 40, "%")), 40)]
    assert not any("VENT" in line for line in without)  # an FiO2 alone is no ventilator
    compact = [line.plain for line in vitals.compact_body(ventilated, 40)]
    assert "VENT" in compact[-1]  # after RR/Temp on the compact tile (cut with … if need be)
    assert len(vitals.full_body(ventilated, 40)) == vitals.FULL_BASE_LINES


@pytest.mark.parametrize("width", [24, 26, 30])
def test_a_three_digit_heart_rate_is_drawn_a_column_apart_when_it_fits(width: int) -> None:
    hr, spo2 = reading(147842, 118, "/min"), reading(150456, 97, "%")
    lines = vitals.tile_face(bed(hr, spo2), width, vitals.Variant.FULL, []).plain.split("\n")
    feet = lines[4][: width // 2]  # the digits' bottom row, HR's half
    field = width // 2 - 2
    if field >= 3 * 3 + 2:
        assert "╺┻╸ ╺┻╸ ┗━┛" in feet  # "118": each 1 on its own foot
    else:
        assert "╺┻╸╺┻╸┗━┛" in feet  # no room for the gaps: still all three digits
    assert vitals.big_text("118", gap=1) == ("╺┓  ╺┓  ┏━┓", " ┃   ┃  ┣━┫", "╺┻╸ ╺┻╸ ┗━┛")

"""How a bed's values are written on a tile: tui.vitals, from snapshot records to text."""

from __future__ import annotations

from types import MappingProxyType

import pytest
from rich.cells import cell_len

from gateway.domain import BedId, Connectivity, ObservationStatus
from gateway.ward import BedSnapshot, Reading
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
    line = vitals.vital_line(vitals.TEMPERATURE, reading(150344, 37.04, "°C"))
    assert line.plain.split() == ["Temp", "37.0", "°C"]
    line = vitals.vital_line(vitals.HEART_RATE, reading(147842, 71.6, "/min"))
    assert line.plain.split() == ["HR", "72", "/min"]


def test_a_stale_value_keeps_its_number_but_loses_its_colour_and_shows_its_age() -> None:
    line = vitals.vital_line(vitals.SPO2, reading(150456, 95, "%", age_s=42, stale=True))
    assert line.plain.split() == ["SpO2", "95", "%", "?42s"]
    assert all(vitals.SPO2.colour not in str(span.style) for span in line.spans)


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


def test_every_face_has_the_same_number_of_lines() -> None:
    assert len(vitals.bed_face(bed(), 26).split("\n")) == vitals.TILE_LINES
    full = bed(
        reading(147842, 72, "/min"),
        reading(150456, 97, "%"),
        reading(150021, 117),
        connectivity=Connectivity.STALE,
        silent_s=20,
    )
    assert len(vitals.bed_face(full, 26).split("\n")) == vitals.TILE_LINES


def test_no_face_line_is_wider_than_the_tile_even_with_extreme_ages() -> None:
    invalid = ObservationStatus.INVALID
    readings = {
        code: Reading(code, "x", 120.0, "mmHg", invalid, 9e8, 9e8, True)
        for code in (150021, 150022, 150023, 147842)
    }
    bed = BedSnapshot(BedId("b"), "Bed", "", readings, (), Connectivity.LOST, 9e8)
    width = 24
    for line in vitals.bed_face(bed, width).split("\n"):
        assert line.cell_len <= width, line.plain

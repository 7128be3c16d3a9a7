"""Waves and trends as braille: spikes kept, gaps kept, flat stays flat, scales honest."""

from __future__ import annotations

import numpy as np

from tui import traces

BLANK = " "


def dots(lines: list[str]) -> np.ndarray:
    """The dot mask behind braille lines (rows × columns of dots)."""
    weights = [[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]]
    height, width = len(lines), len(lines[0])
    mask = np.zeros((height * 4, width * 2), dtype=bool)
    for row, line in enumerate(lines):
        for col, char in enumerate(line):
            code = 0 if char == BLANK else ord(char) - traces.BRAILLE_BASE
            for dy in range(4):
                for dx in range(2):
                    mask[row * 4 + dy, col * 2 + dx] = bool(code & weights[dy][dx])
    return mask


def test_a_spike_narrower_than_a_column_still_reaches_full_height() -> None:
    samples = np.zeros(1000)
    samples[500:503] = 1.0  # 3 samples of 1000, squeezed into 40 dot columns
    mask = dots(traces.wave_lines(samples, 20, 2))
    assert mask[0].any(), "the top dot row is reached"
    assert mask[-1].any(), "the baseline is drawn"
    assert all(mask[:, col].any() for col in range(40)), "a continuous line"


def test_a_dropout_leaves_empty_columns() -> None:
    samples = np.sin(np.linspace(0, 12, 800))
    samples[300:500] = np.nan
    mask = dots(traces.wave_lines(samples, 40, 1))
    columns = np.asarray(mask.any(axis=0))
    assert not columns[32:48].any()
    assert columns[:28].all() and columns[52:].all()


def test_a_flat_ecg_stays_flat_instead_of_magnifying_noise() -> None:
    rng = np.random.default_rng(1)
    flat = rng.normal(0.0, 0.005, 1000)  # 5 µV of noise: asystole, or leads off
    mask = dots(traces.wave_lines(flat, 30, 3, floor=1.0))
    assert mask.any(axis=1).sum() <= 2  # one or two dot rows out of twelve


def test_a_wave_that_just_started_is_drawn_on_the_right_at_its_own_scale() -> None:
    mask = dots(traces.wave_lines(np.ones(100), 20, 1, expected=400))
    columns = np.asarray(mask.any(axis=0))
    assert not columns[:29].any()
    assert columns[31:].all()


def test_nothing_to_draw_is_blank_not_a_line() -> None:
    assert traces.wave_lines(np.full(50, np.nan), 10, 2) == [BLANK * 10, BLANK * 10]
    assert traces.wave_lines(np.empty(0), 10, 1) == [BLANK * 10]


def test_trend_envelopes_share_one_scale() -> None:
    systolic = (np.full(20, 120.0), np.full(20, 120.0))
    diastolic = (np.full(20, 80.0), np.full(20, 80.0))
    scale = traces.chart_scale([systolic, diastolic], floor=30)
    assert scale is not None
    low, high = scale
    assert low <= 80 and high >= 120
    mask = dots(traces.chart_lines([systolic, diastolic], 10, 3, low, high))
    assert mask.any(axis=1).sum() == 2  # two flat lines, nothing between


def test_a_scale_never_goes_past_what_the_value_can_be() -> None:
    spo2 = (np.full(10, 97.0), np.full(10, 99.0))
    scale = traces.chart_scale([spo2], floor=10, bounds=(0, 100))
    assert scale is not None
    assert scale == (90, 100)  # 10 % wide at least, ending at 100 %
    assert traces.chart_scale([(np.full(3, np.nan), np.full(3, np.nan))], floor=10) is None


def test_the_time_axis_reads_back_from_now() -> None:
    for span, words in (
        (3600, ["-1h", "-45m", "-30m", "-15m", "now"]),
        (8 * 3600, ["-8h", "-6h", "-4h", "-2h", "now"]),
        (24 * 3600, ["-24h", "-18h", "-12h", "-6h", "now"]),
    ):
        axis = traces.time_axis(80, span)
        assert axis.split() == words
        assert len(axis) == 80


def test_tiles_prefer_ecg_ii_then_pleth() -> None:
    from gateway.ward.snapshot import WaveInfo

    pleth = WaveInfo((traces.PLETH, ""), "Pleth", "", 125, 0, False)
    ecg = WaveInfo((traces.ECG_II, ""), "ECG II", "mV", 250, 0, False)
    other = WaveInfo((999, ""), "CO2", "", 25, 0, False)
    assert traces.tile_wave([other, pleth, ecg]) is ecg
    assert traces.tile_wave([other, pleth]) is pleth
    assert traces.tile_wave([other]) is other
    assert traces.tile_wave([]) is None
    assert traces.wave_style_of(traces.ECG_II, "ECG II") == ("II", traces.ECG_COLOUR)
    assert traces.wave_style_of(traces.PLETH, "Pleth") == ("Pl", traces.PLETH_COLOUR)

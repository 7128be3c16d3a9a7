"""Waves and trends drawn as text: numpy arrays in, lines of braille characters out.

Each screen column holds 2 × 4 braille dots. A trace is reduced to one (min, max) pair per
dot column with numpy — so a 30 ms QRS spike in 1,000 ECG samples squeezed into 48 dot
columns still reaches its full height — then each column's range is joined to its
neighbour's so the trace reads as a line, scaled into the dot rows and packed into braille
code points with one vectorised sum. NaN samples (a dropout) leave their columns empty: a
gap, never a line across the silence.

A wave's vertical scale follows the data, but never spans less than a floor
(:func:`scale_floor`): a flat ECG must stay flat, not be blown up into a wiggle of noise.

Pure functions, no Textual, no clock: the same arrays always give the same text.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.ward.snapshot import WaveInfo

FloatArray = npt.NDArray[np.float32] | npt.NDArray[np.float64]

DOTS_PER_CELL_X = 2
DOTS_PER_CELL_Y = 4
BRAILLE_BASE = 0x2800
_WEIGHTS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)

ECG_COLOUR = "#5fff5f"
PLETH_COLOUR = "#5fffff"
RESP_COLOUR = "#ffff5f"
PRESSURE_COLOUR = "#ff5f5f"
OTHER_COLOUR = "#d0d0d0"

ECG_II, ECG_I, PLETH, RESP = 131330, 131329, 150452, 151780
TILE_WAVE_PREFERENCE = (ECG_II, ECG_I, PLETH, RESP)
"""Which wave a tile shows: ECG II, else ECG I, else pleth, else respiration, else the
first the bed sent."""

TILE_DOTS_PER_S = 12
"""A tile strip's time scale, in dot columns per second (a 24-cell strip shows 4 s)."""


def column_envelope(samples: FloatArray, columns: int) -> tuple[FloatArray, FloatArray]:
    """The lowest and highest sample in each of ``columns`` equal slices (NaN if none)."""
    data = np.asarray(samples, dtype=np.float64)
    count = len(data)
    if count == 0 or columns < 1:
        empty = np.full(max(columns, 0), np.nan)
        return empty, empty.copy()
    if count >= columns:
        starts = (np.arange(columns) * count) // columns
        return np.fmin.reduceat(data, starts), np.fmax.reduceat(data, starts)
    picks = (np.arange(columns) * count) // columns
    return data[picks], data[picks].copy()


def _rows(
    low: FloatArray, high: FloatArray, vmin: float, vmax: float, dot_rows: int
) -> tuple[FloatArray, FloatArray]:
    """Top and bottom dot row of each column (row 0 at the top), joined to the previous
    column so the trace is continuous; NaN columns stay NaN."""
    span = vmax - vmin
    last = dot_rows - 1
    if span > 0:
        scale = last / span
        top = np.rint((vmax - high) * scale)
        bottom = np.rint((vmax - low) * scale)
        # Clipped in place (NaN stays NaN): np.clip costs more than the arithmetic here.
        np.minimum(np.maximum(top, 0, out=top), last, out=top)
        np.minimum(np.maximum(bottom, 0, out=bottom), last, out=bottom)
    else:
        top = np.where(np.isfinite(high), float(last // 2), np.nan)
        bottom = top.copy()
    absent = np.isnan(top)
    # Each column reaches the previous one's end; fmin/fmax skip the NaN before the first.
    joined_top = top.copy()
    joined_bottom = bottom.copy()
    np.fmin(top[1:], bottom[:-1], out=joined_top[1:])
    np.fmax(bottom[1:], top[:-1], out=joined_bottom[1:])
    joined_top[absent] = np.nan
    joined_bottom[absent] = np.nan
    return joined_top, joined_bottom


def _braille(mask: npt.NDArray[np.bool_]) -> list[str]:
    """Pack a (4·height, 2·width) dot mask into ``height`` lines of braille (blank: space)."""
    dot_rows, dot_cols = mask.shape
    height, width = dot_rows // DOTS_PER_CELL_Y, dot_cols // DOTS_PER_CELL_X
    cells = mask.reshape(height, DOTS_PER_CELL_Y, width, DOTS_PER_CELL_X).astype(np.int64)
    codes = (cells * _WEIGHTS[None, :, None, :]).sum(axis=(1, 3))
    return [
        "".join(chr(BRAILLE_BASE + code) if code else " " for code in row.tolist()) for row in codes
    ]


def _mask(tops: FloatArray, bottoms: FloatArray, dot_rows: int) -> npt.NDArray[np.bool_]:
    rows = np.arange(dot_rows)[:, None]
    with np.errstate(invalid="ignore"):
        return (rows >= tops[None, :]) & (rows <= bottoms[None, :])


def scale_floor(unit: str, samples: FloatArray) -> float:
    """The smallest vertical span a wave is drawn with: 1 mV for an ECG, 20 mmHg for a
    pressure, else a tenth of the largest magnitude in view."""
    if unit == "mV":
        return 1.0
    if unit == "mmHg":
        return 20.0
    finite = np.abs(np.asarray(samples, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) * 0.1 if len(finite) else 0.0


def wave_lines(
    samples: FloatArray, width: int, height: int = 1, *, floor: float = 0.0, expected: int = 0
) -> list[str]:
    """``samples`` as ``height`` lines of ``width`` braille cells, newest on the right.

    ``expected`` is how many samples the strip's time span holds: fewer (a wave that just
    started) are drawn at the right scale on the right, not stretched across the strip.
    """
    if width < 1 or height < 1:
        return []
    data = np.asarray(samples, dtype=np.float64)
    if expected > len(data):
        data = np.concatenate((np.full(expected - len(data), np.nan), data))
    dot_cols, dot_rows = width * DOTS_PER_CELL_X, height * DOTS_PER_CELL_Y
    low, high = column_envelope(data, dot_cols)
    # fmin/fmax skip NaN (nanmin's checks cost more than the whole reduction here).
    vmin, vmax = float(np.fmin.reduce(low)), float(np.fmax.reduce(high))
    if math.isnan(vmin):
        return [" " * width for _ in range(height)]
    if vmax - vmin < floor:
        middle = (vmax + vmin) / 2
        vmin, vmax = middle - floor / 2, middle + floor / 2
    tops, bottoms = _rows(low, high, vmin, vmax, dot_rows)
    return _braille(_mask(tops, bottoms, dot_rows))


def chart_lines(
    series: Sequence[tuple[FloatArray, FloatArray]],
    width: int,
    height: int,
    vmin: float,
    vmax: float,
) -> list[str]:
    """Trend envelopes (low, high per dot column: ``2·width`` entries each) on one scale,
    as ``height`` lines of braille. Columns with no data stay empty."""
    if width < 1 or height < 1:
        return []
    dot_rows = height * DOTS_PER_CELL_Y
    mask = np.zeros((dot_rows, width * DOTS_PER_CELL_X), dtype=bool)
    for low, high in series:
        tops, bottoms = _rows(
            np.asarray(low, np.float64), np.asarray(high, np.float64), vmin, vmax, dot_rows
        )
        mask |= _mask(tops, bottoms, dot_rows)
    return _braille(mask)


def chart_scale(
    series: Sequence[tuple[FloatArray, FloatArray]],
    floor: float,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[float, float] | None:
    """A scale that holds every value of ``series`` with some room, never narrower than
    ``floor``, with round ends, kept within ``bounds`` (SpO2 never above 100) unless a
    value lies outside them; None if the series hold no value."""
    lows = [np.asarray(low, np.float64) for low, _ in series]
    highs = [np.asarray(high, np.float64) for _, high in series]
    if not any(np.isfinite(low).any() for low in lows):
        return None
    data_low = min(float(np.nanmin(low)) for low in lows if np.isfinite(low).any())
    data_high = max(float(np.nanmax(high)) for high in highs if np.isfinite(high).any())
    top, bottom = max(bounds[1], data_high), min(bounds[0], data_low)
    vmin, vmax = data_low, data_high
    if vmax - vmin < floor:
        middle = (vmax + vmin) / 2
        vmin, vmax = middle - floor / 2, middle + floor / 2
    if vmax > top:
        vmin, vmax = vmin - (vmax - top), top
    if vmin < bottom:
        vmin, vmax = bottom, min(top, vmax + (bottom - vmin))
    step = _round_step((vmax - vmin) / 4)
    low = max(bottom, math.floor(vmin / step) * step)
    high = min(top, math.ceil(vmax / step) * step)
    return low, high


def _round_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)


def time_axis(width: int, span_s: float) -> str:
    """``-1h ··· -45m ··· -30m ··· -15m ··· now`` across ``width`` cells."""
    if width < 8:
        return ""
    cells = [" "] * width
    ticks = 4
    for tick in range(ticks + 1):
        ago = span_s * (1 - tick / ticks)
        text = "now" if ago == 0 else f"-{_span_text(ago)}"
        position = round(tick * (width - 1) / ticks)
        start = min(max(0, position - len(text) // 2), width - len(text))
        if tick == 0:
            start = 0
        elif tick == ticks:
            start = width - len(text)
        if all(cell == " " for cell in cells[max(0, start - 1) : start + len(text) + 1]):
            cells[start : start + len(text)] = text
    return "".join(cells)


def _span_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 3600:
        hours, rest = divmod(int(seconds), 3600)
        return f"{hours}h{rest // 60:02d}"
    if seconds >= 60:
        return f"{int(seconds // 60)}m"
    return f"{int(seconds)}s"


def wave_style_of(code: int, label: str) -> tuple[str, str]:
    """A wave's short name and colour on screen: ``II`` green, ``Pl`` cyan, …"""
    label = label or str(code)
    upper = label.upper()
    if code in (ECG_II, ECG_I) or upper.startswith("ECG"):
        name = label[3:].strip() if upper.startswith("ECG") else label
        return name or "ECG", ECG_COLOUR
    if code == PLETH or "PLETH" in upper:
        return "Pl", PLETH_COLOUR
    if code == RESP or upper.startswith("RESP") or "CO2" in upper:
        return label[:3], RESP_COLOUR
    if any(word in upper for word in ("ABP", "ART", "PAP", "CVP", "PRESS")):
        return label[:3], PRESSURE_COLOUR
    return label[:3], OTHER_COLOUR


def tile_wave(waves: Sequence[WaveInfo]) -> WaveInfo | None:
    """The wave a tile shows (see :data:`TILE_WAVE_PREFERENCE`)."""
    for code in TILE_WAVE_PREFERENCE:
        for info in waves:
            if info.code == code:
                return info
    return waves[0] if waves else None


def detail_waves(waves: Sequence[WaveInfo], count: int = 3) -> list[WaveInfo]:
    """Up to ``count`` waves for the bed screen: the preferred ones first, then the rest."""
    ranked = sorted(
        waves,
        key=lambda w: TILE_WAVE_PREFERENCE.index(w.code) if w.code in TILE_WAVE_PREFERENCE else 99,
    )
    return ranked[:count]

"""Trends: 24 hours of one parameter of one bed, in fixed-size numpy ring buffers.

A :class:`TrendBuffer` keeps two rings of low / high per time bucket:

* **fine** — 1 s buckets for the last hour (3,600 buckets), for the 1 h graph;
* **coarse** — 1 min buckets for the last 24 hours (1,440 buckets), for 8 h and 24 h.

Why this shape: a graph is at most a few hundred screen columns wide, so a column of the
1 h graph covers ≥ 10 s and one of the 24 h graph ≥ 5 min; keeping raw samples would cost
memory and buy nothing on screen, while min/max per bucket keeps every spike (a
desaturation to 82 % for 20 s shows in the 24 h graph as an 82 % low in its column). Memory
is fixed at allocation: (3,600 + 1,440) buckets × 2 float32 = 40 kB per parameter, so a bed
with 48 trended parameters (the cap in :mod:`gateway.ward`) holds under 2 MB of trends.

Buckets are placed by the gateway's receive time, not the device's clock: a monitor with a
wrong clock must not write into another hour (or another day) of the trend; a clock that
steps back adds to the newest bucket rather than rewrite history. A bucket with no value
stays NaN, and the graphs show it as a gap: silence is never interpolated.

:meth:`TrendBuffer.add` is on the ingest path: it appends to two Python lists; every
:data:`FLUSH_EVERY` values (and before any read) they are folded into the rings with a few
vectorised numpy calls. Reading (:meth:`TrendBuffer.envelope`) copies what it returns: no
view into the rings leaks. This module must not know beds, devices or screens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from gateway.clock import NS_PER_S

FINE_BUCKET_S = 1
FINE_BUCKETS = 3600
COARSE_BUCKET_S = 60
COARSE_BUCKETS = 1440

TREND_SPAN_S = COARSE_BUCKET_S * COARSE_BUCKETS
"""The longest span a trend answers for: 24 h."""

BYTES_PER_TREND = (FINE_BUCKETS + COARSE_BUCKETS) * 2 * np.dtype(np.float32).itemsize

FLUSH_EVERY = 128
"""Values are staged in Python lists and folded into the rings this many at a time: a few
vectorised calls instead of numpy scalar writes (~0.2 µs each) for every value."""

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True, eq=False)
class TrendEnvelope:
    """A parameter's range over ``span_s`` seconds up to ``end_ns``, one entry per column.

    ``low[i]``/``high[i]`` are the lowest and highest value received in column ``i``
    (oldest first); NaN where nothing was received. ``resolution_s`` is the bucket width the
    envelope was computed from.
    """

    code: int
    span_s: float
    end_ns: int
    resolution_s: float
    low: FloatArray
    high: FloatArray

    @property
    def empty(self) -> bool:
        return not bool(np.isfinite(self.low).any())


class _Ring:
    """``length`` buckets of ``bucket_s`` seconds: lowest and highest value, NaN if none."""

    __slots__ = ("bucket_s", "high", "last", "length", "low")

    def __init__(self, bucket_s: int, length: int) -> None:
        self.bucket_s = bucket_s
        self.length = length
        self.low = np.full(length, np.nan, dtype=np.float32)
        self.high = np.full(length, np.nan, dtype=np.float32)
        self.last: int | None = None
        """The newest bucket written; the ring holds ``last - length + 1`` … ``last``."""

    def fold(self, buckets: IntArray, low: FloatArray, high: FloatArray) -> None:
        """Fold in per-bucket lows and highs; ``buckets`` ascending, none before ``last``."""
        length = self.length
        newest = int(buckets[-1])
        if self.last is None or newest - self.last >= length:
            self.low[:] = np.nan
            self.high[:] = np.nan
        elif newest > self.last:
            # Slots about to be reused still hold values from a lap ago.
            stale = np.arange(self.last + 1, newest + 1) % length
            self.low[stale] = np.nan
            self.high[stale] = np.nan
        keep = buckets > newest - length
        slots = buckets[keep] % length
        self.low[slots] = np.fmin(self.low[slots], low[keep])
        self.high[slots] = np.fmax(self.high[slots], high[keep])
        self.last = newest

    def buckets(self, first: int, last: int) -> tuple[FloatArray, FloatArray]:
        """Low and high of buckets ``first`` … ``last`` (inclusive), NaN where empty."""
        count = last - first + 1
        low = np.full(count, np.nan, dtype=np.float32)
        high = np.full(count, np.nan, dtype=np.float32)
        if self.last is None:
            return low, high
        start = max(first, self.last - self.length + 1)
        stop = min(last, self.last)
        if start <= stop:
            slots = np.arange(start, stop + 1) % self.length
            low[start - first : stop - first + 1] = self.low[slots]
            high[start - first : stop - first + 1] = self.high[slots]
        return low, high


def _group(
    buckets: IntArray, low: npt.NDArray[np.float64], high: npt.NDArray[np.float64]
) -> tuple[IntArray, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per distinct bucket (``buckets`` ascending): its bucket, lowest low, highest high."""
    starts = np.concatenate(([0], np.flatnonzero(np.diff(buckets)) + 1))
    return buckets[starts], np.fmin.reduceat(low, starts), np.fmax.reduceat(high, starts)


class TrendBuffer:
    """24 h of one parameter: 1 s buckets for the last hour, 1 min buckets for the day."""

    __slots__ = ("_seconds", "_values", "coarse", "code", "fine", "newest")

    def __init__(self, code: int) -> None:
        self.code = code
        self.fine = _Ring(FINE_BUCKET_S, FINE_BUCKETS)
        self.coarse = _Ring(COARSE_BUCKET_S, COARSE_BUCKETS)
        self.newest = 0
        """The newest second a value was added in."""
        self._seconds: list[int] = []
        self._values: list[float] = []

    def add(self, value: float, time_ns: int) -> None:
        """Add one value received at ``time_ns`` (gateway time)."""
        second = time_ns // NS_PER_S
        if second < self.newest:
            second = self.newest  # the clock stepped back: never rewrite a past bucket
        else:
            self.newest = second
        values = self._values
        values.append(value)
        self._seconds.append(second)
        if len(values) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Fold the staged values into both rings."""
        if not self._values:
            return
        seconds = np.array(self._seconds, dtype=np.int64)
        values = np.array(self._values, dtype=np.float64)
        self._seconds.clear()
        self._values.clear()
        buckets, low, high = _group(seconds, values, values)
        self.fine.fold(buckets, low.astype(np.float32), high.astype(np.float32))
        minutes, low, high = _group(buckets // COARSE_BUCKET_S, low, high)
        self.coarse.fold(minutes, low.astype(np.float32), high.astype(np.float32))

    def envelope(self, span_s: float, columns: int, end_ns: int) -> TrendEnvelope:
        """Low/high per column over the ``span_s`` seconds before ``end_ns``.

        The finest ring that covers the span is used; a span past 24 h is cut to 24 h.
        When the span has fewer buckets than columns, a bucket spans several columns.
        """
        if columns < 1:
            raise ValueError(f"columns must be at least 1, not {columns}")
        self.flush()
        span_s = min(max(span_s, 1.0), float(TREND_SPAN_S))
        ring = self.fine if span_s <= FINE_BUCKET_S * FINE_BUCKETS else self.coarse
        count = max(1, math.ceil(span_s / ring.bucket_s))
        last = end_ns // (ring.bucket_s * NS_PER_S)
        low, high = ring.buckets(last - count + 1, last)
        if count >= columns:
            starts = (np.arange(columns) * count) // columns
            low, high = np.fmin.reduceat(low, starts), np.fmax.reduceat(high, starts)
        else:
            picks = (np.arange(columns) * count) // columns
            low, high = low[picks], high[picks]
        return TrendEnvelope(self.code, span_s, end_ns, float(ring.bucket_s), low, high)

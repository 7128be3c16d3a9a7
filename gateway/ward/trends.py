"""Trends: 24 hours of one parameter of one bed, in fixed-size numpy ring buffers.

A :class:`TrendBuffer` keeps two rings of low / high per time bucket:

* **fine** — 1 s buckets for the last hour (3,600 buckets), for the 1 h graph;
* **coarse** — 1 min buckets for the last 24 hours (1,440 buckets), for 8 h and 24 h.

Why this shape: a graph is at most a few hundred screen columns wide, so a column of the
1 h graph covers ≥ 10 s and one of the 24 h graph ≥ 5 min; keeping raw samples would cost
memory and buy nothing on screen, while min/max per bucket keeps every spike (a
desaturation to 82 % for 20 s shows in the 24 h graph as an 82 % low in its column). Memory
is fixed once allocated: (3,600 + 1,440) buckets × 2 float32 = 40 kB per parameter, so a bed
with 48 trended parameters (the cap in :mod:`gateway.ward`) holds under 2 MB of trends. A
ring is allocated when its first value is folded in, not before: a bed that said one thing
and went silent (a sender inventing identities makes thousands) holds its staged values,
not 40 kB a parameter.

Buckets are placed by the gateway's receive time, not the device's clock: a monitor with a
wrong clock must not write into another hour (or another day) of the trend; a clock that
steps back adds to the newest bucket rather than rewrite history. A bucket with no value
stays NaN, and the graphs show it as a gap: silence is never interpolated.

:meth:`TrendBuffer.add` appends the value and its time to two typed arrays
(``array.array``: 16 bytes a value, no Python object kept) and nothing more; every
:data:`FLUSH_EVERY` values (and before any read) they are placed in their seconds and
folded into both rings with a dozen vectorised numpy calls. On the ingest path the ward
stages a whole bed's values in one :class:`TrendStage` instead — one call per report, not
one per value — which sorts them out to their trends in one go. Reading
(:meth:`TrendBuffer.envelope`) copies what it returns: no view into the rings leaks. This
module must not know beds, devices or screens.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
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

FLUSH_EVERY = 512
"""Values are staged and folded into the rings this many at a time: a dozen vectorised
calls (~15 µs) for all of them instead of numpy scalar writes (~0.2 µs each) for every
value. At most 8 kB staged per trend (under 400 kB for a bed's 48)."""

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]

_UNALLOCATED: FloatArray = np.empty(0, dtype=np.float32)
"""What a ring holds before its first value: nothing (shared, never written)."""
_UNALLOCATED.flags.writeable = False


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
        self.low = self.high = _UNALLOCATED
        self.last: int | None = None
        """The newest bucket written; the ring holds ``last - length + 1`` … ``last``."""

    def fold(self, buckets: IntArray, values: FloatArray) -> None:
        """Fold in values by bucket; ``buckets`` ascending (repeats allowed). Buckets
        before ``last`` (history read back after a restart) go into their own slots while
        the ring still covers them; older ones are dropped, never wrapped over newer ones."""
        behind = self._advance(buckets)
        if behind:
            buckets, values = buckets[behind:], values[behind:]
        slots = buckets % self.length
        # Unbuffered: several values of one bucket all count (fancy assignment keeps one).
        np.fmin.at(self.low, slots, values)
        np.fmax.at(self.high, slots, values)

    def fold_distinct(self, buckets: IntArray, low: FloatArray, high: FloatArray) -> None:
        """Fold in each bucket's lowest and highest value, ``buckets`` strictly ascending
        (each once: one fancy assignment per ring, cheaper than :meth:`fold`'s)."""
        behind = self._advance(buckets)
        if behind:
            buckets, low, high = buckets[behind:], low[behind:], high[behind:]
        slots = buckets % self.length
        self.low[slots] = np.fmin(self.low[slots], low)
        self.high[slots] = np.fmax(self.high[slots], high)

    def _advance(self, buckets: IntArray) -> int:
        """Make room for ``buckets`` (ascending): clear the slots the ring reuses, move
        ``last`` on. Returns how many of the first buckets are a lap behind (not kept)."""
        length = self.length
        newest = int(buckets[-1])
        last = self.last
        if last is None:  # the first value: the ring is allocated now
            self.low = np.full(length, np.nan, dtype=np.float32)
            self.high = np.full(length, np.nan, dtype=np.float32)
        elif newest - last >= length:
            self.low[:] = np.nan
            self.high[:] = np.nan
        elif newest > last:
            # Slots about to be reused still hold values from a lap ago: buckets last + 1 …
            # newest, at most two runs of the ring (slices, not an index array).
            start, stop = (last + 1) % length, (newest + 1) % length
            if start < stop:
                self.low[start:stop] = np.nan
                self.high[start:stop] = np.nan
            else:
                self.low[start:] = self.low[:stop] = np.nan
                self.high[start:] = self.high[:stop] = np.nan
        top = newest if last is None else max(newest, last)
        self.last = top
        oldest = top - length  # this bucket and older are a lap behind: not kept
        if buckets[0] <= oldest:
            return int(np.searchsorted(buckets, oldest, side="right"))
        return 0

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


class TrendBuffer:
    """24 h of one parameter: 1 s buckets for the last hour, 1 min buckets for the day."""

    __slots__ = ("_times", "_values", "coarse", "code", "fine", "newest")

    def __init__(self, code: int) -> None:
        self.code = code
        self.fine = _Ring(FINE_BUCKET_S, FINE_BUCKETS)
        self.coarse = _Ring(COARSE_BUCKET_S, COARSE_BUCKETS)
        self.newest = 0
        """The newest second a value was folded in (values staged since are not counted)."""
        self._times = array("q")
        self._values = array("d")

    @property
    def nbytes(self) -> int:
        """Bytes held in its rings: 0 until a value is folded in, then :data:`BYTES_PER_TREND`."""
        fine, coarse = self.fine, self.coarse
        return fine.low.nbytes + fine.high.nbytes + coarse.low.nbytes + coarse.high.nbytes

    def add(self, value: float, time_ns: int) -> None:
        """Add one value received at ``time_ns`` (gateway time)."""
        values = self._values
        values.append(value)
        self._times.append(time_ns)
        if len(values) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Fold the staged values into both rings."""
        if not self._values:
            return
        # Rounding to float32 keeps the order of values: the lowest stays the lowest.
        values = np.frombuffer(self._values, dtype=np.float64).astype(np.float32)
        seconds = np.frombuffer(self._times, dtype=np.int64) // NS_PER_S
        self._times = array("q")
        self._values = array("d")
        self.fold_live(seconds, values)

    def fold_live(self, seconds: IntArray, values: FloatArray) -> None:
        """Fold in values received live, ``seconds`` (which this may overwrite) in the
        order they arrived: what :meth:`flush` and :class:`TrendStage` do with theirs."""
        # A clock that stepped back must never rewrite a past bucket: a value goes into the
        # newest second seen so far when its own is earlier (a running maximum).
        np.maximum.accumulate(seconds, out=seconds)
        np.maximum(seconds, self.newest, out=seconds)
        self.newest = int(seconds[-1])
        self.fine.fold(seconds, values)
        self.coarse.fold(seconds // COARSE_BUCKET_S, values)

    def fold_distinct(
        self,
        seconds: IntArray,
        low: FloatArray,
        high: FloatArray,
        *,
        minutes: IntArray,
        minute_low: FloatArray,
        minute_high: FloatArray,
    ) -> None:
        """Fold in live values already reduced to each second's and each minute's lowest
        and highest (both strictly ascending, none before :attr:`newest`): what
        :class:`TrendStage` does for all its trends at once."""
        self.newest = int(seconds[-1])
        self.fine.fold_distinct(seconds, low, high)
        self.coarse.fold_distinct(minutes, minute_low, minute_high)

    def add_history(self, times_ns: Sequence[int], values: Sequence[float]) -> None:
        """Add values received in the past (the journal read back after a restart), each in
        its own bucket, in any order. Unlike :meth:`add`, which never writes behind the
        newest second, this writes behind newer values already held: a bucket keeps the
        lowest and highest of both. What is older than a ring reaches is dropped."""
        if not values:
            return
        self.flush()
        seconds = np.array(times_ns, dtype=np.int64) // NS_PER_S
        order = np.argsort(seconds, kind="stable")
        seconds = seconds[order]
        numbers = np.array(values, dtype=np.float64)[order].astype(np.float32)
        self.newest = max(self.newest, int(seconds[-1]))
        self.fine.fold(seconds, numbers)
        self.coarse.fold(seconds // COARSE_BUCKET_S, numbers)

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


STAGE_PER_TREND = 256
"""A :class:`TrendStage` folds its values in once this many per trend are waiting (on
average): 8 to 32 bytes a value staged, at most 8 kB a trend, under 0.4 MB for a bed's 48."""
STAGE_FIRST_PER_TREND = 16
"""… but the first time once this many are: its trends' rings are allocated then (40 kB
each), within the bed's first minute or so, not four to eight minutes in — so the ward's
memory reaches its plateau early, and a later rise is a real one. A sender that said a
thing or two and went silent still holds only its staged values."""


class TrendStage:
    """Live values bound for several trends — one bed's — staged together.

    Why: a call per value (:meth:`TrendBuffer.add`) was most of what trending cost on the
    ingest path. Here a report's values cost one call (:meth:`add`, with the two lists the
    caller built as it went through the report), copied into typed arrays (no Python
    object kept, nothing for the garbage collector to walk), and they are folded in for
    all trends at once (:meth:`flush`) when :data:`STAGE_PER_TREND` a trend are waiting, or
    when asked: the owner must flush before any of its trends is read.

    The result is what :meth:`TrendBuffer.add` of each value, in the order they arrived,
    would give; the common case — every report with the same parameters, one report a
    second or less, the clock going forwards — is folded as one table.
    """

    __slots__ = (
        "_buffers",
        "_count",
        "_counts",
        "_head",
        "_limit",
        "_pattern",
        "_per_trend",
        "_slot_of",
        "_slots",
        "_times",
        "_values",
    )

    def __init__(self) -> None:
        self._buffers: list[TrendBuffer] = []
        self._slot_of: dict[int, int] = {}
        self._per_trend = STAGE_FIRST_PER_TREND
        self._limit = STAGE_FIRST_PER_TREND
        self._start()

    def _start(self) -> None:
        self._values = array("d")
        self._times = array("q")
        self._counts = array("q")
        """How many values each staged report has."""
        self._count = 0
        self._pattern: list[int] = []
        """The slots of the first staged report."""
        self._head = 0
        """How many reports in a row, from the first, had ``_pattern`` for slots."""
        self._slots: array[int] | None = None
        """Every value's slot, once a report came with slots other than ``_pattern``."""

    def slot(self, trend: TrendBuffer) -> int:
        """The number values for ``trend`` are staged under (the same for every call)."""
        slot = self._slot_of.get(id(trend))
        if slot is None:
            slot = self._slot_of[id(trend)] = len(self._buffers)
            self._buffers.append(trend)  # also keeps the id from being reused
            self._limit = self._per_trend * len(self._buffers)
        return slot

    def add(self, time_ns: int, slots: list[int], values: list[float]) -> None:
        """Stage one report's values, all received at ``time_ns``: ``values[i]`` for the
        trend of ``slots[i]``. The first report's ``slots`` list is kept: the caller must
        not change it."""
        if not values:
            return
        if self._slots is not None:
            self._slots.fromlist(slots)
        elif slots == self._pattern:
            self._head += 1
        elif not self._head:
            self._pattern, self._head = slots, 1
        else:  # parameters change: from now on, every value's slot is staged
            self._slots = array("q", self._pattern * self._head)
            self._slots.fromlist(slots)
        self._values.fromlist(values)
        self._times.append(time_ns)
        self._counts.append(len(values))
        self._count += len(values)
        if self._count >= self._limit:
            self.flush()

    def flush(self) -> None:
        """Fold every staged value into its trend."""
        if not self._count:
            return
        values = np.frombuffer(self._values, dtype=np.float64).astype(np.float32)
        seconds = np.frombuffer(self._times, dtype=np.int64) // NS_PER_S
        counts = np.frombuffer(self._counts, dtype=np.int64)
        pattern, staged = self._pattern, self._slots
        self._start()
        if self._per_trend != STAGE_PER_TREND:
            self._per_trend = STAGE_PER_TREND
            self._limit = STAGE_PER_TREND * len(self._buffers)
        if staged is None:
            if len(set(pattern)) == len(pattern):
                table = values.reshape(len(seconds), len(pattern))  # a report a row
                if self._fold_table(pattern, seconds, table):
                    return
            slots = np.tile(np.array(pattern, dtype=np.int64), len(seconds))
        else:
            slots = np.frombuffer(staged, dtype=np.int64)
        self._fold_sorted(slots, values, np.repeat(seconds, counts))

    def _fold_table(self, pattern: list[int], seconds: IntArray, table: FloatArray) -> bool:
        """The common case: one value per trend and report, each report in a later second
        than the one before and not before any trend's newest. Then a report's second is
        the bucket of all its values, and only minutes need reducing (for every trend at
        once). Returns False, having done nothing, when the case does not hold."""
        buffers = self._buffers
        newest = max(buffers[slot].newest for slot in pattern)
        if int(seconds[0]) < newest or (len(seconds) > 1 and not (np.diff(seconds) > 0).all()):
            return False
        minutes = seconds // COARSE_BUCKET_S
        starts = _starts(minutes)
        minute_low = np.fmin.reduceat(table, starts, axis=0)
        minute_high = np.fmax.reduceat(table, starts, axis=0)
        minutes = minutes[starts]
        for column, slot in enumerate(pattern):
            values = table[:, column]
            buffers[slot].fold_distinct(
                seconds,
                values,
                values,
                minutes=minutes,
                minute_low=minute_low[:, column],
                minute_high=minute_high[:, column],
            )
        return True

    def _fold_sorted(self, slots: IntArray, values: FloatArray, seconds: IntArray) -> None:
        """Any values, in the order they arrived, for all trends at once: each value keyed
        by its trend (high bits) and second (low bits); sorted by trend, stable, so a trend's
        values keep their order; a running maximum of the keys is each trend's own (a
        trend's keys are all above the one before's), which puts a value behind its trend's
        newest second into that second, as :meth:`TrendBuffer.add` does; then each distinct
        second's, and each minute's, lowest and highest."""
        buffers = self._buffers
        order = np.argsort(slots, kind="stable")
        slots, values, seconds = slots[order], values[order], seconds[order]
        newest = np.array([buffer.newest for buffer in buffers], dtype=np.int64)
        np.maximum(seconds, newest[slots], out=seconds)
        base = int(seconds.min())
        if int(seconds.max()) - base >= _SECOND_KEYS:  # 136 years apart: not from a clock
            for slot in np.unique(slots).tolist():
                mine = slots == slot
                buffers[slot].fold_live(seconds[mine], values[mine])
            return
        keys = (slots << _SLOT_SHIFT) + (seconds - base)
        np.maximum.accumulate(keys, out=keys)
        starts = _starts(keys)
        low, high = np.fmin.reduceat(values, starts), np.fmax.reduceat(values, starts)
        keys = keys[starts]
        second_slots = keys >> _SLOT_SHIFT
        seconds = (keys & (_SECOND_KEYS - 1)) + base
        minute_base = base // COARSE_BUCKET_S
        minute_keys = (second_slots << _SLOT_SHIFT) + (seconds // COARSE_BUCKET_S - minute_base)
        starts = _starts(minute_keys)
        minute_low = np.fmin.reduceat(low, starts)
        minute_high = np.fmax.reduceat(high, starts)
        minute_keys = minute_keys[starts]
        minute_slots = minute_keys >> _SLOT_SHIFT
        minutes = (minute_keys & (_SECOND_KEYS - 1)) + minute_base
        # Every trend staged has at least one second and one minute: the runs line up.
        runs = zip(_runs(second_slots), _runs(minute_slots), strict=True)
        for (first, end), (minute_first, minute_end) in runs:
            buffers[int(second_slots[first])].fold_distinct(
                seconds[first:end],
                low[first:end],
                high[first:end],
                minutes=minutes[minute_first:minute_end],
                minute_low=minute_low[minute_first:minute_end],
                minute_high=minute_high[minute_first:minute_end],
            )


_SLOT_SHIFT = 32
_SECOND_KEYS = 1 << _SLOT_SHIFT
"""Seconds a stage's keys can tell apart (136 years): more apart, each trend folds alone."""


def _starts(keys: IntArray) -> npt.NDArray[np.intp]:
    """Where each run of equal ``keys`` (ascending) starts."""
    return np.concatenate(([0], np.flatnonzero(np.diff(keys)) + 1))


def _runs(slots: IntArray) -> list[tuple[int, int]]:
    """(first, end) of each run of equal ``slots`` (ascending)."""
    bounds = (np.flatnonzero(np.diff(slots)) + 1).tolist()
    return list(zip([0, *bounds], [*bounds, len(slots)], strict=True))

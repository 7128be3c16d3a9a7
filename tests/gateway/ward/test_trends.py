"""Trend rings: 24 h in fixed memory, spikes kept per column, silence shown as a gap."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.clock import NS_PER_S
from gateway.ward.trends import BYTES_PER_TREND, FINE_BUCKETS, TrendBuffer

T0 = 1_700_000_000 * NS_PER_S


def at(seconds: float) -> int:
    return T0 + round(seconds * NS_PER_S)


def test_every_column_keeps_the_lowest_and_highest_value_it_covers() -> None:
    trend = TrendBuffer(150456)
    for second in range(600):
        trend.add(97.0, at(second))
        if second == 300:
            trend.add(82.0, at(300.2))  # a short desaturation inside one second
    envelope = trend.envelope(600, 60, at(599))
    assert envelope.resolution_s == 1
    assert len(envelope.low) == 60
    assert np.nanmin(envelope.low) == 82.0
    assert int(np.nanargmin(envelope.low)) == 30  # seconds 300-309 are column 30
    assert np.all(envelope.high == 97.0)


def test_the_desaturation_still_shows_in_the_24_hour_envelope() -> None:
    trend = TrendBuffer(150456)
    for minute in range(0, 24 * 60, 1):
        trend.add(97.0, at(minute * 60))
    trend.add(82.0, at(5 * 3600 + 20))
    envelope = trend.envelope(24 * 3600, 200, at(24 * 3600 - 1))
    assert envelope.resolution_s == 60
    assert np.nanmin(envelope.low) == 82.0
    assert np.nanmax(envelope.high) == 97.0


def test_silence_is_a_gap_not_a_line() -> None:
    trend = TrendBuffer(147842)
    for second in range(100):
        trend.add(70.0, at(second))
    for second in range(200, 300):
        trend.add(90.0, at(second))
    envelope = trend.envelope(300, 300, at(299))
    assert np.all(envelope.low[:100] == 70.0)
    assert np.all(np.isnan(envelope.low[100:200]))
    assert np.all(envelope.high[200:] == 90.0)


def test_nothing_received_yet_reads_as_empty() -> None:
    envelope = TrendBuffer(147842).envelope(3600, 100, at(0))
    assert envelope.empty
    assert np.all(np.isnan(envelope.high))


def test_a_value_from_a_previous_lap_of_the_ring_never_reappears() -> None:
    trend = TrendBuffer(147842)
    trend.add(50.0, at(10))
    # One hour and a bit later, with nothing in between: the fine ring went round once.
    trend.add(120.0, at(FINE_BUCKETS + 20))
    envelope = trend.envelope(3600, FINE_BUCKETS, at(FINE_BUCKETS + 20))
    finite = envelope.low[np.isfinite(envelope.low)]
    assert finite.tolist() == [120.0]


def test_a_value_older_than_the_window_is_not_in_it() -> None:
    trend = TrendBuffer(147842)
    trend.add(50.0, at(0))
    trend.add(60.0, at(1))
    trend.add(70.0, at(4000))
    assert np.nanmin(trend.envelope(3600, 100, at(4000)).low) == 70.0
    assert np.nanmin(trend.envelope(8 * 3600, 100, at(4000)).low) == 50.0


def test_a_clock_that_steps_back_folds_into_the_open_bucket() -> None:
    trend = TrendBuffer(147842)
    trend.add(70.0, at(100))
    trend.add(40.0, at(50))  # NTP step backwards: do not rewrite a closed bucket
    envelope = trend.envelope(100, 100, at(100))
    assert envelope.low[-1] == 40.0
    assert envelope.high[-1] == 70.0
    assert np.isnan(envelope.low[49])


def test_more_columns_than_buckets_repeat_each_bucket() -> None:
    trend = TrendBuffer(147842)
    for second in range(10):
        trend.add(float(second), at(second))
    envelope = trend.envelope(10, 40, at(9))
    assert envelope.low.tolist() == [float(c // 4) for c in range(40)]


@pytest.mark.parametrize("columns", [0, -1])
def test_columns_must_be_positive(columns: int) -> None:
    with pytest.raises(ValueError, match="columns"):
        TrendBuffer(1).envelope(60, columns, at(0))


def test_memory_is_fixed_whatever_the_history() -> None:
    trend = TrendBuffer(147842)
    trend.add(70.0, at(0))
    trend.flush()

    def rings() -> tuple[np.ndarray, ...]:
        return (trend.fine.low, trend.fine.high, trend.coarse.low, trend.coarse.high)

    arrays = rings()
    for second in range(0, 2 * 86400, 7):
        trend.add(70.0, at(second))
    trend.flush()
    assert all(a is b for a, b in zip(arrays, rings(), strict=True))  # never reallocated
    assert sum(a.nbytes for a in arrays) == trend.nbytes == BYTES_PER_TREND
    assert BYTES_PER_TREND <= 40 * 1024


def test_a_trend_holds_no_ring_until_its_first_value_is_folded_in() -> None:
    trend = TrendBuffer(147842)
    assert trend.nbytes == 0
    empty = trend.envelope(3600, 60, at(100))
    assert empty.empty and len(empty.low) == 60  # an unallocated trend reads as a gap
    trend.add(70.0, at(100))
    assert trend.nbytes == 0  # staged, not folded
    assert np.nanmin(trend.envelope(3600, 60, at(100)).low) == 70.0
    assert trend.nbytes == BYTES_PER_TREND


def test_a_value_just_received_is_in_every_span_at_once() -> None:
    trend = TrendBuffer(147842)
    for second in range(30):
        trend.add(70.0, at(second))
    trend.add(131.0, at(30.5))  # still in the open second and the open minute
    for span in (3600, 8 * 3600, 24 * 3600):
        envelope = trend.envelope(span, 100, at(30.5))
        assert envelope.high[-1] == 131.0, span
        assert envelope.low[-1] == 70.0, span

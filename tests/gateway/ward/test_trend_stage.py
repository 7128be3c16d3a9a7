"""The ward's trend stage folds a bed's values exactly as if each had gone into its trend on
arrival: every bucket's lowest and highest, a clock stepping back folding into the newest
second, whatever the reports' shapes, their timing or when the stage is flushed.

The reference is written out here from the trends' documented rules (1 s buckets for an
hour, 1 min buckets for a day, receive time, never behind the newest second), value by
value in plain Python, so it shares no code with what it checks.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.clock import NS_PER_S
from gateway.ward.trends import (
    BYTES_PER_TREND,
    COARSE_BUCKET_S,
    COARSE_BUCKETS,
    FINE_BUCKETS,
    STAGE_FIRST_PER_TREND,
    STAGE_PER_TREND,
    TrendBuffer,
    TrendStage,
)

T0 = 1_700_000_000 * NS_PER_S
CODES = (147842, 150456, 151562)


class Reference:
    """One trend's buckets, value by value."""

    def __init__(self) -> None:
        self.newest = 0
        self.seconds: dict[int, list[float]] = defaultdict(list)

    def add(self, value: float, time_ns: int) -> None:
        self.newest = max(self.newest, time_ns // NS_PER_S)
        self.seconds[self.newest].append(float(np.float32(value)))

    def expected(self, bucket_s: int, count: int) -> tuple[list[float], list[float]]:
        """Low and high of the ``count`` buckets up to the newest one (NaN where empty)."""
        last = self.newest // bucket_s
        buckets: dict[int, list[float]] = defaultdict(list)
        for second, values in self.seconds.items():
            buckets[second // bucket_s] += values
        low, high = [], []
        for bucket in range(last - count + 1, last + 1):
            values = buckets.get(bucket, [])
            low.append(min(values) if values else float("nan"))
            high.append(max(values) if values else float("nan"))
        return low, high


def held(
    trend: TrendBuffer, span_s: int, count: int, end_s: int
) -> tuple[list[float], list[float]]:
    envelope = trend.envelope(span_s, count, end_s * NS_PER_S)
    return envelope.low.tolist(), envelope.high.tolist()


def same(got: list[float], want: list[float]) -> bool:
    return bool(np.array_equal(np.array(got), np.array(want), equal_nan=True))


# A step between reports, in seconds: the same second, one a second, gaps of a minute, an
# hour, a day, and the clock stepping back (NTP).
steps = st.sampled_from([0.0, 0.2, 1.0, 1.0, 1.0, 2.5, 59.0, 61.0, 3599.0, 4000.0, 90000.0, -3.0])
values = st.floats(-1000, 1000, allow_nan=False, width=32)
reports = st.lists(
    st.tuples(
        steps,
        st.lists(st.tuples(st.sampled_from(CODES), values), min_size=1, max_size=4),
        st.booleans(),  # read (flush) after this report
    ),
    min_size=1,
    max_size=60,
)


def run(plan: list[tuple[float, list[tuple[int, float]], bool]]) -> None:
    stage = TrendStage()
    trends = {code: TrendBuffer(code) for code in CODES}
    slots = {code: stage.slot(trend) for code, trend in trends.items()}
    references = {code: Reference() for code in CODES}
    now = T0
    for step, rows, read in plan:
        now += round(step * NS_PER_S)
        stage.add(now, [slots[code] for code, _ in rows], [value for _, value in rows])
        for code, value in rows:
            references[code].add(value, now)
        if read:
            stage.flush()
    stage.flush()
    for code, reference in references.items():
        if not reference.seconds:
            continue
        end = reference.newest
        for bucket_s, count in ((1, FINE_BUCKETS), (COARSE_BUCKET_S, COARSE_BUCKETS)):
            got = held(trends[code], bucket_s * count, count, end)
            want = reference.expected(bucket_s, count)
            assert same(got[0], want[0]), (code, bucket_s, "low")
            assert same(got[1], want[1]), (code, bucket_s, "high")


@settings(max_examples=150, deadline=None)
@given(reports)
def test_any_reports_fold_as_if_each_value_went_to_its_trend_on_arrival(
    plan: list[tuple[float, list[tuple[int, float]], bool]],
) -> None:
    run(plan)


@settings(max_examples=40, deadline=None)
@given(st.lists(values, min_size=3, max_size=3), st.integers(1, 3 * STAGE_PER_TREND))
def test_a_monitor_sending_the_same_parameters_every_second_folds_as_one_table(
    base: list[float], seconds: int
) -> None:
    plan = [
        (1.0, [(code, value + second % 7) for code, value in zip(CODES, base, strict=True)], False)
        for second in range(seconds)
    ]
    run(plan)


def test_a_report_carrying_one_parameter_twice_keeps_both_values() -> None:
    # Two channels of one code (two SpO2 probes) go to the one trend of the code.
    run([(1.0, [(CODES[0], 90.0), (CODES[0], 97.0)], False), (1.0, [(CODES[0], 95.0)], True)])


def test_a_monitor_changing_its_parameters_mid_stage_loses_nothing() -> None:
    plan = [(1.0, [(CODES[0], 70.0 + n), (CODES[1], 97.0)], False) for n in range(10)]
    plan += [(1.0, [(CODES[1], 90.0 - n)], False) for n in range(10)]
    plan += [(1.0, [(CODES[2], 12.0), (CODES[0], 80.0)], False) for _ in range(5)]
    run(plan)


def test_values_wait_in_the_stage_until_it_fills_or_is_flushed() -> None:
    stage = TrendStage()
    trend = TrendBuffer(CODES[0])
    slot = stage.slot(trend)
    assert stage.slot(trend) == slot  # one slot per trend, however often asked
    second = 0
    # The first time the stage is full early: the rings are allocated within a minute, so
    # the ward's memory reaches its plateau then, not minutes later.
    for second in range(STAGE_FIRST_PER_TREND - 1):
        stage.add(T0 + second * NS_PER_S, [slot], [80.0])
    assert trend.nbytes == 0 and trend.envelope(60, 60, T0 + 60 * NS_PER_S).empty  # staged
    stage.add(T0 + (second + 1) * NS_PER_S, [slot], [70.0])  # the stage is full, a first time
    assert trend.nbytes == BYTES_PER_TREND
    start = second + 2
    for second in range(start, start + STAGE_PER_TREND - 1):
        stage.add(T0 + second * NS_PER_S, [slot], [80.0])
    end = T0 + (second + 1) * NS_PER_S
    assert np.nanmin(trend.envelope(3600, 3600, end).low) == 70.0  # staged, not yet folded
    stage.add(end, [slot], [50.0])  # the stage is full
    envelope = trend.envelope(3600, 3600, end)
    assert np.nanmin(envelope.low) == 50.0
    assert np.nanmax(envelope.high) == 80.0

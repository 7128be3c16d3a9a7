"""The physiology engine: deterministic per seed, plausible ranges, a monitor's NIBP cycle."""

from __future__ import annotations

import dataclasses
import itertools
import statistics

from hypothesis import given, settings
from hypothesis import strategies as st

from simulators.physiology import STABLE_ADULT, Patient, Vitals

T0 = 1_700_000_000.0


def run(seed: int, times: list[float], nibp_interval_s: float = 300.0) -> list[Vitals]:
    patient = Patient(seed, nibp_interval_s=nibp_interval_s)
    return [patient.step(t) for t in times]


def shown(value: int | None) -> int:
    assert value is not None
    return value


def every_second(seconds: int) -> list[float]:
    return [T0 + s for s in range(seconds)]


def test_same_seed_and_times_give_the_same_vitals() -> None:
    times = every_second(600)
    assert run(7, times) == run(7, times)


def test_different_seeds_give_different_patients() -> None:
    times = every_second(120)
    series = {tuple(v.heart_rate for v in run(seed, times)) for seed in range(5)}
    assert len(series) == 5


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    steps=st.lists(st.floats(0.0, 900.0, allow_nan=False), min_size=1, max_size=200),
)
def test_vitals_stay_in_a_stable_adults_ranges(seed: int, steps: list[float]) -> None:
    patient = Patient(seed)
    now = T0
    r = STABLE_ADULT
    for dt in steps:
        now += dt
        v = patient.step(now)
        # The patient alone always shows every number; only a monitor blanks them.
        assert v.heart_rate is not None and v.pulse_rate is not None
        assert v.spo2 is not None and v.resp_rate is not None
        assert r.heart_rate.low <= v.heart_rate <= r.heart_rate.high
        assert r.heart_rate.low <= v.pulse_rate <= r.heart_rate.high
        assert 94 <= v.spo2 <= 100
        assert 12 <= v.resp_rate <= 20
        assert 36.5 <= v.temperature_c <= 37.5
        assert round(v.temperature_c, 1) == v.temperature_c
        assert all(
            isinstance(x, int)
            for x in (v.heart_rate, v.pulse_rate, v.spo2, v.resp_rate, v.nibp_sys, v.nibp_dia)
        )
        assert r.nibp_sys.low <= v.nibp_sys <= r.nibp_sys.high
        assert r.nibp_dia.low <= v.nibp_dia < v.nibp_mean < v.nibp_sys
        assert v.nibp_mean == round(v.nibp_dia + (v.nibp_sys - v.nibp_dia) / 3)
        assert now - 300.0 < v.nibp_time_s <= now
        assert v.time_s == now


def test_nibp_is_measured_every_interval_and_resent_with_its_measurement_time() -> None:
    vitals = run(3, every_second(1000), nibp_interval_s=300.0)
    times = sorted({v.nibp_time_s for v in vitals})
    assert len(times) in (4, 5)  # one before the start, then every 300 s over 1000 s
    assert [b - a for a, b in itertools.pairwise(times)] == [300.0] * (len(times) - 1)
    for v in vitals:
        same_cuff = [w for w in vitals if w.nibp_time_s == v.nibp_time_s]
        assert {(w.nibp_sys, w.nibp_dia, w.nibp_mean) for w in same_cuff} == {
            (v.nibp_sys, v.nibp_dia, v.nibp_mean)
        }
    # The first reading predates the first step: the monitor was on before we looked.
    assert vitals[0].nibp_time_s <= vitals[0].time_s


def test_heart_rate_wanders_around_the_patients_baseline() -> None:
    for seed in range(4):
        patient = Patient(seed)
        rates = [shown(patient.step(t).heart_rate) for t in every_second(3600)]
        assert abs(statistics.fmean(rates) - patient.baseline.heart_rate) < 4.0
        assert 1.0 < statistics.pstdev(rates) < 6.0
        # A slow walk, not white noise: one second rarely moves it by more than 2 beats.
        jumps = [abs(b - a) for a, b in itertools.pairwise(rates)]
        assert sum(j > 2 for j in jumps) < len(jumps) * 0.02


def test_temperature_changes_very_slowly() -> None:
    temps = [v.temperature_c for v in run(5, every_second(600))]
    assert max(temps) - min(temps) <= 0.3


def test_spo2_dips_are_rare() -> None:
    low = total = 0
    for seed in range(8):
        for v in run(seed, every_second(3600)):
            total += 1
            low += shown(v.spo2) <= 94
    assert low / total < 0.05


def test_a_new_baseline_steers_the_patient() -> None:
    patient = Patient(11)
    patient.step(T0)
    patient.baseline = dataclasses.replace(patient.baseline, heart_rate=95.0)
    rates = [shown(patient.step(T0 + s).heart_rate) for s in range(600, 1200)]
    assert statistics.fmean(rates) > 90


def test_time_running_backwards_is_taken_as_no_time_passing() -> None:
    patient = Patient(2)
    first = patient.step(T0 + 10)
    earlier = patient.step(T0)
    assert earlier.time_s == first.time_s
    assert earlier.nibp_time_s == first.nibp_time_s

"""A monitor playing a scenario on simulated time: events on time, numbers from the signals,
alarms started, continued and ended."""

from __future__ import annotations

import numpy as np
from test_sim_signals import r_peaks

from simulators.monitor import MonitorModel, Readout
from simulators.scenario import BedScenario, load_scenario, parse_scenario
from simulators.signals import Rhythm


def bed(text: str) -> BedScenario:
    return parse_scenario(text, "test.toml").beds[0]


def play(scenario: BedScenario, seconds: float, dt: float = 1.0, seed: int = 1) -> list[Readout]:
    model = MonitorModel(scenario, seed)
    return [model.advance(dt) for _ in range(round(seconds / dt))]


def test_the_rhythm_changes_at_the_scripted_time_to_the_sample() -> None:
    # 0.7 s steps: the event at 30 s falls inside a step, which is split there.
    readouts = play(bed('[[events]]\nat = "00:30"\nrhythm = "asystole"\n'), 45, dt=0.7)
    r_times = [t for r in readouts for t in _r_waves(r)]
    assert r_times and max(r_times) < 30.0
    assert max(r_times) > 28.0  # beating right up to it
    assert all(r.rhythm is Rhythm.SINUS for r in readouts if r.t1 <= 30.0)
    assert all(r.rhythm is Rhythm.ASYSTOLE for r in readouts if r.t0 >= 30.0)
    ecg = np.concatenate([r.ecg.samples for r in readouts])
    after = ecg[round(30.8 * 250) :]
    assert np.ptp(after) < 0.3  # flat (noise and breathing only)


def _r_waves(readout: Readout) -> list[float]:
    return [readout.ecg.start_s + i / 250.0 for i in _peaks(readout)]


def _peaks(readout: Readout) -> list[int]:
    s = readout.ecg.samples
    return [i for i in range(1, s.size - 1) if s[i] > 0.6 and s[i] >= s[i - 1] and s[i] > s[i + 1]]


def test_heart_rate_shown_is_the_rate_of_the_r_waves_in_the_ecg() -> None:
    readouts = play(bed("[patient]\nheart_rate = 88\nvariability = 0\n"), 40)
    ecg = np.concatenate([r.ecg.samples for r in readouts])
    peaks = r_peaks(ecg[-10 * 250 :])
    measured = 60.0 / float(np.diff(peaks).mean())
    shown = readouts[-1].vitals.heart_rate
    assert shown is not None
    assert abs(shown - measured) <= 2
    assert abs(shown - 88) <= 2


def test_asystole_shows_heart_rate_zero_and_raises_a_high_priority_alarm() -> None:
    readouts = play(bed('[[events]]\nat = "00:10"\nrhythm = "asystole"\n'), 30)
    assert readouts[8].vitals.heart_rate not in (0, None)
    assert readouts[-1].vitals.heart_rate == 0
    starts = [a for r in readouts for a in r.alarms if a.phase == "start"]
    asystole = [a for a in starts if a.text == "Asystole"]
    assert len(asystole) == 1
    assert asystole[0].priority == "PH"
    assert 10.0 < asystole[0].time_s <= 16.0


def test_spo2_follows_the_scenario_and_the_low_alarm_starts_and_ends() -> None:
    scenario = bed(
        "[patient]\nvariability = 0\nspo2 = 97\n"
        '[[events]]\nat = "00:20"\nchange = "spo2"\nto = 82\nover = "60s"\n'
        '[[events]]\nat = "02:00"\nchange = "spo2"\nto = 96\nover = "30s"\n'
    )
    readouts = play(scenario, 200)
    spo2 = {round(r.t1): r.vitals.spo2 for r in readouts}
    assert all(spo2[t] == 97 for t in range(1, 21))
    assert spo2[50] == 90  # half-way down the ramp (97 → 82 over 60 s)
    assert all(spo2[t] == 82 for t in range(80, 121))
    assert all(spo2[t] == 96 for t in range(150, 201))
    updates = [a for r in readouts for a in r.alarms if a.key == "spo2_low"]
    assert updates[0].phase == "start" and 55 <= updates[0].time_s <= 62
    assert updates[-1].phase == "end" and 120 < updates[-1].time_s < 150
    assert {a.phase for a in updates[1:-1]} == {"continue"}
    assert len({a.alarm_id for a in updates}) == 1  # one alarm, one id, start to end


def test_sensor_off_blanks_spo2_flattens_the_pleth_and_raises_a_technical_alarm() -> None:
    readouts = play(
        bed('[[events]]\nat = "00:10"\nartefact = "sensor_off"\nduration = "20s"\n'), 40
    )
    during = [r for r in readouts if 11 <= r.t1 <= 30]
    assert all(r.vitals.spo2 is None and r.vitals.pulse_rate is None for r in during)
    assert all(not r.pleth.samples.any() for r in during)
    assert readouts[-1].vitals.spo2 is not None
    updates = [a for r in readouts for a in r.alarms if a.key == "spo2_sensor_off"]
    assert [a.phase for a in updates] == ["start", "continue", "end"]
    assert all(a.kind == "ST" for a in updates)


def test_lead_off_flattens_the_ecg_and_blanks_the_heart_rate() -> None:
    readouts = play(bed('[[events]]\nat = "00:05"\nartefact = "lead_off"\nduration = "10s"\n'), 20)
    during = [r for r in readouts if 6 <= r.t1 <= 14]
    assert all(r.vitals.heart_rate is None and not r.ecg.samples.any() for r in during)
    assert readouts[-1].vitals.heart_rate is not None


def test_a_disconnect_silences_the_device_for_its_duration() -> None:
    readouts = play(bed('[[events]]\nat = "00:10"\ndisconnect = "40s"\n'), 60)
    silent = [round(r.t1) for r in readouts if not r.connected]
    # It sends its 00:10 report, then nothing until 00:50: 40 s without a word.
    assert silent == list(range(11, 50))


def test_nibp_is_measured_every_interval_the_scenario_sets() -> None:
    readouts = play(bed('[patient]\nnibp_interval = "1m"\n'), 300)
    times = sorted({r.vitals.nibp_time_s for r in readouts})
    assert np.allclose(np.diff(times), 60.0)


def test_arterial_pressure_numbers_come_from_the_pressure_wave() -> None:
    readouts = play(bed("[patient]\narterial_line = true\nvariability = 0\n"), 10)
    last = readouts[-1]
    assert last.abp is not None and last.vitals.abp is not None
    sys, dia, mean = last.vitals.abp
    assert sys == round(float(last.abp.samples.max())) or sys >= last.abp.samples.max() - 1
    assert dia < mean < sys


def test_a_repeating_timeline_plays_again() -> None:
    scenario = bed(
        'repeat_every = "30s"\n[[events]]\nat = "00:05"\nartefact = "lead_off"\nduration = "5s"\n'
    )
    readouts = play(scenario, 70)
    off = [round(r.t1) for r in readouts if r.lead_off]
    assert off == [6, 7, 8, 9, 36, 37, 38, 39, 66, 67, 68, 69]


def test_a_seed_gives_the_same_ward_every_run() -> None:
    scenario = load_scenario("arrest").beds[0]
    first = play(scenario, 90, seed=9)
    second = play(scenario, 90, seed=9)
    assert [r.vitals for r in first] == [r.vitals for r in second]
    assert [r.alarms for r in first] == [r.alarms for r in second]
    assert all(
        np.array_equal(a.ecg.samples, b.ecg.samples) for a, b in zip(first, second, strict=True)
    )


def test_the_arrest_scenario_walks_through_vt_vf_and_asystole_with_alarms() -> None:
    readouts = play(load_scenario("arrest").beds[0], 200)
    texts = [(a.text, a.phase) for r in readouts for a in r.alarms]
    for text in ("VTach", "VFib", "Asystole", "Apnea"):
        assert (text, "start") in texts
    assert ("VTach", "end") in texts
    assert readouts[-1].rhythm is Rhythm.ASYSTOLE

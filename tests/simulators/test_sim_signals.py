"""The synthesized waves: the heart rate measured in the ECG, rhythms, pleth shape, chunks."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
import pytest

from simulators.physiology import Drive
from simulators.signals import Conditions, Rhythm, SignalGenerator, WaveRates

FS = 250.0


def drive(heart_rate: float = 75.0, perfusion: float = 3.0, resp_rate: float = 15.0) -> Drive:
    return Drive(heart_rate, 97.0, resp_rate, 37.0, 120.0, 80.0, perfusion)


def ecg(
    seconds: int, rhythm: Rhythm, heart_rate: float = 75.0, seed: int = 1, chunk: float = 1.0
) -> npt.NDArray[np.float64]:
    generator = SignalGenerator(seed)
    d = drive(heart_rate)
    steps = round(seconds / chunk)
    parts = [generator.generate(i * chunk, (i + 1) * chunk, d, rhythm).ecg for i in range(steps)]
    return np.concatenate([p.samples for p in parts])


def r_peaks(signal: npt.NDArray[np.float64], fs: float = FS) -> npt.NDArray[np.float64]:
    """R waves found in the signal itself: local maxima above half the top, 200 ms apart."""
    threshold = 0.5 * float(np.percentile(signal, 99.5))
    candidates = (
        np.flatnonzero(
            (signal[1:-1] > threshold) & (signal[1:-1] >= signal[:-2]) & (signal[1:-1] > signal[2:])
        )
        + 1
    )
    peaks: list[int] = []
    for index in candidates:
        if peaks and index - peaks[-1] < 0.2 * fs:
            if signal[index] > signal[peaks[-1]]:
                peaks[-1] = int(index)
            continue
        peaks.append(int(index))
    return np.asarray(peaks, dtype=np.float64) / fs


@pytest.mark.parametrize("target", [40.0, 60.0, 75.0, 100.0, 150.0])
def test_heart_rate_measured_from_the_ecg_is_within_2_bpm_of_the_target(target: float) -> None:
    rhythm = Rhythm.BRADYCARDIA if target < 50 else Rhythm.SINUS
    peaks = r_peaks(ecg(60, rhythm, heart_rate=target))
    measured = 60.0 / float(np.diff(peaks).mean())
    assert abs(measured - target) <= 2.0


def test_sinus_rhythm_has_heart_rate_variability_but_stays_regular() -> None:
    intervals = np.diff(r_peaks(ecg(120, Rhythm.SINUS, 70.0)))
    cv = intervals.std() / intervals.mean()
    assert 0.005 < cv < 0.06


def test_atrial_fibrillation_is_irregularly_irregular_without_p_waves() -> None:
    signal = ecg(120, Rhythm.AF, 100.0)
    peaks = r_peaks(signal)
    intervals = np.diff(peaks)
    assert intervals.std() / intervals.mean() > 0.1
    # Where a sinus beat has its P wave (170 ms before R) AF has only small f-waves.
    sinus = ecg(120, Rhythm.SINUS, 100.0)
    p_sinus = [sinus[round((t - 0.17) * FS)] for t in r_peaks(sinus)[1:-1]]
    p_af = [signal[round((t - 0.17) * FS)] for t in peaks[1:-1]]
    assert np.mean(p_sinus) > 0.1
    assert abs(np.mean(p_af)) < 0.06


def test_ventricular_tachycardia_is_fast_with_wide_complexes() -> None:
    signal = ecg(30, Rhythm.VT, 180.0)
    peaks = r_peaks(signal)
    assert abs(60.0 / np.diff(peaks).mean() - 180.0) <= 3.0

    # Width at half height: a VT complex is several times a sinus QRS.
    def width(s: npt.NDArray[np.float64], t: float) -> int:
        i = round(t * FS)
        return int((s[i - 30 : i + 30] > s[i] / 2).sum())

    sinus = ecg(30, Rhythm.SINUS, 75.0)
    assert width(signal, peaks[5]) > 2 * width(sinus, r_peaks(sinus)[5])


def test_ventricular_fibrillation_has_no_beats_only_a_chaotic_4_to_7_hz_wave() -> None:
    signal = ecg(20, Rhythm.VF)
    spectrum = np.abs(np.fft.rfft(signal - signal.mean()))
    freqs = np.fft.rfftfreq(signal.size, 1 / FS)
    assert 4.0 <= freqs[spectrum.argmax()] <= 7.0
    assert signal.std() > 0.15


def test_asystole_is_a_flat_line_with_noise() -> None:
    signal = ecg(20, Rhythm.ASYSTOLE)
    assert signal.max() - signal.min() < 0.3
    assert r_peaks(signal).size == 0 or signal.max() < 0.2


def test_chunks_tile_time_exactly_at_every_rate() -> None:
    generator = SignalGenerator(3, WaveRates(ecg=250, pleth=125, resp=62.5, abp=100))
    chunks = [generator.generate(i * 0.3, (i + 1) * 0.3, drive(), Rhythm.SINUS) for i in range(20)]
    for name, rate in (("ecg", 250), ("pleth", 125), ("resp", 62.5), ("abp", 100)):
        waves = [getattr(c, name) for c in chunks]
        assert waves[0].first_index == 0
        for a, b in itertools.pairwise(waves):
            assert b.first_index == a.first_index + a.samples.size
        assert sum(w.samples.size for w in waves) == round(6.0 * rate)


def test_the_same_seed_gives_the_same_samples_and_another_seed_others() -> None:
    assert np.array_equal(ecg(10, Rhythm.SINUS, seed=5), ecg(10, Rhythm.SINUS, seed=5))
    assert not np.array_equal(ecg(10, Rhythm.SINUS, seed=5), ecg(10, Rhythm.SINUS, seed=6))


def _pleth(perfusion: float, seconds: int = 30) -> tuple[npt.NDArray[np.float64], list[float]]:
    generator = SignalGenerator(2)
    chunks = [
        generator.generate(i, i + 1.0, drive(60.0, perfusion), Rhythm.SINUS) for i in range(seconds)
    ]
    samples = np.concatenate([c.pleth.samples for c in chunks])
    return samples, [t for c in chunks for t in c.pulses]


def test_pleth_pulses_follow_the_r_waves_and_show_a_dicrotic_notch() -> None:
    samples, pulses = _pleth(3.0)
    rate = 125.0
    # Average pulse, aligned on each pulse's arrival at the finger.
    beats = [samples[round(t * rate) : round(t * rate) + 100] for t in pulses[2:-2]]
    mean = np.mean([b for b in beats if b.size == 100], axis=0)
    systolic = int(mean.argmax())
    after = mean[systolic:]
    notch = int(np.argmax((after[1:-1] < after[:-2]) & (after[1:-1] < after[2:]))) + 1
    assert notch > 0, "no local minimum after the systolic peak"
    assert after[notch:].max() > after[notch] + 0.05 * mean.max(), "no dicrotic wave after it"


def test_pleth_amplitude_follows_perfusion() -> None:
    strong, _ = _pleth(4.0)
    weak, _ = _pleth(1.0)
    ratio = np.ptp(strong[250:]) / np.ptp(weak[250:])
    assert 3.0 < ratio < 5.0


def test_artefacts_flatten_or_disturb_the_waves() -> None:
    generator = SignalGenerator(4)
    d = drive()
    generator.generate(0, 5, d, Rhythm.SINUS)
    off = generator.generate(5, 6, d, Rhythm.SINUS, Conditions(lead_off=True, sensor_off=True))
    assert not off.ecg.samples.any()
    assert not off.pleth.samples.any()
    quiet = generator.generate(6, 16, d, Rhythm.SINUS)
    moving = generator.generate(16, 26, d, Rhythm.SINUS, Conditions(motion=True))
    assert np.ptp(moving.pleth.samples) > 1.5 * np.ptp(quiet.pleth.samples)

"""Waveforms of a simulated patient: ECG, pleth, respiration and arterial pressure, in chunks.

The ECG is a sum of Gaussians per beat (P, Q, R, S, T) placed around each R wave, in the
manner of McSharry's ECGSYN model (McSharry et al., IEEE TBME 2003) but written as an
explicit function of time so a chunk can be made with a few numpy calls: the QT interval
scales with the square root of the R-R interval (Bazett), the R-R intervals carry
heart-rate variability (a 0.1 Hz Mayer wave, respiratory sinus arrhythmia and jitter). The
rhythm decides where beats fall and what they look like: sinus (tachycardia, bradycardia),
atrial fibrillation (irregular R-R, no P, fibrillatory baseline), ventricular tachycardia
(wide complexes), ventricular fibrillation (no beats, a chaotic 4-6 Hz wave), asystole.

Every perfusing beat sends a pulse to the finger (pleth: a systolic wave, a dicrotic notch
and wave, amplitude following perfusion) and to the arterial line (pressure between the
diastolic and systolic levels of the :class:`~simulators.physiology.Drive`). Respiration is
a breath-by-breath impedance wave. Sample ``n`` of a wave sampled at ``rate`` is at time
``n / rate``: chunks tile time exactly, whatever their length, with no sample lost or
repeated; the same seed and the same sequence of chunks give the same samples.

This module makes samples and the event times they contain (R waves, pulses, breaths); it
must not round them for a wire format, nor decide what a monitor shows (``monitor`` does).
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.physiology import Drive

FloatArray = npt.NDArray[np.float64]


class Rhythm(enum.StrEnum):
    SINUS = "sinus"
    TACHYCARDIA = "tachycardia"
    BRADYCARDIA = "bradycardia"
    AF = "af"
    VT = "vt"
    VF = "vf"
    ASYSTOLE = "asystole"

    @property
    def perfusing(self) -> bool:
        """Whether its beats move blood (VT does, poorly; VF and asystole do not)."""
        return self not in (Rhythm.VF, Rhythm.ASYSTOLE)


RHYTHM_NAMES: dict[str, Rhythm] = {
    **{r.value: r for r in Rhythm},
    "atrial_fibrillation": Rhythm.AF,
    "ventricular_tachycardia": Rhythm.VT,
    "ventricular_fibrillation": Rhythm.VF,
}
"""Every name a scenario may use for a rhythm."""


@dataclass(frozen=True, slots=True)
class WaveRates:
    """Sample rates (Hz) of the waves a monitor sends."""

    ecg: float = 250.0
    pleth: float = 125.0
    resp: float = 62.5
    abp: float = 125.0


@dataclass(frozen=True, slots=True)
class Wave:
    """Consecutive samples of one wave: sample ``i`` is at ``(first_index + i) / rate`` s."""

    rate: float
    first_index: int
    samples: FloatArray

    @property
    def start_s(self) -> float:
        return self.first_index / self.rate


@dataclass(frozen=True, slots=True)
class Conditions:
    """Artefacts and faults at the bedside during a chunk."""

    lead_off: bool = False
    """ECG electrodes off: the ECG is a flat line."""
    sensor_off: bool = False
    """Oximeter probe off the finger: the pleth is flat."""
    motion: bool = False
    """The patient moves: large slow artefacts on ECG and pleth."""


@dataclass(frozen=True, slots=True)
class SignalChunk:
    """The waves of ``[t0, t1)`` and the events that happened in it."""

    t0: float
    t1: float
    ecg: Wave
    pleth: Wave
    resp: Wave
    abp: Wave
    r_waves: tuple[float, ...]
    """Times of the R waves (any rhythm with beats) in the chunk."""
    pulses: tuple[float, ...]
    """Times of the pulses' arrival at the finger (perfusing beats only)."""
    breaths: tuple[float, ...]
    """Times breaths began."""


# Beat morphology: (centre offset from R (s) at R-R 1 s, width sigma (s), amplitude (mV),
# whether offset and width scale with sqrt(R-R) as the QT interval does).
_Component = tuple[float, float, float, bool]
_SINUS: tuple[_Component, ...] = (
    (-0.17, 0.025, 0.15, False),  # P
    (-0.03, 0.008, -0.12, False),  # Q
    (0.0, 0.010, 1.20, False),  # R
    (0.03, 0.010, -0.30, False),  # S
    (0.28, 0.055, 0.30, True),  # T
)
_AF_BEAT = _SINUS[1:]  # no organised atrial activity: no P wave
_VT_BEAT: tuple[_Component, ...] = (
    (0.0, 0.040, 1.60, False),  # a wide, tall ventricular complex
    (0.07, 0.030, -0.50, False),
    (0.22, 0.070, -0.60, True),  # discordant T
)
_MORPHOLOGY = {0: _SINUS, 1: _AF_BEAT, 2: _VT_BEAT}
_KIND = {Rhythm.AF: 1, Rhythm.VT: 2}
_BEAT_REACH_S = 0.7  # a beat's waves lie within this of its R wave
_LOOKAHEAD_S = 0.7  # beats are placed this far ahead, so a P wave may precede its chunk

# Pulse shapes, relative to the pulse's arrival: (offset (s), sigma (s), amplitude).
_PLETH_PULSE = ((0.13, 0.055, 1.0), (0.36, 0.07, 0.35), (0.5, 0.15, 0.12))
_ABP_PULSE = ((0.09, 0.045, 1.0), (0.30, 0.06, 0.28), (0.45, 0.14, 0.10))
_PLETH_DELAY_S = 0.20  # R wave to finger
_ABP_DELAY_S = 0.12  # R wave to radial artery
_VT_STROKE = 0.35  # a VT beat moves a third of a normal stroke


class SignalGenerator:
    """The waves of one patient, made chunk by chunk from one random stream.

    Call :meth:`generate` with consecutive intervals; the beat and breath schedules carry
    over between calls, so the waves are continuous across chunks.
    """

    def __init__(self, seed: int | np.random.SeedSequence, rates: WaveRates | None = None) -> None:
        self._rng = np.random.default_rng(seed)
        self.rates = rates or WaveRates()
        rng = self._rng
        self._ecg_gain = float(rng.uniform(0.8, 1.3))
        self._resp_gain = float(rng.uniform(0.7, 1.3))
        self._phases = rng.uniform(0.0, 2 * math.pi, 8)
        self._rhythm: Rhythm | None = None
        self._beats: list[tuple[float, float, int]] = []  # (R time, R-R, morphology)
        self._next_beat: float | None = None
        self._breaths: deque[tuple[float, float]] = deque()  # (start, duration)
        self._next_breath: float | None = None
        self._vf_phase = 0.0
        self._vf_freq = 5.0

    # ------------------------------------------------------------------ schedules

    def _rr(self, t: float, heart_rate: float, rhythm: Rhythm, resp_rate: float) -> float:
        rng = self._rng
        base = 60.0 / max(heart_rate, 10.0)
        if rhythm is Rhythm.AF:
            sigma = 0.18
            return float(np.clip(base * math.exp(rng.normal(0.0, sigma) - sigma**2 / 2), 0.28, 2.5))
        if rhythm is Rhythm.VT:
            return base * (1.0 + 0.01 * float(rng.standard_normal()))
        hrv = min(1.0, 90.0 / max(heart_rate, 1.0))
        mayer = 0.03 * math.sin(2 * math.pi * 0.1 * t + self._phases[0])
        rsa = 0.025 * math.sin(2 * math.pi * resp_rate / 60.0 * t + self._phases[1])
        return base * (1.0 + hrv * (mayer + rsa + 0.008 * float(rng.standard_normal())))

    def _schedule_beats(self, t0: float, t1: float, drive: Drive, rhythm: Rhythm) -> None:
        if rhythm is not self._rhythm:
            # Beats placed ahead under the old rhythm have not happened: drop them.
            self._beats = [b for b in self._beats if b[0] < t0]
            last = self._beats[-1][0] if self._beats else None
            if rhythm in (Rhythm.VF, Rhythm.ASYSTOLE):
                self._next_beat = None
            elif last is None or self._rhythm in (Rhythm.VF, Rhythm.ASYSTOLE, None):
                self._next_beat = t0 + (0.3 if self._rhythm is not None else 0.1)
            else:
                rr = self._rr(t0, drive.heart_rate, rhythm, drive.resp_rate)
                self._next_beat = max(t0, last + rr)
            self._rhythm = rhythm
        if self._next_beat is None:
            return
        kind = _KIND.get(rhythm, 0)
        while self._next_beat < t1 + _LOOKAHEAD_S:
            t = self._next_beat
            rr = self._rr(t, drive.heart_rate, rhythm, drive.resp_rate)
            self._beats.append((t, rr, kind))
            self._next_beat = t + rr
        horizon = t0 - _BEAT_REACH_S - 1.0
        if self._beats and self._beats[0][0] < horizon:
            self._beats = [b for b in self._beats if b[0] >= horizon]

    def _schedule_breaths(self, t0: float, t1: float, resp_rate: float) -> None:
        if resp_rate < 2.0:  # apnoea: no new breath
            self._next_breath = None
            return
        if self._next_breath is None:
            self._next_breath = t0 + (0.0 if not self._breaths else 0.5)
        while self._next_breath < t1:
            duration = 60.0 / resp_rate * (1.0 + 0.06 * float(self._rng.standard_normal()))
            duration = max(0.8, duration)
            self._breaths.append((self._next_breath, duration))
            self._next_breath += duration
        while len(self._breaths) > 2 and self._breaths[1][0] + self._breaths[1][1] < t0:
            self._breaths.popleft()

    # ------------------------------------------------------------------ waves

    def generate(
        self,
        t0: float,
        t1: float,
        drive: Drive,
        rhythm: Rhythm,
        conditions: Conditions = Conditions(),
    ) -> SignalChunk:
        """The waves of ``[t0, t1)`` for a patient in ``drive`` with ``rhythm``."""
        if t1 < t0:
            raise ValueError(f"a chunk cannot end ({t1}) before it starts ({t0})")
        self._schedule_beats(t0, t1, drive, rhythm)
        self._schedule_breaths(t0, t1, drive.resp_rate)
        rates = self.rates
        resp = self._resp(_grid(t0, t1, rates.resp))
        ecg = self._ecg(_grid(t0, t1, rates.ecg), rhythm, drive, conditions)
        beats = [b for b in self._beats if t0 <= b[0] < t1]
        perfusing = rhythm.perfusing
        pleth_t = _grid(t0, t1, rates.pleth)
        abp_t = _grid(t0, t1, rates.abp)
        amplitude = drive.perfusion * 10.0
        pleth = self._pulses(pleth_t, _PLETH_PULSE, _PLETH_DELAY_S, perfusing)
        pleth.samples[:] = amplitude * (pleth.samples + 0.04 * self._resp_at(_times(pleth_t)))
        abp = self._pulses(abp_t, _ABP_PULSE, _ABP_DELAY_S, perfusing)
        abp.samples[:] = drive.nibp_dia + (drive.nibp_sys - drive.nibp_dia) * abp.samples
        rng = self._rng
        if conditions.motion:
            ecg.samples[:] += 0.5 * self._motion(_times(ecg))
            pleth.samples[:] += 0.8 * amplitude * self._motion(_times(pleth))
        if conditions.sensor_off:
            pleth.samples[:] = 0.0
        else:
            pleth.samples[:] += rng.normal(0.0, 0.05, pleth.samples.size)
        if conditions.lead_off:
            ecg.samples[:] = 0.0
        abp.samples[:] += rng.normal(0.0, 0.3, abp.samples.size)
        pulse_delay = _PLETH_DELAY_S
        return SignalChunk(
            t0=t0,
            t1=t1,
            ecg=ecg,
            pleth=pleth,
            resp=resp,
            abp=abp,
            r_waves=tuple(b[0] for b in beats),
            pulses=tuple(
                b[0] + pulse_delay
                for b in self._beats
                if perfusing and t0 <= b[0] + pulse_delay < t1
            ),
            breaths=tuple(s for s, _ in self._breaths if t0 <= s < t1),
        )

    def _ecg(self, grid: Wave, rhythm: Rhythm, drive: Drive, conditions: Conditions) -> Wave:
        t = _times(grid)
        out = np.zeros_like(t)
        if t.size == 0:
            return grid
        lo, hi = t[0] - _BEAT_REACH_S, t[-1] + _BEAT_REACH_S
        centres: list[float] = []
        sigmas: list[float] = []
        amps: list[float] = []
        for r_time, rr, kind in self._beats:
            if not lo <= r_time <= hi:
                continue
            q = math.sqrt(min(max(rr, 0.25), 2.0))
            for offset, sigma, amp, scales in _MORPHOLOGY[kind]:
                centres.append(r_time + (offset * q if scales else offset))
                sigmas.append(sigma * q if scales else sigma)
                amps.append(amp)
        if centres:
            c = np.asarray(centres)
            s = np.asarray(sigmas)
            z = (t[:, None] - c[None, :]) / s[None, :]
            out += np.exp(-0.5 * z * z) @ np.asarray(amps)
        out *= self._ecg_gain
        if rhythm is Rhythm.AF:  # fibrillatory waves: 5-7 Hz, irregular
            p = self._phases
            out += 0.05 * np.sin(2 * math.pi * 6.1 * t + p[2]) * np.sin(0.9 * t + p[3])
            out += 0.03 * np.sin(2 * math.pi * 4.7 * t + p[4])
        elif rhythm is Rhythm.VF:
            out += self._vf(t)
        # Breathing moves the heart's axis: a slow baseline wander with each breath.
        out += 0.06 * self._resp_at(t)
        out += self._rng.normal(0.0, 0.012, t.size)
        return Wave(grid.rate, grid.first_index, out)

    def _vf(self, t: FloatArray) -> FloatArray:
        # A chaotic wave: its frequency wanders between 4 and 6.5 Hz, its amplitude waxes
        # and wanes; the phase is carried from chunk to chunk so the wave is continuous.
        rng = self._rng
        target = float(np.clip(self._vf_freq + rng.normal(0.0, 0.4), 4.0, 6.5))
        freq = np.linspace(self._vf_freq, target, t.size) if t.size else np.zeros(0)
        self._vf_freq = target
        dt = 1.0 / self.rates.ecg
        phase = self._vf_phase + 2 * math.pi * np.cumsum(freq) * dt
        if t.size:
            self._vf_phase = float(phase[-1] % (2 * math.pi))
        amp = 0.35 + 0.2 * np.sin(2 * math.pi * 0.3 * t + self._phases[5])
        return np.asarray(amp * np.sin(phase), dtype=np.float64)

    def _pulses(
        self,
        grid: Wave,
        shape: tuple[tuple[float, float, float], ...],
        delay: float,
        perfusing: bool,
    ) -> Wave:
        t = _times(grid)
        out = np.zeros_like(t)
        if t.size == 0 or not perfusing:
            return Wave(grid.rate, grid.first_index, out)
        lo, hi = t[0] - 1.2, t[-1] + 0.1
        centres: list[float] = []
        sigmas: list[float] = []
        amps: list[float] = []
        for r_time, rr, kind in self._beats:
            arrival = r_time + delay
            if not lo <= arrival <= hi:
                continue
            scale = min(1.0, math.sqrt(max(rr, 0.25)))
            stroke = _VT_STROKE if kind == 2 else 1.0
            for offset, sigma, amp in shape:
                centres.append(arrival + offset * scale)
                sigmas.append(sigma * scale)
                amps.append(amp * stroke)
        if centres:
            c = np.asarray(centres)
            s = np.asarray(sigmas)
            z = (t[:, None] - c[None, :]) / s[None, :]
            out += np.exp(-0.5 * z * z) @ np.asarray(amps)
        np.minimum(out, 1.0, out=out)
        return Wave(grid.rate, grid.first_index, out)

    def _resp(self, grid: Wave) -> Wave:
        return Wave(grid.rate, grid.first_index, self._resp_gain * self._resp_at(_times(grid)))

    def _resp_at(self, t: FloatArray) -> FloatArray:
        """Normalised breathing (0 at end-expiration, 1 at end-inspiration) at times ``t``."""
        out = np.zeros_like(t)
        if not self._breaths or t.size == 0:
            return out
        starts = np.fromiter((s for s, _ in self._breaths), np.float64, len(self._breaths))
        durations = np.fromiter((d for _, d in self._breaths), np.float64, len(self._breaths))
        index = np.searchsorted(starts, t, side="right") - 1
        inside = index >= 0
        i = index[inside]
        tau = t[inside] - starts[i]
        total = durations[i]
        inspiration = 0.4 * total
        rising = 0.5 * (1.0 - np.cos(np.pi * np.minimum(tau, inspiration) / inspiration))
        falling = np.exp(-np.maximum(tau - inspiration, 0.0) / (0.22 * total))
        out[inside] = np.where(tau < inspiration, rising, falling)
        return out

    def _motion(self, t: FloatArray) -> FloatArray:
        p = self._phases
        return np.asarray(
            np.sin(2 * math.pi * 0.7 * t + p[6])
            + 0.6 * np.sin(2 * math.pi * 1.9 * t + p[7])
            + 0.4 * np.sin(2 * math.pi * 3.1 * t + p[5])
            + 0.3 * self._rng.standard_normal(t.size),
            dtype=np.float64,
        )


def _grid(t0: float, t1: float, rate: float) -> Wave:
    """The (empty) wave of the samples falling in ``[t0, t1)``."""
    first = math.ceil(t0 * rate - 1e-6)
    last = math.ceil(t1 * rate - 1e-6)
    return Wave(rate, first, np.zeros(max(0, last - first)))


def _times(wave: Wave) -> FloatArray:
    n = wave.samples.size
    return (np.arange(n, dtype=np.float64) + wave.first_index) / wave.rate

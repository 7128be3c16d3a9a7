"""The physiology engine: a simulated patient whose vital signs vary as a stable adult's do.

Each continuous parameter is a mean-reverting random walk (an Ornstein-Uhlenbeck process,
stepped with its exact discretisation so irregular step times are fine) around a baseline
drawn per patient; SpO2 has rare, smooth desaturation dips; the non-invasive blood pressure
is *measured* every ``nibp_interval_s`` and then held, with its measurement time, as a
monitor holds it. Everything random comes from one numpy Generator seeded per bed, so a
seed and a sequence of step times give the same vitals every run.

This module only makes numbers: it must not know HL7, sockets or the gateway. Scenarios
(deterioration, artefacts) steer a patient by replacing its ``baseline`` and ``ranges``;
waveform generators read the same :class:`Vitals`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_NIBP_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the monitor shows at ``time_s``: integers where a monitor shows integers.

    ``nibp_time_s`` is when the blood pressure shown was measured, on the same time base as
    ``time_s``; it stays the same until the next cuff measurement.
    """

    time_s: float
    heart_rate: int
    pulse_rate: int
    spo2: int
    resp_rate: int
    temperature_c: float
    nibp_sys: int
    nibp_dia: int
    nibp_mean: int
    nibp_time_s: float


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds a value is held within."""

    low: float
    high: float

    def clamp(self, value: float) -> float:
        return min(self.high, max(self.low, value))


@dataclass(frozen=True, slots=True)
class VitalRanges:
    """The bounds of each shown value: a stable patient's by default."""

    heart_rate: Range = Range(60, 100)
    spo2: Range = Range(94, 100)
    resp_rate: Range = Range(12, 20)
    temperature_c: Range = Range(36.5, 37.5)
    nibp_sys: Range = Range(95, 150)
    nibp_dia: Range = Range(55, 95)


STABLE_ADULT = VitalRanges()


@dataclass(frozen=True, slots=True)
class Baseline:
    """The values a patient's vitals revert to; a scenario moves them to steer the patient."""

    heart_rate: float
    spo2: float
    resp_rate: float
    temperature_c: float
    nibp_sys: float
    nibp_dia: float


@dataclass(frozen=True, slots=True)
class _Drift:
    """How one parameter wanders: its time constant and its spread around the baseline."""

    tau_s: float
    sd: float


_HR = _Drift(60.0, 3.0)
_SPO2 = _Drift(30.0, 0.6)
_RR = _Drift(45.0, 1.2)
_TEMP = _Drift(1800.0, 0.1)
_SYS = _Drift(600.0, 6.0)
_DIA = _Drift(600.0, 4.0)
_PULSE_SD = 0.7  # oximeter pulse rate vs ECG heart rate: same beats, a different counter
_NIBP_NOISE_SD = (3.0, 2.0)  # one cuff reading vs the underlying pressure (sys, dia)
_DIP_RATE_PER_S = 1.0 / 1200.0  # a desaturation dip every 20 minutes on average
_DIP_DEPTH = (2.0, 5.0)  # percentage points, before clamping to the range
_DIP_ONSET_TAU_S = 8.0
_DIP_RECOVERY_TAU_S = 40.0
_MIN_PULSE_PRESSURE = 20.0


def _revert(x: float, mean: float, drift: _Drift, dt: float, z: float) -> float:
    """One exact Ornstein-Uhlenbeck step of length ``dt`` driven by the normal draw ``z``."""
    decay = math.exp(-dt / drift.tau_s)
    return mean + (x - mean) * decay + drift.sd * math.sqrt(1.0 - decay * decay) * z


class Patient:
    """One simulated patient, with its own random stream.

    ``seed`` seeds ``np.random.default_rng``; a ward passes a distinct seed (or
    ``SeedSequence``) per bed. :meth:`step` must be called with the time on one time base
    (the ward uses the epoch seconds of its clock, so NIBP times can be sent as they are).
    """

    def __init__(
        self,
        seed: int | np.random.SeedSequence,
        *,
        nibp_interval_s: float = DEFAULT_NIBP_INTERVAL_S,
        ranges: VitalRanges = STABLE_ADULT,
    ) -> None:
        if nibp_interval_s <= 0:
            raise ValueError(f"nibp_interval_s must be positive, not {nibp_interval_s}")
        self._rng = np.random.default_rng(seed)
        self.nibp_interval_s = nibp_interval_s
        self.ranges = ranges
        """Bounds of the shown values; a scenario may widen them."""
        u = self._rng.random(6)
        self.baseline = Baseline(
            heart_rate=65.0 + 23.0 * u[0],
            spo2=96.5 + 2.5 * u[1],
            resp_rate=13.0 + 5.0 * u[2],
            temperature_c=36.7 + 0.5 * u[3],
            nibp_sys=105.0 + 30.0 * u[4],
            nibp_dia=62.0 + 20.0 * u[5],
        )
        """Where the vitals revert to; replace it (``dataclasses.replace``) to steer them."""
        b = self.baseline
        z = self._rng.standard_normal(6)
        self._hr = b.heart_rate + _HR.sd * z[0]
        self._spo2 = b.spo2 + _SPO2.sd * z[1]
        self._rr = b.resp_rate + _RR.sd * z[2]
        self._temp = b.temperature_c + _TEMP.sd * z[3]
        self._sys = b.nibp_sys + _SYS.sd * z[4]
        self._dia = b.nibp_dia + _DIA.sd * z[5]
        self._dip = 0.0
        self._dip_target = 0.0
        self._time_s: float | None = None
        self._next_nibp_s = 0.0
        self._nibp = (0, 0, 0)
        self._nibp_time_s = 0.0

    def step(self, now_s: float) -> Vitals:
        """Advance to ``now_s`` and return what the monitor shows then.

        Time never runs backwards here: an earlier ``now_s`` is taken as no time passing.
        """
        rng = self._rng
        if self._time_s is None:
            # The monitor was already running before we looked: its last cuff measurement
            # is somewhere in the past interval, so beds do not all measure in step.
            self._time_s = now_s
            self._next_nibp_s = now_s - self.nibp_interval_s * float(rng.random())
        dt = max(0.0, now_s - self._time_s)
        self._time_s = max(self._time_s, now_s)
        now_s = self._time_s
        b = self.baseline
        z = rng.standard_normal(7)
        self._hr = _revert(self._hr, b.heart_rate, _HR, dt, z[0])
        self._spo2 = _revert(self._spo2, b.spo2, _SPO2, dt, z[1])
        self._rr = _revert(self._rr, b.resp_rate, _RR, dt, z[2])
        self._temp = _revert(self._temp, b.temperature_c, _TEMP, dt, z[3])
        self._sys = _revert(self._sys, b.nibp_sys, _SYS, dt, z[4])
        self._dia = _revert(self._dia, b.nibp_dia, _DIA, dt, z[5])
        self._step_dip(dt)
        if now_s >= self._next_nibp_s:
            self._measure_nibp(now_s)
        r = self.ranges
        heart_rate = round(r.heart_rate.clamp(self._hr))
        sys, dia, mean = self._nibp
        return Vitals(
            time_s=now_s,
            heart_rate=heart_rate,
            pulse_rate=round(r.heart_rate.clamp(heart_rate + _PULSE_SD * z[6])),
            spo2=round(r.spo2.clamp(self._spo2 - self._dip)),
            resp_rate=round(r.resp_rate.clamp(self._rr)),
            temperature_c=round(r.temperature_c.clamp(self._temp), 1),
            nibp_sys=sys,
            nibp_dia=dia,
            nibp_mean=mean,
            nibp_time_s=self._nibp_time_s,
        )

    def _step_dip(self, dt: float) -> None:
        # A dip falls over seconds and recovers over a minute, like a real desaturation seen
        # through the oximeter's averaging; it is rare, so most of the time it is zero.
        if self._rng.random() < -math.expm1(-_DIP_RATE_PER_S * dt):
            self._dip_target = float(self._rng.uniform(*_DIP_DEPTH))
        self._dip_target *= math.exp(-dt / _DIP_RECOVERY_TAU_S)
        self._dip += (self._dip_target - self._dip) * -math.expm1(-dt / _DIP_ONSET_TAU_S)

    def _measure_nibp(self, now_s: float) -> None:
        missed = math.floor((now_s - self._next_nibp_s) / self.nibp_interval_s)
        self._nibp_time_s = self._next_nibp_s + missed * self.nibp_interval_s
        self._next_nibp_s = self._nibp_time_s + self.nibp_interval_s
        noise = self._rng.standard_normal(2)
        r = self.ranges
        sys = r.nibp_sys.clamp(self._sys + _NIBP_NOISE_SD[0] * noise[0])
        dia = r.nibp_dia.clamp(self._dia + _NIBP_NOISE_SD[1] * noise[1])
        dia = min(dia, sys - _MIN_PULSE_PRESSURE)
        sys_i, dia_i = round(sys), round(dia)
        self._nibp = (sys_i, dia_i, round(dia_i + (sys_i - dia_i) / 3))

"""The physiology engine's numbers: a simulated patient whose vital signs vary as a patient's do.

Each continuous parameter is a *level* (where the patient is heading: a baseline drawn per
patient, or a ramp a scenario asked for) plus a mean-reverting random deviation (an
Ornstein-Uhlenbeck process, stepped with its exact discretisation so irregular step times
are fine). SpO2 has rare, smooth desaturation dips; the non-invasive blood pressure is
*measured* every ``nibp_interval_s`` and then held, with its measurement time, as a monitor
holds it. Everything random comes from one numpy Generator seeded per bed, so a seed and a
sequence of step times give the same vitals every run.

This module only makes numbers: it must not know HL7, sockets, waveforms or the gateway.
:mod:`simulators.signals` turns the :class:`Drive` into waveforms and :mod:`simulators.monitor`
derives what a monitor shows from those; scenarios steer a patient with :meth:`Patient.steer`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

DEFAULT_NIBP_INTERVAL_S = 300.0


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the monitor shows at ``time_s``: integers where a monitor shows integers.

    ``None`` is a value the monitor cannot measure now (a sensor off, no pulse): it is sent
    as invalid, never as a number. ``nibp_time_s`` is when the blood pressure shown was
    measured, on the same time base as ``time_s``; it stays the same until the next cuff
    measurement. ``abp`` (systolic, diastolic, mean) is there only with an arterial line.
    """

    time_s: float
    heart_rate: int | None
    pulse_rate: int | None
    spo2: int | None
    resp_rate: int | None
    temperature_c: float
    nibp_sys: int
    nibp_dia: int
    nibp_mean: int
    nibp_time_s: float
    abp: tuple[int, int, int] | None = None
    perfusion_index: float | None = None


@dataclass(frozen=True, slots=True)
class Range:
    """Inclusive bounds a value is held within."""

    low: float
    high: float

    def clamp(self, value: float) -> float:
        return min(self.high, max(self.low, value))

    def including(self, value: float, margin: float) -> Range:
        return Range(min(self.low, value - margin), max(self.high, value + margin))


@dataclass(frozen=True, slots=True)
class VitalRanges:
    """The bounds of each shown value: a stable patient's by default.

    A scenario that steers a parameter outside them widens that parameter's range (see
    :meth:`Patient.steer`); :data:`SURVIVABLE` bounds everything whatever is asked.
    """

    heart_rate: Range = Range(60, 100)
    spo2: Range = Range(94, 100)
    resp_rate: Range = Range(12, 20)
    temperature_c: Range = Range(36.5, 37.5)
    nibp_sys: Range = Range(95, 150)
    nibp_dia: Range = Range(55, 95)
    perfusion: Range = Range(0.8, 8.0)


STABLE_ADULT = VitalRanges()
SURVIVABLE = VitalRanges(
    heart_rate=Range(0, 300),
    spo2=Range(0, 100),
    resp_rate=Range(0, 80),
    temperature_c=Range(25.0, 43.0),
    nibp_sys=Range(0, 300),
    nibp_dia=Range(0, 250),
    perfusion=Range(0.0, 20.0),
)


@dataclass(frozen=True, slots=True)
class Baseline:
    """The values a patient's vitals revert to when no scenario steers them."""

    heart_rate: float
    spo2: float
    resp_rate: float
    temperature_c: float
    nibp_sys: float
    nibp_dia: float
    perfusion: float = 3.0
    """Perfusion index (%), the pulsatile share of the oximeter's light: pleth amplitude."""


PARAMETERS = tuple(f.name for f in fields(Baseline))
"""The names a scenario may steer."""


@dataclass(frozen=True, slots=True)
class Drive:
    """The patient's continuous state at one moment: what the signal generators follow."""

    heart_rate: float
    spo2: float
    resp_rate: float
    temperature_c: float
    nibp_sys: float
    nibp_dia: float
    perfusion: float


@dataclass(frozen=True, slots=True)
class _Drift:
    """How one parameter wanders: its time constant and its spread around the level."""

    tau_s: float
    sd: float


_DRIFT = {
    "heart_rate": _Drift(60.0, 3.0),
    "spo2": _Drift(30.0, 0.6),
    "resp_rate": _Drift(45.0, 1.2),
    "temperature_c": _Drift(1800.0, 0.1),
    "nibp_sys": _Drift(600.0, 6.0),
    "nibp_dia": _Drift(600.0, 4.0),
    "perfusion": _Drift(120.0, 0.3),
}
_PULSE_SD = 0.7  # oximeter pulse rate vs ECG heart rate: same beats, a different counter
_NIBP_NOISE_SD = (3.0, 2.0)  # one cuff reading vs the underlying pressure (sys, dia)
_DIP_RATE_PER_S = 1.0 / 1200.0  # a desaturation dip every 20 minutes on average
_DIP_DEPTH = (2.0, 5.0)  # percentage points, before clamping to the range
_DIP_ONSET_TAU_S = 8.0
_DIP_RECOVERY_TAU_S = 40.0
_MIN_PULSE_PRESSURE = 20.0


@dataclass(frozen=True, slots=True)
class _Ramp:
    """A level moving linearly from ``start`` to ``target`` over [t0, t0 + duration]."""

    t0: float
    start: float
    target: float
    duration: float

    def at(self, t: float) -> float:
        if self.duration <= 0 or t >= self.t0 + self.duration:
            return self.target
        if t <= self.t0:
            return self.start
        return self.start + (self.target - self.start) * (t - self.t0) / self.duration


def _revert(x: float, drift: _Drift, dt: float, z: float, scale: float) -> float:
    """One exact OU step of a deviation around 0, of length ``dt``, driven by the draw ``z``."""
    decay = math.exp(-dt / drift.tau_s)
    return x * decay + scale * drift.sd * math.sqrt(1.0 - decay * decay) * z


class Patient:
    """One simulated patient, with its own random stream.

    ``seed`` seeds ``np.random.default_rng``; a ward passes a distinct seed (or
    ``SeedSequence``) per bed. :meth:`step` must be called with times on one time base
    (seconds; a ward uses seconds since its start, tests may use epoch seconds).
    ``variability`` scales the random wandering (0: the vitals sit exactly on their level,
    which is what a test of a target heart rate wants).
    """

    def __init__(
        self,
        seed: int | np.random.SeedSequence,
        *,
        nibp_interval_s: float = DEFAULT_NIBP_INTERVAL_S,
        ranges: VitalRanges = STABLE_ADULT,
        variability: float = 1.0,
    ) -> None:
        if nibp_interval_s <= 0:
            raise ValueError(f"nibp_interval_s must be positive, not {nibp_interval_s}")
        if variability < 0:
            raise ValueError(f"variability cannot be negative: {variability}")
        self._rng = np.random.default_rng(seed)
        self.nibp_interval_s = nibp_interval_s
        self.ranges = ranges
        """Bounds of the shown values; :meth:`steer` widens them as needed."""
        self.variability = variability
        u = self._rng.random(7)
        self.baseline = Baseline(
            heart_rate=65.0 + 23.0 * u[0],
            spo2=96.5 + 2.5 * u[1],
            resp_rate=13.0 + 5.0 * u[2],
            temperature_c=36.7 + 0.5 * u[3],
            nibp_sys=105.0 + 30.0 * u[4],
            nibp_dia=62.0 + 20.0 * u[5],
            perfusion=1.5 + 3.0 * u[6],
        )
        """Where the vitals revert to; replace it (``dataclasses.replace``) to steer them."""
        z = self._rng.standard_normal(len(PARAMETERS))
        self._deviation = {
            name: variability * _DRIFT[name].sd * float(z[i]) for i, name in enumerate(PARAMETERS)
        }
        self._ramps: dict[str, _Ramp] = {}
        self._dip = 0.0
        self._dip_target = 0.0
        self._time_s: float | None = None
        self._next_nibp_s = 0.0
        self._nibp = (0, 0, 0)
        self._nibp_time_s = 0.0
        self._drive: Drive | None = None

    # ------------------------------------------------------------------ steering

    def level(self, name: str, t: float | None = None) -> float:
        """Where parameter ``name`` is heading at ``t`` (default: the last step's time)."""
        ramp = self._ramps.get(name)
        if ramp is None:
            return float(getattr(self.baseline, name))
        return ramp.at(self._time_s or 0.0 if t is None else t)

    def steer(
        self, name: str, target: float, over_s: float = 0.0, at_s: float | None = None
    ) -> None:
        """Move parameter ``name`` from where it is heading now to ``target`` over ``over_s``.

        The deviation around the level goes on, so a steered patient still looks alive; the
        parameter's shown range widens to take in the target.
        """
        if name not in PARAMETERS:
            raise ValueError(f"unknown parameter {name!r}; known: {', '.join(PARAMETERS)}")
        t0 = self._time_s if at_s is None else at_s
        t0 = 0.0 if t0 is None else t0
        self._ramps[name] = _Ramp(t0, self.level(name, t0), float(target), max(0.0, over_s))
        current: Range = getattr(self.ranges, name)
        widened = current.including(float(target), 3.0 * _DRIFT[name].sd)
        limit: Range = getattr(SURVIVABLE, name)
        widened = Range(max(limit.low, widened.low), min(limit.high, widened.high))
        self.ranges = _replace_range(self.ranges, name, widened)

    @property
    def drive(self) -> Drive:
        """The continuous state at the last step (before rounding to what a monitor shows)."""
        if self._drive is None:
            raise RuntimeError("the patient has not been stepped yet")
        return self._drive

    # ------------------------------------------------------------------ time

    def step(self, now_s: float) -> Vitals:
        """Advance to ``now_s`` and return what a monitor shows then.

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
        z = rng.standard_normal(len(PARAMETERS) + 1)
        scale = self.variability
        deviation = self._deviation
        for i, name in enumerate(PARAMETERS):
            deviation[name] = _revert(deviation[name], _DRIFT[name], dt, float(z[i]), scale)
        self._step_dip(dt)
        r = self.ranges
        lvl = self.level
        sys_now = r.nibp_sys.clamp(lvl("nibp_sys", now_s) + deviation["nibp_sys"])
        dia_now = r.nibp_dia.clamp(lvl("nibp_dia", now_s) + deviation["nibp_dia"])
        self._drive = Drive(
            heart_rate=r.heart_rate.clamp(lvl("heart_rate", now_s) + deviation["heart_rate"]),
            spo2=r.spo2.clamp(lvl("spo2", now_s) + deviation["spo2"] - self._dip),
            resp_rate=r.resp_rate.clamp(lvl("resp_rate", now_s) + deviation["resp_rate"]),
            temperature_c=r.temperature_c.clamp(
                lvl("temperature_c", now_s) + deviation["temperature_c"]
            ),
            nibp_sys=sys_now,
            nibp_dia=min(dia_now, sys_now - _MIN_PULSE_PRESSURE * min(1.0, sys_now / 60.0)),
            perfusion=r.perfusion.clamp(lvl("perfusion", now_s) + deviation["perfusion"]),
        )
        if now_s >= self._next_nibp_s:
            self._measure_nibp(now_s)
        d = self._drive
        heart_rate = round(d.heart_rate)
        sys, dia, mean = self._nibp
        return Vitals(
            time_s=now_s,
            heart_rate=heart_rate,
            pulse_rate=round(r.heart_rate.clamp(heart_rate + scale * _PULSE_SD * z[-1])),
            spo2=round(d.spo2),
            resp_rate=round(d.resp_rate),
            temperature_c=round(d.temperature_c, 1),
            nibp_sys=sys,
            nibp_dia=dia,
            nibp_mean=mean,
            nibp_time_s=self._nibp_time_s,
            perfusion_index=round(d.perfusion, 2),
        )

    def _step_dip(self, dt: float) -> None:
        # A dip falls over seconds and recovers over a minute, like a real desaturation seen
        # through the oximeter's averaging; it is rare, so most of the time it is zero.
        if self._rng.random() < -math.expm1(-_DIP_RATE_PER_S * dt) and self.variability > 0:
            self._dip_target = self.variability * float(self._rng.uniform(*_DIP_DEPTH))
        self._dip_target *= math.exp(-dt / _DIP_RECOVERY_TAU_S)
        self._dip += (self._dip_target - self._dip) * -math.expm1(-dt / _DIP_ONSET_TAU_S)

    def _measure_nibp(self, now_s: float) -> None:
        missed = math.floor((now_s - self._next_nibp_s) / self.nibp_interval_s)
        self._nibp_time_s = self._next_nibp_s + missed * self.nibp_interval_s
        self._next_nibp_s = self._nibp_time_s + self.nibp_interval_s
        noise = self._rng.standard_normal(2) * self.variability
        d = self.drive
        r = self.ranges
        sys = r.nibp_sys.clamp(d.nibp_sys + _NIBP_NOISE_SD[0] * noise[0])
        dia = r.nibp_dia.clamp(d.nibp_dia + _NIBP_NOISE_SD[1] * noise[1])
        dia = max(0.0, min(dia, sys - _MIN_PULSE_PRESSURE * min(1.0, sys / 60.0)))
        sys_i, dia_i = round(sys), round(dia)
        self._nibp = (sys_i, dia_i, round(dia_i + (sys_i - dia_i) / 3))


def _replace_range(ranges: VitalRanges, name: str, value: Range) -> VitalRanges:
    values = {f.name: getattr(ranges, f.name) for f in fields(VitalRanges)}
    values[name] = value
    return VitalRanges(**values)

"""A simulated bedside monitor's inside: patient, waves, what it shows and what it alarms on.

:class:`MonitorModel` plays a :class:`~simulators.scenario.BedScenario` on simulated time:
each :meth:`MonitorModel.advance` moves ``dt`` seconds on, splitting the interval at the
scenario's events so that a rhythm change or an artefact starts at its scripted time to
the sample, and returns a :class:`Readout`: the waves of the interval, the vitals the
monitor shows at its end, the alarm updates it raises, and whether the device is
connected. The numbers are derived from the signals, as a monitor derives them: the heart
rate from the R-R intervals, the pulse rate from the pulses reaching the finger, the
respiration rate from the breaths, the arterial pressures from the pressure wave.

Simulated time starts at 0 and moves only when :meth:`advance` is called, so tests drive it
with no clock at all and a seed gives the same readouts every run. This module must not
know wire formats or sockets: emitters encode a :class:`Readout`.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from simulators.alarms import AlarmLimits, AlarmUpdate, BedsideState, DeviceAlarms
from simulators.physiology import Patient, Vitals
from simulators.scenario import (
    Artefact,
    BedScenario,
    Change,
    Disconnect,
    Event,
    SetRhythm,
)
from simulators.signals import Conditions, Rhythm, SignalChunk, SignalGenerator, Wave, WaveRates

# Rates a rhythm brings when the scenario names none (beats/min), and how fast (s).
_RHYTHM_RATES = {Rhythm.TACHYCARDIA: 135.0, Rhythm.BRADYCARDIA: 40.0, Rhythm.VT: 180.0}
_RHYTHM_RAMP_S = {Rhythm.TACHYCARDIA: 20.0, Rhythm.BRADYCARDIA: 15.0, Rhythm.VT: 0.0}

_HR_WINDOW_S = 10.0  # R waves counted over this long
_HR_BEATS = 8  # at most this many R-R intervals averaged
_ASYSTOLE_AFTER_S = 4.0  # no R wave for this long: the heart rate is 0
_PULSE_LOST_AFTER_S = 6.0  # no pulse at the finger for this long: SpO2 cannot be shown
_APNEA_AFTER_S = 20.0  # no breath for this long: the respiration rate is 0
_BREATHS = 4


@dataclass(frozen=True, slots=True)
class Readout:
    """What a monitor puts out for the interval ``[t0, t1)`` of simulated time."""

    t0: float
    t1: float
    vitals: Vitals
    """What it shows at ``t1`` (``vitals.time_s == t1``, NIBP time on the same base)."""
    ecg: Wave
    pleth: Wave
    resp: Wave
    abp: Wave | None
    """Only with an arterial line."""
    alarms: tuple[AlarmUpdate, ...]
    connected: bool
    """False while a scenario keeps the device silent: an emitter sends nothing then."""
    rhythm: Rhythm
    lead_off: bool
    sensor_off: bool


class MonitorModel:
    """One bed's monitor playing ``scenario``, deterministic for a ``seed``."""

    def __init__(
        self,
        scenario: BedScenario,
        seed: int | np.random.SeedSequence,
        *,
        rates: WaveRates | None = None,
        limits: AlarmLimits | None = None,
        alarm_id_prefix: str = "A",
        warmup_s: float = 8.0,
    ) -> None:
        streams = (
            seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        ).spawn(2)
        setup = scenario.patient
        self.scenario = scenario
        self.patient = Patient(
            streams[0], nibp_interval_s=setup.nibp_interval_s, variability=setup.variability
        )
        for name, value in setup.values.items():
            self.patient.steer(name, value, 0.0, at_s=0.0)
        self.signals = SignalGenerator(streams[1], rates)
        self.arterial_line = setup.arterial_line
        self.alarms = DeviceAlarms(alarm_id_prefix, limits or AlarmLimits())
        self.time_s = 0.0
        self.rhythm = setup.rhythm
        self._perfusing_levels: dict[str, float] | None = None
        if not self.rhythm.perfusing:
            self._arrest(0.0)
        elif self.rhythm in _RHYTHM_RATES:
            self.patient.steer("heart_rate", _RHYTHM_RATES[self.rhythm], 0.0, at_s=0.0)
        self._artefacts: dict[str, float] = {}  # kind → until
        self._silent_until = -math.inf
        self._events = _Timeline(scenario)
        self._r_waves: deque[float] = deque(maxlen=_HR_BEATS + 1)
        self._pulses: deque[float] = deque(maxlen=_HR_BEATS + 1)
        self._breaths: deque[float] = deque(maxlen=_BREATHS + 1)
        self._abp_recent = np.zeros(0)
        if warmup_s > 0:
            # The monitor was on before we looked: it has counted beats and breaths already,
            # so its first report carries every number, as a real one's would.
            self.time_s = -warmup_s
            self._run_to(0.0)
            self.time_s = 0.0

    @property
    def connected(self) -> bool:
        return self.time_s >= self._silent_until

    def artefact_active(self, kind: str) -> bool:
        return self._artefacts.get(kind, -math.inf) > self.time_s

    def advance(self, dt: float) -> Readout:
        """Move ``dt`` seconds on; the scenario's events in between happen on time."""
        if dt <= 0:
            raise ValueError(f"dt must be positive, not {dt}")
        t0 = self.time_s
        t1 = t0 + dt
        chunks = self._run_to(t1)
        vitals = self._vitals(t1)
        state = BedsideState(
            self.rhythm, self.artefact_active("lead_off"), self.artefact_active("sensor_off")
        )
        alarms = self.alarms.evaluate(t1, vitals, state)
        return Readout(
            t0=t0,
            t1=t1,
            vitals=vitals,
            ecg=_join([c.ecg for c in chunks]),
            pleth=_join([c.pleth for c in chunks]),
            resp=_join([c.resp for c in chunks]),
            abp=_join([c.abp for c in chunks]) if self.arterial_line else None,
            alarms=tuple(alarms),
            connected=self.connected,
            rhythm=self.rhythm,
            lead_off=state.lead_off,
            sensor_off=state.sensor_off,
        )

    def _run_to(self, t1: float) -> list[SignalChunk]:
        chunks: list[SignalChunk] = []
        t = self.time_s
        while True:
            for event in self._events.due(t):
                self._apply(event, t)
            nxt = self._events.next_time()
            end = t1 if nxt is None or nxt >= t1 else max(nxt, t)
            chunks.append(self._generate(t, end))
            t = end
            if t >= t1:
                break
        self.time_s = t1
        for kind in [k for k, until in self._artefacts.items() if until <= t1]:
            del self._artefacts[kind]
        return chunks

    # ------------------------------------------------------------------ scenario

    def _apply(self, event: Event, t: float) -> None:
        action = event.action
        if isinstance(action, Change):
            self.patient.steer(action.parameter, action.to, action.over_s, at_s=t)
            if self._perfusing_levels is not None and action.parameter in self._perfusing_levels:
                self._perfusing_levels[action.parameter] = action.to
        elif isinstance(action, SetRhythm):
            self._set_rhythm(action.rhythm, action.rate, t)
        elif isinstance(action, Artefact):
            self._artefacts[action.kind] = max(
                self._artefacts.get(action.kind, t), t + action.duration_s
            )
        elif isinstance(action, Disconnect):
            self._silent_until = max(self._silent_until, t + action.duration_s)

    def _set_rhythm(self, rhythm: Rhythm, rate: float | None, t: float) -> None:
        was_perfusing = self.rhythm.perfusing
        self.rhythm = rhythm
        if not rhythm.perfusing:
            if was_perfusing:
                self._arrest(t)
            return
        if not was_perfusing and self._perfusing_levels is not None:
            # Return of spontaneous circulation: the pressures and breathing come back.
            for name, level in self._perfusing_levels.items():
                self.patient.steer(name, level, 60.0, at_s=t)
            self._perfusing_levels = None
        target = rate if rate is not None else _RHYTHM_RATES.get(rhythm)
        if target is not None:
            self.patient.steer("heart_rate", target, _RHYTHM_RAMP_S.get(rhythm, 10.0), at_s=t)
        if rhythm is Rhythm.VT:
            # A fast VT barely fills the heart: pressure and perfusion fall.
            self.patient.steer("nibp_sys", 75.0, 30.0, at_s=t)
            self.patient.steer("nibp_dia", 45.0, 30.0, at_s=t)
            self.patient.steer("perfusion", 0.5, 30.0, at_s=t)

    def _arrest(self, t: float) -> None:
        """No cardiac output: pressures collapse, breathing stops, SpO2 falls unseen."""
        p = self.patient
        names = ("nibp_sys", "nibp_dia", "resp_rate", "perfusion", "spo2")
        self._perfusing_levels = {n: p.level(n, t) for n in names}
        p.steer("nibp_sys", 22.0, 20.0, at_s=t)
        p.steer("nibp_dia", 16.0, 20.0, at_s=t)
        p.steer("resp_rate", 0.0, 30.0, at_s=t)
        p.steer("perfusion", 0.0, 10.0, at_s=t)
        p.steer("spo2", 55.0, 120.0, at_s=t)

    # ------------------------------------------------------------------ signals → numbers

    def _generate(self, t0: float, t1: float) -> SignalChunk:
        self.patient.step(t0)
        conditions = Conditions(
            lead_off=self._artefacts.get("lead_off", -math.inf) > t0,
            sensor_off=self._artefacts.get("sensor_off", -math.inf) > t0,
            motion=self._artefacts.get("motion", -math.inf) > t0,
        )
        drive = self.patient.drive
        if self.patient.level("resp_rate", t0) < 2.0:
            drive = replace(drive, resp_rate=0.0)  # apnoea is apnoea, whatever the wander
        chunk = self.signals.generate(t0, t1, drive, self.rhythm, conditions)
        self._r_waves.extend(chunk.r_waves)
        if not conditions.sensor_off:
            self._pulses.extend(chunk.pulses)
        else:
            self._pulses.clear()
        self._breaths.extend(chunk.breaths)
        if self.arterial_line:
            keep = int(2 * chunk.abp.rate)
            self._abp_recent = np.concatenate((self._abp_recent, chunk.abp.samples))[-keep:]
        return chunk

    def _vitals(self, now: float) -> Vitals:
        shown = self.patient.step(now)
        lead_off = self.artefact_active("lead_off")
        sensor_off = self.artefact_active("sensor_off")
        heart_rate = None if lead_off else self._rate_from(self._r_waves, now, _ASYSTOLE_AFTER_S)
        if heart_rate is not None and self.rhythm is Rhythm.VF:
            heart_rate = None  # fibrillation has no beats to count
        pulse_rate = None
        spo2 = None
        pulses_seen = self._pulses and now - self._pulses[-1] <= _PULSE_LOST_AFTER_S
        if not sensor_off and pulses_seen:
            pulse_rate = self._rate_from(self._pulses, now, _PULSE_LOST_AFTER_S)
            spo2 = shown.spo2
        resp_rate = None if lead_off else self._resp_rate(now, shown.resp_rate)
        abp = None
        if self.arterial_line and self._abp_recent.size:
            wave = self._abp_recent
            abp = (round(float(wave.max())), round(float(wave.min())), round(float(wave.mean())))
        return replace(
            shown,
            heart_rate=heart_rate,
            pulse_rate=pulse_rate,
            spo2=spo2,
            resp_rate=resp_rate,
            abp=abp,
            perfusion_index=shown.perfusion_index if spo2 is not None else None,
        )

    def _rate_from(self, times: deque[float], now: float, silent_after: float) -> int | None:
        """Beats per minute from the intervals between the event ``times`` seen lately."""
        recent = [t for t in times if now - t <= _HR_WINDOW_S]
        if not recent or now - recent[-1] > silent_after:
            # No beat for seconds: the rate is 0, unless the monitor has just started.
            return 0 if now > silent_after else None
        if len(recent) < 2:
            return None
        intervals = np.diff(recent)
        return round(60.0 / float(intervals.mean()))

    def _resp_rate(self, now: float, shown: int | None) -> int | None:
        breaths = list(self._breaths)
        if not breaths or now - breaths[-1] > _APNEA_AFTER_S:
            return 0 if now > _APNEA_AFTER_S else shown
        if len(breaths) < 2:
            return shown
        return round(60.0 / float(np.diff(breaths).mean()))


class _Timeline:
    """The scenario's events in time order, replayed every ``repeat_every_s`` if asked."""

    def __init__(self, scenario: BedScenario) -> None:
        self._events = scenario.events
        self._period = scenario.repeat_every_s
        self._cycle = 0
        self._index = 0

    def _time(self, index: int) -> float:
        offset = self._cycle * self._period if self._period else 0.0
        return self._events[index].at_s + offset

    def next_time(self) -> float | None:
        if not self._events:
            return None
        if self._index >= len(self._events):
            if not self._period:
                return None
            self._cycle += 1
            self._index = 0
        return self._time(self._index)

    def due(self, t: float) -> list[Event]:
        """The events at or before ``t`` not yet handed out."""
        due: list[Event] = []
        while (nxt := self.next_time()) is not None and nxt <= t:
            due.append(self._events[self._index])
            self._index += 1
        return due


def _join(waves: list[Wave]) -> Wave:
    if len(waves) == 1:
        return waves[0]
    samples = np.concatenate([w.samples for w in waves])
    return Wave(waves[0].rate, waves[0].first_index, samples)

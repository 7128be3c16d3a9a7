"""A simulated monitor's own alarms: limit, arrhythmia and technical alarms, start to end.

Each alarm condition is checked every time the monitor updates. A condition held for its
delay starts an alarm (a new alarm id, phase ``start``, state ``active``); while it holds
the alarm is repeated every ``continue_every_s`` (phase ``continue``); once it has been
clear for ``clear_after_s`` the alarm ends (phase ``end``, state ``inactive``). Priorities
and kinds follow IEC 60601-1-8 practice: life-threatening arrhythmias high, limit
violations medium, technical alarms medium or low. Codes are MDC (ISO/IEEE 11073-10101):
events from partition 3 (``MDC_EVT_*``); VT and VF, whose own event codes we could not
confirm from a public source, are sent as ``MDC_EVT_ECG_ARRHY`` with their name as text.

This module decides *what* the monitor alarms on; it must not encode HL7 (``pcd04`` does)
nor look at waveforms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulators.physiology import Vitals
from simulators.signals import Rhythm

PRIORITY_HIGH, PRIORITY_MEDIUM, PRIORITY_LOW = "PH", "PM", "PL"
PHYSIOLOGICAL, TECHNICAL, ADVISORY = "SP", "ST", "SA"


@dataclass(frozen=True, slots=True)
class Code:
    """An MDC code with its reference id."""

    code: int
    refid: str

    def cwe(self) -> str:
        return f"{self.code}^{self.refid}^MDC"


EVT_ALARM = Code(196616, "MDC_EVT_ALARM")
EVT_HI = Code(196648, "MDC_EVT_HI")
EVT_LO = Code(196670, "MDC_EVT_LO")
EVT_SENSOR_DISCONN = Code(196916, "MDC_EVT_SENSOR_DISCONN")
EVT_APNEA = Code(199680, "MDC_EVT_APNEA")  # 3:3072
EVT_ASYSTOLE = Code(199684, "MDC_EVT_ECG_ASYSTOLE")  # 3:3076
EVT_ATR_FIB = Code(199736, "MDC_EVT_ECG_ATR_FIB")  # 3:3128
EVT_ARRHY = Code(199874, "MDC_EVT_ECG_ARRHY")  # 3:3266

HEART_RATE = Code(147842, "MDC_ECG_HEART_RATE")
RESP_RATE = Code(151562, "MDC_RESP_RATE")
SPO2 = Code(150456, "MDC_PULS_OXIM_SAT_O2")
NIBP_SYS = Code(150021, "MDC_PRESS_BLD_NONINV_SYS")
ABP_SYS = Code(150037, "MDC_PRESS_BLD_ART_ABP_SYS")
ECG_CHAN = Code(69799, "MDC_DEV_ECG_CHAN")
SPO2_CHAN = Code(69643, "MDC_DEV_ANALY_SAT_O2_CHAN")

UNITS = {
    HEART_RATE.code: "264864^MDC_DIM_BEAT_PER_MIN^MDC",
    RESP_RATE.code: "264928^MDC_DIM_RESP_PER_MIN^MDC",
    SPO2.code: "262688^MDC_DIM_PERCENT^MDC",
    NIBP_SYS.code: "266016^MDC_DIM_MMHG^MDC",
    ABP_SYS.code: "266016^MDC_DIM_MMHG^MDC",
}


@dataclass(frozen=True, slots=True)
class AlarmLimits:
    """The monitor's alarm limits (adult defaults of a typical ICU monitor)."""

    heart_rate: tuple[float, float] = (50, 120)
    spo2_low: float = 90
    resp_rate: tuple[float, float] = (8, 30)
    nibp_sys: tuple[float, float] = (90, 160)
    abp_sys: tuple[float, float] = (90, 160)


@dataclass(frozen=True, slots=True)
class BedsideState:
    """What the alarm checks look at besides the shown vitals."""

    rhythm: Rhythm
    lead_off: bool
    sensor_off: bool


@dataclass(frozen=True, slots=True)
class AlarmUpdate:
    """One alarm message's content: an alarm's start, continuation or end."""

    alarm_id: str
    """Stable for the alarm's whole life (OBR-3 of every message about it)."""
    key: str
    event: Code
    text: str
    source: Code
    """The parameter (or channel, for technical alarms) that alarmed."""
    source_sub_id: str
    """Where ``source`` sits in the monitor's containment tree (OBX-4 prefix)."""
    priority: str
    kind: str
    phase: str
    state: str
    time_s: float
    value: float | None = None
    limits: tuple[float | None, float | None] | None = None
    inactivation: str = "enabled"

    @property
    def technical(self) -> bool:
        return self.kind == TECHNICAL


@dataclass(frozen=True, slots=True)
class _Definition:
    key: str
    event: Code
    text: str
    source: Code
    source_sub_id: str
    priority: str
    kind: str
    delay_s: float


_DEFINITIONS = {
    d.key: d
    for d in (
        _Definition("asystole", EVT_ASYSTOLE, "Asystole", HEART_RATE, "1.1.1.1", "PH", "SP", 0),
        _Definition("vf", EVT_ARRHY, "VFib", HEART_RATE, "1.1.1.1", "PH", "SP", 2),
        _Definition("vt", EVT_ARRHY, "VTach", HEART_RATE, "1.1.1.1", "PH", "SP", 2),
        _Definition("af", EVT_ATR_FIB, "AFib", HEART_RATE, "1.1.1.1", "PL", "SP", 10),
        _Definition("hr_high", EVT_HI, "HR high", HEART_RATE, "1.1.1.1", "PM", "SP", 5),
        _Definition("hr_low", EVT_LO, "HR low", HEART_RATE, "1.1.1.1", "PM", "SP", 5),
        _Definition("apnea", EVT_APNEA, "Apnea", RESP_RATE, "1.1.1.2", "PH", "SP", 0),
        _Definition("rr_high", EVT_HI, "RR high", RESP_RATE, "1.1.1.2", "PM", "SP", 10),
        _Definition("rr_low", EVT_LO, "RR low", RESP_RATE, "1.1.1.2", "PM", "SP", 10),
        _Definition("spo2_low", EVT_LO, "SpO2 low", SPO2, "1.2.1.1", "PM", "SP", 5),
        _Definition("nibp_high", EVT_HI, "NIBP sys high", NIBP_SYS, "1.3.1.1", "PM", "SP", 0),
        _Definition("nibp_low", EVT_LO, "NIBP sys low", NIBP_SYS, "1.3.1.1", "PM", "SP", 0),
        _Definition("abp_high", EVT_HI, "ABP sys high", ABP_SYS, "1.5.1.1", "PM", "SP", 5),
        _Definition("abp_low", EVT_LO, "ABP sys low", ABP_SYS, "1.5.1.1", "PM", "SP", 5),
        _Definition("leads_off", EVT_SENSOR_DISCONN, "ECG leads off", ECG_CHAN, "1.1.1.0",
                    "PM", "ST", 2),
        _Definition("spo2_sensor_off", EVT_SENSOR_DISCONN, "SpO2 sensor off", SPO2_CHAN,
                    "1.2.1.0", "PM", "ST", 2),
    )
}  # fmt: skip


@dataclass(slots=True)
class _Active:
    alarm_id: str
    last_sent_s: float
    clear_since_s: float | None = None


@dataclass(slots=True)
class DeviceAlarms:
    """The alarm state of one monitor; :meth:`evaluate` returns the updates to send."""

    id_prefix: str
    limits: AlarmLimits = field(default_factory=AlarmLimits)
    continue_every_s: float = 10.0
    clear_after_s: float = 2.0
    _pending: dict[str, float] = field(default_factory=dict)
    _active: dict[str, _Active] = field(default_factory=dict)
    _count: int = 0

    @property
    def active(self) -> dict[str, str]:
        """Alarm key → alarm id of every alarm active now."""
        return {key: a.alarm_id for key, a in self._active.items()}

    def evaluate(self, now_s: float, vitals: Vitals, state: BedsideState) -> list[AlarmUpdate]:
        conditions = self._conditions(vitals, state)
        updates: list[AlarmUpdate] = []
        for key, definition in _DEFINITIONS.items():
            holding, value, limits = conditions.get(key, (False, None, None))
            active = self._active.get(key)
            if holding:
                since = self._pending.setdefault(key, now_s)
                if active is None and now_s - since >= definition.delay_s:
                    self._count += 1
                    alarm_id = f"{self.id_prefix}{self._count:05d}"
                    self._active[key] = _Active(alarm_id, now_s)
                    updates.append(
                        self._update(
                            definition, alarm_id, "start", now_s, value=value, limits=limits
                        )
                    )
                elif active is not None:
                    active.clear_since_s = None
                    if now_s - active.last_sent_s >= self.continue_every_s:
                        active.last_sent_s = now_s
                        update = self._update(
                            definition, active.alarm_id, "continue", now_s, value=value,
                            limits=limits,
                        )  # fmt: skip
                        updates.append(update)
                continue
            self._pending.pop(key, None)
            if active is None:
                continue
            if active.clear_since_s is None:
                active.clear_since_s = now_s
            if now_s - active.clear_since_s >= self.clear_after_s:
                del self._active[key]
                updates.append(
                    self._update(
                        definition, active.alarm_id, "end", now_s, value=value, limits=limits
                    )
                )
        return updates

    def _update(
        self,
        d: _Definition,
        alarm_id: str,
        phase: str,
        now_s: float,
        *,
        value: float | None,
        limits: tuple[float | None, float | None] | None,
    ) -> AlarmUpdate:
        return AlarmUpdate(
            alarm_id=alarm_id,
            key=d.key,
            event=d.event,
            text=d.text,
            source=d.source,
            source_sub_id=d.source_sub_id,
            priority=d.priority,
            kind=d.kind,
            phase=phase,
            state="inactive" if phase == "end" else "active",
            time_s=now_s,
            value=value,
            limits=limits,
        )

    def _conditions(
        self, v: Vitals, s: BedsideState
    ) -> dict[str, tuple[bool, float | None, tuple[float | None, float | None] | None]]:
        lim = self.limits
        hr, rr, spo2 = v.heart_rate, v.resp_rate, v.spo2
        ecg_seen = not s.lead_off
        rhythm = s.rhythm
        lethal = rhythm in (Rhythm.VT, Rhythm.VF, Rhythm.ASYSTOLE)
        hr_limits = (lim.heart_rate[0], lim.heart_rate[1])
        rr_limits = (lim.resp_rate[0], lim.resp_rate[1])
        nibp = float(v.nibp_sys) if v.nibp_sys else None
        out: dict[str, tuple[bool, float | None, tuple[float | None, float | None] | None]] = {
            "asystole": (ecg_seen and rhythm is Rhythm.ASYSTOLE and hr == 0, hr, None),
            "vf": (ecg_seen and rhythm is Rhythm.VF, None, None),
            "vt": (ecg_seen and rhythm is Rhythm.VT, hr, None),
            "af": (ecg_seen and rhythm is Rhythm.AF, hr, None),
            "hr_high": (not lethal and hr is not None and hr > lim.heart_rate[1], hr, hr_limits),
            "hr_low": (not lethal and hr is not None and 0 < hr < lim.heart_rate[0], hr, hr_limits),
            "apnea": (rr == 0, rr, rr_limits),
            "rr_high": (rr is not None and rr > lim.resp_rate[1], rr, rr_limits),
            "rr_low": (rr is not None and 0 < rr < lim.resp_rate[0], rr, rr_limits),
            "spo2_low": (spo2 is not None and spo2 < lim.spo2_low, spo2, (lim.spo2_low, None)),
            "nibp_high": (nibp is not None and nibp > lim.nibp_sys[1], nibp, lim.nibp_sys),
            "nibp_low": (nibp is not None and nibp < lim.nibp_sys[0], nibp, lim.nibp_sys),
            "leads_off": (s.lead_off, None, None),
            "spo2_sensor_off": (s.sensor_off, None, None),
        }
        if v.abp is not None:
            abp = float(v.abp[0])
            out["abp_high"] = (abp > lim.abp_sys[1], abp, lim.abp_sys)
            out["abp_low"] = (abp < lim.abp_sys[0], abp, lim.abp_sys)
        return out

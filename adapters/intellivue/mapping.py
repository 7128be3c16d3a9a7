"""Poll results → the domain: observations, waves and alarms of one monitor.

:class:`MonitorData` holds what one association needs between replies — the wave objects'
scales (sent once, then only the samples), the alarm lists' lifecycle, the patient id —
and turns each complete poll reply into one :class:`~gateway.domain.DeviceReport`.

* **Numerics**: the physio id is the MDC term of partition 2 (``0x4182`` → 147842 HR), the
  unit code the MDC term of partition 4. A measurement state flagged invalid or unavailable,
  or a NaN/NRes/±INF value, is an INVALID observation with the reason; questionable or
  calibrating, QUESTIONABLE; demo or test data (state 0x0400, 0x0800) is marked ``demo``.
* **Waves**: samples masked to their significant bits and scaled by the object's
  SCALE_SPECN to physical units; the rate from TIME_PD_SAMP. A wave whose scale has not
  been received is not shown (never guessed): :attr:`MonitorData.missing_scale` asks the
  session to poll the waves afresh, which brings the static attributes.
* **Alarms**: the patient and technical alarm lists are the whole current state: an entry
  is an alarm while listed (repeated, so it expires if the monitor falls silent), ended in
  the first reply that no longer lists it. Priority from al_type; INOPs are technical;
  demo alarms are advisories marked DEMO.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from adapters.hl7.acm import as_demo
from adapters.intellivue import ids
from adapters.intellivue.pdu import Attributes, ObservationPoll, PollReply
from adapters.intellivue.wire import (
    Cursor,
    DecodeError,
    absolute_time_ns,
    float_value,
    string_attribute,
    text,
)
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway import nomenclature
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    WaveformChunk,
)

SOURCE = "MDIL"
"""Our name for the Data Export nomenclature in ``source_code`` (``MDIL:0002-4182``)."""

WAVE_CODES: dict[int, int] = {0x5000: 151780}
"""Wave physio ids whose MDC wave code differs from partition 2 × 65536 + id: Philips'
RESP wave is the impedance respiration wave, MDC_IMPED_TTHOR."""

_PRIORITY = {"low": AlarmPriority.LOW, "medium": AlarmPriority.MEDIUM, "high": AlarmPriority.HIGH}
MAX_WAVE_OBJECTS = 64
"""Waves kept per monitor (the association allows 60)."""


def scada_code(physio_id: int) -> int:
    """The MDC code of a physio id, as the gateway's nomenclature knows it."""
    code = (ids.PART_SCADA << 16) | physio_id
    return nomenclature.MDIL_ALIASES.get(code, code)


def unit_code_text(unit: int) -> str:
    return nomenclature.unit_text((ids.PART_DIM << 16) | unit)


class _WaveSpec:
    __slots__ = (
        "label",
        "lower_abs",
        "lower_scaled",
        "mask",
        "period_ticks",
        "unit",
        "upper_abs",
        "upper_scaled",
    )

    def __init__(self) -> None:
        self.label = 0
        self.mask = 0xFFFF
        self.lower_abs = self.upper_abs = math.nan
        self.lower_scaled = self.upper_scaled = 0
        self.period_ticks = 0
        self.unit = ""

    @property
    def usable(self) -> bool:
        return (
            self.period_ticks > 0
            and self.upper_scaled != self.lower_scaled
            and math.isfinite(self.lower_abs)
            and math.isfinite(self.upper_abs)
        )

    def take(self, attributes: Attributes) -> None:
        if (raw := attributes.get(ids.ATTR_ID_LABEL)) and len(raw) == 4:
            self.label = int.from_bytes(raw, "big")
        if (raw := attributes.get(ids.ATTR_SA_SPECN)) and len(raw) >= 6:
            bits = raw[3]
            self.mask = (1 << bits) - 1 if 0 < bits <= 16 else 0xFFFF
        if (raw := attributes.get(ids.ATTR_SCALE_SPECN_I16)) and len(raw) >= 12:
            low, high, low_s, high_s = struct.unpack_from(">IIHH", raw)
            self.lower_abs, self.upper_abs = float_value(low), float_value(high)
            self.lower_scaled, self.upper_scaled = low_s, high_s
        if (raw := attributes.get(ids.ATTR_TIME_PD_SAMP)) and len(raw) == 4:
            self.period_ticks = int.from_bytes(raw, "big")
        if (raw := attributes.get(ids.ATTR_UNIT_CODE)) and len(raw) == 2:
            self.unit = unit_code_text(int.from_bytes(raw, "big"))


class MonitorData:
    """The domain view of one monitor's replies (see the module docstring)."""

    def __init__(self, device: DeviceId, *, transport: str, peer: str) -> None:
        self.device = device
        self.transport = transport
        self.peer = peer
        self.location: Location | None = None
        self.patient_id = ""
        self.patient_name = ""
        self.missing_scale = False
        """A wave came without its scale: the session should poll the waves afresh."""
        self._waves: dict[int, _WaveSpec] = {}
        self._alarms = StatusAlarms(device)
        self._problems: list[str] = []

    def identify(self, attributes: Attributes) -> None:
        """The MDS Create event's attributes: where the monitor says it is."""
        label = string_attribute(attributes.get(ids.ATTR_ID_BED_LABEL, b""))
        if label:
            self.location = Location(label, point_of_care=label)

    def problems(self) -> list[str]:
        """What could not be read since the last call (each one becomes a fault)."""
        out, self._problems = self._problems, []
        return out

    def report(
        self, reply: PollReply, receive_time_ns: int, message_id: str
    ) -> DeviceReport | None:
        """The report a complete poll reply makes; None when it says nothing of the patient."""
        observations: list[Observation] = []
        waves: list[WaveformChunk] = []
        alarms: tuple[AlarmEvent, ...] = ()
        device_time = reply.abs_time_ns
        for obj in reply.objects:
            try:
                if reply.obj_class == ids.MOC_NU:
                    self._numeric(obj, receive_time_ns, device_time, message_id, observations)
                elif reply.obj_class == ids.MOC_SA_RT:
                    self._wave(obj, receive_time_ns, message_id, waves)
                elif reply.obj_class == ids.MOC_AL_MON:
                    alarms = self._alarm_lists(obj, receive_time_ns, message_id)
                elif reply.obj_class == ids.MOC_PT_DEMOG:
                    self._demographics(obj)
            except DecodeError as exc:
                self._problems.append(f"object {obj.handle} of class {reply.obj_class}: {exc}")
        if not (observations or waves or alarms):
            return None
        return DeviceReport(
            device=self.device,
            transport=self.transport,
            peer=self.peer,
            receive_time_ns=receive_time_ns,
            message_id=message_id,
            location=self.location,
            patient_id=self.patient_id,
            patient_name=self.patient_name,
            observations=tuple(observations),
            waveforms=tuple(waves),
            alarms=alarms,
        )

    # --- numerics ----------------------------------------------------------------------

    def _numeric(
        self,
        obj: ObservationPoll,
        receive_time_ns: int,
        device_time: int | None,
        message_id: str,
        out: list[Observation],
    ) -> None:
        attributes = obj.attributes
        if (stamp := attributes.get(ids.ATTR_TIME_STAMP_ABS)) is not None:
            device_time = absolute_time_ns(stamp) or device_time
        name = attributes.get(ids.ATTR_ID_LABEL_STRING, b"")  # read only when needed
        if (raw := attributes.get(ids.ATTR_NU_VAL_OBS)) is not None:
            out.append(self._value(Cursor(raw), name, receive_time_ns, device_time, message_id))
        if (raw := attributes.get(ids.ATTR_NU_CMPD_VAL_OBS)) is not None:
            cursor = Cursor(raw)
            count, length = cursor.u16x2()
            body = cursor.sub(length)
            for _ in range(count):
                out.append(self._value(body, b"", receive_time_ns, device_time, message_id))

    def _value(
        self,
        cursor: Cursor,
        name: bytes,
        receive_time_ns: int,
        device_time: int | None,
        message_id: str,
    ) -> Observation:
        physio, state, unit = cursor.u16x3()
        value = float_value(cursor.u32())
        code = scada_code(physio)
        known = nomenclature.BY_CODE.get(code)
        status = ObservationStatus.VALID
        reason = ""
        if state & (ids.STATE_INVALID | ids.STATE_UNAVAILABLE) or not math.isfinite(value):
            status = ObservationStatus.INVALID
            reason = _state_reason(state, value)
        elif state & (ids.STATE_QUESTIONABLE | ids.STATE_CALIBRATING):
            status = ObservationStatus.QUESTIONABLE
            reason = "questionable (monitor)" if state & ids.STATE_QUESTIONABLE else "calibrating"
        return Observation(
            device=self.device,
            code=code if known else 0,
            label=known.label if known else (string_attribute(name) or f"0x{physio:04x}"),
            value=value if status is not ObservationStatus.INVALID else math.nan,
            unit=unit_code_text(unit),
            status=status,
            receive_time_ns=receive_time_ns,
            device_time_ns=device_time,
            source_code=f"{SOURCE}:0002-{physio:04x}",
            message_id=message_id,
            reason=reason,
            demo=bool(state & (ids.STATE_DEMO_DATA | ids.STATE_TEST_DATA)),
        )

    # --- waves -------------------------------------------------------------------------

    def _wave(
        self, obj: ObservationPoll, receive_time_ns: int, message_id: str, out: list[WaveformChunk]
    ) -> None:
        spec = self._waves.get(obj.handle)
        if spec is None:
            if len(self._waves) >= MAX_WAVE_OBJECTS:
                raise DecodeError(f"more than {MAX_WAVE_OBJECTS} wave objects")
            spec = self._waves[obj.handle] = _WaveSpec()
        spec.take(obj.attributes)
        raw = obj.attributes.get(ids.ATTR_SA_VAL_OBS)
        if raw is None:
            return
        if not spec.usable:
            self.missing_scale = True
            return
        cursor = Cursor(raw)
        physio, state, length = cursor.u16x3()
        samples = np.frombuffer(cursor.take(length - length % 2), dtype=">u2").astype(np.int32)
        samples &= spec.mask
        gain = (spec.upper_abs - spec.lower_abs) / (spec.upper_scaled - spec.lower_scaled)
        physical = (spec.lower_abs + (samples - spec.lower_scaled) * gain).astype(np.float32)
        if state & (ids.STATE_INVALID | ids.STATE_UNAVAILABLE):
            physical[:] = np.nan  # a gap, never a flat line that looks like a signal
        rate = 8000.0 / spec.period_ticks
        code = WAVE_CODES.get(physio, (ids.PART_SCADA << 16) | physio)
        known = nomenclature.BY_CODE.get(code)
        out.append(
            WaveformChunk(
                device=self.device,
                code=code,
                label=known.label if known else f"0x{physio:04x}",
                sample_rate_hz=rate,
                start_time_ns=receive_time_ns - round(len(physical) * 1e9 / rate),
                samples=physical,
                unit=spec.unit,
                message_id=message_id,
                sub_id=str(obj.handle),
                source_code=f"{SOURCE}:0002-{physio:04x}",
            )
        )

    # --- alarms ------------------------------------------------------------------------

    def _alarm_lists(
        self, obj: ObservationPoll, receive_time_ns: int, message_id: str
    ) -> tuple[AlarmEvent, ...]:
        flags: list[StatusFlag] = []
        demo: set[str] = set()
        for attribute in (ids.ATTR_AL_MON_P_AL_LIST, ids.ATTR_AL_MON_T_AL_LIST):
            raw = obj.attributes.get(attribute)
            if raw is not None:
                flags.extend(_alarm_entries(Cursor(raw), demo))
        events = self._alarms.update(flags, receive_time_ns, message_id)
        return tuple(as_demo(event) if event.alarm_id in demo else event for event in events)

    def _demographics(self, obj: ObservationPoll) -> None:
        attributes = obj.attributes
        self.patient_id = string_attribute(attributes.get(ids.ATTR_PT_ID, b""))
        given = string_attribute(attributes.get(ids.ATTR_PT_NAME_GIVEN, b""))
        family = string_attribute(attributes.get(ids.ATTR_PT_NAME_FAMILY, b""))
        self.patient_name = ", ".join(part for part in (family, given) if part)


def _state_reason(state: int, value: float) -> str:
    if state & ids.STATE_UNAVAILABLE:
        return "not available (monitor)"
    if state & ids.STATE_INVALID:
        return "invalid (monitor)"
    if math.isnan(value):
        return "no value (NaN)"
    return "out of range (INF)"


def _alarm_entries(cursor: Cursor, demo: set[str]) -> list[StatusFlag]:
    count, length = cursor.u16x2()
    body = cursor.sub(length)
    flags: list[StatusFlag] = []
    for _ in range(count):
        source, code, al_type, al_state = body.u16x2() + body.u16x2()
        body.skip(6)  # the object the alarm is about
        info_id, info_length = body.u16x2()
        info = body.sub(info_length)
        instance, label, message = 0, 0, ""
        if info_id == 516 and info.left >= 10:  # STR_ALMON_INFO
            instance = info.u16()
            label = info.u32()
            info.skip(4)  # priority, flags
            if info.left >= 2:
                message = text(info.take(info.u16()))
        if al_type in ids.AL_TYPE_PATIENT:
            priority, kind = _PRIORITY[ids.AL_TYPE_PATIENT[al_type]], AlarmKind.PHYSIOLOGICAL
        elif al_type in ids.AL_TYPE_TECH:
            priority, kind = _PRIORITY[ids.AL_TYPE_TECH[al_type]], AlarmKind.TECHNICAL
        else:
            continue  # al_type 0: no alarm
        name = f"{SOURCE}-ALARM:{source:04x}-{code:04x}-{instance}"
        parameter = nomenclature.BY_CODE.get(scada_code(source))
        flags.append(
            StatusFlag(
                name=name,
                text=message or f"alarm 0x{code:04x} ({label:08x})",
                priority=priority,
                kind=kind,
                source_code=f"{SOURCE}-ALARM:0x{code:04x}",
                parameter_code=parameter.code if parameter else None,
                parameter_label=parameter.label if parameter else "",
            )
        )
        if al_state & (ids.AL_STATE_DEMO | ids.AL_STATE_TEST):
            demo.add(name)
    return flags

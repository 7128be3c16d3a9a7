"""An ingest message's observation set → the domain: one :class:`~gateway.domain.DeviceReport`.

* **Device**: ``EUI-64:<HEX>`` when the device gives a 16-hex-digit id (the key its HL7 twin
  has), else ``mqtt:<id>``; its label as sent.
* **Location**: as sent, components split on ``^`` as PV1-3 (``ICU^3^1``), so a bed bound
  by location in the configuration routes MQTT and HL7 devices alike.
* **Numerics**: the MDC code as sent (label and unit from the gateway's nomenclature when
  the device gives none); ``value`` null or status ``invalid`` is an INVALID observation
  (never shown as a number), ``questionable`` QUESTIONABLE; ``demo`` on the message or on
  a row marks it demo. The hub then screens every value for what no patient can have.
* **Alarms**: as the device states them (the schema uses the engine's own words); a demo
  message's alarms are DEMO advisories (:func:`adapters.hl7.acm.as_demo`).
* **Waves**: samples as float32, a null sample a gap (NaN), never a flat line.
"""

from __future__ import annotations

import math

import numpy as np

from adapters.hl7.acm import as_demo
from adapters.mqtt.codec import AlarmRow, ObservationRow, ObservationSet, WaveRow
from gateway import nomenclature
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    WaveformChunk,
)

TRANSPORT = "mqtt"

_STATUS = {
    "valid": ObservationStatus.VALID,
    "invalid": ObservationStatus.INVALID,
    "questionable": ObservationStatus.QUESTIONABLE,
}
_PRIORITY = {
    "high": AlarmPriority.HIGH,
    "medium": AlarmPriority.MEDIUM,
    "low": AlarmPriority.LOW,
    "none": AlarmPriority.NONE,
}
_KIND = {
    "physiological": AlarmKind.PHYSIOLOGICAL,
    "technical": AlarmKind.TECHNICAL,
    "advisory": AlarmKind.ADVISORY,
}


def location_of(raw: str) -> Location | None:
    if not raw.strip("^&~ "):
        return None
    parts = [part.strip() for part in raw.split("^")] + [""] * 4
    return Location(raw, parts[0], parts[1], parts[2], parts[3])


def report_of(message: ObservationSet, peer: str, receive_time_ns: int) -> DeviceReport:
    """The report of one decoded message, received at ``receive_time_ns`` from ``peer``."""
    device = DeviceId(message.device_key, message.device_label)
    message_id = message.control_id
    return DeviceReport(
        device=device,
        transport=TRANSPORT,
        peer=peer,
        receive_time_ns=receive_time_ns,
        message_id=message_id,
        location=location_of(message.location),
        patient_id=message.patient_id,
        observations=tuple(
            _observation(row, device, message, receive_time_ns) for row in message.observations
        ),
        waveforms=tuple(_wave(row, device, message_id) for row in message.waves),
        alarms=tuple(_alarm(row, device, message) for row in message.alarms),
    )


def _observation(
    row: ObservationRow, device: DeviceId, message: ObservationSet, receive_time_ns: int
) -> Observation:
    known = nomenclature.BY_CODE.get(row.code)
    status = _STATUS[row.status]
    value: float | str = math.nan if row.value is None else row.value
    reason = row.reason
    if row.value is None and status is not ObservationStatus.INVALID:
        status, reason = ObservationStatus.INVALID, reason or "no value (null)"
    elif status is ObservationStatus.INVALID:
        value, reason = math.nan, reason or "invalid (device)"
    elif status is ObservationStatus.QUESTIONABLE:
        reason = reason or "questionable (device)"
    return Observation(
        device=device,
        code=row.code,
        label=row.label or (known.label if known else f"MDC {row.code}"),
        value=value,
        unit=row.unit or (known.unit if known else ""),
        status=status,
        receive_time_ns=receive_time_ns,
        device_time_ns=row.time_ns if row.time_ns is not None else message.time_ns,
        sub_id=row.channel,
        message_id=message.control_id,
        reason=reason,
        demo=message.demo or row.demo,
    )


def _alarm(row: AlarmRow, device: DeviceId, message: ObservationSet) -> AlarmEvent:
    parameter = nomenclature.BY_CODE.get(row.parameter) if row.parameter is not None else None
    event = AlarmEvent(
        device=device,
        code=row.code,
        text=row.text,
        priority=_PRIORITY[row.priority],
        kind=_KIND[row.kind],
        phase=row.phase,
        state=row.state,
        inactivation=row.inactivation,
        source=AlarmSource.DEVICE,
        time_ns=row.time_ns if row.time_ns is not None else message.time_ns,
        alarm_id=f"{message.device_key}:{row.alarm_id}",
        parameter_code=row.parameter,
        parameter_label=parameter.label if parameter else "",
        value=row.value,
        unit=row.unit,
        limits=row.limits,
        message_id=message.control_id,
    )
    return as_demo(event) if message.demo or row.demo else event


def _wave(row: WaveRow, device: DeviceId, message_id: str) -> WaveformChunk:
    known = nomenclature.BY_CODE.get(row.code)
    samples = np.array(
        [math.nan if s is None else s for s in row.samples], dtype=np.float32
    )  # fmt: skip
    return WaveformChunk(
        device=device,
        code=row.code,
        label=row.label or (known.label if known else f"MDC {row.code}"),
        sample_rate_hz=row.rate_hz,
        start_time_ns=row.start_ns,
        samples=samples,
        unit=row.unit,
        message_id=message_id,
        sub_id=row.channel,
    )

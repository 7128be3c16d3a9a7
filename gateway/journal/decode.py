"""Stored rows made records again: a message row's JSON reports, bundle samples and alarm rows
as stored reports (:class:`~gateway.journal.records.StoredReport`), alarm-log rows as
transitions, and the hourly summaries of a bed's valid numeric readings (the flowsheet's).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.clock import NS_PER_S
from gateway.domain import (
    AlarmChange,
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    AlarmTransition,
    BedId,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    WaveformChunk,
)
from gateway.errors import JournalError
from gateway.journal.parts import decode_part
from gateway.journal.records import RoutedReport, StoredReport

Row = tuple[Any, ...]


_STATUS = {status.value: status for status in ObservationStatus}


def _transition(row: Row) -> AlarmTransition:
    time_ns, bed, label, alarm, change, priority, kind, source, text, operator = row[:10]
    device, device_label = row[10:]
    return AlarmTransition(
        time_ns,
        None if bed is None else BedId(bed),
        label,
        alarm,
        AlarmChange(change),
        AlarmPriority(priority),
        AlarmKind(kind),
        AlarmSource(source),
        text,
        operator,
        None if device is None else DeviceId(device, device_label or ""),
    )


def _cut(bundle: bytes, offset: int, size: int, message_id: int, layout: int | None) -> bytes:
    """A message's raw bytes out of its bundle (from its part, for a row of layout 3)."""
    if layout is not None:
        try:
            raw = decode_part(bundle, offset, samples=False)[0]
        except JournalError as exc:
            raise JournalError(f"message {message_id}: {exc}") from exc
        if len(raw) != size:
            raise JournalError(f"message {message_id}: {len(raw)} bytes in its part, not {size}")
        return raw
    if offset + size > len(bundle):
        raise JournalError(f"message {message_id}: its bytes run past the end of its bundle")
    return bundle[offset : offset + size]


def _part_reports(bundle: bytes, offset: int, message_id: int) -> list[Any]:
    """The reports of a row of layout 3, from its part."""
    try:
        text = decode_part(bundle, offset, samples=False, raw=False)[2]
    except JournalError as exc:
        raise JournalError(f"message {message_id}: {exc}") from exc
    if text is None:
        raise JournalError(f"message {message_id}: no reports in its part")
    found: list[Any] = json.loads(text)
    return found


_HOUR_NS = 3600 * NS_PER_S


@dataclass(slots=True)
class _Hour:
    """One parameter's valid numeric readings of one hour, summed up as they come."""

    count: int
    total: float
    low: float
    high: float
    label: str


_HourKey = tuple[int, int, str | None, str, str, str, str]
"""Hour, code, source code, sub-id, unit, patient id, device key."""


def _add_hourly(groups: dict[_HourKey, _Hour], report: Row) -> None:
    """Add a stored report's valid numeric observations to their hour's summary (per
    patient and device: one hour of two patients is two summaries)."""
    receive, device, patient = report[4], str(report[2]), str(report[6] or "")
    for item in report[7]:
        code, label, value, unit, status, device_ns, sub_id, source = item[:8]
        if status != "valid" or value is None or isinstance(value, str) or math.isnan(value):
            continue
        if len(item) > 9 and item[9]:
            continue  # demo or test data: never in a patient's hourly summary
        at = receive if device_ns is None else device_ns
        hour = at // _HOUR_NS if at >= 0 else -(-at // _HOUR_NS)  # SQL's: towards zero
        key = (hour, code, source, sub_id, unit, patient, device)
        found = groups.get(key)
        if found is None:
            number = float(value)
            groups[key] = _Hour(1, number, number, number, label)
            continue
        found.count += 1
        found.total += value
        if value < found.low:
            found.low = float(value)
        elif value > found.high:
            found.high = float(value)
        found.label = max(found.label, label)


def _hourly_order(item: tuple[_HourKey, _Hour]) -> tuple[object, ...]:
    hour, code, source, sub_id, unit, patient, device = item[0]
    return hour, code, source is not None, source or "", sub_id, unit, patient, device


def _stored_reports(
    row: Row,
    reports: list[list[Any]],
    bed: str | None,
    alarms: dict[tuple[int, int], list[Row]],
    bundles: dict[int, bytes],
    *,
    waves: bool = True,
) -> Iterator[StoredReport]:
    """The reports of one message row (those of ``bed`` only, unless it is None); without
    their waveforms unless ``waves``."""
    message_id, _, transport, peer, control_id = row[:5]
    samples: npt.NDArray[np.float32] | None = None
    offset = 0  # into the message's samples: every report's chunks, in order
    for seq, document in enumerate(reports):
        bed_key, bed_label, device_key, device_label, receive = document[:5]
        location, patient_id, observations, waveforms = document[5:9]
        # The patient's name came with issue 19: older rows have ten items, not eleven.
        patient_name = document[10] if len(document) > 10 else None
        if bed is not None and bed_key != bed:
            offset += sum(int(w[5]) for w in waveforms)
            continue
        device = DeviceId(str(device_key), str(device_label))
        chunks = []
        for wave in waveforms if waves else ():
            if samples is None:
                samples = _samples(row, reports, bundles)
            count = int(wave[5])
            if offset + count > samples.size:
                raise JournalError(
                    f"waveform of message {message_id}: {samples.size - offset} samples,"
                    f" not {count}"
                )
            chunks.append(_waveform(wave, samples[offset : offset + count], device, control_id))
            offset += count
        yield StoredReport(
            message_id,
            seq,
            RoutedReport(
                DeviceReport(
                    device=device,
                    transport=transport,
                    peer=peer,
                    receive_time_ns=receive,
                    message_id=control_id,
                    location=None if location is None else Location(*location),
                    patient_id=patient_id,
                    patient_name=patient_name or "",
                    observations=tuple(
                        _observation(o, device, receive, control_id) for o in observations
                    ),
                    waveforms=tuple(chunks),
                    alarms=tuple(
                        _alarm(a, device, control_id) for a in alarms.get((message_id, seq), ())
                    ),
                ),
                None if bed_key is None else BedId(bed_key),
                bed_label,
            ),
        )


def _samples(
    row: Row, reports: list[list[Any]], bundles: dict[int, bytes]
) -> npt.NDArray[np.float32]:
    """Every waveform sample of a message: in its bundle, right after its raw bytes."""
    message_id, size, holder, offset = row[0], row[6], row[7], row[8]
    count = sum(int(wave[5]) for report in reports for wave in report[8])
    bundle = bundles[holder]
    if row[10] is not None:  # layout 3: its part's chunks
        try:
            chunks = decode_part(bundle, offset, raw=False)[1]
        except JournalError as exc:
            raise JournalError(f"message {message_id}: {exc}") from exc
        samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
        if samples.size != count:
            raise JournalError(f"message {message_id}: {samples.size} samples, not {count}")
        return samples
    start = offset + size
    if start + 4 * count > len(bundle):
        raise JournalError(f"message {message_id}: its samples run past the end of its bundle")
    return np.frombuffer(bundle, dtype="<f4", count=count, offset=start)


def _observation(
    item: list[Any], device: DeviceId, receive_ns: int, control_id: str
) -> Observation:
    code, label, value, unit, status, device_ns, sub_id, source_code = item[:8]
    # reason and demo came with the vendor-forms work; older rows have neither
    reason, demo = (item[8], item[9]) if len(item) > 8 else ("", False)
    return Observation(
        device=device,
        code=code,
        label=label,
        # null: a value that was not a finite number (NaN, ±inf) when it was stored
        value=value if isinstance(value, str) else math.nan if value is None else float(value),
        unit=unit,
        status=_STATUS[status],
        receive_time_ns=receive_ns,
        device_time_ns=device_ns,
        sub_id=sub_id,
        source_code=source_code,
        message_id=control_id,
        reason=reason,
        demo=bool(demo),
    )


def _waveform(
    item: list[Any], samples: npt.NDArray[np.float32], device: DeviceId, control_id: str
) -> WaveformChunk:
    code, label, unit, rate, start_ns, _, sub_id, source_code = item
    return WaveformChunk(
        device=device,
        code=code,
        label=label,
        sample_rate_hz=float(rate),
        start_time_ns=start_ns,
        samples=samples.astype(np.float32),  # a copy of its own, native order, writable
        unit=unit,
        message_id=control_id,
        sub_id=sub_id,
        source_code=source_code,
    )


def _alarm(row: Row, device: DeviceId | None = None, control_id: str = "") -> AlarmEvent:
    (
        *_,
        time_ns,
        device_key,
        code,
        text,
        priority,
        kind,
        phase,
        state,
        inactivation,
        source,
        alarm_id,
        parameter_code,
        parameter_label,
        num,
        txt,
        unit,
        limits,
        source_code,
        sub_id,
    ) = row
    return AlarmEvent(
        device=device if device is not None and device.key == device_key else DeviceId(device_key),
        code=code,
        text=text,
        priority=AlarmPriority(priority),
        kind=AlarmKind(kind),
        phase=phase,
        state=state,
        inactivation=inactivation,
        source=AlarmSource(source),
        time_ns=time_ns,
        alarm_id=alarm_id,
        parameter_code=parameter_code,
        parameter_label=parameter_label,
        value=txt if num is None else num,
        unit=unit,
        limits=limits,
        source_code=source_code,
        sub_id=sub_id,
        message_id=control_id,
    )

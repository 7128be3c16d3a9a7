"""A message made a writer job on the event loop (:func:`_prepare`): its ``messages`` row, its
part of a bundle (raw bytes, then waveform samples), its bed index entries and its
``alarms`` rows, every value made storable (:mod:`gateway.journal.values`).

This runs for every message on the event loop, so the common case (an int code, a finite
float, short ASCII texts) is checked inline; the writer's own work per message stays small.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np

from gateway.domain import AlarmEvent, AlarmTransition, Observation, ReceivedMessage, WaveformChunk
from gateway.journal import values
from gateway.journal.protocol import _APPEND
from gateway.journal.records import Outcome, RoutedReport


def _prepare(
    seq: int,
    message: ReceivedMessage,
    routed: Sequence[RoutedReport],
    outcome: Outcome,
    reason: str | None,
    *,
    refused: str | None = None,
) -> tuple[object, ...]:
    """An :class:`_Append` as sent, every value made storable (:mod:`gateway.journal.values`).
    Raises TypeError, ValueError or OverflowError for a report it cannot take apart
    (waveform samples that are not numbers)."""
    raw = message.raw
    crc = zlib.crc32(raw)
    device = message.device
    if device is None and routed:
        device = routed[0].report.device
    device_key = None if device is None else values.text(device.key)
    control_id = values.text(message.control_id)
    key = None
    if control_id and outcome is Outcome.ACCEPTED:
        key = (device_key or "", control_id)
    parts = [raw]
    beds: list[tuple[str, str]] = []
    alarms: list[tuple[object, ...]] = []
    reports = _report_documents(routed, alarms, beds, parts) if routed else None
    receive_ns = values.int_or(message.receive_time_ns, 0)
    columns = (
        receive_ns,
        values.text(message.transport),
        values.text(message.peer),
        device_key,
        None if device is None else values.text(device.label),
        control_id,
        outcome._value_,
        values.optional_text(reason),
        len(raw),
        crc,
        reports,
    )
    size = len(raw) if len(parts) == 1 else sum(map(len, parts))
    return (_APPEND, seq, key, crc, receive_ns, columns, parts, size, beds, alarms, refused)


def _alarm_log_rows(transitions: Sequence[AlarmTransition]) -> list[tuple[object, ...]]:
    return [
        (
            t.time_ns,
            t.bed.key if t.bed is not None else None,
            t.bed_label,
            t.alarm,
            t.change.value,
            int(t.priority),
            t.kind.value,
            t.source.value,
            t.text,
            t.operator,
            t.device.key if t.device is not None else None,
            t.device.label if t.device is not None else None,
        )
        for t in transitions
    ]


def _report_documents(
    routed: Sequence[RoutedReport],
    alarms: list[tuple[object, ...]],
    beds: list[tuple[str, str]],
    samples: list[bytes],
) -> list[tuple[object, ...]]:
    """A message's reports as the document ``messages.reports`` holds (the writer makes it
    JSON: its process, not the event loop, spends the time); adds their waveform samples to
    ``samples``, their alarm rows (but for the message id) to ``alarms`` and (bed, label)
    of those with a bed to ``beds``."""
    text = values.text
    documents: list[tuple[object, ...]] = []
    for seq, item in enumerate(routed):
        report = item.report
        bed = None if item.bed is None else text(item.bed.key)
        bed_label = text(item.bed_label)
        if bed is not None:
            beds.append((bed, bed_label))
        loc = report.location
        waveforms = report.waveforms
        documents.append(
            (
                bed,
                bed_label,
                text(report.device.key),
                text(report.device.label),
                values.int_or(report.receive_time_ns, 0),
                None
                if loc is None
                else tuple(
                    map(
                        values.optional_text,
                        (loc.raw, loc.point_of_care, loc.room, loc.bed, loc.facility),
                    )
                ),
                values.optional_text(report.patient_id),
                [_observation_document(o) for o in report.observations],
                [_waveform_document(chunk, samples) for chunk in waveforms] if waveforms else (),
                len(report.alarms),
                values.text(report.patient_name) if report.patient_name else None,
            )
        )
        if report.alarms:
            alarms.extend(_alarm_rows(seq, bed, report.alarms))
    return documents


_I64_MIN, _I64_MAX = values.INT64_MIN, values.INT64_MAX


def _observation_document(o: Observation) -> tuple[object, ...]:
    """An observation as ``messages.reports`` holds it, every value storable. The checks
    of the common case (an int code, a finite float, short ASCII texts) are inline: this
    runs for every value of every message on the event loop."""
    code, device_ns = o.code, o.device_time_ns
    value: float | str | None = o.value
    label, unit, sub_id, source_code, reason = o.label, o.unit, o.sub_id, o.source_code, o.reason
    if code.__class__ is not int or not _I64_MIN <= code <= _I64_MAX:
        code = values.int_or(code, 0)
    if value.__class__ is float:
        if value - value != 0.0:  # NaN or ±inf: JSON null (SQLite's JSON refuses NaN)
            value = None
    else:
        value = values.value(value)
    if device_ns is not None and (
        device_ns.__class__ is not int or not _I64_MIN <= device_ns <= _I64_MAX
    ):
        device_ns = values.bounded_int(device_ns)
    if not values.plain(label, unit, sub_id, reason, source_code or ""):
        label, unit, sub_id, reason = map(values.text, (label, unit, sub_id, reason))
        source_code = values.optional_text(source_code)
    return (
        code,
        label,
        value,
        unit,
        o.status._value_,  # not .value: a descriptor call each
        device_ns,
        sub_id,
        source_code,
        reason,
        o.demo,
    )


def _waveform_document(chunk: WaveformChunk, samples: list[bytes]) -> tuple[object, ...]:
    data = np.ascontiguousarray(chunk.samples, dtype="<f4")
    samples.append(data.tobytes())
    return (
        values.int_or(chunk.code, 0),
        values.text(chunk.label),
        values.text(chunk.unit),
        values.finite(chunk.sample_rate_hz) or 0.0,
        values.int_or(chunk.start_time_ns, 0),
        int(data.size),
        values.text(chunk.sub_id),
        values.optional_text(chunk.source_code),
    )


def _alarm_rows(
    report_seq: int, bed: str | None, alarms: Sequence[AlarmEvent]
) -> Iterator[tuple[object, ...]]:
    text = values.text
    for seq, alarm in enumerate(alarms):
        value = values.value(alarm.value)
        yield (
            report_seq,
            seq,
            bed,
            values.int_or(alarm.time_ns, 0),
            text(alarm.device.key),
            values.int_or(alarm.code, 0),
            text(alarm.text),
            values.int_or(int(alarm.priority), 0),
            alarm.kind.value,
            text(alarm.phase),
            text(alarm.state),
            text(alarm.inactivation),
            alarm.source.value,
            text(alarm.alarm_id),
            values.bounded_int(alarm.parameter_code),
            text(alarm.parameter_label),
            None if isinstance(value, str) else value,
            value if isinstance(value, str) else None,
            text(alarm.unit),
            text(alarm.limits),
            values.optional_text(alarm.source_code),
            text(alarm.sub_id),
        )

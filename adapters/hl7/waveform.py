"""Waveforms in HL7 v2: OBX rows of type ``NA`` (and ``MA``) → :class:`WaveformChunk`.

Two shapes are read, as devices send them:

- IHE PCD / DEC (Mindray, Philips, OpenICE): an ``NA`` row of ``^``-separated samples, then
  child rows under its sub-id (``<parent>.1``, ``.2`` …): ``MDC_ATTR_SAMP_RATE`` (per
  second), ``MDC_ATTR_NU_MSMT_RES`` (the value of one count: samples are multiplied by
  it), ``MDC_EVT_INOP`` (Mindray: the sample value that means "no data", shown as a gap),
  ``MDC_ATTR_DATA_RANGE`` (kept out of the observations). Philips PIC iX scales counts in
  the unit itself (``10.mV/4096``).
- HL7 v2.3 waveform results (``ORU^W01``, older Mindray): ``CD`` channel definitions
  (sensitivity, calibration, sampling frequency), an optional ``TS`` start time, then
  ``NA`` rows (one channel) or ``MA`` rows (``~``-separated instants of ``^``-separated
  channels).

A waveform whose sample rate cannot be found (not in a child row, a channel definition, or
the OBR-7…OBR-8 window) cannot be drawn at the right speed: it is not turned into a chunk,
and the caller reports it. This module knows nothing of beds or sockets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from adapters.hl7.er7 import Delimiters
from adapters.hl7.obx import Code, number, split_components, unit_of
from gateway import nomenclature
from gateway.domain import DeviceId, WaveformChunk

SAMPLE_RATE = "MDC_ATTR_SAMP_RATE"
RESOLUTION = "MDC_ATTR_NU_MSMT_RES"
INVALID_SAMPLE = "MDC_EVT_INOP"
_FLOAT32_MAX = float(np.finfo(np.float32).max)
ATTRIBUTES = frozenset(
    (SAMPLE_RATE, RESOLUTION, INVALID_SAMPLE, "MDC_ATTR_DATA_RANGE", "MDC_ATTR_SCALE_RANGE")
)
"""REFIDs of the child rows that describe a waveform rather than measure something."""

# "10.mV/4096": 10 mV per 4096 counts (Philips PIC iX).
_SCALED_UNIT = re.compile(r"\s*(\d+(?:\.\d+)?)\.?\s*([^\d\s/.][^/]*?)\s*/\s*(\d+(?:\.\d+)?)\s*")


@dataclass(slots=True)
class Channel:
    """A W01 channel definition (HL7 v2.3 CD): what one column of samples means."""

    number: str
    name: str = ""
    sensitivity: float = 1.0
    unit: str = ""
    correction: float = 1.0
    baseline: float = 0.0
    rate_hz: float | None = None


@dataclass(slots=True)
class PendingWave:
    """An NA/MA row waiting for its child rows (rate, resolution) before it becomes chunks."""

    device: DeviceId
    code: Code
    sub_id: str
    value_type: str
    raw_samples: str
    unit: str
    start_ns: int
    channels: list[Channel]
    rate_hz: float | None = None
    resolution: float | None = None
    invalid: float | None = None
    valid: bool = True
    """False when OBX-11 marks the row invalid (leads off, probe off): the samples are a
    flat line the monitor draws, not a signal, and become a gap."""


def is_attribute(code: Code) -> bool:
    return code.refid in ATTRIBUTES


def attach(
    waves: list[PendingWave],
    by_sub_id: dict[str, PendingWave],
    *,
    sub_id: str,
    code: Code,
    raw_value: str,
    raw_unit: str,
    d: Delimiters,
) -> None:
    """Apply a child row to the waveform it describes: the one whose sub-id is its parent
    (``1.1.1.1001`` ← ``1.1.1.1001.1``) or its own, else the last waveform of the group.
    ``by_sub_id`` indexes ``waves`` (the latest row per sub-id), so this is O(1)."""
    target = by_sub_id.get(sub_id.rsplit(".", 1)[0]) or by_sub_id.get(sub_id) or waves[-1]
    value = number(split_components(raw_value, d)[0])
    if value is None:
        return
    if code.refid == SAMPLE_RATE:
        target.rate_hz = _rate(value, unit_of(raw_unit, d))
    elif code.refid == RESOLUTION:
        target.resolution = value
    elif code.refid == INVALID_SAMPLE:
        target.invalid = value


def _rate(value: float, unit: str) -> float | None:
    """A sampling rate from a value and its unit: per second, Hz, or a period (s, ms)."""
    if value <= 0:
        return None
    if unit == "ms":
        return 1000.0 / value
    if unit == "s" and value <= 1:
        return 1.0 / value
    return value


def channel_definition(raw: str, d: Delimiters, sub_id: str) -> Channel:
    """A CD value: channel id ^ source ^ sensitivity&unit ^ calibration ^ frequency ^ range."""
    parts = split_components(raw, d)
    parts += [""] * (6 - len(parts))
    sub = d.subcomponent
    ident = parts[0].split(sub)
    sensitivity = parts[2].split(sub)
    calibration = parts[3].split(sub)
    channel = Channel(
        number=ident[0].strip() or sub_id, name=ident[1].strip() if len(ident) > 1 else ""
    )
    channel.sensitivity = number(sensitivity[0]) or 1.0
    if len(sensitivity) > 1:
        unit_parts = [p.strip() for p in sensitivity[1:4]]
        channel.unit = unit_of(d.component.join(unit_parts), d) if any(unit_parts) else ""
    channel.correction = number(calibration[0]) or 1.0
    if len(calibration) > 1:
        channel.baseline = number(calibration[1]) or 0.0
    channel.rate_hz = number(parts[4])
    return channel


def samples(raw: str, separator: str) -> npt.NDArray[np.float64]:
    """Numbers separated by ``separator``; an empty or unreadable sample is a gap (NaN)."""
    parts = raw.split(separator)
    try:
        values = np.array(parts, dtype=np.float64)
    except ValueError:
        values = np.array([_sample(p) for p in parts], dtype=np.float64)
    values[~np.isfinite(values)] = np.nan
    return values


def _sample(text: str) -> float:
    value = number(text)
    return np.nan if value is None else value


def finish(
    wave: PendingWave,
    d: Delimiters,
    window: tuple[int | None, int | None],
    message_id: str,
    problems: list[str],
) -> list[WaveformChunk]:
    """The chunks of one waveform row, or none (with a problem noted) when it cannot be
    placed in time."""
    if wave.value_type == "MA":
        instants = [split_components(r, d) for r in wave.raw_samples.split(d.repetition)]
        width = max((len(i) for i in instants), default=0)
        columns = [
            samples(d.component.join(i[c] if c < len(i) else "" for i in instants), d.component)
            for c in range(width)
        ]
        channels = wave.channels
    else:
        columns = [samples(wave.raw_samples, d.component)]
        channels = [_channel_for(wave)] if wave.channels else []
    chunks = []
    for index, column in enumerate(columns):
        values = column
        channel = channels[index] if index < len(channels) else None
        rate = wave.rate_hz or (channel.rate_hz if channel is not None else None)
        start, end = window
        if not rate and start is not None and end is not None and end > start:
            rate = len(values) / ((end - start) / 1e9)
        label = (channel.name if channel is not None and channel.name else "") or wave.code.label
        where = f"{label} (OBX-4 {wave.sub_id or '-'})"
        if not rate or rate <= 0:
            problems.append(f"waveform {where} has no sample rate: not shown")
            continue
        if not wave.valid:
            values[:] = np.nan  # a flat line drawn as a signal would look like asystole
        elif wave.invalid is not None:
            values[values == wave.invalid] = np.nan
        unit = wave.unit
        scaled = _SCALED_UNIT.fullmatch(unit) if unit else None
        if scaled is not None and float(scaled.group(3)) > 0:
            values *= float(scaled.group(1)) / float(scaled.group(3))
            unit = nomenclature.unit_text(None, scaled.group(2))
        if wave.resolution is not None and wave.resolution > 0:
            values *= wave.resolution
        if channel is not None:
            values = (values - channel.baseline) * channel.sensitivity * channel.correction
            unit = channel.unit or unit
        # Beyond float32's range a sample cannot be drawn: a gap, like any unreadable one.
        values[~(np.abs(values) <= _FLOAT32_MAX)] = np.nan
        chunks.append(
            WaveformChunk(
                device=wave.device,
                code=wave.code.mdc,
                label=label,
                sample_rate_hz=float(rate),
                start_time_ns=wave.start_ns,
                samples=values.astype(np.float32),
                unit=unit,
                message_id=message_id,
                sub_id=_column_id(wave, channel, index, len(columns)),
                source_code=wave.code.source_code,
            )
        )
    return chunks


def _channel_for(wave: PendingWave) -> Channel:
    """The W01 channel an NA row belongs to: same number as its sub-id, else the only one."""
    for channel in wave.channels:
        if channel.number == wave.sub_id:
            return channel
    return wave.channels[0] if len(wave.channels) == 1 else Channel(wave.sub_id)


def _column_id(wave: PendingWave, channel: Channel | None, index: int, columns: int) -> str:
    """The sub-id a chunk keeps: the row's, or for an MA column its channel's number."""
    if columns == 1:
        return wave.sub_id
    if channel is not None and channel.number:
        return channel.number
    return f"{wave.sub_id}#{index + 1}"

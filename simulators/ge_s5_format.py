"""GE S/5 Computer Interface bytes as a monitor writes and reads them, made from a readout.

Written from the published specification (M1017617, 8005313: shared/reference/
bedside-protocols.md §2) independently of ``adapters.serial.ge_s5``, so that the simulator
and the gateway's decoder check each other: frames ``7E | escaped(record, sum8) | 7E``; the
40-byte little-endian record header with its subrecord table; displayed values (the basic
class: ECG, P1/P2, NIBP, T1, SpO2, CO2, O2, spirometry) in the groups' units; waves (ECG
µV, pressures 1/100 mmHg, pleth and CO2 1/100 %); the alarm display (five texts with a
colour). :func:`read_requests` is the monitor's side of the line: every request the
gateway sent, named by what it asks for (``phdb-request``, ``wave-stop`` …) — anything
else is ``unknown`` — which the tests use to check that the gateway sends nothing else.

Pure functions of a readout: this module must not open ports or keep time.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.monitor import Readout
from simulators.signals import Wave

FLAG, ESCAPE = 0x7E, 0x7D
_HEADER = struct.Struct("<hBBHIBBHh")
_DESCRIPTORS = 8
HEADER_BYTES = _HEADER.size + 3 * _DESCRIPTORS
PHDB, WAVE, ALARM = 0, 1, 4
DATA_INVALID = -32767

WAVE_RATES = {1: 300, 4: 100, 8: 100, 9: 25, 15: 25}
"""The waves this monitor can send: ECG1, INVP1, PLETH, CO2, RESP (samples/s)."""
COLOUR = {"PH": 3, "PM": 2, "PL": 1}


@dataclass(frozen=True, slots=True)
class Request:
    """One request record the monitor received."""

    command: str
    """``phdb-request``, ``phdb-stop``, ``wave-request``, ``wave-stop``, ``alarm-request``,
    ``alarm-stop`` — or ``unknown`` (with ``why``) for anything a monitor would not take."""
    interval_s: int = 0
    waves: tuple[int, ...] = ()
    why: str = ""


def frame(record: bytes) -> bytes:
    body = record + bytes((sum(record) % 256,))
    escaped = bytearray()
    for byte in body:
        if byte in (FLAG, ESCAPE):
            escaped += bytes((ESCAPE, byte ^ 0x20))
        else:
            escaped.append(byte)
    return bytes((FLAG,)) + bytes(escaped) + bytes((FLAG,))


def record(maintype: int, subrecords: Sequence[tuple[int, bytes]], time_s: int = 0) -> bytes:
    table = b""
    data = b""
    for kind, payload in subrecords:
        table += struct.pack("<hB", len(data), kind)
        data += payload
    table += struct.pack("<hB", 0, 0xFF) if len(subrecords) < _DESCRIPTORS else b""
    table = table.ljust(3 * _DESCRIPTORS, b"\x00")
    header = _HEADER.pack(HEADER_BYTES + len(data), 0, 0, 0, time_s, 0, 0, 0, maintype)
    return header + table + data


def read_requests(data: bytes) -> list[Request]:
    """Every frame in ``data`` (what the gateway wrote) read as a request."""
    requests = []
    for body in data.split(bytes((FLAG,))):
        if body:
            requests.append(_request(body))
    return requests


def _unescape(body: bytes) -> bytes | None:
    out = bytearray()
    escaped = False
    for byte in body:
        if escaped:
            out.append(byte ^ 0x20)
            escaped = False
        elif byte == ESCAPE:
            escaped = True
        else:
            out.append(byte)
    return None if escaped else bytes(out)


def _request(body: bytes) -> Request:
    unescaped = _unescape(body)
    if unescaped is None or len(unescaped) < HEADER_BYTES + 1:
        return Request("unknown", why=f"not a record: {body[:16].hex()}")
    rec, total = unescaped[:-1], unescaped[-1]
    if sum(rec) % 256 != total:
        return Request("unknown", why="bad checksum")
    length, *_, maintype = _HEADER.unpack_from(rec)
    if length != len(rec):
        return Request("unknown", why=f"r_len {length} of a {len(rec)}-byte record")
    offset, kind = struct.unpack_from("<hB", rec, _HEADER.size)
    payload = rec[HEADER_BYTES + offset :]
    if kind != 0:
        return Request("unknown", why=f"subrecord type {kind} is not a request")
    if maintype == PHDB and len(payload) >= 9:
        record_type, interval, _, _ = struct.unpack_from("<BhIh", payload)
        if record_type != 1:
            return Request("unknown", why=f"phdb record type {record_type}")
        if interval == 0:
            return Request("phdb-stop")
        if interval < 5 and interval != -1:
            return Request("unknown", why=f"displayed values every {interval} s")
        return Request("phdb-request", interval_s=interval)
    if maintype == WAVE and len(payload) >= 12:
        command, _ = struct.unpack_from("<hh", payload)
        types = tuple(t for t in payload[4:12].split(b"\xff")[0] if t)
        if command == 1:
            return Request("wave-stop")
        if command == 0:
            return Request("wave-request", waves=types)
        return Request("unknown", why=f"wave command {command}")
    if maintype == ALARM and len(payload) >= 2:
        (command,) = struct.unpack_from("<h", payload)
        if command in (0, 2):
            return Request("alarm-request")
        if command == 3:
            return Request("alarm-stop")
        return Request("unknown", why=f"alarm command {command}")
    return Request("unknown", why=f"main type {maintype}")


# --------------------------------------------------------------------- displayed values


def _group(status: int, label: int, *values: int) -> bytes:
    return struct.pack(f"<IH{len(values)}h", status, label, *values)


def _absent(size: int) -> bytes:
    return bytes(size)


def _v(value: float | None, scale: float = 1.0) -> int:
    return DATA_INVALID if value is None else round(value * scale)


def displayed_values(readout: Readout, *, etco2_mmhg: float, ambient_mmhg: float = 760.0) -> bytes:
    """One displayed-values record (basic class) of what the monitor shows now."""
    v = readout.vitals
    exists = 0x3  # exists and active
    hr = None if readout.lead_off else v.heart_rate
    ecg = _group(exists | (1 << 3), 0, _v(hr), 0, 0, 0, _v(v.resp_rate))
    if v.abp is not None:
        p1 = _group(exists, 1, *(round(x * 100) for x in v.abp), _v(v.pulse_rate))  # ART
    else:
        p1 = _absent(14)
    p2 = _group(exists, 2, DATA_INVALID, DATA_INVALID, 800, DATA_INVALID)  # CVP mean 8
    nibp = _group(
        exists, 0, v.nibp_sys * 100, v.nibp_dia * 100, v.nibp_mean * 100, _v(v.pulse_rate)
    )
    t1 = _group(exists, 15, round(v.temperature_c * 100))  # CORE
    spo2_value = None if readout.sensor_off else v.spo2
    pulse = None if readout.sensor_off else v.pulse_rate
    spo2 = _group(
        exists, 0, _v(spo2_value, 100), _v(pulse), _v(v.perfusion_index, 100), DATA_INVALID
    )
    percent = etco2_mmhg / ambient_mmhg * 100.0
    co2 = _group(exists, 0, round(percent * 100), 0, _v(v.resp_rate), round(ambient_mmhg * 10))
    o2 = _group(exists, 0, 3600, 4000)
    union = (
        ecg + p1 + p2 + _absent(14) * 2 + nibp + t1 + _absent(8) * 3 + spo2 + co2 + o2
        + _absent(10) + _absent(12) + _absent(22) + _absent(14) + _absent(12) + _absent(6)
        + _absent(8) + _absent(14) * 2 + _absent(2)
    )  # fmt: skip
    assert len(union) == 270
    subrecord = struct.pack("<I", 0) + union + struct.pack("<BBH", 0, 0, 0)  # class 0: basic
    return record(PHDB, [(1, subrecord)])


# --------------------------------------------------------------------------- waves


def resampled(wave: Wave, rate: float, t0: float, t1: float) -> npt.NDArray[np.float64]:
    """``wave`` sampled at ``rate`` on the grid ``k / rate`` within ``[t0, t1)``."""
    first, last = int(np.ceil(t0 * rate - 1e-9)), int(np.ceil(t1 * rate - 1e-9))
    times = np.arange(first, last) / rate
    if wave.samples.size == 0 or times.size == 0:
        return np.zeros(times.size)
    own = (np.arange(wave.samples.size) + wave.first_index) / wave.rate
    return np.asarray(np.interp(times, own, wave.samples), dtype=np.float64)


def waves(readout: Readout, requested: Sequence[int], *, etco2_mmhg: float) -> bytes | None:
    """One wave record of the requested waves for the readout's interval (None: no wave)."""
    t0, t1 = readout.t0, readout.t1
    subrecords = []
    for kind in requested:
        rate = WAVE_RATES.get(kind)
        if rate is None:
            continue
        status = 0
        if kind == 1:
            samples = resampled(readout.ecg, rate, t0, t1) * 1000.0  # mV → µV
            if readout.lead_off:
                status |= 0x0008
        elif kind == 4:
            if readout.abp is None:
                continue
            samples = resampled(readout.abp, rate, t0, t1) * 100.0
        elif kind == 8:
            raw = resampled(readout.pleth, rate, t0, t1)
            samples = (raw - raw.min() if raw.size else raw) * 1000.0
        elif kind == 9:
            breath = resampled(readout.resp, rate, t0, t1)
            peak = max(float(np.abs(breath).max()) if breath.size else 0.0, 1e-6)
            samples = np.clip(breath / peak, 0.0, 1.0) * etco2_mmhg / 760.0 * 10000.0
        else:
            samples = resampled(readout.resp, rate, t0, t1) * 100.0
        ints = np.clip(np.rint(samples), -31999, 32767).astype("<i2")
        subrecords.append((kind, struct.pack("<hHH", ints.size, status, 0) + ints.tobytes()))
    if not subrecords:
        return None
    return record(WAVE, subrecords)


# --------------------------------------------------------------------------- alarms


def alarm_display(alarms: Sequence[tuple[str, str]], silenced: bool = False) -> bytes:
    """The alarm display: up to five (text, priority "PH"/"PM"/"PL"), red ones first."""
    ordered = sorted(alarms, key=lambda a: -COLOUR.get(a[1], 0))[:5]
    entries = b""
    for index in range(5):
        if index < len(ordered):
            text, priority = ordered[index]
            entries += struct.pack(
                "<80shhh12x", text.encode("latin-1")[:79], 1, COLOUR[priority], 1
            )
        else:
            entries += struct.pack("<80shhh12x", b"", 0, 0, 0)
    head = struct.pack("<hhhhh", 0, 1, 0, 0, 5 if silenced else 0)
    return record(ALARM, [(1, head + entries + bytes(10))])

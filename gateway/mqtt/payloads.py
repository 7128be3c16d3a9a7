"""The payloads of schema v1, both ways: made from the hub's snapshots on the gateway, read
back into small records on a remote screen (``docs/mqtt.md`` is their specification).

JSON (UTF-8) for what a person or a browser may read — status, birth, numerics, alarms —
and a packing of our own for waves (:func:`pack_waves`), a fixed header and 16-bit samples
per wave, about half the bytes of JSON and no dependency. Every payload carries ``v``
(the schema), ``sess`` (the gateway's session: one per broker connection) and a time
``ts`` (the gateway's wall clock, ns), so a screen can age a value by its own time.

Reading is total: anything a broker hands a screen gives a record or
:class:`PayloadError`, never another exception — a bad message costs itself only.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from gateway.alarms.snapshot import ActiveAlarm
from gateway.clock import NS_PER_S
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, Connectivity, ObservationStatus
from gateway.mqtt.topics import SCHEMA_VERSION
from gateway.ward.snapshot import BedSnapshot

ONLINE, OFFLINE = "online", "offline"


class PayloadError(ValueError):
    """A payload a screen cannot read: wrong schema, wrong shape, wrong types."""


def _json(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def _finite(value: float | str) -> float | str | None:
    """JSON has no NaN or infinity: such a value travels as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


# --------------------------------------------------------------------------- gateway side


def status_online(
    sess: int,
    seq: int,
    ts_ns: int,
    *,
    name: str,
    aseq: int,
    digest: str,
    alarms: int,
    stale_timeout_s: float,
    lost_after_s: float,
    heartbeat_s: float,
) -> bytes:
    """The heartbeat: published every ``heartbeat_s`` while connected; ``aseq`` is the
    last alarm sequence number used, ``digest`` and ``alarms`` prove the alarm set."""
    return _json(
        {
            "v": SCHEMA_VERSION,
            "state": ONLINE,
            "sess": sess,
            "seq": seq,
            "ts": ts_ns,
            "hb_s": heartbeat_s,
            "name": name,
            "aseq": aseq,
            "alarms": alarms,
            "digest": digest,
            "stale_timeout_s": stale_timeout_s,
            "lost_after_s": lost_after_s,
        }
    )


def status_offline(sess: int, reason: str, ts_ns: int | None = None) -> bytes:
    """The last will (``reason`` ``will``, registered at connect) and the clean goodbye."""
    data: dict[str, Any] = {"v": SCHEMA_VERSION, "state": OFFLINE, "reason": reason, "sess": sess}
    if ts_ns is not None:
        data["ts"] = ts_ns
    return _json(data)


def birth(
    sess: int,
    seq: int,
    ts_ns: int,
    *,
    name: str,
    beds: Sequence[BedSnapshot],
    alarms: Mapping[str, int],
) -> bytes:
    """Who this gateway is and what it has: its beds in screen order, their devices, the
    metric dictionary (every parameter and wave it has, with label and unit), and the
    alarm set (uid → alarm sequence number) a screen must end up holding."""
    metrics: dict[str, dict[str, Any]] = {}
    for bed in beds:
        for reading in bed.readings.values():
            metrics.setdefault(str(reading.code), {"label": reading.label, "unit": reading.unit})
        for wave in bed.waves:
            metrics.setdefault(
                str(wave.code),
                {"label": wave.label, "unit": wave.unit, "fs": wave.sample_rate_hz},
            )
    return _json(
        {
            "v": SCHEMA_VERSION,
            "sess": sess,
            "seq": seq,
            "ts": ts_ns,
            "name": name,
            "beds": [{"id": bed.bed.key, "label": bed.label} for bed in beds],
            "devices": [
                {"key": link.device.key, "label": link.device.label, "bed": bed.bed.key}
                for bed in beds
                for link in bed.devices
            ],
            "metrics": metrics,
            "alarms": dict(alarms),
        }
    )


def numerics(sess: int, seq: int, ts_ns: int, bed: BedSnapshot) -> bytes:
    """A bed as the gateway judges it at ``ts_ns``: every reading with its ages and
    freshness, its devices' links, its waves (their samples travel in :func:`pack_waves`)."""
    return _json(
        {
            "v": SCHEMA_VERSION,
            "sess": sess,
            "seq": seq,
            "ts": ts_ns,
            "bed": bed.bed.key,
            "label": bed.label,
            "patient": bed.patient_id,
            "patient_name": bed.patient_name,
            "patient_entered": bed.patient_entered,
            "patient_mismatch": bed.patient_mismatch,
            "conn": bed.connectivity.value,
            "silent_s": _round(bed.silent_s),
            "obs": [
                [
                    r.code,
                    r.label,
                    _finite(r.value),
                    r.unit,
                    r.status.value,
                    _round(r.age_s),
                    _round(r.measured_age_s),
                    r.stale,
                    r.demo,
                ]
                for r in bed.readings.values()
            ],
            "dev": [
                [
                    link.device.key,
                    link.device.label,
                    link.connectivity.value,
                    _round((ts_ns - link.last_seen_ns) / NS_PER_S),
                    link.transport,
                    link.peer,
                    link.messages,
                    round(link.rate_per_s, 3),
                ]
                for link in bed.devices
            ],
            "waves": [
                [w.key[0], w.key[1], w.label, w.unit, w.sample_rate_hz, _round(w.age_s), w.stale]
                for w in bed.waves
            ],
        }
    )


def alarm_state(
    sess: int, aseq: int, ts_ns: int, alarm: ActiveAlarm, *, age_s: float, active: bool = True
) -> bytes:
    """One alarm's state (retained): the fields of IEC 60601-1-8 / IHE ACM a screen shows,
    its age at ``ts_ns``, and ``aseq``, the gateway's alarm sequence number of this change.
    ``active`` False: the alarm is no longer shown at the gateway (``state`` ``ended``)."""
    return _json(
        {
            "v": SCHEMA_VERSION,
            "sess": sess,
            "aseq": aseq,
            "ts": ts_ns,
            "key": alarm.key,
            "state": "active" if active else "ended",
            "bed": None if alarm.bed is None else alarm.bed.key,
            "bed_label": alarm.bed_label,
            "priority": alarm.priority.name.lower(),
            "kind": alarm.kind.value,
            "source": alarm.source.value,
            "text": alarm.text,
            "age_s": _round(age_s),
            "latched": alarm.latched,
            "acknowledged": alarm.acknowledged,
            "silenced": alarm.silenced,
            "device": None if alarm.device is None else [alarm.device.key, alarm.device.label],
            "parameter": alarm.parameter_code,
        }
    )


def alarm_digest(alarms: Mapping[str, int]) -> str:
    """What proves two sides hold the same alarm set: a hash of every uid with the
    sequence number of its latest change."""
    text = ",".join(f"{uid}:{aseq}" for uid, aseq in sorted(alarms.items()))
    return hashlib.blake2s(text.encode(), digest_size=8).hexdigest()


# --------------------------------------------------------------------------- waves

WAVE_MAGIC = b"IW"
_HEAD = struct.Struct(">2sBBQIq")  # magic, version, waves, sess, seq, ts
_WAVE = struct.Struct(">iBBBdqfffH")  # code, channel/label/unit lengths, fs, t0, age, scale…
NAN_SAMPLE = -32768
"""A missing sample (NaN at the gateway) in the 16-bit packing."""
MAX_WAVES = 255
MAX_SAMPLES = 65535


@dataclass(frozen=True, slots=True)
class WaveSlice:
    """New samples of one wave of a bed: device time of the first, age when published."""

    code: int
    channel: str
    label: str
    unit: str
    sample_rate_hz: float
    start_ns: int
    age_s: float
    samples: npt.NDArray[np.float32]


def pack_waves(sess: int, seq: int, ts_ns: int, slices: Sequence[WaveSlice]) -> bytes:
    """A bed's new samples of each wave in one message.

    Layout (big-endian): ``"IW"``, version u8, wave count u8, sess u64, seq u32, ts i64;
    then per wave: code i32, the byte lengths of channel, label and unit (u8 each), sample
    rate f64, first sample's device time i64 (ns), age at ``ts`` f32 (s), offset f32,
    scale f32, sample count u16, the channel, label and unit (UTF-8), and the samples as
    i16 — value = offset + scale × sample; -32768 is a missing sample.
    """
    parts = [_HEAD.pack(WAVE_MAGIC, SCHEMA_VERSION, len(slices), sess, seq & 0xFFFFFFFF, ts_ns)]
    for item in slices[:MAX_WAVES]:
        samples = np.asarray(item.samples[-MAX_SAMPLES:], dtype=np.float64)
        present = np.isfinite(samples)
        if present.any():
            low, high = float(samples[present].min()), float(samples[present].max())
        else:
            low = high = 0.0
        offset = (low + high) / 2
        scale = (high - low) / 65532 or 1.0
        packed = np.full(len(samples), NAN_SAMPLE, dtype=">i2")
        packed[present] = np.round((samples[present] - offset) / scale).astype(np.int64)
        texts = [t.encode()[:255] for t in (item.channel, item.label, item.unit)]
        parts.append(
            _WAVE.pack(
                item.code,
                *(len(t) for t in texts),
                item.sample_rate_hz,
                item.start_ns,
                item.age_s,
                offset,
                scale,
                len(samples),
            )
        )
        parts.extend(texts)
        parts.append(packed.tobytes())
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class WavePacket:
    sess: int
    seq: int
    ts_ns: int
    slices: tuple[WaveSlice, ...]


def unpack_waves(data: bytes) -> WavePacket:
    """:func:`pack_waves` read back; :class:`PayloadError` for anything else."""
    try:
        magic, version, count, sess, seq, ts = _HEAD.unpack_from(data, 0)
        if magic != WAVE_MAGIC or version != SCHEMA_VERSION:
            raise PayloadError(f"not a v{SCHEMA_VERSION} wave packet")
        at = _HEAD.size
        slices = []
        for _ in range(count):
            code, n_chan, n_label, n_unit, fs, t0, age, offset, scale, n = _WAVE.unpack_from(
                data, at
            )
            at += _WAVE.size
            texts = []
            for size in (n_chan, n_label, n_unit):
                texts.append(data[at : at + size].decode())
                at += size
            raw = np.frombuffer(data, dtype=">i2", count=n, offset=at)
            at += 2 * n
            if not (math.isfinite(fs) and fs > 0):
                raise PayloadError(f"sample rate {fs!r}")
            samples = (offset + scale * raw.astype(np.float32)).astype(np.float32)
            samples[raw == NAN_SAMPLE] = np.nan
            slices.append(WaveSlice(code, texts[0], texts[1], texts[2], fs, t0, age, samples))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"bad wave packet: {exc}") from None
    if at != len(data):
        raise PayloadError(f"{len(data) - at} bytes after the last wave")
    return WavePacket(sess, seq, ts, tuple(slices))


# --------------------------------------------------------------------------- screen side


def read_json(data: bytes) -> dict[str, Any]:
    """A JSON payload of schema v1, as a dict; :class:`PayloadError` otherwise."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PayloadError("not a JSON object")
    if value.get("v") != SCHEMA_VERSION:
        raise PayloadError(f"schema {value.get('v')!r}, not {SCHEMA_VERSION}")
    return value


def field(data: Mapping[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """``data[name]`` when it is of ``kind`` (a bool is never a number here)."""
    value = data.get(name)
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise PayloadError(f"{name}: {value!r}")
    if not isinstance(value, kind):
        raise PayloadError(f"{name}: {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Status:
    state: str
    sess: int
    seq: int
    ts_ns: int
    reason: str = ""
    name: str = ""
    aseq: int = 0
    alarms: int = 0
    digest: str = ""
    stale_timeout_s: float = 10.0
    lost_after_s: float = 60.0
    heartbeat_s: float = 1.0


def read_status(data: bytes) -> Status:
    d = read_json(data)
    state = field(d, "state", str)
    sess = field(d, "sess", int)
    if state == OFFLINE:
        return Status(OFFLINE, sess, 0, int(d.get("ts") or 0), reason=str(d.get("reason", "")))
    if state != ONLINE:
        raise PayloadError(f"state {state!r}")
    return Status(
        ONLINE,
        sess,
        field(d, "seq", int),
        field(d, "ts", int),
        name=field(d, "name", str),
        aseq=field(d, "aseq", int),
        alarms=field(d, "alarms", int),
        digest=field(d, "digest", str),
        stale_timeout_s=float(field(d, "stale_timeout_s", (int, float))),
        lost_after_s=float(field(d, "lost_after_s", (int, float))),
        heartbeat_s=float(field(d, "hb_s", (int, float))),
    )


@dataclass(frozen=True, slots=True)
class Birth:
    sess: int
    ts_ns: int
    name: str
    beds: tuple[tuple[str, str], ...]
    """(id, label) in the gateway's screen order."""
    alarms: Mapping[str, int]


def read_birth(data: bytes) -> Birth:
    d = read_json(data)
    beds = []
    for bed in field(d, "beds", list):
        if not isinstance(bed, dict):
            raise PayloadError("beds: not objects")
        beds.append((field(bed, "id", str), field(bed, "label", str)))
    alarms = field(d, "alarms", dict)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in alarms.values()):
        raise PayloadError("alarms: not uid → sequence number")
    return Birth(
        field(d, "sess", int), field(d, "ts", int), field(d, "name", str), tuple(beds), alarms
    )


PRIORITIES = {p.name.lower(): p for p in AlarmPriority}
CONNECTIVITY = {c.value: c for c in Connectivity}
STATUSES = {s.value: s for s in ObservationStatus}
KINDS = {k.value: k for k in AlarmKind}
SOURCES = {s.value: s for s in AlarmSource}


def choice(table: Mapping[str, Any], value: object, name: str) -> Any:
    if not isinstance(value, str) or value not in table:
        raise PayloadError(f"{name}: {value!r}")
    return table[value]


# --------------------------------------------------------------------------- remote acknowledgement

MAX_ACK_ALARMS = 256
MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class AckRequest:
    """A remote screen asks a gateway to acknowledge the alarms it showed: each by uid and
    the alarm sequence number it had on that screen, in the gateway's session ``sess``."""

    screen: str
    operator: str
    sess: int
    ts_ns: int
    alarms: Mapping[str, int]


def ack_request(
    screen: str, operator: str, sess: int, ts_ns: int, alarms: Mapping[str, int]
) -> bytes:
    return _json(
        {
            "v": SCHEMA_VERSION,
            "screen": screen,
            "operator": operator,
            "sess": sess,
            "ts": ts_ns,
            "alarms": dict(alarms),
        }
    )


def _name(d: Mapping[str, Any], key: str) -> str:
    text: str = field(d, key, str).strip()
    if not text or len(text) > MAX_NAME or not text.isprintable():
        raise PayloadError(f"{key}: {text[:MAX_NAME]!r} (1 to {MAX_NAME} printable characters)")
    return text


def read_ack_request(data: bytes) -> AckRequest:
    d = read_json(data)
    alarms = field(d, "alarms", dict)
    if not alarms or len(alarms) > MAX_ACK_ALARMS:
        raise PayloadError(f"alarms: {len(alarms)} (1 to {MAX_ACK_ALARMS})")
    for uid, aseq in alarms.items():
        valid_uid = len(uid) == 16 and all(c in "0123456789abcdef" for c in uid)
        if not valid_uid or isinstance(aseq, bool) or not isinstance(aseq, int) or aseq < 1:
            raise PayloadError(f"alarms: {uid[:20]!r} → {aseq!r} is not uid → sequence number")
    return AckRequest(
        _name(d, "screen"), _name(d, "operator"), field(d, "sess", int), field(d, "ts", int), alarms
    )

"""The ingest schema v1: a device's MQTT topic and JSON payload ↔ a typed observation set.

:func:`decode` is total: any topic and any bytes give an :class:`ObservationSet` or a
:class:`DecodeError` saying what is wrong — never another exception, within bounds set
here (payload size, rows, string lengths, nesting). It refuses NaN and ±Infinity (not
JSON, though Python's parser takes them), numbers out of range, non-UTF-8, wrong types,
unknown words for status, priority, kind or phase, and a topic outside the tree.
Keys it does not know are ignored, so v1 may grow by additions; a change an older
gateway would misread takes ``"v": 2``. :func:`encode` is the other way, for emitters
(the simulator). The schema is written down in ``docs/mqtt.md`` ("Ingest").

This module knows no domain record, no broker and no hub: :mod:`.mapping` makes the
reports, :mod:`.ingest` receives.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

SCHEMA_VERSION = 1
DEFAULT_PREFIX = f"icu/in/v{SCHEMA_VERSION}"
"""Not under the gateways' ``icu/v1``: a screen subscribed to ``icu/v1/+/+/+/#`` must
never take a device for a gateway."""
OBSERVATIONS = "obs"
"""The last level of a device's topic."""

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_TOPIC_CHARS = 256
MAX_OBSERVATIONS = 256
MAX_ALARMS = 64
MAX_WAVES = 16
MAX_SAMPLES = 4096
MAX_TEXT = 128
MAX_VALUE_TEXT = 256
MAX_ID = 64
MAX_MDC_CODE = (1 << 32) - 1
MAX_RATE_HZ = 2000.0
MIN_TIME_NS = 946_684_800 * 10**9
"""2000-01-01: a time before it is a device whose clock was never set."""
MAX_TIME_NS = 4_102_444_800 * 10**9
"""2100-01-01."""
MAX_ABS_VALUE = 1e12

LEVEL = re.compile(r"[a-z0-9-]{1,64}")
_DEVICE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_EUI64 = re.compile(r"[0-9A-Fa-f]{16}")

STATUSES = ("valid", "invalid", "questionable")
PRIORITIES = ("high", "medium", "low", "none")
KINDS = ("physiological", "technical", "advisory")
PHASES = ("start", "continue", "end", "present")
STATES = ("active", "inactive", "latched")
INACTIVATIONS = (
    "enabled", "audio-paused", "audio-off", "alarm-paused", "alarm-off", "alert-acknowledged",
)  # fmt: skip


class DecodeError(Exception):
    """The topic or payload is not a v1 observation message; the text says why."""


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    """Where a device publishes: ``<prefix>/<site>/<ward>/<device>/obs``."""

    prefix: str
    site: str
    ward: str
    device: str

    def __str__(self) -> str:
        return f"{self.prefix}/{self.site}/{self.ward}/{self.device}/{OBSERVATIONS}"


def ingest_filter(prefix: str = DEFAULT_PREFIX, site: str = "+", ward: str = "+") -> str:
    """What the gateway subscribes to: every device of one ward (``+``: of every one)."""
    return f"{prefix}/{site}/{ward}/+/{OBSERVATIONS}"


def parse_topic(prefix: str, topic: str) -> DeviceTopic:
    if len(topic) > MAX_TOPIC_CHARS:
        raise DecodeError(f"topic of {len(topic)} characters (at most {MAX_TOPIC_CHARS})")
    if not topic.startswith(prefix + "/"):
        raise DecodeError(f"topic not under {prefix}/")
    levels = topic[len(prefix) + 1 :].split("/")
    if len(levels) != 4 or levels[3] != OBSERVATIONS:
        raise DecodeError(f"topic is not {prefix}/<site>/<ward>/<device>/{OBSERVATIONS}")
    for name, part in zip(("site", "ward", "device"), levels[:3], strict=False):
        if not LEVEL.fullmatch(part):
            raise DecodeError(f'topic level {name} is not 1-64 of a-z, 0-9 and "-"')
    return DeviceTopic(prefix, levels[0], levels[1], levels[2])


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ObservationRow:
    code: int
    label: str
    value: float | str | None
    """None: the device has no value (an INVALID observation)."""
    unit: str
    status: str
    time_ns: int | None
    demo: bool
    reason: str
    channel: str


@dataclass(frozen=True, slots=True)
class AlarmRow:
    alarm_id: str
    code: int
    text: str
    priority: str
    kind: str
    phase: str
    state: str
    inactivation: str
    parameter: int | None
    value: float | None
    unit: str
    limits: str
    time_ns: int | None
    demo: bool


@dataclass(frozen=True, slots=True)
class WaveRow:
    code: int
    label: str
    rate_hz: float
    start_ns: int
    unit: str
    channel: str
    samples: tuple[float | None, ...]
    """None: a gap."""


@dataclass(frozen=True, slots=True)
class ObservationSet:
    """One message of one device, as the schema says it."""

    topic: DeviceTopic
    device_id: str
    device_label: str
    time_ns: int
    seq: int | None
    location: str
    patient_id: str
    demo: bool
    observations: tuple[ObservationRow, ...]
    alarms: tuple[AlarmRow, ...]
    waves: tuple[WaveRow, ...]

    @property
    def device_key(self) -> str:
        """``EUI-64:<HEX>`` for a 16-hex-digit id (as HL7 devices are known), else
        ``mqtt:<id>``."""
        if _EUI64.fullmatch(self.device_id):
            return f"EUI-64:{self.device_id.upper()}"
        return f"mqtt:{self.device_id}"

    @property
    def control_id(self) -> str:
        """What tells this message apart from the device's others (a redelivered copy
        has the same): its ``seq``, else its time."""
        return str(self.seq) if self.seq is not None else str(self.time_ns)


# --------------------------------------------------------------------------- decoding


def _no_constant(name: str) -> Any:
    raise DecodeError(f"{name} is not a number JSON allows")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DecodeError(f"key {key!r} given twice")
        out[key] = value
    return out


def decode(prefix: str, topic: str, payload: bytes) -> ObservationSet:
    """The observation set of one message (see the module docstring)."""
    where = parse_topic(prefix, topic)
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(f"payload of {len(payload)} bytes (at most {MAX_PAYLOAD_BYTES})")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"payload is not UTF-8 (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_no_duplicates)
    except DecodeError:
        raise
    except json.JSONDecodeError as exc:
        raise DecodeError(f"not JSON: {exc.msg} at {exc.pos}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep; an integer too long
        raise DecodeError(f"not usable JSON: {type(exc).__name__}") from None
    return _message(where, document)


def _message(where: DeviceTopic, document: Any) -> ObservationSet:
    doc = _object(document, "the payload")
    version = doc.get("v")
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise DecodeError(f"v is {_shown(version)}; this gateway reads v {SCHEMA_VERSION}")
    device = _object(doc.get("device"), "device")
    device_id = _text(device.get("id"), "device.id", MAX_ID, required=True)
    if not _DEVICE_ID.fullmatch(device_id):
        raise DecodeError('device.id is not 1-64 of letters, digits, ".", "_", ":" and "-"')
    time_ns = _time(doc.get("time"), "time", required=True)
    assert time_ns is not None
    seq = doc.get("seq")
    if seq is not None and (
        not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq < 1 << 63
    ):
        raise DecodeError("seq is not a whole number from 0 to 2^63-1")
    demo = _flag(doc.get("demo"), "demo")
    return ObservationSet(
        topic=where,
        device_id=device_id,
        device_label=_text(device.get("label"), "device.label", MAX_TEXT) or device_id,
        time_ns=time_ns,
        seq=seq,
        location=_text(doc.get("location"), "location", MAX_ID),
        patient_id=_text(doc.get("patient_id"), "patient_id", MAX_ID),
        demo=demo,
        observations=tuple(
            _observation(row, f"obs[{i}]")
            for i, row in enumerate(_list(doc.get("obs"), "obs", MAX_OBSERVATIONS))
        ),
        alarms=tuple(
            _alarm(row, f"alarms[{i}]")
            for i, row in enumerate(_list(doc.get("alarms"), "alarms", MAX_ALARMS))
        ),
        waves=tuple(
            _wave(row, f"waves[{i}]")
            for i, row in enumerate(_list(doc.get("waves"), "waves", MAX_WAVES))
        ),
    )


def _observation(row: Any, where: str) -> ObservationRow:
    obs = _object(row, where)
    value = obs.get("value")
    if isinstance(value, str):
        if len(value) > MAX_VALUE_TEXT:
            raise DecodeError(f"{where}.value: text longer than {MAX_VALUE_TEXT}")
    elif value is not None:
        value = _number(value, f"{where}.value", required=True)
    status = _word(obs.get("status", "valid"), f"{where}.status", STATUSES)
    return ObservationRow(
        code=_code(obs.get("code"), f"{where}.code", required=True) or 0,
        label=_text(obs.get("label"), f"{where}.label", MAX_TEXT),
        value=value,
        unit=_text(obs.get("unit"), f"{where}.unit", MAX_TEXT),
        status=status,
        time_ns=_time(obs.get("time"), f"{where}.time"),
        demo=_flag(obs.get("demo"), f"{where}.demo"),
        reason=_text(obs.get("reason"), f"{where}.reason", MAX_TEXT),
        channel=_text(obs.get("channel"), f"{where}.channel", MAX_ID),
    )


def _alarm(row: Any, where: str) -> AlarmRow:
    alarm = _object(row, where)
    phase = _word(alarm.get("phase"), f"{where}.phase", PHASES)
    state = _word(
        alarm.get("state", "inactive" if phase == "end" else "active"), f"{where}.state", STATES
    )
    return AlarmRow(
        alarm_id=_text(alarm.get("id"), f"{where}.id", MAX_ID, required=True),
        code=_code(alarm.get("code"), f"{where}.code") or 0,
        text=_text(alarm.get("text"), f"{where}.text", MAX_TEXT, required=True),
        priority=_word(alarm.get("priority"), f"{where}.priority", PRIORITIES),
        kind=_word(alarm.get("kind"), f"{where}.kind", KINDS),
        phase=phase,
        state=state,
        inactivation=_word(
            alarm.get("inactivation", "enabled"), f"{where}.inactivation", INACTIVATIONS
        ),
        parameter=_code(alarm.get("parameter"), f"{where}.parameter"),
        value=_number(alarm.get("value"), f"{where}.value"),
        unit=_text(alarm.get("unit"), f"{where}.unit", MAX_TEXT),
        limits=_text(alarm.get("limits"), f"{where}.limits", MAX_TEXT),
        time_ns=_time(alarm.get("time"), f"{where}.time"),
        demo=_flag(alarm.get("demo"), f"{where}.demo"),
    )


def _wave(row: Any, where: str) -> WaveRow:
    wave = _object(row, where)
    rate = _number(wave.get("rate"), f"{where}.rate", required=True)
    assert rate is not None
    if not 0 < rate <= MAX_RATE_HZ:
        raise DecodeError(f"{where}.rate: {rate:g} Hz is not above 0 and at most {MAX_RATE_HZ:g}")
    raw = _list(wave.get("samples"), f"{where}.samples", MAX_SAMPLES)
    samples = tuple(
        None if s is None else _number(s, f"{where}.samples[{i}]", required=True)
        for i, s in enumerate(raw)
    )
    start = _time(wave.get("start"), f"{where}.start", required=True)
    assert start is not None
    return WaveRow(
        code=_code(wave.get("code"), f"{where}.code", required=True) or 0,
        label=_text(wave.get("label"), f"{where}.label", MAX_TEXT),
        rate_hz=rate,
        start_ns=start,
        unit=_text(wave.get("unit"), f"{where}.unit", MAX_TEXT),
        channel=_text(wave.get("channel"), f"{where}.channel", MAX_ID),
        samples=samples,
    )


# --------------------------------------------------------------------------- value kinds


def _shown(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool | None) else "…"
    return text if len(text) <= 40 else text[:37] + "..."


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError(f"{where} is not an object")
    return value


def _list(value: Any, where: str, most: int) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{where} is not a list")
    if len(value) > most:
        raise DecodeError(f"{where}: {len(value)} entries (at most {most})")
    return value


def _text(value: Any, where: str, most: int, *, required: bool = False) -> str:
    if value is None:
        if required:
            raise DecodeError(f"{where} is missing")
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where} is not text")
    if len(value) > most:
        raise DecodeError(f"{where}: text longer than {most}")
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in value):
        raise DecodeError(f"{where}: holds a control character")
    if required and not value:
        raise DecodeError(f"{where} is empty")
    return value


def _flag(value: Any, where: str) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DecodeError(f"{where} is not true or false")
    return value


def _number(value: Any, where: str, *, required: bool = False) -> float | None:
    if value is None:
        if required:
            raise DecodeError(f"{where} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(f"{where} is not a number")
    number = float(value) if abs(value) <= MAX_ABS_VALUE else math.inf
    if not math.isfinite(number):
        raise DecodeError(f"{where}: {_shown(value)} is beyond ±{MAX_ABS_VALUE:g}")
    return number


def _code(value: Any, where: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise DecodeError(f"{where} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_MDC_CODE:
        raise DecodeError(f"{where}: {_shown(value)} is not an MDC code (1 to 2^32-1)")
    return value


def _word(value: Any, where: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed or not isinstance(value, str):
        raise DecodeError(f"{where}: {_shown(value)}; expected one of {', '.join(allowed)}")
    return value


def _time(value: Any, where: str, *, required: bool = False) -> int | None:
    if value is None:
        if required:
            raise DecodeError(f"{where} is missing")
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        ns = value
    elif isinstance(value, str) and len(value) <= 40:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise DecodeError(f"{where}: {_shown(value)} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise DecodeError(f"{where}: {_shown(value)} has no UTC offset (add Z)")
        ns = _ns_of(moment)
    else:
        raise DecodeError(f"{where} is not a time (ns since 1970 or ISO 8601)")
    if not MIN_TIME_NS <= ns < MAX_TIME_NS:
        raise DecodeError(f"{where}: {_shown(value)} is not between 2000 and 2100")
    return ns


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _ns_of(moment: datetime) -> int:
    try:
        return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    except OverflowError:
        raise DecodeError("time out of range") from None


# --------------------------------------------------------------------------- encoding


def encode(document: dict[str, Any]) -> bytes:
    """A v1 payload as bytes (compact JSON, UTF-8); ``document`` is what the schema says,
    without ``v``. NaN and ±Infinity cannot be encoded (ValueError): send null."""
    body = {"v": SCHEMA_VERSION, **document}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()

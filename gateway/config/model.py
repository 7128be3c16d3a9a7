"""The gateway's configuration: one TOML file, validated at load into frozen typed objects.

Everything the gateway can be told lives here: the ward's name and timeouts, the journal
path, MLLP listeners, serial ports, beds (with the locations, devices and peers that bind
to them and their alarm-limit overrides), alarm defaults, MQTT and dashboard options.

A file is checked as a whole: every problem found is collected and raised together in one
:class:`~gateway.errors.ConfigError`, each message naming the file, the line, the key path,
what was wrong and what is allowed. An unknown key is an error, never ignored: a typo in
an alarm limit must not silently leave a bed unguarded. ``icu-gateway check-config`` runs
the same checks through :func:`check_config`.

This module must not open sockets or serial ports, create files or look anything up on the
network: it says whether a configuration is *well formed*; whether a port can be bound or a
broker reached is found out by the parts that use them, at start-up.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, Protocol
from urllib.parse import urlsplit

from gateway.admission import (
    DEFAULT_MAX_AUTO_BEDS,
    DEFAULT_MAX_DEVICES,
    DEFAULT_NEW_IDENTITIES_PER_MINUTE,
    AdmissionLimits,
)
from gateway.domain import BedId
from gateway.errors import ConfigError
from gateway.journal.schema import DEFAULT_RETENTION_H
from gateway.ward.routing import BedBinding, location_key
from gateway.ward.state import DEFAULT_LOST_AFTER_S, DEFAULT_STALE_TIMEOUT_S

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SerialKind = Literal["masimo", "nonin", "ivy", "hl7"]
Parity = Literal["none", "even", "odd"]
AudioMode = Literal["bell", "command", "off"]

DEFAULT_MLLP_PORT = 2575
STANDARD_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# Every supported device ships at 9600 8N1; a per-kind table so one can differ.
DEFAULT_BAUD: Mapping[str, int] = MappingProxyType(
    {"masimo": 9600, "nonin": 9600, "ivy": 9600, "hl7": 9600}
)
DEVICE_KEY_PREFIXES = ("EUI-64:", "app:", "serial:", "tcp:")


@dataclass(frozen=True, slots=True)
class LimitParameter:
    """A parameter alarm limits can be set for, in the unit the limits are written in.

    ``lowest``/``highest`` bound what a limit may be: they catch a value written in the
    wrong unit (°F for °C, a fraction for a percentage), not clinical judgement.
    """

    name: str
    unit: str
    lowest: float
    highest: float


LIMIT_PARAMETERS: Mapping[str, LimitParameter] = MappingProxyType(
    {
        p.name: p
        for p in (
            LimitParameter("hr", "/min", 0, 350),
            LimitParameter("spo2", "%", 0, 100),
            LimitParameter("nibp_sys", "mmHg", 0, 300),
            LimitParameter("nibp_mean", "mmHg", 0, 300),
            LimitParameter("abp_sys", "mmHg", 0, 300),
            LimitParameter("abp_mean", "mmHg", 0, 300),
            LimitParameter("rr", "/min", 0, 150),
            LimitParameter("etco2", "mmHg", 0, 150),
            LimitParameter("temp", "°C", 15, 45),
        )
    }
)


# --------------------------------------------------------------------------- config objects


@dataclass(frozen=True, slots=True)
class Limit:
    """Alarm limits of one parameter; ``None`` means not set (no alarm on that side)."""

    low: float | None = None
    high: float | None = None
    delay_s: float | None = None
    """Seconds a value must stay past a limit before it alarms; None: the ward default."""


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """An MLLP-over-TCP listener."""

    host: str
    port: int
    allow: tuple[IPNetwork, ...] = ()
    """Source networks that may connect; empty allows every source."""
    max_connections: int = 64
    max_frame_bytes: int = 1_048_576
    idle_timeout_s: float = 300.0
    """A connection that completes no frame for this long is closed."""
    frame_deadline_s: float = 30.0
    quiet_after_s: float = 10.0
    """A frame must be complete this long after its first byte, or its connection closes."""
    max_connections_per_peer: int = 32
    """Connections one source address may hold; one more replaces its idlest."""

    @property
    def bind(self) -> str:
        """``HOST:PORT`` as written in the file (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def allows(self, address: str) -> bool:
        """Whether a peer at ``address`` (an IP address, as a socket reports it) may connect.

        Anything that is not an IP address is refused when an allow list is set.
        """
        if not self.allow:
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
        return any(ip in network for network in self.allow)


@dataclass(frozen=True, slots=True)
class SerialConfig:
    """A serial port with one device on it."""

    kind: SerialKind
    port: str
    baud: int
    parity: Parity = "none"
    bed: str | None = None
    """The bed the device belongs to; None lets the usual routing decide."""


@dataclass(frozen=True, slots=True)
class BedConfig:
    """A bed and what binds a sender to it."""

    id: str
    label: str
    locations: tuple[str, ...] = ()
    """PV1-3 exactly as the devices send it (``ICU^12^1``)."""
    devices: tuple[str, ...] = ()
    """Device keys (``EUI-64:00A037EB2175780F``), as in :class:`gateway.domain.DeviceId`."""
    peers: tuple[IPAddress, ...] = ()
    """IP addresses whose every message belongs to this bed."""
    limits: Mapping[str, Limit] = field(default_factory=lambda: MappingProxyType({}))
    """Overrides of the ward's alarm limits, by parameter name (see LIMIT_PARAMETERS)."""


@dataclass(frozen=True, slots=True)
class AlarmConfig:
    limits: Mapping[str, Limit] = field(default_factory=lambda: MappingProxyType({}))
    hysteresis_pct: float = 5.0
    condition_delay_s: float = 5.0
    audio: AudioMode = "bell"
    audio_command: str | None = None
    audio_pause_s: float = 120.0


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Publishing to an MQTT broker; present in :class:`GatewayConfig` only when enabled."""

    url: str
    host: str
    port: int
    tls: bool
    credentials_file: Path | None = None
    topic_prefix: str = "icu/v1"


@dataclass(frozen=True, slots=True)
class DashboardConfig:
    refresh_hz: float = 4.0
    columns: int = 0
    """Bed tiles per row; 0 fits as many as the terminal allows."""
    mute: bool = False


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    name: str
    stale_timeout_s: float
    lost_after_s: float
    journal: Path
    auto_beds: bool
    listeners: tuple[ListenerConfig, ...]
    serial: tuple[SerialConfig, ...]
    beds: tuple[BedConfig, ...]
    alarms: AlarmConfig
    mqtt: MqttConfig | None
    dashboard: DashboardConfig
    source: str
    """Where the configuration came from: a file path, ``<config>`` or ``<default>``."""
    retention_h: float = DEFAULT_RETENTION_H
    """Hours the journal keeps everything received; older messages are pruned."""
    admission: AdmissionLimits = field(default_factory=AdmissionLimits)
    """What senders may create: automatic beds, devices, new ones a minute per peer."""

    def bindings(self) -> tuple[BedBinding, ...]:
        """What the router needs of each bed; a serial port's ``bed`` binds ``serial:<port>``."""
        return tuple(
            BedBinding(
                BedId(bed.id),
                bed.label,
                bed.locations,
                bed.devices
                + tuple(f"serial:{port.port}" for port in self.serial if port.bed == bed.id),
                tuple(str(peer) for peer in bed.peers),
            )
            for bed in self.beds
        )

    def limits_for(self, bed_id: str) -> Mapping[str, Limit]:
        """The alarm limits in force for a bed: the ward defaults, overridden field by field.

        A bed that sets only ``hr.low`` keeps the ward's ``hr.high``: an override never
        switches a default limit off by leaving it out.
        """
        merged = dict(self.alarms.limits)
        for bed in self.beds:
            if bed.id == bed_id:
                for name, limit in bed.limits.items():
                    merged[name] = _merge_limit(merged.get(name), limit)
        return MappingProxyType(merged)


def _merge_limit(default: Limit | None, override: Limit) -> Limit:
    if default is None:
        return override
    return Limit(
        default.low if override.low is None else override.low,
        default.high if override.high is None else override.high,
        default.delay_s if override.delay_s is None else override.delay_s,
    )


# --------------------------------------------------------------------------- public API


def load_config(path: str | os.PathLike[str]) -> GatewayConfig:
    """Read and validate a TOML file; relative paths in it are taken from its folder."""
    source = os.fspath(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ConfigError([f"{source}: cannot read the file: {error.strerror or error}"]) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ConfigError(
            [f"{source}:{line}: byte 0x{data[error.start]:02x} is not UTF-8; save it as UTF-8"]
        ) from None
    return parse_config(text, source, base_dir=Path(path).parent)


def parse_config(
    text: str, source: str = "<config>", *, base_dir: Path | None = None
) -> GatewayConfig:
    """Validate TOML text; ``base_dir`` anchors relative paths (kept as written if None)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([_syntax_problem(source, text, error)]) from None
    reader = _Reader(source, _LineIndex(text))
    root = _Cursor(reader, ())
    document = _ROOT(raw, root)
    _check_document(document, root)
    if reader.problems:
        raise ConfigError(reader.sorted_problems())
    return _build(document, source, base_dir)


def default_config() -> GatewayConfig:
    """The zero-configuration gateway: one listener on 0.0.0.0:2575, beds made as heard."""
    return parse_config("", "<default>")


def parse_bind(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port); ValueError saying what is wrong."""
    try:
        return _bind(text)
    except _Invalid as error:
        raise ValueError(str(error)) from None


def check_config(path: str | os.PathLike[str]) -> list[str]:
    """Every problem with a configuration file; empty when it is valid."""
    try:
        load_config(path)
    except ConfigError as error:
        return error.problems
    return []


# --------------------------------------------------------------------------- validation engine
#
# A schema is a tree of converters. Each takes the raw TOML value and a cursor (where in the
# file it is) and returns the checked value, or _BAD after reporting why. Tables return the
# keys that were good even when others were not, so that checks across the document (a
# duplicate bed id) still run and every problem surfaces in one pass.

KeyPath = tuple[str | int, ...]


class _Bad(enum.Enum):
    BAD = "bad"


_BAD = _Bad.BAD
_REQUIRED: Any = object()


class _Invalid(Exception):
    """Raised by a scalar parser: the message says what was wrong with the value."""


class _LineIndex:
    """Line numbers of tables and keys, found by scanning the text (tomllib gives none).

    Best effort: headers, ``key = value`` lines (dotted keys too) and ``[[array]]`` counts
    are recognised; a key inside an inline table is reported at the line of its table.
    """

    _KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
    _DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
    _HEADER = re.compile(rf"\s*(\[\[?)\s*({_DOTTED})\s*\]\]?\s*(?:#.*)?$")
    _ASSIGN = re.compile(rf"\s*({_DOTTED})\s*=")

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        arrays: dict[KeyPath, int] = {}
        table: KeyPath = ()
        open_string: str | None = None
        for number, line in enumerate(text.splitlines(), 1):
            if open_string is not None:  # inside a multi-line string: nothing here is a key
                if line.count(open_string) % 2:
                    open_string = None
                continue
            if header := self._HEADER.match(line):
                table = self._table_path(self._parts(header[2]), header[1] == "[[", arrays)
                for end in range(1, len(table) + 1):
                    self._lines.setdefault(table[:end], number)
            elif assign := self._ASSIGN.match(line):
                parts = self._parts(assign[1])
                for end in range(1, len(parts) + 1):
                    self._lines.setdefault(table + parts[:end], number)
            for quotes in ('"""', "'''"):
                if line.count(quotes) % 2:
                    open_string = quotes

    def line_of(self, path: KeyPath) -> int | None:
        """The line of ``path``, or of its nearest enclosing key or table that is known."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def _parts(self, dotted: str) -> tuple[str, ...]:
        return tuple(part.strip("\"'") for part in re.findall(self._KEY, dotted))

    def _table_path(
        self, parts: tuple[str, ...], is_array: bool, arrays: dict[KeyPath, int]
    ) -> KeyPath:
        path: KeyPath = ()
        for position, part in enumerate(parts):
            path += (part,)
            if is_array and position == len(parts) - 1:
                arrays[path] = arrays.get(path, 0) + 1
            if path in arrays:
                path += (arrays[path] - 1,)
        return path


class _Reader:
    def __init__(self, source: str, lines: _LineIndex) -> None:
        self.source = source
        self.lines = lines
        self.problems: list[tuple[int | None, str]] = []

    def add(self, path: KeyPath, message: str) -> None:
        line = self.lines.line_of(path)
        where = self.source if not line else f"{self.source}:{line}"
        self.problems.append((line, f"{where}: {_show_path(path)}: {message}"))

    def sorted_problems(self) -> list[str]:
        return [text for _, text in sorted(self.problems, key=lambda p: p[0] or math.inf)]


@dataclass(frozen=True, slots=True)
class _Cursor:
    reader: _Reader
    path: KeyPath

    def at(self, key: str | int) -> _Cursor:
        return _Cursor(self.reader, (*self.path, key))

    def problem(self, message: str) -> None:
        self.reader.add(self.path, message)


class _Convert(Protocol):
    @property
    def allowed(self) -> str: ...

    def __call__(self, raw: object, cursor: _Cursor) -> Any: ...


@dataclass(frozen=True, slots=True)
class _Scalar:
    """A leaf value: ``parse`` returns it checked and converted, or raises _Invalid."""

    allowed: str
    parse: Callable[[object], Any]

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        try:
            return self.parse(raw)
        except _Invalid as wrong:
            cursor.problem(f"{wrong}; expected {self.allowed}")
            return _BAD


@dataclass(frozen=True, slots=True)
class _List:
    item: _Convert
    allowed: str

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        if not isinstance(raw, list):
            cursor.problem(f"got {_describe(raw)}; expected {self.allowed}")
            return _BAD
        return [self.item(value, cursor.at(index)) for index, value in enumerate(raw)]


@dataclass(frozen=True, slots=True)
class _Field:
    convert: _Convert
    default: Any = None
    """Used when the key is absent (and converted like a written value); None: left None."""


@dataclass(frozen=True, slots=True)
class _Table:
    """A table with a fixed set of keys; unknown keys are errors naming the allowed ones."""

    allowed: str
    fields: Mapping[str, _Field]
    check: Callable[[dict[str, Any], dict[str, Any], _Cursor], None] | None = None
    """Checks across keys, given the good (or defaulted) values and the table as written."""

    def __call__(self, raw: object, cursor: _Cursor) -> Any:
        if not isinstance(raw, dict):
            cursor.problem(f"got {_describe(raw)}; expected {self.allowed}")
            return _BAD
        for key in raw:
            if key not in self.fields:
                cursor.at(key).problem(_unknown_key(key, list(self.fields)))
        values: dict[str, Any] = {}
        for key, spec in self.fields.items():
            if key in raw:
                value = spec.convert(raw[key], cursor.at(key))
            elif spec.default is _REQUIRED:
                cursor.at(key).problem(f"missing; expected {spec.convert.allowed}")
                value = _BAD
            elif spec.default is None:
                value = None
            else:
                value = spec.convert(spec.default, cursor.at(key))
            if value is not _BAD:
                values[key] = value
        if self.check is not None:
            self.check(values, raw, cursor)
        return values


def _unknown_key(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"unknown key{hint}; allowed keys: {', '.join(allowed)}"


def _show_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part)
            text += f".{name}" if text else name
    return text


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"the string {json.dumps(value, ensure_ascii=False)}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    return f"a date/time ({value})"


def _show(value: object) -> str:
    """A value as it would be written in TOML."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _num(value: object) -> str:
    """A number without a needless ``.0``: bounds, and values already converted to float."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _syntax_problem(source: str, text: str, error: tomllib.TOMLDecodeError) -> str:
    message = str(error)
    if found := re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", message, re.DOTALL):
        return f"{source}:{found[2]}:{found[3]}: TOML syntax error: {found[1]}"
    if found := re.fullmatch(r"(.*) \(at end of document\)", message, re.DOTALL):
        lines = max(len(text.splitlines()), 1)
        return f"{source}:{lines}: TOML syntax error at the end of the file: {found[1]}"
    return f"{source}: TOML syntax error: {message}"


# --------------------------------------------------------------------------- value kinds


def _number(
    *,
    above: float | None = None,
    least: float | None = None,
    most: float | None = None,
    whole: bool = False,
    unit: str = "",
) -> _Scalar:
    noun = "a whole number" if whole else "a number"
    if least is not None and most is not None:
        allowed = f"{noun} from {_num(least)} to {_num(most)}"
    elif above is not None:
        allowed = f"{noun} > {_num(above)}"
    elif least is not None:
        allowed = f"{noun} >= {_num(least)}"
    else:
        allowed = noun
    if unit:
        allowed += f" ({unit})"

    def parse(raw: object) -> float | int:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Invalid(f"got {_describe(raw)}")
        if whole and not isinstance(raw, int):
            raise _Invalid(f"{_show(raw)} is not a whole number")
        if not math.isfinite(raw):
            raise _Invalid(f"{_show(raw)} is not a finite number")
        if (
            (above is not None and not raw > above)
            or (least is not None and raw < least)
            or (most is not None and raw > most)
        ):
            raise _Invalid(f"{_show(raw)} is out of range")
        return raw if whole else float(raw)

    return _Scalar(allowed, parse)


def _flag() -> _Scalar:
    def parse(raw: object) -> bool:
        if not isinstance(raw, bool):
            raise _Invalid(f"got {_describe(raw)}")
        return raw

    return _Scalar("true or false", parse)


def _text(allowed: str = "a non-empty string", then: Callable[[str], Any] | None = None) -> _Scalar:
    """A string, non-empty and without surrounding blanks; ``then`` checks it further."""

    def parse(raw: object) -> Any:
        if not isinstance(raw, str):
            raise _Invalid(f"got {_describe(raw)}")
        if not raw.strip():
            raise _Invalid("got an empty string")
        if raw != raw.strip():
            raise _Invalid(f"{_show(raw)} has blanks at its start or end")
        return raw if then is None else then(raw)

    return _Scalar(allowed, parse)


def _choice(*options: str | int) -> _Scalar:
    allowed = "one of " + ", ".join(_show(option) for option in options)

    def parse(raw: object) -> Any:
        # bool is an int to Python, never a baud rate or a name to us
        if isinstance(raw, bool) or raw not in options:
            raise _Invalid(f"got {_describe(raw)}")
        return raw

    return _Scalar(allowed, parse)


def _pattern(regex: str, allowed: str) -> _Scalar:
    def check(text: str) -> str:
        if not re.fullmatch(regex, text):
            raise _Invalid(f"{_show(text)} is not allowed")
        return text

    return _text(allowed, check)


def _network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise _Invalid(f"{_show(text)} is not a network") from None


def _address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise _Invalid(f"{_show(text)} is not an IP address") from None


_HOSTNAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


def _bind(text: str) -> tuple[str, int]:
    if bracketed := re.fullmatch(r"\[([^\]]*)\](?::(.*))?", text):
        host, port = bracketed[1], bracketed[2]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid(f"{_show(host)} is not an IPv6 address") from None
    else:
        host, colon, port = text.rpartition(":")
        if not colon:
            host, port = text, None
        elif ":" in host:
            raise _Invalid(f"{_show(text)} has an IPv6 address outside brackets")
        if not host:
            raise _Invalid(f"{_show(text)} has no host")
        if re.fullmatch(r"[\d.]+", host):
            _address(host)  # looks numeric: must then be a real IPv4 address
        elif len(host) > 253 or not _HOSTNAME.fullmatch(host):
            raise _Invalid(f"{_show(host)} is not an IP address or host name")
    if port is None:
        raise _Invalid(f"{_show(text)} has no port")
    if not port.isdigit() or int(port) > 65535:
        raise _Invalid(f"port {port} is not a number from 0 to 65535")
    return host, int(port)


class _Broker(NamedTuple):
    url: str
    host: str
    port: int
    tls: bool


def _mqtt_url(text: str) -> _Broker:
    parts = urlsplit(text)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise _Invalid(f"{_show(text)} is not an mqtt:// or mqtts:// URL")
    if parts.username is not None or parts.password is not None:
        raise _Invalid("the URL holds credentials; put them in credentials_file")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _Invalid(f"{_show(text)} has a path, query or fragment")
    try:
        port = parts.port
    except ValueError:
        raise _Invalid(f"{_show(text)} has a port outside 0-65535") from None
    if not parts.hostname:
        raise _Invalid(f"{_show(text)} has no host")
    tls = parts.scheme == "mqtts"
    return _Broker(text, parts.hostname, port if port is not None else (8883 if tls else 1883), tls)


def _location(text: str) -> str:
    if not location_key(text):
        raise _Invalid(f"{_show(text)} has nothing but separators")
    return text


def _device_key(text: str) -> str:
    prefix = next((p for p in DEVICE_KEY_PREFIXES if text.upper().startswith(p.upper())), None)
    if prefix is None or len(text) == len(prefix):
        raise _Invalid(f"{_show(text)} is not a device key")
    if prefix == "EUI-64:" and not re.fullmatch(r"[0-9A-Fa-f]{16}", text[len(prefix) :]):
        raise _Invalid(f'{_show(text)} does not have 16 hex digits after "EUI-64:"')
    return text


# --------------------------------------------------------------------------- the schema


def _check_limit(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    low, high = values.get("low"), values.get("high")
    if low is not None and high is not None and low >= high:
        cursor.problem(
            f"low {_num(low)} is not below high {_num(high)}; low must be less than high"
        )


def _limit(parameter: LimitParameter) -> _Table:
    bound = _number(least=parameter.lowest, most=parameter.highest, unit=parameter.unit)
    delay = _number(least=0, unit="seconds")
    fields = {"low": _Field(bound), "high": _Field(bound), "delay_s": _Field(delay)}
    return _Table("an inline table like { low = 50, high = 120 }", fields, _check_limit)


_LIMITS = _Table(
    "a table like { hr = { low = 50, high = 120 } }",
    {name: _Field(_limit(parameter)) for name, parameter in LIMIT_PARAMETERS.items()},
)


def _check_gateway(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    stale, lost = values.get("stale_timeout_s"), values.get("lost_after_s")
    if stale is not None and lost is not None and lost < stale:
        cursor.at("lost_after_s").problem(
            f"{_num(lost)} is less than stale_timeout_s ({_num(stale)});"
            " expected a number >= stale_timeout_s"
        )


def _check_alarms(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    if values.get("audio") == "command" and "audio_command" not in written:
        cursor.at("audio_command").problem('missing; required when audio = "command"')


def _check_mqtt(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    if values.get("enabled") and "url" not in written:
        cursor.at("url").problem('missing; required when enabled = true, e.g. "mqtt://host:1883"')


def _check_listener(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    per_peer, most = values.get("max_connections_per_peer"), values.get("max_connections")
    # Only when written: the default (32) is simply capped by a smaller max_connections.
    if "max_connections_per_peer" not in written or per_peer is None or most is None:
        return
    if per_peer > most:
        cursor.at("max_connections_per_peer").problem(
            f"{_num(per_peer)} is more than max_connections ({_num(most)});"
            " expected a whole number from 1 to max_connections"
        )


_SECONDS_ABOVE_0 = _number(above=0, unit="seconds")
_BED_ID = r"[A-Za-z0-9_.-]+"
_BED_ID_ALLOWED = 'a bed id of letters, digits, "_", "." and "-"'

_GATEWAY = _Table(
    "the [gateway] table",
    {
        "name": _Field(_text(), "ICU"),
        "stale_timeout_s": _Field(_SECONDS_ABOVE_0, DEFAULT_STALE_TIMEOUT_S),
        "lost_after_s": _Field(_SECONDS_ABOVE_0),  # None: the larger of 60 and stale_timeout_s
        "journal": _Field(_text("a file path"), "journal/icu-gateway.sqlite"),
        "retention_h": _Field(_number(above=0, unit="hours"), DEFAULT_RETENTION_H),
        "auto_beds": _Field(_flag(), True),
    },
    _check_gateway,
)

_LISTENER = _Table(
    "a [[listeners]] table",
    {
        "bind": _Field(_text('"HOST:PORT", e.g. "0.0.0.0:2575" or "[::]:2575"', _bind), _REQUIRED),
        "allow": _Field(
            _List(
                _text('a network like "10.1.0.0/16" or "fd00::/8"', _network), "a list of networks"
            ),
            [],
        ),
        "max_connections": _Field(_number(least=1, whole=True), 64),
        "max_frame_bytes": _Field(_number(least=1024, whole=True, unit="bytes"), 1_048_576),
        "idle_timeout_s": _Field(_SECONDS_ABOVE_0, 300.0),
        "frame_deadline_s": _Field(_SECONDS_ABOVE_0, 30.0),
        "quiet_after_s": _Field(_SECONDS_ABOVE_0, 10.0),
        "max_connections_per_peer": _Field(_number(least=1, whole=True), 32),
    },
    _check_listener,
)

_SERIAL = _Table(
    "a [[serial]] table",
    {
        "kind": _Field(_choice(*DEFAULT_BAUD), _REQUIRED),
        "port": _Field(_text('a serial device such as "/dev/ttyUSB0" or "COM3"'), _REQUIRED),
        "baud": _Field(_choice(*STANDARD_BAUD_RATES)),  # None: the kind's usual rate
        "parity": _Field(_choice("none", "even", "odd"), "none"),
        "bed": _Field(_pattern(_BED_ID, _BED_ID_ALLOWED)),
    },
)

_BED = _Table(
    "a [[beds]] table",
    {
        "id": _Field(_pattern(_BED_ID, _BED_ID_ALLOWED), _REQUIRED),
        "label": _Field(_text()),  # None: the id
        "locations": _Field(
            _List(
                _text('a PV1-3 location as sent, e.g. "ICU^12^1"', _location), "a list of strings"
            ),
            [],
        ),
        "devices": _Field(
            _List(
                _text('a device key like "EUI-64:00A037EB2175780F" or "app:MONITOR"', _device_key),
                "a list of strings",
            ),
            [],
        ),
        "peers": _Field(
            _List(_text('an IP address like "10.1.4.21"', _address), "a list of strings"), []
        ),
        "limits": _Field(_LIMITS, {}),
    },
)

_ALARMS = _Table(
    "the [alarms] table",
    {
        "limits": _Field(_LIMITS, {}),
        "hysteresis_pct": _Field(_number(least=0, most=50, unit="%"), 5.0),
        "condition_delay_s": _Field(_number(least=0, unit="seconds"), 5.0),
        "audio": _Field(_choice("bell", "command", "off"), "bell"),
        "audio_command": _Field(_text("a command line")),
        "audio_pause_s": _Field(_SECONDS_ABOVE_0, 120.0),
    },
    _check_alarms,
)

_MQTT = _Table(
    "the [mqtt] table",
    {
        "url": _Field(_text('"mqtt://HOST:PORT" or "mqtts://HOST:PORT"', _mqtt_url)),
        "credentials_file": _Field(_text("a file path")),
        "topic_prefix": _Field(
            _pattern(r"[^/#+\s](?:[^#+\s]*[^/#+\s])?", 'topic levels without + or #, "icu/v1"'),
            "icu/v1",
        ),
        "enabled": _Field(_flag()),  # None: true when a url is given
    },
    _check_mqtt,
)

_DASHBOARD = _Table(
    "the [dashboard] table",
    {
        "refresh_hz": _Field(_number(least=0.5, most=30, unit="Hz"), 4.0),
        "columns": _Field(_number(least=0, whole=True), 0),
        "mute": _Field(_flag(), False),
    },
)

_ADMISSION = _Table(
    "the [admission] table",
    {
        "max_auto_beds": _Field(_number(least=0, whole=True), DEFAULT_MAX_AUTO_BEDS),
        "max_devices": _Field(_number(least=1, whole=True), DEFAULT_MAX_DEVICES),
        "new_identities_per_minute": _Field(
            _number(least=1, whole=True), DEFAULT_NEW_IDENTITIES_PER_MINUTE
        ),
    },
)

_ROOT = _Table(
    "a TOML document",
    {
        "gateway": _Field(_GATEWAY, {}),
        "listeners": _Field(
            _List(_LISTENER, "an array of tables [[listeners]]"),
            [{"bind": f"0.0.0.0:{DEFAULT_MLLP_PORT}"}],
        ),
        "serial": _Field(_List(_SERIAL, "an array of tables [[serial]]"), []),
        "beds": _Field(_List(_BED, "an array of tables [[beds]]"), []),
        "alarms": _Field(_ALARMS, {}),
        "mqtt": _Field(_MQTT),
        "dashboard": _Field(_DASHBOARD, {}),
        "admission": _Field(_ADMISSION, {}),
    },
)


# --------------------------------------------------------------------------- document checks


def _tables(document: dict[str, Any], key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The good tables of an array of tables, with their index in the file."""
    items = document.get(key)
    for index, item in enumerate(items if isinstance(items, list) else []):
        if isinstance(item, dict):
            yield index, item


def _check_document(document: dict[str, Any], root: _Cursor) -> None:
    """Checks that span tables: uniqueness, bindings, references."""
    bed_ids: dict[str, int] = {}
    for index, bed in _tables(document, "beds"):
        bed_id = bed.get("id")
        if bed_id is None:
            continue
        if bed_id in bed_ids:
            root.at("beds").at(index).at("id").problem(
                f"duplicate bed id {_show(bed_id)}; bed ids must be unique"
            )
        else:
            bed_ids[bed_id] = index

    # Keys are compared as the router compares them, so two spellings of one location clash.
    owners: dict[str, dict[Any, tuple[str | None, str]]] = {}
    for key, what, same in (
        ("locations", "location", location_key),
        ("devices", "device", str.upper),
        ("peers", "peer", str),
    ):
        owner = owners[key] = {}
        for index, bed in _tables(document, "beds"):
            bed_id = bed.get("id")
            name = f"beds[{index}]" if bed_id is None else f"bed {_show(bed_id)} (beds[{index}])"
            seen: set[Any] = set()
            for position, value in enumerate(bed.get(key, [])):
                if value is _BAD:
                    continue
                where, normal = root.at("beds").at(index).at(key).at(position), same(value)
                if normal in seen:
                    where.problem(f"{what} {_show(str(value))} is listed twice in this bed")
                elif (first := owner.setdefault(normal, (bed_id, name))[1]) != name:
                    where.problem(
                        f"{what} {_show(str(value))} is bound to both {first} and {name};"
                        f" a {what} can belong to one bed only"
                    )
                seen.add(normal)

    ports: dict[str, int] = {}
    for index, serial in _tables(document, "serial"):
        cursor = root.at("serial").at(index)
        wanted, port = serial.get("bed"), serial.get("port")
        listed = owners["devices"].get(f"serial:{port}".upper())
        if wanted is not None and wanted not in bed_ids:
            known = ", ".join(bed_ids) if bed_ids else "none configured"
            cursor.at("bed").problem(
                f"no bed has id {_show(wanted)}; expected the id of a [[beds]] table ({known})"
            )
        elif wanted is not None and listed is not None and listed[0] != wanted:
            cursor.at("bed").problem(
                f"the device serial:{port} is bound to both {listed[1]} and bed {_show(wanted)};"
                " a device can belong to one bed only"
            )
        if port is not None and ports.setdefault(port, index) != index:
            cursor.at("port").problem(
                f"port {_show(port)} is already used by serial[{ports[port]}];"
                " one device per serial port"
            )

    binds: dict[tuple[str, int], int] = {}
    for index, listener in _tables(document, "listeners"):
        bind = listener.get("bind")
        if bind is not None and binds.setdefault(bind, index) != index:
            root.at("listeners").at(index).at("bind").problem(
                f"{_show(f'{bind[0]}:{bind[1]}')} is already used by listeners[{binds[bind]}];"
                " expected a different address or port"
            )

    _check_merged_limits(document, root)


def _check_merged_limits(document: dict[str, Any], root: _Cursor) -> None:
    """A bed's own low over the ward's high (or the reverse) leaves no normal range."""
    alarms = document.get("alarms")
    defaults = alarms.get("limits", {}) if isinstance(alarms, dict) else {}
    for index, bed in _tables(document, "beds"):
        for name, own in bed.get("limits", {}).items():
            if own is None or "low" not in own or "high" not in own:
                continue  # a bad value, already reported
            if (own["low"] is None) == (own["high"] is None):
                continue  # both from the bed (checked with its table) or neither
            ward = defaults.get(name) or {}
            low, high = own["low"], own["high"]
            low_from = high_from = ""
            if low is None:
                low, low_from = ward.get("low"), " from [alarms.limits]"
            else:
                high, high_from = ward.get("high"), " from [alarms.limits]"
            if low is not None and high is not None and low >= high:
                root.at("beds").at(index).at("limits").at(name).problem(
                    f"low {_num(low)}{low_from} is not below high {_num(high)}{high_from};"
                    " low must be less than high"
                )


# --------------------------------------------------------------------------- building


def _build(document: dict[str, Any], source: str, base_dir: Path | None) -> GatewayConfig:
    def path(text: str) -> Path:
        written = Path(text).expanduser()
        return written if base_dir is None or written.is_absolute() else base_dir / written

    def limits(table: dict[str, Any]) -> Mapping[str, Limit]:
        return MappingProxyType(
            {name: Limit(**value) for name, value in table.items() if value is not None}
        )

    gateway = document["gateway"]
    stale = gateway["stale_timeout_s"]
    lost = gateway["lost_after_s"]
    alarms = document["alarms"]
    mqtt = document["mqtt"]
    mqtt_on = mqtt is not None and (
        mqtt["enabled"] if mqtt["enabled"] is not None else mqtt["url"] is not None
    )
    return GatewayConfig(
        name=gateway["name"],
        stale_timeout_s=stale,
        lost_after_s=max(DEFAULT_LOST_AFTER_S, stale) if lost is None else lost,
        journal=path(gateway["journal"]),
        retention_h=gateway["retention_h"],
        auto_beds=gateway["auto_beds"],
        admission=AdmissionLimits(**document["admission"]),
        listeners=tuple(
            ListenerConfig(
                host=item["bind"][0],
                port=item["bind"][1],
                allow=tuple(item["allow"]),
                max_connections=item["max_connections"],
                max_frame_bytes=item["max_frame_bytes"],
                idle_timeout_s=item["idle_timeout_s"],
                frame_deadline_s=item["frame_deadline_s"],
                quiet_after_s=item["quiet_after_s"],
                max_connections_per_peer=min(
                    item["max_connections_per_peer"], item["max_connections"]
                ),
            )
            for item in document["listeners"]
        ),
        serial=tuple(
            SerialConfig(
                kind=item["kind"],
                port=item["port"],
                baud=item["baud"] if item["baud"] is not None else DEFAULT_BAUD[item["kind"]],
                parity=item["parity"],
                bed=item["bed"],
            )
            for item in document["serial"]
        ),
        beds=tuple(
            BedConfig(
                id=item["id"],
                label=item["label"] if item["label"] is not None else item["id"],
                locations=tuple(item["locations"]),
                devices=tuple(item["devices"]),
                peers=tuple(item["peers"]),
                limits=limits(item["limits"]),
            )
            for item in document["beds"]
        ),
        alarms=AlarmConfig(
            limits=limits(alarms["limits"]),
            hysteresis_pct=alarms["hysteresis_pct"],
            condition_delay_s=alarms["condition_delay_s"],
            audio=alarms["audio"],
            audio_command=alarms["audio_command"],
            audio_pause_s=alarms["audio_pause_s"],
        ),
        mqtt=(
            MqttConfig(
                url=mqtt["url"].url,
                host=mqtt["url"].host,
                port=mqtt["url"].port,
                tls=mqtt["url"].tls,
                credentials_file=(
                    None if mqtt["credentials_file"] is None else path(mqtt["credentials_file"])
                ),
                topic_prefix=mqtt["topic_prefix"],
            )
            if mqtt_on
            else None
        ),
        dashboard=DashboardConfig(**document["dashboard"]),
        source=source,
    )

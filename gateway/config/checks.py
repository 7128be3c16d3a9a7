"""What a gateway configuration file may say: the value kinds of its own (addresses, a bind
address, an MQTT URL, locations, device keys), the schema of every table, and the checks
across tables (unique bed ids, one bed per location, device and peer, references to beds,
one device per serial port, merged alarm limits that leave a normal range).

Written with the engine of :mod:`gateway.config.validation`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from gateway.admission import (
    DEFAULT_MAX_AUTO_BEDS,
    DEFAULT_MAX_DEVICES,
    DEFAULT_NEW_IDENTITIES_PER_MINUTE,
)
from gateway.config.model import (
    DEFAULT_BAUD,
    DEFAULT_MLLP_PORT,
    DEVICE_KEY_PREFIXES,
    INTELLIVUE_INDICATION_PORT,
    INTELLIVUE_SESSION_PORT,
    LIMIT_PARAMETERS,
    MQTT_INGEST_PREFIX,
    MQTT_PROTOCOLS,
    STANDARD_BAUD_RATES,
    IPAddress,
    IPNetwork,
    LimitParameter,
)
from gateway.config.validation import (
    _BAD,
    _REQUIRED,
    _choice,
    _Cursor,
    _Field,
    _flag,
    _Invalid,
    _List,
    _num,
    _number,
    _pattern,
    _show,
    _Table,
    _text,
)
from gateway.journal.schema import DEFAULT_RETENTION_H
from gateway.ward.routing import location_key
from gateway.ward.state import DEFAULT_STALE_TIMEOUT_S

# --------------------------------------------------------------- value kinds of the gateway


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
    brokers = [values.get("url"), *(values.get("fallback_urls") or ())]
    tls = any(broker is not None and broker.tls for broker in brokers)
    for key in ("ca_file", "client_cert", "client_key"):
        if key in written and not tls:
            cursor.at(key).problem("is for TLS; no broker URL is mqtts://")
    if "client_key" in written and "client_cert" not in written:
        cursor.at("client_cert").problem("missing; required with client_key")


def _check_listener(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    per_peer, most = values.get("max_connections_per_peer"), values.get("max_connections")
    # Only when written: the default (64) is simply capped by a smaller max_connections.
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
        "max_connections": _Field(_number(least=1, whole=True), 256),
        "max_frame_bytes": _Field(_number(least=1024, whole=True, unit="bytes"), 1_048_576),
        "idle_timeout_s": _Field(_SECONDS_ABOVE_0, 300.0),
        "frame_deadline_s": _Field(_SECONDS_ABOVE_0, 30.0),
        "quiet_after_s": _Field(_SECONDS_ABOVE_0, 10.0),
        "max_connections_per_peer": _Field(_number(least=1, whole=True), 64),
    },
    _check_listener,
)

_SERIAL = _Table(
    "a [[serial]] table",
    {
        "kind": _Field(_choice(*DEFAULT_BAUD), _REQUIRED),
        "port": _Field(_text('a serial device such as "/dev/ttyUSB0" or "COM3"'), _REQUIRED),
        "baud": _Field(_choice(*STANDARD_BAUD_RATES)),  # None: the kind's usual rate
        "parity": _Field(_choice("none", "even", "odd")),  # None: the kind's usual parity
        "flow_control": _Field(_choice("none", "rtscts")),  # None: the kind's usual handshake
        "bed": _Field(_pattern(_BED_ID, _BED_ID_ALLOWED)),
    },
)


def _monitor_address(text: str) -> tuple[str, int]:
    if ":" not in text.replace("[", "").replace("]", "") or text.endswith("]"):
        text = f"{text}:{INTELLIVUE_SESSION_PORT}"
    return _bind(text)


def _check_intellivue(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    given = [key for key in ("listen", "monitor", "port") if key in written]
    if len(given) != 1:
        cursor.problem(
            f"sets {' and '.join(given) or 'none of listen, monitor, port'}; expected exactly"
            ' one: listen = "0.0.0.0:24005" (hear every monitor), monitor = "10.1.4.21"'
            ' (one monitor\'s address) or port = "/dev/ttyUSB0" (its MIB/RS-232 port)'
        )


_INTELLIVUE = _Table(
    "an [[intellivue]] table",
    {
        "listen": _Field(_text(f'"HOST:PORT", e.g. "0.0.0.0:{INTELLIVUE_INDICATION_PORT}"', _bind)),
        "monitor": _Field(
            _text('a monitor\'s "HOST" or "HOST:PORT", e.g. "10.1.4.21"', _monitor_address)
        ),
        "port": _Field(_text('a serial device such as "/dev/ttyUSB0" or "COM3"')),
        "waves": _Field(_flag(), True),
    },
    _check_intellivue,
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

_TOPIC_LEVEL = r"[a-z0-9-]+"
_TOPIC_LEVEL_ALLOWED = 'lower-case letters, digits and "-" (one MQTT topic level)'

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
        "fallback_urls": _Field(
            _List(_text('"mqtt://HOST:PORT" or "mqtts://HOST:PORT"', _mqtt_url), "a list of URLs"),
            [],
        ),
        "site": _Field(_pattern(_TOPIC_LEVEL, _TOPIC_LEVEL_ALLOWED), "site"),
        "ward": _Field(_pattern(_TOPIC_LEVEL, _TOPIC_LEVEL_ALLOWED)),
        "gateway": _Field(_pattern(_TOPIC_LEVEL, _TOPIC_LEVEL_ALLOWED)),
        "ca_file": _Field(_text("a file path")),
        "client_cert": _Field(_text("a file path")),
        "client_key": _Field(_text("a file path")),
        "remote_acknowledge": _Field(_flag(), False),
        "protocol": _Field(_choice(*MQTT_PROTOCOLS), MQTT_PROTOCOLS[0]),
    },
    _check_mqtt,
)


def _check_mqtt_ingest(values: dict[str, Any], written: dict[str, Any], cursor: _Cursor) -> None:
    brokers = [values.get("url"), *(values.get("fallback_urls") or ())]
    if "fallback_urls" in written and "url" not in written:
        cursor.at("url").problem("missing; required with fallback_urls")
    if "url" in written:
        tls = any(broker is not None and broker.tls for broker in brokers)
        for key in ("ca_file", "client_cert", "client_key"):
            if key in written and not tls:
                cursor.at(key).problem("is for TLS; no broker URL is mqtts://")
    if "client_key" in written and "client_cert" not in written:
        cursor.at("client_cert").problem("missing; required with client_key")
    prefix, topic_filter = values.get("topic_prefix"), values.get("topic_filter")
    if prefix is None or topic_filter is None or "topic_filter" not in written:
        return
    levels = topic_filter[len(prefix) + 1 :].split("/")
    if (
        not topic_filter.startswith(prefix + "/")
        or len(levels) != 4
        or levels[3] != "obs"
        or not all(level == "+" or re.fullmatch(r"[a-z0-9-]{1,64}", level) for level in levels[:3])
    ):
        cursor.at("topic_filter").problem(
            f"{_show(topic_filter)} is not {prefix}/<site>/<ward>/<device>/obs, each of the"
            ' three a topic level of a-z, 0-9 and "-" or +'
        )


_MQTT_INGEST = _Table(
    "the [mqtt_ingest] table",
    {
        "enabled": _Field(_flag(), True),
        "url": _Field(_text('"mqtt://HOST:PORT" or "mqtts://HOST:PORT"', _mqtt_url)),
        "fallback_urls": _Field(
            _List(_text('"mqtt://HOST:PORT" or "mqtts://HOST:PORT"', _mqtt_url), "a list of URLs"),
            [],
        ),
        "credentials_file": _Field(_text("a file path")),
        "ca_file": _Field(_text("a file path")),
        "client_cert": _Field(_text("a file path")),
        "client_key": _Field(_text("a file path")),
        "topic_prefix": _Field(
            _pattern(r"[^/#+\s](?:[^#+\s]*[^/#+\s])?", 'topic levels without + or #, "icu/in/v1"'),
            MQTT_INGEST_PREFIX,
        ),
        "topic_filter": _Field(_text(f'a topic filter like "{MQTT_INGEST_PREFIX}/+/+/+/obs"')),
    },
    _check_mqtt_ingest,
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
        "intellivue": _Field(
            _List(_INTELLIVUE, "an array of tables [[intellivue]]"),
            [{"listen": f"0.0.0.0:{INTELLIVUE_INDICATION_PORT}"}],
        ),
        "beds": _Field(_List(_BED, "an array of tables [[beds]]"), []),
        "alarms": _Field(_ALARMS, {}),
        "mqtt": _Field(_MQTT),
        "mqtt_ingest": _Field(_MQTT_INGEST),
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
    philips_ports: dict[str, int] = {}
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

    for index, philips in _tables(document, "intellivue"):
        port = philips.get("port")
        if port is None:
            continue
        if port in ports:
            root.at("intellivue").at(index).at("port").problem(
                f"port {_show(port)} is already used by serial[{ports[port]}];"
                " one device per serial port"
            )
        elif (taken := philips_ports.setdefault(port, index)) != index:
            root.at("intellivue").at(index).at("port").problem(
                f"port {_show(port)} is already used by intellivue[{taken}];"
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

    ingest = document.get("mqtt_ingest")
    # A url written but bad is already reported (and left out of the values).
    if (
        isinstance(ingest, dict)
        and ingest.get("enabled")
        and "url" in ingest
        and ingest["url"] is None
    ):
        mqtt = document.get("mqtt")
        if not isinstance(mqtt, dict) or mqtt.get("url") is None:
            root.at("mqtt_ingest").at("url").problem(
                'missing; required unless [mqtt] has a url to read from, e.g. "mqtt://host:1883"'
            )


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

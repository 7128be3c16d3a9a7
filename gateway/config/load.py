"""Reading a configuration: TOML text → checked document → :class:`GatewayConfig`.

:func:`load_config` and :func:`parse_config` raise one :class:`~gateway.errors.ConfigError`
with every problem found (:mod:`gateway.config.checks`); :func:`check_config` returns them;
:func:`default_config` is the zero-configuration gateway. Relative paths in a file are
taken from its folder.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gateway.admission import AdmissionLimits
from gateway.config.checks import _ROOT, _bind, _check_document, _mqtt_url
from gateway.config.model import (
    DEFAULT_BAUD,
    DEFAULT_FLOW_CONTROL,
    DEFAULT_PARITY,
    AlarmConfig,
    BedConfig,
    BrokerAddress,
    DashboardConfig,
    GatewayConfig,
    IntellivueConfig,
    Limit,
    ListenerConfig,
    MqttConfig,
    MqttIngestConfig,
    SerialConfig,
)
from gateway.config.validation import _Cursor, _Invalid, _LineIndex, _Reader, _syntax_problem
from gateway.errors import ConfigError
from gateway.ward.state import DEFAULT_LOST_AFTER_S

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


def parse_broker_url(text: str) -> BrokerAddress:
    """``mqtt://HOST[:PORT]`` or ``mqtts://…`` → the broker; ValueError saying what is wrong."""
    try:
        broker = _mqtt_url(text)
    except _Invalid as error:
        raise ValueError(str(error)) from None
    return BrokerAddress(broker.url, broker.host, broker.port, broker.tls)


def check_config(path: str | os.PathLike[str]) -> list[str]:
    """Every problem with a configuration file; empty when it is valid."""
    try:
        load_config(path)
    except ConfigError as error:
        return error.problems
    return []


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
                parity=(
                    item["parity"] if item["parity"] is not None else DEFAULT_PARITY[item["kind"]]
                ),
                bed=item["bed"],
                flow_control=(
                    item["flow_control"]
                    if item["flow_control"] is not None
                    else DEFAULT_FLOW_CONTROL[item["kind"]]
                ),
            )
            for item in document["serial"]
        ),
        intellivue=tuple(
            IntellivueConfig(
                listen=item["listen"],
                monitor=item["monitor"],
                port=item["port"],
                waves=item["waves"],
            )
            for item in document["intellivue"]
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
                fallback=tuple(
                    BrokerAddress(b.url, b.host, b.port, b.tls) for b in mqtt["fallback_urls"]
                ),
                site=mqtt["site"],
                ward=mqtt["ward"],
                gateway=mqtt["gateway"],
                ca_file=None if mqtt["ca_file"] is None else path(mqtt["ca_file"]),
                client_cert=None if mqtt["client_cert"] is None else path(mqtt["client_cert"]),
                client_key=None if mqtt["client_key"] is None else path(mqtt["client_key"]),
                remote_acknowledge=mqtt["remote_acknowledge"],
                protocol=mqtt["protocol"],
            )
            if mqtt_on
            else None
        ),
        dashboard=DashboardConfig(**document["dashboard"]),
        source=source,
        mqtt_ingest=_mqtt_ingest(document["mqtt_ingest"], document["mqtt"], path),
    )


def _mqtt_ingest(
    ingest: dict[str, Any] | None, mqtt: dict[str, Any] | None, path: Callable[[str], Path]
) -> MqttIngestConfig | None:
    """``[mqtt_ingest]``; without a url of its own, the ``[mqtt]`` broker(s) and, for the
    files it does not name, ``[mqtt]``'s."""
    if ingest is None or not ingest["enabled"]:
        return None
    own = ingest["url"] is not None
    source = ingest if own or mqtt is None else mqtt
    brokers = tuple(
        BrokerAddress(b.url, b.host, b.port, b.tls)
        for b in (source["url"], *source["fallback_urls"])
    )

    def file(key: str) -> Path | None:
        written = ingest[key] if ingest[key] is not None or own or mqtt is None else mqtt[key]
        return None if written is None else path(written)

    prefix = ingest["topic_prefix"]
    return MqttIngestConfig(
        brokers=brokers,
        topic_prefix=prefix,
        topic_filter=ingest["topic_filter"] or f"{prefix}/+/+/+/obs",
        credentials_file=file("credentials_file"),
        ca_file=file("ca_file"),
        client_cert=file("client_cert"),
        client_key=file("client_key"),
    )

"""What proves a gateway or a screen to its broker, read from the files the configuration
names: the user name and password from a credentials file (never from the command line or
the configuration, which are shared), and the TLS files.

The credentials file is TOML with ``username`` and ``password``; it must be readable by
its owner only (a file others can read is refused, as ssh refuses a key).
"""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

from gateway.config.model import MqttConfig, MqttIngestConfig
from gateway.errors import ConfigError
from gateway.mqtt.client import MQTT_5, Broker, Credentials


def read_credentials(path: Path) -> tuple[str, str]:
    """(username, password) from ``path``; :class:`ConfigError` saying what is wrong."""
    where = f"{path}"
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{where}: cannot read the MQTT credentials: {exc.strerror}"]) from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError([f"{where}: others may read these MQTT credentials; chmod 600 {path}"])
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{where}: {exc}"]) from None
    problems = []
    values = []
    for key in ("username", "password"):
        value = document.get(key)
        if not isinstance(value, str) or not value:
            problems.append(f'{where}: {key}: missing; expected {key} = "…"')
        values.append(value if isinstance(value, str) else "")
    extra = sorted(set(document) - {"username", "password"})
    if extra:
        problems.append(f"{where}: {', '.join(extra)}: unknown; expected username, password")
    if problems:
        raise ConfigError(problems)
    return values[0], values[1]


def credentials_for(mqtt: MqttConfig | MqttIngestConfig) -> Credentials:
    """Everything :class:`~gateway.mqtt.client.BrokerLink` needs to prove who we are; every
    file named must be readable now (:class:`ConfigError` naming each that is not)."""
    username = password = None
    problems = []
    if mqtt.credentials_file is not None:
        try:
            username, password = read_credentials(mqtt.credentials_file)
        except ConfigError as error:
            problems += error.problems
    for name, file in (
        ("ca_file", mqtt.ca_file),
        ("client_cert", mqtt.client_cert),
        ("client_key", mqtt.client_key),
    ):
        if file is not None and not file.is_file():
            table = "mqtt" if isinstance(mqtt, MqttConfig) else mqtt.table
            problems.append(f"{table}.{name}: {file} is not a readable file")
    if problems:
        raise ConfigError(problems)
    return Credentials(username, password, mqtt.ca_file, mqtt.client_cert, mqtt.client_key)


def brokers_of(mqtt: MqttConfig | MqttIngestConfig) -> tuple[Broker, ...]:
    # [mqtt_ingest] speaks MQTT 5 (its own brokers); [mqtt] may ask for 3.1.1 (a cluster)
    protocol = mqtt.protocol if isinstance(mqtt, MqttConfig) else MQTT_5
    return tuple(Broker(b.host, b.port, b.tls, protocol) for b in mqtt.brokers)

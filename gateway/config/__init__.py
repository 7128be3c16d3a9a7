"""The gateway's configuration: one TOML file, validated at load into frozen typed objects.

Everything the gateway can be told lives here: the ward's name and timeouts, the journal
path, MLLP listeners, serial ports, beds (with the locations, devices and peers that bind
to them and their alarm-limit overrides), alarm defaults, MQTT and dashboard options.

A file is checked as a whole: every problem found is collected and raised together in one
:class:`~gateway.errors.ConfigError`, each message naming the file, the line, the key path,
what was wrong and what is allowed. An unknown key is an error, never ignored: a typo in
an alarm limit must not silently leave a bed unguarded. ``icu-gateway check-config`` runs
the same checks through :func:`check_config`.

The parts: :mod:`~gateway.config.model` (the typed objects), :mod:`~gateway.config.load`
(file → objects), :mod:`~gateway.config.checks` (what the file may say) written with the
engine of :mod:`~gateway.config.validation` (every problem with its line and key path).

This package must not open sockets or serial ports, create files or look anything up on
the network: it says whether a configuration is *well formed*; whether a port can be bound
or a broker reached is found out by the parts that use them, at start-up.
"""

from gateway.config.load import (
    check_config,
    default_config,
    load_config,
    parse_bind,
    parse_config,
)
from gateway.config.model import (
    LIMIT_PARAMETERS,
    AlarmConfig,
    AudioMode,
    BedConfig,
    BrokerAddress,
    DashboardConfig,
    GatewayConfig,
    Limit,
    LimitParameter,
    ListenerConfig,
    MqttConfig,
    SerialConfig,
    SerialKind,
)

__all__ = [
    "LIMIT_PARAMETERS",
    "AlarmConfig",
    "AudioMode",
    "BedConfig",
    "BrokerAddress",
    "DashboardConfig",
    "GatewayConfig",
    "Limit",
    "LimitParameter",
    "ListenerConfig",
    "MqttConfig",
    "SerialConfig",
    "SerialKind",
    "check_config",
    "default_config",
    "load_config",
    "parse_bind",
    "parse_config",
]

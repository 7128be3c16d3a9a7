"""The configuration as the gateway uses it: frozen typed objects, one per table of the file
(:class:`GatewayConfig` and its parts), and the constants the checks hold them to.

Nothing here reads a file or checks a value: :mod:`gateway.config.load` makes these
objects, and only from a document :mod:`gateway.config.checks` has found well formed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from gateway.admission import AdmissionLimits
from gateway.domain import BedId
from gateway.journal.schema import DEFAULT_RETENTION_H
from gateway.ward.routing import BedBinding

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
SerialKind = Literal["masimo", "nonin", "ivy", "hl7", "ge-s5", "medibus"]
Parity = Literal["none", "even", "odd"]
FlowControl = Literal["none", "rtscts"]
AudioMode = Literal["bell", "command", "off"]

DEFAULT_MLLP_PORT = 2575
STANDARD_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
# The line each device family ships with, per kind: the oximeters, Ivy and HL7 at 9600 8N1
# without flow control; a GE S/5 Computer Interface at 19200 8E1 with RTS/CTS (fixed on
# the monitor; CARESCAPE with software 3 or later may be set to 115200); a Dräger
# ventilator's MEDIBUS port at 19200 8E1 without handshake (Evita's default; V500 and
# EvitaXL are often 8N1, Apollo 9600: set ``baud``/``parity`` to what the device's menu
# says). docs/serial.md has each device's settings.
DEFAULT_BAUD: Mapping[str, int] = MappingProxyType(
    {"masimo": 9600, "nonin": 9600, "ivy": 9600, "hl7": 9600, "ge-s5": 19200, "medibus": 19200}
)
DEFAULT_PARITY: Mapping[str, Parity] = MappingProxyType(
    {"masimo": "none", "nonin": "none", "ivy": "none", "hl7": "none", "ge-s5": "even",
     "medibus": "even"}
)  # fmt: skip
DEFAULT_FLOW_CONTROL: Mapping[str, FlowControl] = MappingProxyType(
    {"masimo": "none", "nonin": "none", "ivy": "none", "hl7": "none", "ge-s5": "rtscts",
     "medibus": "none"}
)  # fmt: skip
DEVICE_KEY_PREFIXES = ("EUI-64:", "app:", "serial:", "tcp:", "mqtt:")


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
    max_connections: int = 256
    max_frame_bytes: int = 1_048_576
    idle_timeout_s: float = 300.0
    """A connection that completes no frame for this long is closed."""
    frame_deadline_s: float = 30.0
    quiet_after_s: float = 10.0
    """A frame must be complete this long after its first byte, or its connection closes."""
    max_connections_per_peer: int = 64
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
    flow_control: FlowControl = "none"
    """Hardware handshake on RTS/CTS (``rtscts``: a GE S/5 Computer Interface needs it)."""


INTELLIVUE_INDICATION_PORT = 24005
"""Where IntelliVue monitors announce themselves (their Connect Indications)."""
INTELLIVUE_SESSION_PORT = 24105
"""The Data Export port a monitor listens on when its indication does not say."""


@dataclass(frozen=True, slots=True)
class IntellivueConfig:
    """One way of finding Philips IntelliVue monitors: exactly one of the three is set."""

    listen: tuple[str, int] | None = None
    """Where to hear Connect Indications (every monitor on the switch): host, UDP port."""
    monitor: tuple[str, int] | None = None
    """One monitor's address and Data Export port, read with or without indications."""
    port: str | None = None
    """A serial port with a monitor's MIB/RS-232 board on it (115200 8N1)."""
    waves: bool = True
    """Whether to ask for the monitor's waves (numerics and alarms always)."""


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


MQTT_PROTOCOLS = ("5", "3.1.1")
"""What ``[mqtt] protocol`` may say: MQTT 5 (Mosquitto), or 3.1.1 for brokers that speak
nothing newer (NATS 2.9, RabbitMQ 3.10): then no message expiry travels."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker as written: ``mqtt://HOST:PORT`` or ``mqtts://HOST:PORT`` (TLS)."""

    url: str
    host: str
    port: int
    tls: bool


@dataclass(frozen=True, slots=True)
class MqttConfig:
    """Publishing to an MQTT broker; present in :class:`GatewayConfig` only when enabled."""

    url: str
    host: str
    port: int
    tls: bool
    credentials_file: Path | None = None
    topic_prefix: str = "icu/v1"
    fallback: tuple[BrokerAddress, ...] = ()
    """Brokers tried in turn after ``url`` when it does not answer."""
    site: str = "site"
    ward: str | None = None
    """The ward's topic level; None: made from the gateway's name."""
    gateway: str | None = None
    """This gateway's topic level; None: made from the host name."""
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    remote_acknowledge: bool = False
    """Whether remote screens may acknowledge alarms (docs/mqtt.md); off: display-only."""
    protocol: str = MQTT_PROTOCOLS[0]
    """The MQTT version spoken to every broker: "5", or "3.1.1" (see MQTT_PROTOCOLS)."""

    @property
    def brokers(self) -> tuple[BrokerAddress, ...]:
        return (BrokerAddress(self.url, self.host, self.port, self.tls), *self.fallback)


MQTT_INGEST_PREFIX = "icu/in/v1"
"""Where devices publish (docs/mqtt.md, "Ingest"): apart from the gateways' ``icu/v1``."""


@dataclass(frozen=True, slots=True)
class MqttIngestConfig:
    """Reading devices that publish to a broker; in :class:`GatewayConfig` only when enabled.

    Without its own ``url`` it reads from the ``[mqtt]`` broker(s), with ``[mqtt]``'s
    credentials and TLS files for those it does not name itself."""

    brokers: tuple[BrokerAddress, ...]
    topic_prefix: str = MQTT_INGEST_PREFIX
    topic_filter: str = f"{MQTT_INGEST_PREFIX}/+/+/+/obs"
    credentials_file: Path | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    table: str = "mqtt_ingest"
    """Where its files were named, for messages about them."""


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
    intellivue: tuple[IntellivueConfig, ...] = ()
    """IntelliVue monitors read with Data Export (the zero-config gateway listens)."""
    mqtt_ingest: MqttIngestConfig | None = None
    """Devices publishing to a broker in the ingest schema; None: not read."""

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

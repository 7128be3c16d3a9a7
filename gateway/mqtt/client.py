"""The one module that imports aiomqtt (pinned in ``pyproject.toml``): a single attempt at a
broker connection, with the settings every part of ours needs and aiomqtt's errors mapped
to :class:`BrokerError` at this boundary.

One :class:`BrokerLink` is one connection attempt, never reused: a reused aiomqtt client
replays QoS 1 messages minutes old after a reconnect (``reference/mqtt.md`` §3.6). It
speaks MQTT 5 (message expiry on what streams), keeps alive every
:data:`KEEPALIVE_S` and gives up on any call after :data:`CALL_TIMEOUT_S`, so a frozen
broker is noticed in seconds, not in aiomqtt's default minute.

A link made with ``manual_ack=True`` (the MQTT ingest) does not acknowledge a QoS 1 message
when it arrives, as paho does by default: :meth:`BrokerLink.deliveries` yields each with
its packet id, and :meth:`BrokerLink.ack` sends the PUBACK when the caller says — after the
journal's commit. aiomqtt 2.5.1 has no option for it; paho-mqtt 2.x does
(``Client.manual_ack_set``, ``Client.ack``), and it is set on aiomqtt's paho client here,
the one place that knows aiomqtt's insides (checked by a test against a real broker).
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.errors import GatewayError

log = logging.getLogger(__name__)

KEEPALIVE_S = 5
CALL_TIMEOUT_S = 2.0
"""Connect, subscribe and QoS 1 publishes fail after this: the loop then starts afresh."""
_SUBSCRIBE_FAILED = 0x80


class BrokerError(GatewayError):
    """The broker cannot be reached, refused us, or stopped answering."""


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Credentials:
    """What proves who we are to the broker: a user name and password (from a file, never
    the command line), and for TLS the CA to trust and a client certificate."""

    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as the broker delivered it: to be :meth:`BrokerLink.ack`-ed once taken
    care of, when the link acknowledges manually and ``qos`` is 1."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    mid: int


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes


def _tls(broker: Broker, credentials: Credentials) -> ssl.SSLContext | None:
    if not broker.tls:
        return None
    try:
        context = ssl.create_default_context(
            cafile=None if credentials.ca_file is None else str(credentials.ca_file)
        )
        if credentials.client_cert is not None:
            context.load_cert_chain(
                str(credentials.client_cert),
                None if credentials.client_key is None else str(credentials.client_key),
            )
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"TLS for {broker}: {exc}") from None
    return context


def _properties(expiry_s: int | None, content_type: str | None) -> Properties | None:
    if expiry_s is None and content_type is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    if expiry_s is not None:
        properties.MessageExpiryInterval = expiry_s
    if content_type is not None:
        properties.ContentType = content_type
    return properties


class BrokerLink:
    """``async with BrokerLink(...) as link:`` connects (with ``will`` registered, retained,
    QoS 1); ``publish``, ``subscribe`` and ``messages`` raise :class:`BrokerError` when
    the connection is gone. Leaving disconnects cleanly (the will is then not sent)."""

    def __init__(
        self,
        broker: Broker,
        credentials: Credentials,
        *,
        identifier: str,
        will: Will | None = None,
        keepalive_s: int = KEEPALIVE_S,
        timeout_s: float = CALL_TIMEOUT_S,
        manual_ack: bool = False,
    ) -> None:
        self.broker = broker
        self.manual_ack = manual_ack
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=credentials.username,
            password=credentials.password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5,
            will=(
                None if will is None else aiomqtt.Will(will.topic, will.payload, qos=1, retain=True)
            ),
            keepalive=keepalive_s,
            timeout=timeout_s,
            tls_context=_tls(broker, credentials),
            max_queued_incoming_messages=10_000,
            logger=log,
        )
        self._client.pending_calls_threshold = 100  # our window is bounded; no warning per burst
        if manual_ack:
            # The PUBACK waits for ack(): aiomqtt 2.5.1 does not expose paho's option.
            self._client._client.manual_ack_set(True)

    async def __aenter__(self) -> BrokerLink:
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: {exc}") from None
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError as error:
            log.debug("%s: disconnect: %s", self.broker, error)

    async def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 0,
        retain: bool = False,
        expiry_s: int | None = None,
        content_type: str | None = None,
    ) -> None:
        try:
            await self._client.publish(
                topic, payload, qos, retain, _properties(expiry_s, content_type)
            )
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: publish {topic}: {exc}") from None

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        """Subscribe and check the broker's answer: a refused filter is an error (a screen
        that cannot see a gateway must say NO DATA, not wait)."""
        try:
            granted = await self._client.subscribe(topic, qos)
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: subscribe {topic}: {exc}") from None
        codes = [code if isinstance(code, int) else int(code.value) for code in granted]
        if any(code >= _SUBSCRIBE_FAILED for code in codes):
            raise BrokerError(f"{self.broker}: subscription to {topic} refused ({codes})")

    async def messages(self) -> AsyncIterator[tuple[str, bytes]]:
        """Every message received, as (topic, payload), until the connection drops."""
        try:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, str):
                    data = payload.encode()
                elif isinstance(payload, bytes | bytearray):
                    data = bytes(payload)
                else:
                    data = b""
                yield message.topic.value, data
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: {exc}") from None
        raise BrokerError(f"{self.broker}: the connection ended")

    async def deliveries(self) -> AsyncIterator[Delivery]:
        """Every message received, with what :meth:`ack` needs, until the connection drops."""
        try:
            async for message in self._client.messages:
                payload = message.payload
                if isinstance(payload, str):
                    data = payload.encode()
                elif isinstance(payload, bytes | bytearray):
                    data = bytes(payload)
                else:
                    data = b""
                yield Delivery(
                    message.topic.value, data, message.qos, bool(message.retain), message.mid
                )
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: {exc}") from None
        raise BrokerError(f"{self.broker}: the connection ended")

    def ack(self, delivery: Delivery) -> None:
        """Send the PUBACK of ``delivery`` now (a link that acknowledges manually; nothing
        for QoS 0). Never blocks: the packet is queued to the socket."""
        if not self.manual_ack or delivery.qos == 0:
            return
        code = self._client._client.ack(delivery.mid, delivery.qos)
        if code != 0:
            raise BrokerError(f"{self.broker}: PUBACK of message {delivery.mid}: code {code}")

"""The one module that imports aiomqtt (pinned in ``pyproject.toml``): a single attempt at a
broker connection, with the settings every part of ours needs and aiomqtt's errors mapped
to :class:`BrokerError` at this boundary.

One :class:`BrokerLink` is one connection attempt, never reused: a reused aiomqtt client
replays QoS 1 messages minutes old after a reconnect (``reference/mqtt.md`` §3.6). It
speaks MQTT 5 (message expiry on what streams) unless the broker is configured for 3.1.1
(NATS 2.9, RabbitMQ 3.10: then no properties at all), keeps alive every
:data:`KEEPALIVE_S` and gives up on any call after :data:`CALL_TIMEOUT_S`, so a frozen
broker is noticed in seconds, not in aiomqtt's default minute. It never uses QoS 2.

A broker's refusal is an error, never a quiet success: a refused subscription (SUBACK
0x80 and up) and, with MQTT 5, a QoS 1 publish the broker answers with a failure reason
(Mosquitto's PUBACK 0x87 "Not authorized" when the ACL forbids the topic; aiomqtt 2.5.1
ignores that code). Under 3.1.1 a refused publish is dropped without a word; only the
screens' heartbeat rule notices.

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
from typing import Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from gateway.config.model import MQTT_PROTOCOLS
from gateway.errors import GatewayError

log = logging.getLogger(__name__)

KEEPALIVE_S = 5
CALL_TIMEOUT_S = 2.0
"""Connect, subscribe and QoS 1 publishes fail after this: the loop then starts afresh."""
_SUBSCRIBE_FAILED = 0x80
_PUBLISH_FAILED = 0x80
PROTOCOLS = MQTT_PROTOCOLS
MQTT_5, MQTT_3_1_1 = PROTOCOLS


class BrokerError(GatewayError):
    """The broker cannot be reached, refused us, or stopped answering."""


@dataclass(frozen=True, slots=True)
class Broker:
    host: str
    port: int
    tls: bool = False
    protocol: str = MQTT_5
    """:data:`MQTT_5` or :data:`MQTT_3_1_1` (no message expiry, no content type)."""

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
                # An encrypted key must fail here, not make OpenSSL prompt on the terminal
                # (the dashboard's) and block the event loop.
                password=_no_passphrase,
            )
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"TLS for {broker}: {exc}") from None
    return context


def _no_passphrase() -> str:
    raise BrokerError("the client key is encrypted; give a key without a passphrase (mode 600)")


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
        if broker.protocol not in PROTOCOLS:
            raise BrokerError(f"{broker}: MQTT {broker.protocol!r}; expected one of {PROTOCOLS}")
        self.broker = broker
        self._v5 = broker.protocol == MQTT_5
        self._refused: str | None = None
        self.manual_ack = manual_ack
        self._client = aiomqtt.Client(
            broker.host,
            broker.port,
            username=credentials.username,
            password=credentials.password,
            identifier=identifier,
            protocol=aiomqtt.ProtocolVersion.V5 if self._v5 else aiomqtt.ProtocolVersion.V311,
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
        # aiomqtt resolves a QoS 1 publish on any PUBACK, a refusal too: look at the
        # reason code in paho's callback (aiomqtt's own still runs, and wakes the caller).
        resolve = self._client._on_publish

        def on_publish(
            client: paho.Client, userdata: Any, mid: int, code: ReasonCode, props: Properties
        ) -> None:
            if code.value >= _PUBLISH_FAILED and self._refused is None:
                self._refused = str(code)
            resolve(client, userdata, mid, code, props)

        self._client._client.on_publish = on_publish
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
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos}: only 0 and 1 are used (NATS 2.9 rejects 2)")
        properties = _properties(expiry_s, content_type) if self._v5 else None
        try:
            await self._client.publish(topic, payload, qos, retain, properties)
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"{self.broker}: publish {topic}: {exc}") from None
        refused, self._refused = self._refused, None  # each refusal is told once
        if refused is not None:
            raise BrokerError(f"{self.broker}: publish {topic} refused ({refused})")

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
        async for delivery in self.deliveries():
            yield delivery.topic, delivery.payload

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

"""Devices publishing to a broker, read into the hub: the MQTT ingest.

``await MqttIngest(hub, brokers, ...).run()`` until cancelled. Each connection attempt is
a fresh :class:`~gateway.mqtt.client.BrokerLink` with a clean session (one that outlived
an outage would hand over its backlog late, as if live), brokers tried in turn with a
backoff doubling to 5 s (:class:`~gateway.mqtt.outage.BrokerTurns`); it subscribes at QoS
1 to the observation filter and checks the answer. A lost broker is one fault per outage
(:class:`~gateway.mqtt.outage.BrokerOutage`: ``MQTT ingest: devices not heard …``, then
``receiving again after N s``), never a stop; the devices' values go stale, then LOST,
through the ward as for any silent device.

Every message is handed to the hub with its topic as the peer (transport ``mqtt``) and its
payload as the raw bytes, as the IntelliVue link journals datagrams: decoded, it goes to
``hub.submit`` with its report; undecodable, oversize, or *retained* (a broker's copy of
some earlier reading, never taken as live) to ``hub.reject`` — journaled, counted per
topic, a summarised fault. Only then is its PUBACK sent (manual acknowledgement,
:meth:`BrokerLink.ack`): acknowledged means stored. When the journal fails the message is
shown live and still acknowledged — with a clean session the broker could not send it
again, and holding its slot would stall every device behind it — and the failure is
RECORDING FAILED (the hub's) and a fault here.

Messages of different topics are handed in side by side (at most :data:`WINDOW` at once,
so the journal's group commit covers them together); those of one topic in the order they
came. What one publisher can create is bounded: the topics tracked (:data:`MAX_PUBLISHERS`;
past it, messages of new topics are rejected under one peer), the payload and its rows
(:mod:`.codec`), and the beds and devices (the hub's admission).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections import OrderedDict
from collections.abc import Sequence

from adapters.hl7.listener import ReportSink
from adapters.mqtt import codec
from adapters.mqtt.mapping import TRANSPORT, report_of
from gateway.clock import Clock, SystemClock
from gateway.domain import ReceivedMessage
from gateway.errors import JournalError, MessageRefused
from gateway.mqtt.client import Broker, BrokerError, BrokerLink, Credentials, Delivery
from gateway.mqtt.outage import BrokerOutage, BrokerTurns, first_broker_error

log = logging.getLogger(__name__)

WINDOW = 32
"""Messages handed to the hub at once (a broker holds about 20 unacknowledged ones)."""
MAX_PUBLISHERS = 1024
OTHER_PUBLISHERS = "(more publishers)"
FORGET_AFTER_S = 600.0
"""A topic quiet this long gives its place to a new one when :data:`MAX_PUBLISHERS` are
tracked."""
RETAINED = "retained copy kept by the broker: not a live reading (never shown)"


class MqttIngest:
    """Reads the devices publishing under ``topic_filter`` (see the module docstring)."""

    def __init__(
        self,
        sink: ReportSink,
        brokers: Sequence[Broker],
        credentials: Credentials | None = None,
        *,
        prefix: str = codec.DEFAULT_PREFIX,
        topic_filter: str | None = None,
        clock: Clock | None = None,
        name: str = "gateway",
        max_publishers: int = MAX_PUBLISHERS,
    ) -> None:
        if not brokers:
            raise ValueError("no broker to read from")
        self.sink = sink
        self.brokers = tuple(brokers)
        self.credentials = credentials or Credentials()
        self.prefix = prefix
        self.topic_filter = topic_filter or codec.ingest_filter(prefix)
        self.clock = clock or SystemClock()
        self.max_publishers = max_publishers
        self.connections = 0
        self.received = 0
        self.accepted = 0
        self.rejected = 0
        self.unrecorded = 0
        self._name = name
        self._publishers: OrderedDict[str, int] = OrderedDict()
        """Topics heard, least recently first, with the monotonic time last heard."""
        self._outage = BrokerOutage(
            sink,
            log,
            source="mqtt-in",
            lost=f"MQTT ingest: devices on {self.topic_filter} not heard",
            kind="MQTT ingest: devices not heard",
            back="MQTT ingest: receiving again after {seconds:.0f} s",
            label="MQTT ingest",
        )
        self._attempts = 0
        self._told_unstored = False
        self._told_full = False

    @property
    def source(self) -> str:
        return f"mqtt-in {self.brokers[0]}"

    async def run(self) -> None:
        turns = BrokerTurns(self.brokers)
        while True:
            broker = turns.broker
            link = BrokerLink(
                broker, self.credentials, identifier=self._identifier(), manual_ack=True
            )
            try:
                async with link:
                    await link.subscribe(self.topic_filter, qos=1)
                    self._connected(broker)
                    turns.connected()
                    await self._receive(link)
            except BrokerError as exc:
                self._outage.failed(broker, str(exc))
            except Exception as exc:  # a bug of ours: a fault and a fresh connection, never a stop
                log.exception("MQTT ingest failed")
                self.sink.fault(self.source, f"MQTT ingest failed ({exc!r}); connecting again")
            await turns.pause()

    def _identifier(self) -> str:
        # Unique per connection: a broker must never give the new one the old one's session.
        self._attempts += 1
        return f"icu-in-{self._name}-{os.getpid()}-{self._attempts}"

    def _connected(self, broker: Broker) -> None:
        self.connections += 1
        self._outage.connected(broker)
        log.info("MQTT ingest: %s on %s", self.topic_filter, broker)

    async def _receive(self, link: BrokerLink) -> None:
        window = asyncio.Semaphore(WINDOW)
        last: dict[str, asyncio.Task[None]] = {}
        try:
            async with asyncio.TaskGroup() as group:
                async for delivery in link.deliveries():
                    self.received += 1
                    receive_time = self.clock.now_ns()
                    await window.acquire()
                    before = last.get(delivery.topic)
                    task = group.create_task(self._hand_in(link, delivery, receive_time, before))
                    last[delivery.topic] = task
                    task.add_done_callback(
                        functools.partial(_finished, topic=delivery.topic, last=last, window=window)
                    )
        except BaseExceptionGroup as group_error:
            raise first_broker_error(group_error) from None

    async def _hand_in(
        self,
        link: BrokerLink,
        delivery: Delivery,
        receive_time: int,
        before: asyncio.Task[None] | None,
    ) -> None:
        if before is not None:
            await asyncio.wait((before,))  # the topic's messages in their order
        await self._take(delivery, receive_time)
        link.ack(delivery)  # only now: the hub has returned, the message is stored

    async def _take(self, delivery: Delivery, receive_time: int) -> None:
        peer, unlisted = self._peer(delivery.topic)
        sink = self.sink
        if unlisted:
            await self._reject(delivery, peer, receive_time, unlisted)
            return
        if delivery.retain:
            await self._reject(delivery, peer, receive_time, RETAINED)
            return
        try:
            decoded = codec.decode(self.prefix, delivery.topic, delivery.payload)
            report = report_of(decoded, peer, receive_time)
        except codec.DecodeError as exc:
            await self._reject(delivery, peer, receive_time, str(exc))
            return
        except Exception as exc:  # a bug costs this message, never the others
            log.exception("MQTT ingest: message on %s", peer)
            await self._reject(delivery, peer, receive_time, f"could not be read: {exc!r}")
            return
        message = ReceivedMessage(
            delivery.payload, TRANSPORT, peer, receive_time, report.message_id, report.device
        )
        try:
            await sink.submit(message, (report,))
        except MessageRefused:
            self.rejected += 1  # kept raw as rejected by the hub, a fault of its own
            return
        except JournalError as exc:
            self.unrecorded += 1
            if not self._told_unstored:
                self._told_unstored = True
                sink.fault(
                    self.source,
                    f"not recorded: {exc} (shown live; the broker cannot send it again)",
                )
            return
        self._told_unstored = False
        self.accepted += 1

    async def _reject(self, delivery: Delivery, peer: str, receive_time: int, reason: str) -> None:
        self.rejected += 1
        message = ReceivedMessage(delivery.payload, TRANSPORT, peer, receive_time)
        await self.sink.reject(message, reason)

    def _peer(self, topic: str) -> tuple[str, str]:
        """(peer, why unlisted or ''): the topic, bounded in length and in number."""
        shown = topic if len(topic) <= codec.MAX_TOPIC_CHARS else topic[:200] + "…"
        publishers = self._publishers
        now = self.clock.monotonic_ns()
        if shown in publishers:
            publishers[shown] = now
            publishers.move_to_end(shown)
            return shown, ""
        if len(publishers) >= self.max_publishers:
            oldest, heard = next(iter(publishers.items()))
            if now - heard >= FORGET_AFTER_S * 1e9:
                del publishers[oldest]
        if len(publishers) < self.max_publishers:
            publishers[shown] = now
            return shown, ""
        if not self._told_full:
            self._told_full = True
            self.sink.fault(
                self.source,
                f"more than {self.max_publishers} topics heard: new ones are rejected"
                f" under {OTHER_PUBLISHERS!r}",
            )
        return OTHER_PUBLISHERS, f"from {shown}: more than {self.max_publishers} topics heard"


def _finished(
    done: asyncio.Task[None],
    topic: str,
    last: dict[str, asyncio.Task[None]],
    window: asyncio.Semaphore,
) -> None:
    window.release()
    if last.get(topic) is done:
        del last[topic]

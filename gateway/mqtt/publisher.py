"""The gateway's broker connection: the birth, the heartbeat, the alarms and what the feed
hands off, over one fresh connection at a time, to a list of brokers tried in turn.

On each connection: a new session number, the retained will ``offline`` registered with
it, then ``status`` (online), ``birth``, and every alarm (the whole map, retained); then a
heartbeat every second (carrying the alarm digest), alarm changes as they come (QoS 1,
retained, their own sequence), and the numerics and waves of the outbox (QoS 0, with MQTT 5
expiry). With ``remote_acknowledge``, screens' acknowledgements are heard too
(:mod:`gateway.mqtt.remote_ack`). A screen's rebirth request is answered by status, birth
and every alarm again (at most once a second, whoever asks). A call that fails or times
out ends the connection; the next broker is tried after a backoff doubling to 5 s
(:class:`~gateway.mqtt.outage.BrokerTurns`). On a clean stop it says ``offline`` itself
(a clean disconnect suppresses the will).

Every failure is a fault on the hub — once per outage, and once more when it ends, saying
how long it lasted (:class:`~gateway.mqtt.outage.BrokerOutage`) — and none ever reaches
the hub's callers: ingest, the journal and the local dashboard never wait for this task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from gateway.clock import NS_PER_S
from gateway.hub import Hub
from gateway.mqtt import payloads
from gateway.mqtt.client import Broker, BrokerError, BrokerLink, Credentials, Will
from gateway.mqtt.feed import WardFeed
from gateway.mqtt.outage import BrokerOutage, BrokerTurns, first_broker_error
from gateway.mqtt.outbox import AlarmBoard, AlarmEntry, Outbox, Session
from gateway.mqtt.remote_ack import RemoteAcknowledgements
from gateway.mqtt.topics import GatewayTopics

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
STATUS_EXPIRY_S = 4
"""Three heartbeats and a second: a retained status of a dead gateway does not outlive it."""
ALARM_EXPIRY_S = 60
ALARM_REFRESH_S = 20.0
"""Active alarms are sent again this often, so their retained copies never expire."""
REBIRTH_EXPIRY_S = 10
REBIRTH_AT_MOST_S = 1.0
WINDOW = 64
"""Streaming messages taken from the outbox at once."""
GOODBYE_TIMEOUT_S = 1.0


class Publisher:
    """Publishes ``hub``'s ward as ``topics`` to the first of ``brokers`` that answers."""

    def __init__(
        self,
        hub: Hub,
        topics: GatewayTopics,
        brokers: Sequence[Broker],
        credentials: Credentials | None = None,
        *,
        name: str = "",
        outbox: Outbox | None = None,
        remote_acknowledge: bool = False,
    ) -> None:
        if not brokers:
            raise ValueError("no broker to publish to")
        self.hub = hub
        self.topics = topics
        self.brokers = tuple(brokers)
        self.credentials = credentials or Credentials()
        self.name = name or topics.gateway
        self.outbox = outbox or Outbox()
        self.board = AlarmBoard()
        # The session numbers of a gateway only grow, across restarts too: start from
        # the wall clock in microseconds, one more per connection.
        self.session = Session(hub.clock.now_ns() // 1000)
        self.feed = WardFeed(hub, topics, self.outbox, self.board, self.session)
        self.acknowledgements = (
            RemoteAcknowledgements(hub, self.board, self.session) if remote_acknowledge else None
        )
        """Remote screens' acknowledgements; None (the default): display-only screens."""
        self.connections = 0
        self.published = 0
        self._outage = BrokerOutage(
            hub,
            log,
            source="mqtt",
            lost="MQTT: remote screens get no data",
            kind="MQTT: remote screens get no data",
            back="publishing again after {seconds:.0f} s without a broker",
            label="MQTT",
        )
        self._last_rebirth = -REBIRTH_AT_MOST_S
        self._rebirth = asyncio.Event()

    async def run(self) -> None:
        """Publish until cancelled (the feed runs beside). A failure of our own making is a
        fault and a fresh start a second later, never an exception into the gateway's task
        group: remote screens must never cost the local ward."""
        while True:
            try:
                async with asyncio.TaskGroup() as group:
                    group.create_task(self.feed.run())
                    group.create_task(self._connect_forever())
            except Exception as exc:
                log.exception("MQTT publisher failed")
                self.hub.fault("mqtt", f"MQTT publisher failed ({exc!r}); restarting")
            await asyncio.sleep(1.0)

    async def _connect_forever(self) -> None:
        turns = BrokerTurns(self.brokers)
        while True:
            broker = turns.broker
            sess = self.session.begin()
            will = Will(self.topics.status, payloads.status_offline(sess, "will"))
            try:
                async with BrokerLink(
                    broker, self.credentials, identifier=self._identifier(), will=will
                ) as link:
                    self._connected(broker)
                    turns.connected()
                    try:
                        await self._serve(link)
                    except asyncio.CancelledError:
                        await self._goodbye(link, sess)
                        raise
            except BrokerError as exc:
                self._outage.failed(broker, str(exc))
            finally:
                self.session.connected = False
            await turns.pause()

    def _identifier(self) -> str:
        # Unique per connection: a broker must never hand our new connection's session
        # to the old one's (or kick one for the other).
        return f"icu-{self.topics.ward}-{self.topics.gateway}-{self.session.sess % 1_000_000}"

    def _connected(self, broker: Broker) -> None:
        self.connections += 1
        self.outbox.clear()
        self.session.connected = True
        self._outage.connected(broker)
        log.info("publishing to %s as %s", broker, self.topics.base)

    async def _serve(self, link: BrokerLink) -> None:
        # QoS 0: a lost request is asked again (a screen asks each second until it has the
        # birth), and a QoS 1 subscription needs a clustered broker's persistence — NATS
        # 2.9 stalls or refuses those for seconds after its JetStream leader dies. The same
        # for acknowledgements: an optional feature must never cost the ward its publishing
        # (a refused subscription ends the connection); a lost one is pressed again.
        await link.subscribe(self.topics.rebirth, qos=0)
        if self.acknowledgements is not None:
            await link.subscribe(self.topics.acknowledge, qos=0)
        await self._announce(link)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._listen(link))
                group.create_task(self._heartbeat(link))
                group.create_task(self._alarms(link))
                group.create_task(self._stream(link))
        except BaseExceptionGroup as group_error:
            raise first_broker_error(group_error) from None

    async def _announce(self, link: BrokerLink) -> None:
        """Status, birth and every alarm: what a screen needs to show this gateway."""
        self.feed.beds = self.hub.snapshot().beds
        self.board.update(self.hub.alarms.snapshot().alarms)
        await self._status(link)
        sess, clock = self.session.sess, self.hub.clock
        birth = payloads.birth(
            sess,
            self.session.next_seq(),
            clock.now_ns(),
            name=self.name,
            beds=self.feed.beds,
            alarms=self.board.versions(),
        )
        await link.publish(self.topics.birth, birth, qos=1, retain=True)
        await self._send_alarms(link, self.board.everything())
        self.published += 2

    async def _status(self, link: BrokerLink) -> None:
        versions = self.board.versions()
        status = payloads.status_online(
            self.session.sess,
            self.session.next_seq(),
            self.hub.clock.now_ns(),
            name=self.name,
            aseq=self.board.aseq,
            digest=payloads.alarm_digest(versions),
            alarms=len(versions),
            stale_timeout_s=self.hub.ward.stale_timeout_s,
            lost_after_s=self.hub.ward.lost_after_s,
            heartbeat_s=HEARTBEAT_S,
        )
        await link.publish(self.topics.status, status, qos=1, retain=True, expiry_s=STATUS_EXPIRY_S)
        self.published += 1

    async def _listen(self, link: BrokerLink) -> None:
        loop = asyncio.get_running_loop()
        async for topic, payload in link.messages():
            if topic == self.topics.acknowledge and self.acknowledgements is not None:
                self.acknowledgements.handle(payload)
                continue
            if topic != self.topics.rebirth:
                continue
            now = loop.time()
            if now - self._last_rebirth >= REBIRTH_AT_MOST_S:  # a screen cannot flood us
                self._last_rebirth = now
                self._rebirth.set()

    async def _heartbeat(self, link: BrokerLink) -> None:
        loop = asyncio.get_running_loop()
        refreshed = loop.time()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await self._rebirth.wait()
            if self._rebirth.is_set():
                self._rebirth.clear()
                await self._announce(link)
                refreshed = loop.time()
                continue
            if loop.time() - refreshed >= ALARM_REFRESH_S:
                refreshed = loop.time()
                await self._send_alarms(link, list(self.board.current.values()))
            await self._status(link)

    async def _alarms(self, link: BrokerLink) -> None:
        """Alarm changes as soon as the feed saw them, then a status with the new digest."""
        while True:
            await self.board.ready.wait()
            changes = self.board.take_changes()
            if changes:
                await self._send_alarms(link, changes)
                await self._status(link)

    async def _send_alarms(self, link: BrokerLink, entries: list[AlarmEntry]) -> None:
        sess, clock = self.session.sess, self.hub.clock
        for entry in entries:
            age_s = (clock.monotonic_ns() - entry.alarm.onset_ns) / NS_PER_S
            payload = payloads.alarm_state(
                sess, entry.aseq, clock.now_ns(), entry.alarm, age_s=age_s, active=entry.active
            )
            bed = None if entry.alarm.bed is None else entry.alarm.bed.key
            await link.publish(
                self.topics.alarm(bed, entry.uid),
                payload,
                qos=1,
                retain=True,
                expiry_s=ALARM_EXPIRY_S,
            )
            self.published += 1

    async def _stream(self, link: BrokerLink) -> None:
        outbox, clock = self.outbox, self.hub.clock
        while True:
            await outbox.ready.wait()
            for item in outbox.take(clock.monotonic_ns(), self.session.sess, WINDOW):
                await link.publish(
                    item.topic, item.payload, expiry_s=item.expiry_s, content_type=item.content_type
                )
                self.published += 1

    async def _goodbye(self, link: BrokerLink, sess: int) -> None:
        """Stopping: say ``offline`` (retained) before the clean disconnect, briefly."""
        try:
            async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                await link.publish(
                    self.topics.status,
                    payloads.status_offline(sess, "stopped", self.hub.clock.now_ns()),
                    qos=1,
                    retain=True,
                )
        except (BrokerError, TimeoutError) as exc:
            log.info("MQTT: could not say offline: %s", exc)

"""A remote screen's broker connection: subscribe to the gateways of the wards it shows,
feed what arrives to the :class:`~gateway.mqtt.remote_ward.RemoteWard`, and send the
rebirth requests it asks for — the only thing a display-only screen ever publishes; with a
:class:`~gateway.mqtt.remote_desk.RemoteDesk` (``dashboard --acknowledge``), also the
acknowledgements its operator asks for.

A fresh connection per attempt, brokers tried in turn with a capped backoff
(:class:`~gateway.mqtt.outage.BrokerTurns`), every
subscription's answer checked; while there is no connection the ward knows it
(``link_down``) and shows every gateway NO DATA.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Sequence

from gateway.mqtt.client import Broker, BrokerError, BrokerLink, Credentials
from gateway.mqtt.outage import BrokerTurns, first_broker_error
from gateway.mqtt.remote_desk import ACK_EXPIRY_S, RemoteDesk
from gateway.mqtt.remote_ward import RemoteWard
from gateway.mqtt.topics import SCHEMA_VERSION, screen_filter

REBIRTH_EVERY_S = 0.25
"""How often the screen looks for rebirths to ask for."""
REBIRTH_EXPIRY_S = 10


def screen_id() -> str:
    """This screen's name towards gateways (and in their journals)."""
    return f"icu-screen-{socket.gethostname()}-{os.getpid()}"


class ScreenLink:
    def __init__(
        self,
        ward: RemoteWard,
        brokers: Sequence[Broker],
        credentials: Credentials | None = None,
        *,
        site: str | None = None,
        wards: Sequence[str] = (),
        desk: RemoteDesk | None = None,
        screen: str = "",
    ) -> None:
        if not brokers:
            raise ValueError("no broker to read from")
        self.ward = ward
        self.brokers = tuple(brokers)
        self.credentials = credentials or Credentials()
        self.filters = tuple(screen_filter(ward.prefix, site, name) for name in (wards or (None,)))
        self.connections = 0
        self.desk = desk
        self._id = screen or screen_id()

    async def run(self) -> None:
        turns = BrokerTurns(self.brokers)
        while True:
            broker = turns.broker
            try:
                link = BrokerLink(
                    broker, self.credentials, identifier=f"{self._id}-{self.connections}"
                )
                async with link:
                    for topic_filter in self.filters:
                        await link.subscribe(topic_filter, qos=1)
                    self.connections += 1
                    self.ward.link_up()
                    turns.connected()
                    try:
                        async with asyncio.TaskGroup() as group:
                            group.create_task(self._read(link))
                            group.create_task(self._ask_rebirths(link))
                    except BaseExceptionGroup as group_error:
                        raise first_broker_error(group_error) from None
            except BrokerError as exc:
                self.ward.link_down(str(exc))
            await turns.pause()

    async def _read(self, link: BrokerLink) -> None:
        receive = self.ward.receive
        async for topic, payload in link.messages():
            receive(topic, payload)

    async def _ask_rebirths(self, link: BrokerLink) -> None:
        request = json.dumps({"v": SCHEMA_VERSION, "screen": self._id}).encode()
        while True:
            for gateway in self.ward.take_rebirths():
                await link.publish(gateway.rebirth, request, qos=1, expiry_s=REBIRTH_EXPIRY_S)
            if self.desk is not None:
                for topic, payload in self.desk.take_requests():
                    await link.publish(topic, payload, qos=1, expiry_s=ACK_EXPIRY_S)
            await asyncio.sleep(REBIRTH_EVERY_S)

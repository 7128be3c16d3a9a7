"""What the MQTT tests share: a gateway in this process (journal, hub, MLLP listener and the
MQTT publisher, wired as ``icu-gateway run`` wires them, on the real clock) and a remote
screen's ward fed from the broker."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from journal_support import Monitor

from adapters.hl7.listener import MllpListener
from gateway.app.service import build_hub, build_publisher, keep_alarms
from gateway.config.load import parse_broker_url, parse_config
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.mqtt.client import Broker, Credentials
from gateway.mqtt.publisher import Publisher
from gateway.mqtt.remote_ward import RemoteWard
from gateway.mqtt.screen_link import ScreenLink
from gateway.ward.snapshot import BedSnapshot, WardSnapshot

HR = 147842


def broker_of(url: str, protocol: str = "5") -> Broker:
    address = parse_broker_url(url)
    return Broker(address.host, address.port, address.tls, protocol)


@dataclass
class LocalGateway:
    hub: Hub
    listener: MllpListener
    publisher: Publisher

    async def monitor(self) -> Monitor:
        return await Monitor.connect(self.listener.port)


@contextlib.asynccontextmanager
async def publishing_gateway(
    url: str, journal: Path, *, ward: str = "icu3n", gateway: str = "gw1", extra: str = ""
) -> AsyncIterator[LocalGateway]:
    """A gateway publishing to ``url`` as ``icu/v1/site/<ward>/<gateway>``; alarms raised
    without a condition delay, so a test sees one at once."""
    config = parse_config(
        f'[gateway]\nname = "ICU {ward}"\n[alarms]\ncondition_delay_s = 0\n'
        f'[mqtt]\nurl = "{url}"\nward = "{ward}"\ngateway = "{gateway}"\n{extra}',
        "<test>",
    )
    hub = build_hub(config)
    journal_ = Journal(journal, clock=hub.clock)
    hub.journal = journal_
    await journal_.start()
    publisher = build_publisher(config, hub)
    assert publisher is not None
    try:
        async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as listener:
            tasks = [
                asyncio.create_task(listener.serve_forever()),
                asyncio.create_task(keep_alarms(hub, None)),
                asyncio.create_task(publisher.run()),
            ]
            try:
                yield LocalGateway(hub, listener, publisher)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await journal_.close()


@contextlib.asynccontextmanager
async def remote_screen(
    url: str,
    *,
    wards: tuple[str, ...] = (),
    credentials: Credentials | None = None,
    fallback_urls: tuple[str, ...] = (),
    protocol: str = "5",
) -> AsyncIterator[tuple[RemoteWard, ScreenLink]]:
    ward = RemoteWard("icu/v1")
    brokers = [broker_of(u, protocol) for u in (url, *fallback_urls)]
    link = ScreenLink(ward, brokers, credentials, wards=wards)
    task = asyncio.create_task(link.run())
    try:
        yield ward, link
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def bed_named(snapshot: WardSnapshot, bed_id: str) -> BedSnapshot | None:
    """The remote bed whose id (after its gateway's topic base) is ``bed_id``."""
    return next((b for b in snapshot.beds if b.bed.key.rpartition("/")[2] == bed_id), None)


def hr_of(bed: BedSnapshot | None) -> float | str | None:
    if bed is None or HR not in bed.readings:
        return None
    return bed.readings[HR].value

"""The LAN client over real UDP on loopback, against a monitor scripted from the reference."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import cast

from intellivue_support import flt, mds_create, numeric, poll_reply, real_connect_indication
from waiting import eventually

from adapters.intellivue import ids, pdu
from adapters.intellivue.lan import IntellivueLan
from adapters.intellivue.wire import DecodeError
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState

HR = 147842


def indication_for(port: int) -> bytes:
    """The real MX450 indication, advertising ``port`` for Data Export instead of 24105."""
    real = real_connect_indication()
    entry = bytes.fromhex("000500015e29")
    assert real.count(entry) == 1
    return real.replace(entry, entry[:4] + port.to_bytes(2, "big"))


class ScriptedMonitor(asyncio.DatagramProtocol):
    """Answers the association, then numerics every 50 ms while ``talking``."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.client: tuple[str, int] | None = None
        self.received: list[pdu.Message | str] = []
        self.talking = True
        self.hr = 72

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A selector datagram transport is no DatagramTransport subclass in Python 3.11.
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        assert self.transport is not None
        try:
            message: pdu.Message | str = pdu.decode(data)
        except DecodeError as exc:
            message = str(exc)
        self.received.append(message)
        if not self.talking:
            return
        if message == pdu.SessionPdu(ids.SPDU_CONNECT):
            self.client = (str(addr[0]), addr[1])
            self.transport.sendto(bytes([ids.SPDU_ACCEPT, 2, 0, 0]), self.client)
            self.transport.sendto(mds_create(1), self.client)

    async def stream(self) -> None:
        while True:
            await asyncio.sleep(0.05)
            if self.talking and self.client is not None and self.transport is not None:
                reply = poll_reply(2, ids.MOC_NU, [numeric(1, 0x4182, flt(self.hr))])
                self.transport.sendto(reply, self.client)


@contextlib.asynccontextmanager
async def a_ward() -> AsyncIterator[tuple[Hub, IntellivueLan, ScriptedMonitor]]:
    loop = asyncio.get_running_loop()
    hub = Hub(WardState(stale_timeout_s=1.0, lost_after_s=2.0), Router())
    monitor = ScriptedMonitor()
    monitor_transport, _ = await loop.create_datagram_endpoint(
        lambda: monitor, local_addr=("127.0.0.1", 0)
    )
    monitor_port = monitor_transport.get_extra_info("sockname")[1]
    async with IntellivueLan(
        hub, host="127.0.0.1", port=0, multicast=False, clock=hub.clock, lost_after_s=1.0
    ) as lan:
        tasks = [asyncio.create_task(lan.serve_forever()), asyncio.create_task(monitor.stream())]
        monitor_transport.sendto(indication_for(monitor_port), ("127.0.0.1", lan.port))
        try:
            yield hub, lan, monitor
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            monitor_transport.close()


def hr(hub: Hub) -> float | None:
    for bed in hub.snapshot().beds:
        if (reading := bed.readings.get(HR)) is not None and not reading.stale:
            return float(reading.value)
    return None


async def test_a_monitor_heard_on_the_indication_port_appears_as_its_bed() -> None:
    async with a_ward() as (hub, lan, monitor):
        await eventually(lambda: hr(hub) == 72.0, "HR 72 from the scripted monitor")
        (bed,) = hub.snapshot().beds
        assert bed.label == "Bed 12"
        assert lan.indications == 1
        (session,) = lan.sessions.values()
        assert session.device.key == "EUI-64:0009FBFFFF88C1BD"
        assert isinstance(monitor.received[1], pdu.Other) or monitor.received[1]  # MDS result
        monitor.hr = 101
        await eventually(lambda: hr(hub) == 101.0, "the next value")


async def test_a_silent_monitor_goes_stale_and_is_associated_again_when_it_is_back() -> None:
    async with a_ward() as (hub, lan, monitor):
        await eventually(lambda: hr(hub) == 72.0, "HR from the monitor")
        monitor.talking = False
        connects_before = monitor.received.count(pdu.SessionPdu(ids.SPDU_CONNECT))
        await eventually(
            lambda: any(f.text.startswith("nothing from the monitor") for f in hub.faults),
            "the association declared lost",
        )
        await eventually(lambda: hr(hub) is None, "the value going stale")
        await eventually(
            lambda: monitor.received.count(pdu.SessionPdu(ids.SPDU_CONNECT)) > connects_before,
            "a new Association Request",
        )
        assert pdu.SessionPdu(ids.SPDU_FINISH) in monitor.received  # released before
        monitor.talking = True
        (session,) = lan.sessions.values()
        await eventually(lambda: session.associations == 2, "the second association", 10)
        await eventually(lambda: hr(hub) == 72.0, "HR again after re-association")


async def test_garbage_on_the_indication_port_is_a_fault_not_a_crash() -> None:
    async with a_ward() as (hub, lan, _monitor):
        loop = asyncio.get_running_loop()
        sender, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("127.0.0.1", lan.port)
        )
        # (asyncio sends no empty datagram: three, then.)
        for junk in (b"\x00\x00\x01\x00\x00", b"\xff" * 1400, pdu.RELEASE_REQUEST):
            sender.sendto(junk)
        sender.close()
        await eventually(lambda: lan.not_indications == 3, "three junk datagrams counted")
        await eventually(lambda: hr(hub) == 72.0, "the monitor read all the same")

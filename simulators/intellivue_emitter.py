"""Simulated IntelliVue monitors on a transport: UDP on loopback, or MIB/RS-232 on a pty.

:class:`IntellivueUdpMonitor` binds one UDP socket per monitor (port 0: the system picks;
the port and the host are what the monitor advertises in its Connect Indication), sends
that indication every 5 s to ``indication_to`` (the client's 24005; on one machine unicast,
where a real monitor sends to the multicast group), and serves the Data Export session to
whoever associates — one client at a time: another client's Association Request is
refused while one holds the session. :meth:`IntellivueUdpMonitor.unplug` pulls the
network cable (nothing sent, nothing answered) until :meth:`IntellivueUdpMonitor.replug`.

:class:`IntellivueSerialMonitor` is the same monitor on a pseudo-terminal, each datagram
one MIB frame (``intellivue_mib``); there is no Connect Indication on a serial line, the
client starts with its Association Request.

This module owns sockets, ptys and pacing; the protocol is ``intellivue``'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from types import TracebackType

from simulators.intellivue import SimulatedIntellivue, build_intellivues
from simulators.intellivue_mib import MibDeframer, frame
from simulators.ports import open_all, serve_all
from simulators.scenario import WardScenario
from simulators.serial_emitter import PtyPort

log = logging.getLogger(__name__)

INTELLIVUE = "intellivue"
"""The ``--serial`` kind of a simulated IntelliVue on its MIB port."""
INDICATION_PORT = 24005
INDICATION_EVERY_S = 5.0
TICK_S = 0.032
"""How often a monitor looks at what is due (an eighth of a wave period)."""

Address = tuple[str, int]


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, received: Callable[[bytes, Address], None]) -> None:
        self._received = received

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self._received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # A client gone from loopback answers with ICMP port unreachable: not our problem.
        log.debug("udp: %s", exc)


class IntellivueUdpMonitor:
    """One monitor on its own UDP socket; ``async with`` binds it, :meth:`run` serves it."""

    def __init__(
        self,
        monitor: SimulatedIntellivue,
        *,
        host: str = "127.0.0.1",
        indication_to: Address = ("127.0.0.1", INDICATION_PORT),
        indication_every_s: float = INDICATION_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.monitor = monitor
        self.host = host
        self.indication_to = indication_to
        self.indication_every_s = indication_every_s
        self._clock = clock
        self._transport: asyncio.DatagramTransport | None = None
        self.peer: Address | None = None
        """The associated client."""
        self.unplugged = False
        self.sent = 0

    @property
    def address(self) -> Address:
        """Where the monitor's session is (what its Connect Indication advertises)."""
        return self.monitor.identity.ip, self.monitor.identity.port

    async def __aenter__(self) -> IntellivueUdpMonitor:
        await self.bind()
        return self

    async def bind(self) -> None:
        """Open the socket; the monitor then advertises its address."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Socket(self._received), local_addr=(self.host, 0)
        )
        self._transport = transport
        ip, port = transport.get_extra_info("sockname")[:2]
        self.monitor.identity = dataclasses.replace(self.monitor.identity, ip=ip, port=port)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def unplug(self) -> None:
        """The cable is pulled: nothing goes out, nothing comes in."""
        self.unplugged = True

    def replug(self) -> None:
        self.unplugged = False

    async def run(self) -> None:
        """Indications every 5 s and the session's periodic replies, until cancelled."""
        next_indication = self._clock()
        while True:
            now = self._clock()
            replies = self.monitor.tick(now)
            if not self.monitor.associated:
                self.peer = None
            if not self.unplugged and not self.monitor.silent:
                if self.peer is not None:
                    self._send(replies, self.peer)
                if now >= next_indication:
                    self._send([self.monitor.connect_indication()], self.indication_to)
            if now >= next_indication:
                next_indication = now + self.indication_every_s
            await asyncio.sleep(TICK_S)

    def _received(self, data: bytes, addr: Address) -> None:
        if self.unplugged:
            return
        if self.peer is not None and addr != self.peer and self.monitor.associated:
            self._send(self.monitor.refuse(data), addr)
            return
        replies = self.monitor.receive(data, self._clock())
        self.peer = addr if self.monitor.associated else None
        self._send(replies, addr)

    def _send(self, datagrams: list[bytes], addr: Address) -> None:
        if self._transport is None:
            return
        for datagram in datagrams:
            self._transport.sendto(datagram, addr)
            self.sent += 1

    def drop(self, *, abort: bool = False) -> None:
        """Forget the client on purpose (``abort``: tell it first)."""
        peer = self.peer
        replies = self.monitor.drop(abort=abort)
        if peer is not None and not self.unplugged:
            self._send(replies, peer)
        self.peer = None


class _MibPort(PtyPort):
    """A pty whose incoming bytes are kept for the monitor (a :class:`PtyPort` reads them
    only to count them, when it writes)."""

    def __init__(self) -> None:
        super().__init__()
        self._incoming = bytearray()

    def drain_input(self) -> bytes:
        data = super().drain_input()
        self._incoming += data
        return data

    def take_input(self) -> bytes:
        self.drain_input()
        data = bytes(self._incoming)
        self._incoming.clear()
        return data


class IntellivueSerialMonitor:
    """One monitor on its MIB port, a pseudo-terminal: :attr:`path` is what a client opens."""

    def __init__(
        self, monitor: SimulatedIntellivue, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.monitor = monitor
        self._clock = clock
        self.port = _MibPort()
        self.deframer = MibDeframer()

    @property
    def path(self) -> str:
        return self.port.path

    def close(self) -> None:
        self.port.close()

    def step(self) -> None:
        """Read the client's frames, answer them and send what is due."""
        now = self._clock()
        replies: list[bytes] = []
        for datagram in self.deframer.feed(self.port.take_input()):
            replies += self.monitor.receive(datagram, now)
        replies += self.monitor.tick(now)
        if replies:
            self.port.write(b"".join(frame(d) for d in replies))
            self.port.counters.records += len(replies)

    async def run(self) -> None:
        """Serve the line until cancelled; the pty stays open until :meth:`close`."""
        while True:
            self.step()
            await asyncio.sleep(TICK_S / 4)


async def run_udp(monitors: list[IntellivueUdpMonitor]) -> None:
    """Serve every (bound) monitor until cancelled, then close their sockets."""
    await serve_all(monitors, lambda monitor: f"intellivue {monitor.address}")


async def run_serial(monitors: list[IntellivueSerialMonitor]) -> None:
    """Serve every MIB port until cancelled, then close their ptys."""
    await serve_all(monitors, lambda monitor: f"intellivue {monitor.path}")


def udp_monitors(
    n: int,
    seed: int = 0,
    scenario: WardScenario | None = None,
    *,
    demo: bool = False,
    host: str = "127.0.0.1",
    indication_to: Address = ("127.0.0.1", INDICATION_PORT),
) -> list[IntellivueUdpMonitor]:
    monitors = build_intellivues(n, seed, scenario, demo=demo, started_s=time.monotonic())
    return [IntellivueUdpMonitor(m, host=host, indication_to=indication_to) for m in monitors]


def serial_monitors(
    n: int, seed: int = 0, scenario: WardScenario | None = None, *, demo: bool = False
) -> list[IntellivueSerialMonitor]:
    """``n`` monitors, each on its own pty (the caller closes them)."""
    monitors = build_intellivues(n, seed, scenario, demo=demo, started_s=time.monotonic())
    return open_all(IntellivueSerialMonitor, monitors)

"""IntelliVue monitors on the LAN: found by their Connect Indications, read over UDP.

``async with IntellivueLan(hub, ...) as lan: await lan.serve_forever()``. Entering binds
the indication port (UDP 24005 on all interfaces, joined to the multicast group
224.0.23.63 the monitors announce on; broadcast and unicast arrive there too). Each
Connect Indication names a monitor (its EUI-64) and its Data Export port; a monitor not
yet read gets a :class:`~adapters.intellivue.session.Session` on a UDP socket of its own,
connected to that address and port (so datagrams from anyone else never reach it), run by
:func:`~adapters.intellivue.link.converse`. Configured monitor addresses are read from the
start, with or without indications. Zero-config: a monitor plugged into the switch appears
as a bed named by its bed label.

A monitor that falls silent is re-associated by its session; its values go stale, then
DEVICE LOST, through the ward. One monitor's failure never touches another's task. At most
``max_monitors`` are read; a datagram on the indication port that is not an indication is
a counted fault (summarised), never a crash.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import cast

from adapters.hl7.listener import ReportSink
from adapters.intellivue import ids, pdu
from adapters.intellivue.link import converse
from adapters.intellivue.session import LOST_AFTER_S, POLL_PERIOD_S, Session
from adapters.intellivue.wire import DecodeError
from gateway.clock import Clock, SystemClock
from gateway.errors import AdapterError

log = logging.getLogger(__name__)

TRANSPORT = "udp"
MAX_MONITORS = 256
QUEUE_DATAGRAMS = 512
"""Datagrams held per monitor while the hub is busy (a few seconds of waves)."""
RESTART_AFTER_S = 2.0


@dataclass(frozen=True, slots=True)
class MonitorAddress:
    host: str
    port: int = ids.DEFAULT_SESSION_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class _Datagrams(asyncio.DatagramProtocol):
    """A connected UDP socket as a :class:`~adapters.intellivue.link.Channel`."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_DATAGRAMS)
        self.transport: asyncio.DatagramTransport | None = None
        self.dropped = 0
        self.error: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A selector datagram transport is no DatagramTransport subclass in Python 3.11.
        self.transport = cast("asyncio.DatagramTransport", transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # the oldest goes: the newest says what is now
            self.dropped += 1
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.error = exc  # ICMP port unreachable: the monitor's port is closed (for now)

    async def receive(self, timeout_s: float) -> bytes | None:
        try:
            async with asyncio.timeout(timeout_s):
                return await self.queue.get()
        except TimeoutError:
            return None

    def send(self, data: bytes) -> None:
        if self.transport is None or self.transport.is_closing():
            raise AdapterError("the monitor's socket is closed")
        self.transport.sendto(data)


class _Indications(asyncio.DatagramProtocol):
    def __init__(self, owner: IntellivueLan) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.owner.indication(data, str(addr[0]))


class IntellivueLan:
    """Reads every IntelliVue monitor it hears of, or is told of (see the module docstring)."""

    def __init__(
        self,
        sink: ReportSink,
        *,
        host: str | None = "0.0.0.0",
        port: int = ids.INDICATION_PORT,
        monitors: tuple[MonitorAddress, ...] = (),
        clock: Clock | None = None,
        waves: bool = True,
        poll_period_s: float = POLL_PERIOD_S,
        lost_after_s: float = LOST_AFTER_S,
        multicast: bool = True,
        max_monitors: int = MAX_MONITORS,
    ) -> None:
        self.sink = sink
        self.host = host
        self.port = port
        self.configured = monitors
        self.clock = clock or SystemClock()
        self.waves = waves
        self.poll_period_s = poll_period_s
        self.lost_after_s = lost_after_s
        self.multicast = multicast
        self.max_monitors = max_monitors
        self.sessions: dict[str, Session] = {}
        """Every monitor being read, by its system id (or address when it gives none)."""
        self.indications = 0
        self.not_indications = 0
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._group: asyncio.TaskGroup | None = None
        self._early: list[tuple[str, MonitorAddress, bytes, str]] = []
        self._told_full = False

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def __aenter__(self) -> IntellivueLan:
        if self.host is not None:
            loop = asyncio.get_running_loop()
            sock = _indication_socket(self.host, self.port)
            if self.multicast:
                self._join(sock)
            self._transport, _ = await loop.create_datagram_endpoint(
                lambda: _Indications(self), sock=sock
            )
            self.port = sock.getsockname()[1]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._transport is not None:
            self._transport.close()

    def _join(self, sock: socket.socket) -> None:
        request = struct.pack("4s4s", socket.inet_aton(ids.INDICATION_GROUP), bytes(4))
        try:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, request)
        except OSError as exc:
            self.sink.fault(
                f"intellivue {self.address}",
                f"cannot join {ids.INDICATION_GROUP} ({exc}): monitors announcing by"
                " multicast are not heard; broadcast, unicast and configured addresses are",
            )

    async def serve_forever(self) -> None:
        async with asyncio.TaskGroup() as group:
            self._group = group
            for address in self.configured:
                self._start(str(address), address, b"", "")
            for key, address, system_id, label in self._early:
                self._start(key, address, system_id, label)
            self._early.clear()
            await asyncio.Future()  # until cancelled

    def indication(self, data: bytes, sender: str) -> None:
        """A datagram on the indication port."""
        try:
            message = pdu.decode(data)
        except DecodeError as exc:
            message = None
            reason = str(exc)
        else:
            reason = f"a {type(message).__name__}, not a Connect Indication"
        if not isinstance(message, pdu.ConnectIndication):
            self.not_indications += 1
            self.sink.fault(
                f"intellivue {self.address}",
                f"datagram from {sender} ignored: {reason}",
                kind="intellivue-indication",
            )
            return
        self.indications += 1
        if message.session_port is None:
            return  # the monitor offers no Data Export over UDP
        key = message.system_id.hex().upper() or sender
        if key in self._tasks or any(
            s.peer == f"{sender}:{message.session_port}" for s in self.sessions.values()
        ):
            return
        label = " ".join(p for p in (message.manufacturer, message.model, message.serial) if p)
        address = MonitorAddress(sender, message.session_port)
        if self._group is None:
            self._early.append((key, address, message.system_id, label))
        else:
            self._start(key, address, message.system_id, label)

    def _start(self, key: str, address: MonitorAddress, system_id: bytes, label: str) -> None:
        assert self._group is not None
        if len(self._tasks) >= self.max_monitors:
            if not self._told_full:
                self._told_full = True
                self.sink.fault(
                    f"intellivue {self.address}",
                    f"{address} not read: {self.max_monitors} monitors already are",
                )
            return
        session = Session(
            transport=TRANSPORT,
            peer=str(address),
            waves=self.waves,
            poll_period_s=self.poll_period_s,
            lost_after_s=self.lost_after_s,
            system_id=system_id,
            label=label,
        )
        self.sessions[key] = session
        self._tasks[key] = self._group.create_task(
            self._read(session, address), name=f"intellivue {address}"
        )

    async def _read(self, session: Session, address: MonitorAddress) -> None:
        """Read one monitor until cancelled; a failure costs a restart of this one only."""
        source = f"intellivue {address}"
        loop = asyncio.get_running_loop()
        log.info("reading IntelliVue Data Export at %s", address)
        while True:
            channel = _Datagrams()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda channel=channel: channel,  # type: ignore[misc]
                    remote_addr=(address.host, address.port),
                )
            except OSError as exc:
                self.sink.fault(source, f"cannot reach {address}: {exc}; trying again")
                await asyncio.sleep(RESTART_AFTER_S)
                continue
            try:
                await converse(session, channel, self.sink, self.clock, source)
            except AdapterError as exc:
                self.sink.fault(source, f"{exc}; starting again")
            except Exception as exc:  # a bug costs this monitor a restart, never the gateway
                log.exception("IntelliVue reader %s failed", address)
                self.sink.fault(source, f"reader failed: {exc!r}; starting again")
            finally:
                transport.close()
            await asyncio.sleep(RESTART_AFTER_S)


def _indication_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AdapterError(
            f"cannot listen for IntelliVue monitors on {host}:{port}: {exc}"
        ) from exc
    sock.setblocking(False)
    return sock

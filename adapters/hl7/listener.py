"""The MLLP listener: HL7 v2 over TCP from monitors and vendor gateways.

Each connection is persistent and may carry thousands of messages and many beds. For each
frame: parse (ER7) → decode (IHE PCD) → hand the reports to the core → only then ACK, in
the mode the sender asked for; a watchdog (Dräger) gets its one ``CA`` the same way, so it
learns the whole path is alive. Bad input is answered with a reject and reported as a
fault; what a good message carried but could not be taken in (a waveform without rate,
undecodable bytes) is a fault too. Nothing here closes another connection or stops the
listener, and a huge frame is read in a worker thread so the others keep being answered.
It speaks to devices only to acknowledge.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from adapters.hl7 import er7, pcd
from adapters.hl7.ack import AckError, Outcome, acknowledgements
from adapters.hl7.mllp import DEFAULT_MAX_FRAME_BYTES, MllpFramer, OversizeFrame, frame
from gateway.clock import Clock, SystemClock
from gateway.domain import DeviceReport, ReceivedMessage
from gateway.errors import AdapterError, JournalError, ParseError

log = logging.getLogger(__name__)

READ_SIZE = 1 << 16
LARGE_FRAME_BYTES = 64 << 10
"""Frames larger than this are parsed in a worker thread (see ``handle``)."""


class ReportSink(Protocol):
    """The core as an adapter sees it."""

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None: ...

    async def reject(self, message: ReceivedMessage, reason: str) -> None: ...

    def fault(self, source: str, text: str) -> None: ...


class MllpListener:
    """``async with MllpListener(...) as listener:`` binds; ``listener.port`` is the port."""

    def __init__(
        self,
        sink: ReportSink,
        *,
        host: str = "0.0.0.0",
        port: int = 2575,
        clock: Clock | None = None,
        max_connections: int = 64,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        idle_timeout_s: float = 300.0,
        allow: Callable[[str], bool] | None = None,
        name: str = "ICU-GATEWAY",
        facility: str = "",
    ) -> None:
        self.sink = sink
        self.host, self._port = host, port
        self.clock = clock or SystemClock()
        self.max_connections = max_connections
        self.max_frame_bytes = max_frame_bytes
        self.idle_timeout_s = idle_timeout_s
        self.allow = allow
        self.name, self.facility = name, facility
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.messages = 0
        self.rejected = 0
        self.keep_alives = 0

    @property
    def port(self) -> int:
        """The bound port (the real one when asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    async def __aenter__(self) -> MllpListener:
        try:
            self._server = await asyncio.start_server(self._accept, self.host, self._port)
        except OSError as exc:
            raise AdapterError(f"cannot listen on {self.host}:{self._port}: {exc}") from exc
        log.info("MLLP listening on %s", self.address)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def serve_forever(self) -> None:
        """Keep serving until cancelled (the listener must have been entered)."""
        if self._server is None:
            raise AdapterError("listener not started")
        await self._server.serve_forever()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        peername = writer.get_extra_info("peername")
        host = str(peername[0]) if peername else "?"
        peer = f"[{host}]:{peername[1]}" if ":" in host else f"{host}:{peername[1]}"
        if self.allow is not None and not self.allow(host):
            self.sink.fault(f"mllp {peer}", "connection refused: source not in allow-list")
            await _close(writer)
            return
        if len(self._connections) >= self.max_connections:
            self.sink.fault(
                f"mllp {peer}", f"connection refused: {self.max_connections} connections open"
            )
            await _close(writer)
            return
        self._connections.add(task)
        log.info("MLLP connection from %s", peer)
        try:
            await self._serve(reader, writer, peer)
        except asyncio.CancelledError:
            # The listener is closing. This task belongs to asyncio's server, which on
            # Python 3.11 logs a cancelled handler as an error with a traceback; ending
            # normally keeps the shutdown log honest (nothing went wrong).
            log.info("MLLP connection from %s closed: gateway stopping", peer)
            return
        except (ConnectionError, OSError) as exc:
            self.sink.fault(f"mllp {peer}", f"connection lost: {exc}")
        except Exception as exc:  # a bug must cost one connection, never the listener
            log.exception("MLLP connection %s failed", peer)
            self.sink.fault(f"mllp {peer}", f"connection failed: {exc!r}")
        finally:
            self._connections.discard(task)
            await _close(writer)
            log.info("MLLP connection from %s closed", peer)

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        framer = MllpFramer(self.max_frame_bytes)
        idle = _IdleWatch(self.idle_timeout_s, writer)
        try:
            while True:
                data = await reader.read(READ_SIZE)
                if not data:
                    if idle.expired:
                        self.sink.fault(
                            f"mllp {peer}", f"idle for {self.idle_timeout_s:g} s: closed"
                        )
                    return
                idle.touch()
                items = framer.feed(data)
                for item in items:
                    for ack in await self.handle(item, peer):
                        writer.write(frame(ack))
                if items:
                    await writer.drain()
        finally:
            idle.stop()

    async def handle(self, item: bytes | OversizeFrame, peer: str) -> list[bytes]:
        """One frame in, the acknowledgements to send back out. Never raises for bad input."""
        receive_time = self.clock.now_ns()
        source = f"mllp {peer}"
        if isinstance(item, OversizeFrame):
            self.rejected += 1
            text = f"frame of {item.size} bytes exceeds the {self.max_frame_bytes}-byte limit"
            await self.sink.reject(ReceivedMessage(b"", "mllp", peer, receive_time), text)
            return self._ack(None, Outcome.REJECTED, AckError(100, text))
        try:
            if len(item) > LARGE_FRAME_BYTES:
                # A big (or pathological) frame takes a while to read: in a thread, so the
                # loop keeps answering the other connections meanwhile.
                message, decoded = await asyncio.to_thread(_read, item, peer, receive_time)
            else:
                message, decoded = _read(item, peer, receive_time)
        except ParseError as exc:
            self.rejected += 1
            control_id = _salvage_control_id(item)
            received = ReceivedMessage(item, "mllp", peer, receive_time, control_id)
            await self.sink.reject(received, str(exc))
            return self._ack(
                _try_parse(item),
                Outcome.REJECTED,
                AckError(200 if exc.field == 9 else 100, str(exc), exc.segment or "", exc.field),
                control_id=control_id,
            )
        if message.decode_errors:
            self.sink.fault(
                source,
                f"message {message.control_id}: bytes not valid {message.charset or 'UTF-8'}"
                " replaced",
            )
        for problem in decoded.problems:
            self.sink.fault(source, f"message {message.control_id}: {problem}")
        reports = decoded.reports
        device = reports[0].device if reports else None
        received = ReceivedMessage(item, "mllp", peer, receive_time, message.control_id, device)
        try:
            await self.sink.submit(received, reports)
        except JournalError as exc:
            self.sink.fault(source, f"message {message.control_id} not stored: {exc}")
            return self._ack(
                message,
                Outcome.ERROR,
                AckError(207, f"not stored: {exc}"),
                commit_only=decoded.keep_alive,
            )
        self.messages += 1
        if decoded.keep_alive:
            self.keep_alives += 1
        # A watchdog (Dräger) is answered CA on this socket: only after the hub took it, so
        # the sender learns the alarm path — not merely the socket — is alive.
        return self._ack(message, Outcome.ACCEPTED, None, commit_only=decoded.keep_alive)

    def _ack(
        self,
        message: er7.Message | None,
        outcome: Outcome,
        error: AckError | None,
        control_id: str = "",
        *,
        commit_only: bool = False,
    ) -> list[bytes]:
        return acknowledgements(
            message,
            outcome,
            sender=self.name,
            facility=self.facility,
            error=error,
            control_id=control_id,
            commit_only=commit_only,
        )


class _IdleWatch:
    """Closes a connection that stays silent past the idle timeout.

    One timer per connection, re-armed only when it fires, instead of a timeout around
    every read: that costs microseconds a message on the hot path.
    """

    __slots__ = ("_handle", "_last", "_loop", "_timeout", "_writer", "expired")

    def __init__(self, timeout_s: float, writer: asyncio.StreamWriter) -> None:
        self._loop = asyncio.get_running_loop()
        self._timeout = timeout_s
        self._writer = writer
        self._last = self._loop.time()
        self.expired = False
        self._handle = self._loop.call_later(timeout_s, self._check)

    def touch(self) -> None:
        self._last = self._loop.time()

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        silent = self._loop.time() - self._last
        if silent >= self._timeout:
            self.expired = True
            self._writer.close()  # the pending read ends (EOF): the loop reports it
        else:
            self._handle = self._loop.call_later(self._timeout - silent, self._check)


def _read(item: bytes, peer: str, receive_time: int) -> tuple[er7.Message, pcd.Decoded]:
    """Parse and decode one frame; ParseError for anything the gateway does not take in."""
    message = er7.parse(item)
    pcd.require_observation_report(message)
    return message, pcd.decode_message(
        message, transport="mllp", peer=peer, receive_time_ns=receive_time
    )


def _try_parse(data: bytes) -> er7.Message | None:
    with contextlib.suppress(ParseError):
        return er7.parse(data)
    return None


def _salvage_control_id(data: bytes) -> str:
    """MSH-10 of a message too broken to parse, if its MSH line can still be read."""
    line = data.split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not line.startswith(b"MSH") or len(line) < 4:
        return ""
    fields = line.split(line[3:4])
    return fields[9].decode("latin-1", "replace").strip() if len(fields) > 9 else ""


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError, OSError):
        await writer.wait_closed()

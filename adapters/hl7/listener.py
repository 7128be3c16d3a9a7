"""The MLLP listener: HL7 v2 over TCP from monitors and vendor gateways.

Each connection is persistent and may carry thousands of messages and many beds. For each
frame: parse (ER7) → decode (IHE PCD) → hand the reports to the core → only then ACK, in
the mode the sender asked for; a watchdog (Dräger) gets its one ``CA`` the same way, so it
learns the whole path is alive. Bad input is answered with a reject and reported as a
fault; what a good message carried but could not be taken in (a waveform without rate,
undecodable bytes) is a fault too. Nothing here closes another connection or stops the
listener, and a huge frame is read in a worker thread so the others keep being answered.
It speaks to devices only to acknowledge.

What one sender can hold is bounded (:mod:`adapters.hl7.slots` decides who gets a
slot): a frame must be complete within ``frame_deadline_s`` of its first byte, a
connection that completes no frame for ``idle_timeout_s`` is closed (bytes that are not a
frame, one a second, do not keep it open), one address holds at most
``max_connections_per_peer`` connections, and when a cap is reached the newcomer takes the
slot of the connection that delivers least, so a monitor that reboots always gets back in.
Refusals, evictions and time-outs are counted per address and reported as summarised faults
(one line a minute for a storm), never a log line each.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import logging
import termios
import time
from collections import deque
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol

from adapters.hl7 import er7, pcd
from adapters.hl7.ack import AckError, Outcome, acknowledgements, mode_problem
from adapters.hl7.mllp import DEFAULT_MAX_FRAME_BYTES, MllpFramer, OversizeFrame, frame
from adapters.hl7.records import fast_constructor
from adapters.hl7.slots import QUIET_AFTER_S, PeerCounts, Slots
from gateway.clock import Clock, SystemClock
from gateway.domain import DeviceId, DeviceReport, ReceivedMessage
from gateway.errors import AdapterError, JournalError, MessageRefused, ParseError

log = logging.getLogger(__name__)

_ACCEPTED = Outcome.ACCEPTED
new_received: Callable[[bytes, str, str, int, str, DeviceId | None], ReceivedMessage] = (
    fast_constructor(ReceivedMessage)
)
"""``ReceivedMessage(...)`` for every message taken in, positional (see records.py)."""

READ_SIZE = 1 << 16
LARGE_FRAME_BYTES = 64 << 10
"""Frames larger than this are parsed in a worker thread (see ``handle``)."""


class ReportSink(Protocol):
    """The core as an adapter sees it."""

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None: ...

    async def reject(self, message: ReceivedMessage, reason: str) -> None: ...

    def fault(self, source: str, text: str, *, kind: str | None = None) -> None:
        """``kind``: what faults of varying text have in common, to summarise them."""
        ...

    def link_closed(self, transport: str, peer: str) -> None:
        """The connection ``peer`` is closed (its devices are then *link closed*, not
        merely silent)."""
        ...


class MllpListener:
    """``async with MllpListener(...) as listener:`` binds; ``listener.port`` is the port."""

    def __init__(
        self,
        sink: ReportSink,
        *,
        host: str = "0.0.0.0",
        port: int = 2575,
        clock: Clock | None = None,
        max_connections: int = 256,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        idle_timeout_s: float = 300.0,
        frame_deadline_s: float = 30.0,
        max_connections_per_peer: int = 64,
        quiet_after_s: float = QUIET_AFTER_S,
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
        self.frame_deadline_s = frame_deadline_s
        self.allow = allow
        self.name, self.facility = name, facility
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.slots: Slots[_Connection] = Slots(
            max_connections, min(max_connections_per_peer, max_connections), quiet_after_s
        )
        """Who holds a slot; counts refusals, evictions and time-outs per address."""
        self.counts: PeerCounts = self.slots.counts
        self._sweeper: asyncio.TimerHandle | None = None
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
        loop = asyncio.get_running_loop()
        try:
            self._server = await loop.create_server(
                lambda: _Connection(self), self.host, self._port
            )
        except OSError as exc:
            raise AdapterError(f"cannot listen on {self.host}:{self._port}: {exc}") from exc
        log.info("MLLP listening on %s", self.address)
        self._sweeper = loop.call_later(self._sweep_every_s, self._sweep)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
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

    def _admit(self, connection: _Connection, now_s: float) -> bool:
        """Whether a new connection may stay (allow-list, caps); whom it replaces, if anyone.
        Every refusal and eviction is counted and a (summarised) fault."""
        host, peer = connection.host, connection.peer
        if self.allow is not None and not self.allow(host):
            self.counts.refused(host)
            self.sink.fault(
                f"mllp {peer}", "connection refused: source not in allow-list", kind="refused"
            )
            return False
        decision = self.slots.admit(connection, now_s, slow_after_s=self._slow_after_s)
        for victim, why in decision.evicted:
            self.sink.fault(f"mllp {victim.peer}", f"connection closed: {why}", kind="evicted")
            victim.drop()
        if not decision.admitted:
            if len(self.slots.of(host)) >= self.slots.max_per_peer:
                why = (
                    f"{host} holds its {self.slots.max_per_peer} connections"
                    " (max_connections_per_peer), each delivering messages"
                )
            else:
                why = f"{self.max_connections} connections open, each delivering messages"
            self.sink.fault(f"mllp {peer}", f"connection refused: {why}", kind="refused")
        return decision.admitted

    @property
    def _slow_after_s(self) -> float:
        """A frame unfinished this long makes its connection one that may be evicted."""
        return min(1.0, self.frame_deadline_s / 2)

    @property
    def _sweep_every_s(self) -> float:
        return max(0.01, min(1.0, self.frame_deadline_s / 4, self.idle_timeout_s / 4))

    def _sweep(self) -> None:
        """Close the connections past their frame deadline or idle timeout (one timer for
        all, so the hot path only notes the time a frame began or ended)."""
        now = asyncio.get_running_loop().time()
        deadline, idle = self.frame_deadline_s, self.idle_timeout_s
        for connection in self.slots.holders():
            started = connection.frame_started_s
            if started is not None and not connection.reading_paused and now - started >= deadline:
                self.counts.timed_out(connection.host)
                self.sink.fault(
                    f"mllp {connection.peer}",
                    f"frame not complete {deadline:g} s after its first byte: closed",
                    kind="frame deadline",
                )
                connection.drop()
            elif now - connection.last_frame_s >= idle:
                self.counts.timed_out(connection.host)
                self.sink.fault(
                    f"mllp {connection.peer}", f"idle for {idle:g} s: closed", kind="idle"
                )
                connection.drop(graceful=True)
        self._sweeper = asyncio.get_running_loop().call_later(self._sweep_every_s, self._sweep)

    async def _serve(self, connection: _Connection) -> None:
        """One connection's task: its frames handled one at a time, ACKs in order."""
        peer = connection.peer
        # Debug only: a reconnect storm must not write two lines a connection (faults, which
        # are summarised, say what went wrong).
        log.debug("MLLP connection from %s", peer)
        try:
            await connection.run()
        except asyncio.CancelledError:
            # The listener is closing: nothing went wrong, and the log should say so.
            log.debug("MLLP connection from %s closed: gateway stopping", peer)
            return
        except (ConnectionError, OSError) as exc:
            self.sink.fault(f"mllp {peer}", f"connection lost: {exc}", kind="connection lost")
        except Exception as exc:  # a bug must cost one connection, never the listener
            log.exception("MLLP connection %s failed", peer)
            self.sink.fault(f"mllp {peer}", f"connection failed: {exc!r}")
        finally:
            connection.close()
            self.sink.link_closed("mllp", peer)
            log.debug("MLLP connection from %s closed", peer)

    async def handle(self, item: bytes | OversizeFrame, peer: str) -> list[bytes]:
        """One frame in, the acknowledgements to send back out. Never raises for bad input."""
        acks, _ = await self.take(item, peer)
        return acks

    async def take(
        self, item: bytes | OversizeFrame, peer: str, connection: _Connection | None = None
    ) -> tuple[list[bytes], bool]:
        """:meth:`handle`, and whether the message was taken in (the connection delivers).
        While a frame of ``connection`` is being read in a thread, or a message of it stored,
        its ``taking_in`` says so."""
        receive_time = self.clock.now_ns()
        if isinstance(item, OversizeFrame):
            self.rejected += 1
            text = f"frame of {item.size} bytes exceeds the {self.max_frame_bytes}-byte limit"
            await self.sink.reject(ReceivedMessage(b"", "mllp", peer, receive_time), text)
            return self._ack(None, Outcome.REJECTED, AckError(100, text)), False
        try:
            if len(item) > LARGE_FRAME_BYTES:
                # A big (or pathological) frame takes a while to read: in a thread, so the
                # loop keeps answering the other connections meanwhile. Its connection is
                # delivering, not idle: a newcomer must not take its slot meanwhile.
                if connection is not None:
                    connection.taking_in = True
                try:
                    message, decoded = await asyncio.to_thread(_read, item, peer, receive_time)
                finally:
                    if connection is not None:
                        connection.taking_in = False
            else:
                message, decoded = _read(item, peer, receive_time)
        except ParseError as exc:
            reject = AckError.unreadable(exc)
            return await self._reject(item, peer, receive_time, str(exc), reject), False
        except Exception as exc:
            # A decoder bug (an input no one foresaw) costs this frame a reject, never the
            # connection and the frames queued behind it on it.
            log.exception("MLLP %s: decoding a frame failed", peer)
            text = f"cannot decode: {type(exc).__name__}: {str(exc)[:200]}"
            return await self._reject(item, peer, receive_time, text, AckError(207, text)), False
        control_id = message.control_id
        if message.decode_errors:
            what = f"bytes not valid {message.charset or 'UTF-8'} replaced"
            self.sink.fault(f"mllp {peer}", f"message {control_id}: {what}", kind=what)
        for problem in (*message.quirks, *decoded.problems):
            self.sink.fault(f"mllp {peer}", f"message {control_id}: {problem}", kind=problem)
        ack_mode = mode_problem(message)
        if ack_mode:  # how it is answered is a guess: said, so silence is never a mystery
            self.sink.fault(f"mllp {peer}", f"message {control_id}: {ack_mode}", kind=ack_mode)
        reports = decoded.reports
        device = reports[0].device if reports else None
        received = new_received(item, "mllp", peer, receive_time, control_id, device)
        if connection is not None:
            connection.taking_in = True
        try:
            await self.sink.submit(received, reports)
        except MessageRefused as exc:
            # Kept raw as rejected: a definitive reject, so the device does not resend it.
            self.rejected += 1
            return self._ack(
                message,
                Outcome.REJECTED,
                AckError(207, str(exc)),
                commit_only=decoded.keep_alive,
            ), False
        except JournalError as exc:
            self.sink.fault(
                f"mllp {peer}", f"message {control_id} not stored: {exc}", kind=f"not stored: {exc}"
            )
            return self._ack(
                message,
                Outcome.ERROR,
                AckError(207, f"not stored: {exc}"),
                commit_only=decoded.keep_alive,
            ), False
        finally:
            if connection is not None:
                connection.taking_in = False
        self.messages += 1
        if decoded.keep_alive:
            self.keep_alives += 1
            # A watchdog (Dräger) is answered CA on this socket: only after the hub took
            # it, so the sender learns the alarm path — not merely the socket — is alive.
            return self._ack(message, Outcome.ACCEPTED, None, commit_only=True), True
        acks = acknowledgements(message, _ACCEPTED, sender=self.name, facility=self.facility)
        return acks, True

    async def _reject(
        self, item: bytes, peer: str, receive_time: int, reason: str, error: AckError
    ) -> list[bytes]:
        """A frame that will not be taken in: journaled for inspection, answered AR/CR."""
        self.rejected += 1
        control_id = er7.salvage_control_id(item)
        received = ReceivedMessage(item, "mllp", peer, receive_time, control_id)
        await self.sink.reject(received, reason)
        return self._ack(_try_parse(item), Outcome.REJECTED, error, control_id=control_id)

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


class _Connection(asyncio.Protocol):
    """One device's connection: frames found as bytes arrive, handled in order by one task.

    A protocol rather than asyncio streams: a monitor waits for each ACK before sending its
    next message, so every message costs a wake-up of the connection's task, and streams
    add a reader, a buffer copy and a drain coroutine to each. Flow control stays: reading
    pauses while more than ``READ_SIZE`` bytes of frames wait, and the task waits for the
    socket to drain before handling the next frame when the device does not read its ACKs.
    Frames are handled in that task, never in the event loop's callbacks, even when the
    core would not have to wait: the core may await (the journal's commit) and may use what
    needs a current task (timeouts, task groups).
    """

    def __init__(self, listener: MllpListener) -> None:
        self.listener = listener
        self.peer = "?"
        self.host = "?"
        self.framer = MllpFramer(listener.max_frame_bytes)
        self.frames: deque[bytes | OversizeFrame] = deque()
        self.waiting_bytes = 0
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.time: Callable[[], float] = time.monotonic
        """The event loop's (monotonic) clock, once connected."""
        self.opened_s = 0.0
        self.last_frame_s = 0.0
        """When the last whole frame arrived (when the connection opened, before one)."""
        self.frame_started_s: float | None = None
        """When the first byte of the frame being received arrived; None between frames."""
        self.delivered = 0
        """Messages taken in from this connection: one that delivers none may be evicted."""
        self.taking_in = False
        """A frame of it is being taken in (a large one read in a thread, or a message
        stored) and is not answered yet: it is never evicted meanwhile."""
        self.frames_taken = 0
        """Frames handed to the listener so far (a message or not)."""
        self.wakeup: asyncio.Future[None] | None = None
        self.drained: asyncio.Future[None] | None = None
        self.ended = False
        """No more bytes will come (end of stream, connection lost or closed)."""
        self.failure: BaseException | None = None
        self.reading_paused = False
        self.writing_paused = False

    # ---- asyncio.Protocol: called by the event loop ------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peername = transport.get_extra_info("peername")
        host = str(peername[0]) if peername else "?"
        port = peername[1] if peername else "?"
        self.host = host
        self.peer = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        listener = self.listener
        loop = asyncio.get_running_loop()
        self.time = loop.time
        self.opened_s = self.last_frame_s = loop.time()
        self.transport = transport
        if not listener._admit(self, self.opened_s):
            self.ended = True
            self.transport = None
            transport.close()  # nothing written: closes at once, the peer reads its end
            return
        self.task = loop.create_task(listener._serve(self))
        listener._connections.add(self.task)

    def data_received(self, data: bytes) -> None:
        if self.task is None or self.ended:
            return  # refused, or closing: nothing more is read
        assert self.transport is not None
        framer = self.framer
        try:
            items = framer.feed(data)
        except Exception as exc:  # a framing bug must cost this connection only, visibly
            self._end(exc)
            self.transport.close()
            return
        if not items:
            # Only a frame's progress counts: bytes between frames keep nothing open.
            if self.frame_started_s is None and framer.in_frame:
                self.frame_started_s = self.time()
            return
        self.last_frame_s = now = self.time()
        self.frame_started_s = now if framer.in_frame else None
        self.frames.extend(items)
        for item in items:
            if isinstance(item, bytes):
                self.waiting_bytes += len(item)
        if self.waiting_bytes > READ_SIZE and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def first_frame_coming(self) -> bool:
        """Whether its first frame is on its way in: none taken yet, and one read and
        waiting for its turn, or bytes in the socket the event loop has not read yet
        (FIONREAD) — a connection accepted just before a burst of others."""
        if self.frames_taken or self.ended:
            return False
        if self.frames:
            return True
        transport = self.transport
        sock = None if transport is None else transport.get_extra_info("socket")
        if sock is None:
            return False
        waiting = array.array("i", [0])
        try:
            fcntl.ioctl(sock.fileno(), termios.FIONREAD, waiting, True)
        except OSError:
            return False
        return waiting[0] > 0

    def eof_received(self) -> bool:
        self._end(None)
        return True  # keep the socket open for the ACKs of the frames still waiting

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(exc)
        self.writing_paused = False
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    def pause_writing(self) -> None:
        self.writing_paused = True

    def resume_writing(self) -> None:
        self.writing_paused = False
        drained = self.drained
        if drained is not None and not drained.done():
            drained.set_result(None)

    # ---- the connection's task ----------------------------------------------------------

    async def run(self) -> None:
        """Handle frames until the stream ends; raises what ended it badly."""
        listener, peer = self.listener, self.peer
        transport, frames = self.transport, self.frames
        assert transport is not None
        loop = asyncio.get_running_loop()
        while self.failure is None:
            if frames:
                item = frames.popleft()
                self.frames_taken += 1
                if isinstance(item, bytes):
                    self.waiting_bytes -= len(item)
                acks, taken = await listener.take(item, peer, self)
                if taken:
                    self.delivered += 1
                if self.failure is not None or transport.is_closing():
                    break  # the connection is broken or was closed: no one to answer
                for ack in acks:
                    transport.write(frame(ack))
                if self.writing_paused:
                    self.drained = loop.create_future()
                    await self.drained
                    self.drained = None
                continue
            if self.reading_paused and not self.ended:
                self.reading_paused = False
                if self.frame_started_s is not None:
                    self.frame_started_s = self.time()  # held back by us, not by the sender
                transport.resume_reading()
            if self.ended:
                break
            self.wakeup = loop.create_future()
            await self.wakeup
        if self.failure is not None:
            raise self.failure

    def close(self) -> None:
        self.listener.slots.release(self)
        if self.task is not None:
            self.listener._connections.discard(self.task)
        self.ended = True
        if self.transport is not None:
            self.transport.close()

    def drop(self, *, graceful: bool = False) -> None:
        """Closed by the listener (evicted, past a deadline): its slot is free at once, and
        its task ends quietly (the listener reported why)."""
        self.listener.slots.release(self)
        self._end(None)
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()  # a peer that does not read must not hold the socket

    def _wake(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None:
            self.wakeup = None
            if not wakeup.done():
                wakeup.set_result(None)

    def _end(self, exc: BaseException | None) -> None:
        self.ended = True
        if exc is not None and self.failure is None:
            self.failure = exc
        self._wake()


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

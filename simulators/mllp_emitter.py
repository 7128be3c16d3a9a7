"""A simulated monitor's HL7 link: one persistent TCP/MLLP connection to a gateway.

It behaves as real monitors do (the GE B40 manual's rules): one message in flight, each
waiting for its ACK matched on MSA-2 = MSH-10 — an ACK for another control id (a late one,
a duplicate) is skipped, never taken for the current message; ``AE``/``CE`` or no ACK in
time → the same bytes again, at most ``max_tries`` times in all; ``AR``/``CR`` → give up
on that message; a lost connection → reconnect with capped exponential backoff and jitter,
then resend. A connection that cannot be made is retried until the caller cancels.

It must not build messages or decide what to send next (the monitor does), nor run
background tasks: all work happens inside :meth:`MllpEmitter.send`, so a cancelled caller
leaves nothing behind, and leaving the ``async with`` closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from dataclasses import dataclass
from types import TracebackType

from adapters.hl7 import er7
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from gateway.errors import AdapterError, ParseError

log = logging.getLogger(__name__)

ACCEPTED = frozenset(("AA", "CA"))
REJECTED = frozenset(("AR", "CR"))
_READ_SIZE = 65536


class DeliveryFailed(AdapterError):
    """A message got no ACK on its last try (timeouts or dropped connections)."""

    def __init__(self, control_id: str, tries: int) -> None:
        self.control_id = control_id
        self.tries = tries
        super().__init__(f"message {control_id!r}: no ACK after {tries} tries")


@dataclass(slots=True)
class EmitterCounters:
    """What happened on this link, for tests, demos and the simulator's own status line."""

    sent: int = 0
    """Frames written, resends included."""
    acked: int = 0
    """Messages accepted (AA/CA)."""
    resent: int = 0
    """Frames written again for a message already sent."""
    rejected: int = 0
    """Messages given up on an AR/CR."""
    errors: int = 0
    """AE/CE (or unknown) ACKs received."""
    timeouts: int = 0
    """Tries that saw no ACK in time."""
    failed: int = 0
    """Messages abandoned with no ACK on their last try."""
    stray: int = 0
    """Frames skipped while waiting: ACKs for other ids, or not ACKs at all."""
    connects: int = 0
    """Connections made."""
    reconnects: int = 0
    """Connections made after the first one (after a drop or a give-up)."""
    connect_failures: int = 0
    """Connection attempts that failed."""


class MllpEmitter:
    """``async with MllpEmitter(host, port) as link: code = await link.send(message)``.

    ``send`` returns the MSA-1 code of the ACK that settled the message (``AA``/``CA``
    accepted, ``AR``/``CR`` rejected, ``AE``/``CE`` when the last try was refused too), and
    raises :class:`DeliveryFailed` when the last try got no ACK at all. The connection is
    made on the first ``send`` (or by :meth:`connect`), and remade as needed.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ack_timeout_s: float = 5.0,
        max_tries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        seed: int = 0,
    ) -> None:
        if max_tries < 1:
            raise ValueError(f"max_tries must be at least 1, not {max_tries}")
        self.host = host
        self.port = port
        self.ack_timeout_s = ack_timeout_s
        self.max_tries = max_tries
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.counters = EmitterCounters()
        self._jitter = random.Random(seed)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._framer = MllpFramer()
        self._unread: deque[bytes | OversizeFrame] = deque()
        self._lock = asyncio.Lock()
        self._where = f"{host}:{port}"

    async def __aenter__(self) -> MllpEmitter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Connect now, retrying with backoff until it works (or the caller cancels)."""
        async with self._lock:
            await self._link()

    async def close(self) -> None:
        """Close the connection (if any); the next ``send`` makes a new one."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is None:
            return
        writer.close()
        try:
            await writer.wait_closed()
        except OSError as exc:
            # The gateway already reset the link: it is closed either way.
            log.debug("%s: closed after %s", self._where, exc)

    async def send(self, message: bytes) -> str:
        """Deliver one unframed message and return the ACK code that settled it."""
        control_id = _control_id(message)
        data = frame(message)
        counters = self.counters
        async with self._lock:
            for attempt in range(1, self.max_tries + 1):
                reader, writer = await self._link()
                if attempt > 1:
                    counters.resent += 1
                code = await self._try_once(reader, writer, data, control_id)
                if code is None:
                    continue
                if code in ACCEPTED:
                    counters.acked += 1
                    return code
                if code in REJECTED:
                    counters.rejected += 1
                    log.warning("%s: message %r rejected (%s)", self._where, control_id, code)
                    return code
                counters.errors += 1
                if attempt == self.max_tries:
                    log.warning("%s: message %r refused %d times", self._where, control_id, attempt)
                    return code
            # A monitor whose messages vanish gives up on the link, not just the message.
            counters.failed += 1
            log.warning("%s: no ACK for %r after %d tries", self._where, control_id, self.max_tries)
            await self.close()
            raise DeliveryFailed(control_id, self.max_tries)

    async def _link(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The open connection, made (with backoff, until it works) if there is none."""
        reader, writer = self._reader, self._writer
        if reader is not None and writer is not None:
            if not writer.is_closing() and not reader.at_eof():
                return reader, writer
            await self.close()
        delay = self.backoff_initial_s
        while True:
            try:
                async with asyncio.timeout(self.ack_timeout_s):
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                break
            except OSError as exc:  # refused, unreachable, or no answer in time
                self.counters.connect_failures += 1
                # Jitter keeps a ward of monitors from reconnecting in one burst.
                wait = delay * self._jitter.uniform(0.5, 1.0)
                log.info("%s: cannot connect (%r); retry in %.2f s", self._where, exc, wait)
                await asyncio.sleep(wait)
                delay = min(self.backoff_max_s, delay * 2)
        self._reader, self._writer = reader, writer
        self._framer = MllpFramer()
        self._unread.clear()
        if self.counters.connects:
            self.counters.reconnects += 1
        self.counters.connects += 1
        return reader, writer

    async def _try_once(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        data: bytes,
        control_id: str,
    ) -> str | None:
        """Write the frame and wait for its ACK; None when none came (timeout or drop)."""
        deadline = asyncio.timeout(self.ack_timeout_s)
        try:
            writer.write(data)
            self.counters.sent += 1
            async with deadline:
                await writer.drain()
                while True:
                    while self._unread:
                        code = self._match(self._unread.popleft(), control_id)
                        if code is not None:
                            return code
                    chunk = await reader.read(_READ_SIZE)
                    if not chunk:
                        raise ConnectionResetError("connection closed by the gateway")
                    self._unread.extend(self._framer.feed(chunk))
        except OSError as exc:
            if isinstance(exc, TimeoutError) and deadline.expired():
                self.counters.timeouts += 1
                log.info("%s: no ACK for %r in %.2f s", self._where, control_id, self.ack_timeout_s)
            else:
                log.info("%s: connection lost sending %r: %r", self._where, control_id, exc)
                await self.close()
            return None

    def _match(self, item: bytes | OversizeFrame, control_id: str) -> str | None:
        """The MSA-1 code when ``item`` is the ACK for ``control_id``; None otherwise."""
        if isinstance(item, bytes):
            try:
                ack: er7.Message | None = er7.parse(item)
            except ParseError:
                ack = None
            msa = ack.first("MSA") if ack is not None else None
            if msa is not None and msa.get(2).strip() == control_id:
                return msa.get(1).strip().upper()
        self.counters.stray += 1
        return None


def _control_id(message: bytes) -> str:
    """MSH-10 of an outgoing message, read with the project's one parser (MSH only)."""
    end = message.find(b"\r")
    try:
        msh = er7.parse(message if end < 0 else message[:end])
    except ParseError as exc:
        raise ValueError(f"not an HL7 message: {exc}") from exc
    control_id = msh.control_id
    if not control_id:
        raise ValueError("the message has no MSH-10 control id to match its ACK on")
    return control_id

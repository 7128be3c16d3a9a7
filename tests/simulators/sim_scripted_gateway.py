"""A small real MLLP server for the simulator tests: a scripted gateway on 127.0.0.1.

It listens on a real loopback socket, deframes with the project's :class:`MllpFramer`,
parses with ``er7.parse`` and answers whatever its script says (by default the real
``ack.acknowledgements`` for an accepted message), so the emitters are tested against
TCP as it is — split reads, closed sockets, restarts on the same port. It is not the
gateway's listener and must not grow into one.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import Counter
from collections.abc import Awaitable, Callable

from adapters.hl7 import er7
from adapters.hl7.ack import Outcome, acknowledgements
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame

Answer = Callable[[er7.Message, int], Awaitable[list[bytes]]]
"""The script: (message, how many times its control id was received) → ACKs to send."""

_ack_ids = itertools.count(1)


class DropConnection(Exception):
    """Raised by a script to make the server close the connection instead of answering."""


def ack(code: str, control_id: str) -> bytes:
    """An ACK (unframed) with MSA-1 ``code`` for MSH-10 ``control_id``."""
    return (
        f"MSH|^~\\&|TEST_GATEWAY||||20240101000000+0000||ACK^R01^ACK|{next(_ack_ids)}|P|2.6\r"
        f"MSA|{code}|{control_id}\r"
    ).encode()


async def accept_all(message: er7.Message, nth: int) -> list[bytes]:
    return acknowledgements(message, Outcome.ACCEPTED)


class ScriptedGateway:
    """``gw = ScriptedGateway(script); port = await gw.start(); …; await gw.stop()``."""

    def __init__(self, answer: Answer = accept_all) -> None:
        self.answer = answer
        self.received: list[er7.Message] = []
        self.times_received: Counter[str] = Counter()
        self.connections_opened = 0
        self.connections_closed = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def open_connections(self) -> int:
        return self.connections_opened - self.connections_closed

    def control_ids(self) -> list[str]:
        return [m.control_id for m in self.received]

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (``port`` 0: any free port); returns the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every client connection, as a crashed gateway would."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            await asyncio.wait(self._handlers)

    async def __aenter__(self) -> ScriptedGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        self.connections_opened += 1
        framer = MllpFramer()
        try:
            while data := await reader.read(65536):
                for item in framer.feed(data):
                    assert not isinstance(item, OversizeFrame)
                    message = er7.parse(item)
                    self.received.append(message)
                    self.times_received[message.control_id] += 1
                    replies = await self.answer(message, self.times_received[message.control_id])
                    for reply in replies:
                        writer.write(frame(reply))
                    await writer.drain()
        except (DropConnection, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self.connections_closed += 1
            self._handlers.discard(task)

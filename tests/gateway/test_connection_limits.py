"""Slow and idle connections against the real listener on loopback: a frame past its deadline
is closed, bytes between frames keep nothing open, an address at its cap replaces its idlest
connection, and a full listener gives the slot of its slowest connection to a newcomer —
while honest monitors on other addresses keep getting their ACKs. Other loopback addresses
(127.0.0.N) stand for other peers."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence

import pytest
from journal_support import Monitor, oru
from waiting import eventually

from adapters.hl7 import listener as listener_module
from adapters.hl7.listener import MllpListener
from gateway.clock import ManualClock
from gateway.domain import DeviceReport, ReceivedMessage
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState


@pytest.fixture
async def hub() -> Hub:
    return Hub(WardState(), Router(), ManualClock())


@contextlib.asynccontextmanager
async def listening(hub: Hub, **limits: float) -> AsyncIterator[MllpListener]:
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock, **limits) as server:  # type: ignore[arg-type]
        yield server


async def closed(monitor: Monitor) -> bool:
    """Whether the listener closed this connection (end of stream or reset)."""
    try:
        return await asyncio.wait_for(monitor.reader.read(65536), 5) == b""
    except ConnectionError:
        return True


async def slow_frame(port: int, source: str, stop: asyncio.Event) -> Monitor:
    """A connection that starts a frame and sends one more byte every 0.1 s, never ending it."""
    monitor = await Monitor.connect(port, source)

    async def drip() -> None:
        with contextlib.suppress(ConnectionError):
            monitor.writer.write(b"\x0bMSH|")
            while not stop.is_set() and not monitor.writer.is_closing():
                await asyncio.sleep(0.1)
                monitor.writer.write(b"A")

    asyncio.get_running_loop().create_task(drip())
    return monitor


def faults(hub: Hub, text: str) -> list[str]:
    return [f.text for f in hub.snapshot().faults if text in f.text]


async def test_a_frame_not_complete_within_its_deadline_closes_its_connection(hub: Hub) -> None:
    stop = asyncio.Event()
    async with listening(hub, frame_deadline_s=0.5) as listener:
        honest = await Monitor.connect(listener.port, "127.0.0.2")
        slow = await slow_frame(listener.port, "127.0.0.3", stop)
        # The idle timer is 300 s and the slow sender sends every 0.1 s: only the deadline
        # can close it. The honest monitor, meanwhile, is answered every time.
        for n in range(8):
            assert await honest.send(oru(f"h{n}")) == ("CA", f"h{n}")
            await asyncio.sleep(0.1)
        assert await closed(slow)
        stop.set()
        assert faults(hub, "frame not complete 0.5 s after its first byte")
        assert listener.counts.of("127.0.0.3").timed_out == 1
        assert await honest.send(oru("after")) == ("CA", "after")
        await honest.close()


async def test_bytes_between_frames_do_not_keep_a_connection_open(hub: Hub) -> None:
    async with listening(hub, idle_timeout_s=0.5) as listener:
        noisy = await Monitor.connect(listener.port, "127.0.0.3")

        async def noise() -> None:
            with contextlib.suppress(ConnectionError):
                while not noisy.writer.is_closing():
                    noisy.writer.write(b"\r\n")  # never a frame
                    await asyncio.sleep(0.05)

        task = asyncio.get_running_loop().create_task(noise())
        assert await closed(noisy)
        task.cancel()
        assert faults(hub, "idle for 0.5 s: closed")


async def test_an_address_at_its_cap_replaces_its_idlest_connection(hub: Hub) -> None:
    async with listening(hub, max_connections_per_peer=2, quiet_after_s=0.3) as listener:
        first = await Monitor.connect(listener.port, "127.0.0.7")
        second = await Monitor.connect(listener.port, "127.0.0.7")
        assert await first.send(oru("f1")) == ("CA", "f1")
        await asyncio.sleep(0.4)  # the first is quiet now (a monitor that rebooted)
        assert await second.send(oru("s1")) == ("CA", "s1")
        other = await Monitor.connect(listener.port, "127.0.0.8")  # another address: no effect
        rebooted = await Monitor.connect(listener.port, "127.0.0.7")
        assert await rebooted.send(oru("r1")) == ("CA", "r1")
        assert await closed(first)
        assert await second.send(oru("s2")) == ("CA", "s2")
        assert await other.send(oru("o1")) == ("CA", "o1")
        assert listener.counts.of("127.0.0.7").evicted == 1
        assert listener.counts.of("127.0.0.8").evicted == 0
        assert faults(hub, "replaced by a new connection from the same address (at its cap of 2)")
        for monitor in (second, other, rebooted):
            await monitor.close()


async def test_an_address_at_its_cap_never_loses_a_delivering_connection_to_a_sibling(
    hub: Hub,
) -> None:
    """One address is often many monitors (a serial device server): at its cap, a newcomer
    from it is refused while every one of its connections delivers, and is let in once one
    of them has gone quiet."""
    async with listening(hub, max_connections_per_peer=2, quiet_after_s=0.5) as listener:
        first = await Monitor.connect(listener.port, "127.0.0.7")
        second = await Monitor.connect(listener.port, "127.0.0.7")
        assert await first.send(oru("f1")) == ("CA", "f1")
        assert await second.send(oru("s1")) == ("CA", "s1")
        refused = await Monitor.connect(listener.port, "127.0.0.7")
        assert await closed(refused)
        assert await first.send(oru("f2")) == ("CA", "f2")
        assert await second.send(oru("s2")) == ("CA", "s2")
        assert listener.counts.of("127.0.0.7").refused == 1
        assert listener.counts.of("127.0.0.7").evicted == 0
        assert faults(hub, "127.0.0.7 holds its 2 connections (max_connections_per_peer)")
        await asyncio.sleep(0.6)
        assert await second.send(oru("s3")) == ("CA", "s3")  # the first has gone quiet
        retried = await Monitor.connect(listener.port, "127.0.0.7")
        assert await retried.send(oru("r1")) == ("CA", "r1")
        assert await closed(first)
        assert listener.counts.of("127.0.0.7").evicted == 1
        for monitor in (second, retried):
            await monitor.close()


async def test_a_full_listener_gives_the_slowest_connections_slot_to_a_newcomer(
    hub: Hub,
) -> None:
    stop = asyncio.Event()
    async with listening(hub, max_connections=4, frame_deadline_s=60) as listener:
        honest = await Monitor.connect(listener.port, "127.0.0.2")
        assert await honest.send(oru("h0")) == ("CA", "h0")
        slow = [await slow_frame(listener.port, f"127.0.1.{n}", stop) for n in range(1, 4)]
        await eventually(lambda: len(listener.slots) == 4, "the listener full")
        await asyncio.sleep(0.05)
        newcomer = await Monitor.connect(listener.port, "127.0.0.9")
        assert await newcomer.send(oru("n0")) == ("CA", "n0")
        # The slow connection that went longest without a whole frame (the first) gave way;
        # the honest one was never a candidate.
        assert await closed(slow[0])
        assert listener.counts.of("127.0.1.1").evicted == 1
        assert listener.counts.total().evicted == 1
        assert await honest.send(oru("h1")) == ("CA", "h1")
        assert faults(hub, "4 connections open; the slot went to a new connection from 127.0.0.9")
        stop.set()
        await honest.close()
        await newcomer.close()


class GatedHub(Hub):
    """A hub whose journal takes as long as the test says: each submit waits for ``gate``."""

    def __init__(self) -> None:
        super().__init__(WardState(), Router(), ManualClock())
        self.gate = asyncio.Event()
        self.storing = asyncio.Event()
        """Set once a message is on its way to the (gated) journal."""

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        self.storing.set()
        await self.gate.wait()
        await super().submit(message, reports)


async def test_a_connection_whose_message_is_being_stored_is_never_evicted() -> None:
    """Under load a commit takes a while, and connections that never delivered keep
    arriving: a monitor's first message, read and on its way to the journal, must not make
    its connection "the oldest that delivered nothing" and lose it (and its ACK) to a
    newcomer — neither at its address's cap nor when the listener is full."""
    hub = GatedHub()
    async with MllpListener(
        hub,
        host="127.0.0.1",
        port=0,
        clock=hub.clock,
        max_connections=2,
        max_connections_per_peer=1,
        quiet_after_s=0.05,
    ) as listener:
        monitor = await Monitor.connect(listener.port, "127.0.0.2")
        sending = asyncio.get_running_loop().create_task(monitor.send(oru("m1")))
        await asyncio.wait_for(hub.storing.wait(), 5)
        idle = await Monitor.connect(listener.port, "127.0.0.3")  # never sends a frame
        await eventually(lambda: len(listener.slots) == 2, "the listener full")
        await asyncio.sleep(0.1)  # the monitor's frame is older than anyone's, and quiet
        sibling = await Monitor.connect(listener.port, "127.0.0.2")
        assert await closed(sibling)  # its address at its cap, the one there storing
        newcomer = await Monitor.connect(listener.port, "127.0.0.4")
        assert await closed(idle)  # the full listener's slot came from the idle one
        hub.gate.set()
        assert await sending == ("CA", "m1")
        assert listener.counts.of("127.0.0.2").evicted == 0
        assert listener.counts.of("127.0.0.2").refused == 1
        assert listener.counts.of("127.0.0.3").evicted == 1
        for peer in (monitor, newcomer):
            await peer.close()


async def test_a_connection_whose_large_frame_is_being_read_is_never_evicted(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A frame past 64 KiB is read in a thread: meanwhile the loop accepts others, and a
    monitor's first message, large, must not make its connection "the oldest that
    delivered nothing" and lose it to a newcomer."""
    reading, release = threading.Event(), threading.Event()

    def held_read(item: bytes, peer: str, receive_time: int) -> object:
        reading.set()
        release.wait(10)
        return real_read(item, peer, receive_time)

    real_read = listener_module._read
    monkeypatch.setattr(listener_module, "_read", held_read)
    large = oru("big") + b"NTE|1||" + b"x" * listener_module.LARGE_FRAME_BYTES + b"\r"
    async with listening(hub, max_connections=2) as listener:
        monitor = await Monitor.connect(listener.port, "127.0.0.2")
        sending = asyncio.get_running_loop().create_task(monitor.send(large))
        assert await asyncio.to_thread(reading.wait, 5)
        idle = await Monitor.connect(listener.port, "127.0.0.3")  # never sends a frame
        await eventually(lambda: len(listener.slots) == 2, "the listener full")
        newcomer = await Monitor.connect(listener.port, "127.0.0.4")
        assert await closed(idle)  # the slot came from the idle one, not the reading one
        release.set()
        assert await sending == ("CA", "big")
        assert listener.counts.of("127.0.0.2").evicted == 0
        for peer in (monitor, newcomer):
            await peer.close()


async def test_repeated_connection_faults_are_shown_once_and_counted(hub: Hub) -> None:
    async with listening(hub, max_connections=1) as listener:
        holder = await Monitor.connect(listener.port, "127.0.0.2")
        assert await holder.send(oru("h0")) == ("CA", "h0")
        for _ in range(20):  # a reconnect storm from one address, refused every time
            refused = await Monitor.connect(listener.port, "127.0.0.5")
            assert await closed(refused)
        assert listener.counts.of("127.0.0.5").refused == 20
        shown = [f for f in hub.snapshot().faults if "connection refused" in f.text]
        assert len(shown) == 1, shown
        assert hub.fault_count >= 20
        hub.summarise_faults(everything=True)
        summary = hub.snapshot().faults[-1]
        assert summary.source.startswith("mllp 127.0.0.5:")
        assert "… repeated 19 times in" in summary.text
        await holder.close()

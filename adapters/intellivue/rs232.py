"""An IntelliVue monitor on its MIB/RS-232 port: the LAN session, in frames, on a serial port.

:class:`MibReader` opens the port at 115200 8N1 through the gateway's serial layer
(:class:`~adapters.serial.port.SerialPort`), runs a
:class:`~adapters.intellivue.session.Session` over it with the framing of :mod:`mib`
(no Connect Indication on serial: the client starts with the Association Request), and
keeps the port open as every serial reader does (:class:`~adapters.serial.keeper.PortKeeper`:
reopened with a backoff when it is lost — a USB adapter unplugged — the bed's values going
stale, then DEVICE LOST, meanwhile). A damaged frame is journaled as rejected and
counted; the next one is read. Frames are paced, at most four every 128 ms, as the
monitor's interface asks.
"""

from __future__ import annotations

import asyncio
import time

from adapters.hl7.listener import ReportSink
from adapters.intellivue import mib
from adapters.intellivue.link import converse
from adapters.intellivue.session import LOST_AFTER_S, POLL_PERIOD_S, Session
from adapters.serial.keeper import BACKOFF_MAX_S, PortKeeper
from adapters.serial.port import SerialLink, SerialPort
from gateway.clock import Clock, SystemClock
from gateway.domain import ReceivedMessage

TRANSPORT = "serial"
BAUD = 115200
FRAMES_PER_BURST = 4
BURST_S = 0.128


class _Frames:
    """A serial link as a :class:`~adapters.intellivue.link.Channel` of MIB frames."""

    def __init__(self, link: SerialLink, reader: MibReader) -> None:
        self.link = link
        self.reader = reader
        self.deframer = mib.Deframer()
        self.ready: list[bytes] = []
        self.outbox: list[bytes] = []
        self.burst_start = 0.0
        self.burst = 0
        self.pump: asyncio.Task[bytes] | None = None

    async def receive(self, timeout_s: float) -> bytes | None:
        self._flush()
        deadline = time.monotonic() + timeout_s
        while not self.ready:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self.pump is None:
                self.pump = asyncio.ensure_future(self.link.read())
            done, _ = await asyncio.wait({self.pump}, timeout=left)
            if not done:
                return None
            task, self.pump = self.pump, None
            data = task.result()  # AdapterError when the port is lost
            for item in self.deframer.feed(data):
                if isinstance(item, mib.BadFrame):
                    await self.reader.bad_frame(item)
                else:
                    self.ready.append(item)
                    self.reader.keeper.heard()  # the monitor talks: a next loss retries fast
            self._flush()
        return self.ready.pop(0)

    def send(self, data: bytes) -> None:
        self.outbox.append(mib.frame(data))
        self._flush()

    def _flush(self) -> None:
        now = time.monotonic()
        if now - self.burst_start >= BURST_S:
            self.burst_start, self.burst = now, 0
        while self.outbox and self.burst < FRAMES_PER_BURST:
            self.link.write(self.outbox.pop(0))
            self.burst += 1

    def close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()


class MibReader:
    """``await reader.run()`` reads the monitor on ``port`` until cancelled."""

    def __init__(
        self,
        sink: ReportSink,
        *,
        port: str,
        clock: Clock | None = None,
        link: SerialLink | None = None,
        waves: bool = True,
        poll_period_s: float = POLL_PERIOD_S,
        lost_after_s: float = LOST_AFTER_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.sink = sink
        self.port = port
        self.clock = clock or SystemClock()
        self.link: SerialLink = link or SerialPort(port, baud=BAUD)
        self.source = f"intellivue {port}"
        self.backoff_max_s = backoff_max_s
        self.session = Session(
            transport=TRANSPORT,
            peer=port,
            waves=waves,
            poll_period_s=poll_period_s,
            lost_after_s=lost_after_s,
            label=f"IntelliVue {port}",
        )
        self.keeper = PortKeeper(
            self.link,
            sink,
            port=port,
            transport=TRANSPORT,
            source=self.source,
            clock=self.clock,
            backoff_max_s=backoff_max_s,
        )
        self.bad_frames = 0

    @property
    def opened(self) -> int:
        """Times the port was opened (1 + reconnections)."""
        return self.keeper.opened

    async def run(self) -> None:
        """Read until cancelled; never returns otherwise, never raises (but CancelledError)."""
        await self.keeper.run(self._session)

    async def _session(self) -> None:
        channel = _Frames(self.link, self)
        try:
            await converse(self.session, channel, self.sink, self.clock, self.source)
        finally:
            channel.close()

    async def bad_frame(self, bad: mib.BadFrame) -> None:
        self.bad_frames += 1
        message = ReceivedMessage(
            bad.raw, TRANSPORT, self.port, self.clock.now_ns(), "", self.session.device
        )
        await self.sink.reject(message, bad.reason)

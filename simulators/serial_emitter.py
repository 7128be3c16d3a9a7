"""Simulated serial devices on pseudo-terminals: a device's RS-232 port, without a cable.

Each :class:`SerialDevice` opens a pseudo-terminal (``os.openpty``), puts it in raw mode
(no echo, no CR/LF translation, 8 bits) and writes what the device would put on its port —
Masimo ASCII lines, Nonin frames, Ivy ANSAR-B frames, or MLLP-framed HL7 — at the device's
pace. The gateway (or a test, or ``screen``) opens :attr:`SerialDevice.path` as if it were
``/dev/ttyUSB0``. Like a real port, nobody listening is not an error: when the terminal's
buffer is full the bytes are dropped and counted. A one-way device never waits for an
answer; bytes the reader sends back (ACKs on an HL7 line) are read and counted, so they
can never fill the line. A GE S/5 monitor and a Dräger ventilator must be asked: what the
reader writes is handed to their peer (``serial_peers``) as it arrives, and the peer's
answer goes straight back.

A scenario's ``disconnect`` makes the device fall silent for its duration, as a pulled
cable would. This module owns the file descriptors and the pacing; it must not encode
(``serial_formats`` does) nor invent physiology (``monitor`` does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import tty
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from gateway.clock import NS_PER_S, Clock, SystemClock
from simulators import serial_formats
from simulators.ports import open_all, serve_all
from simulators.scenario import WardScenario
from simulators.serial_formats import SERIAL_KINDS, NoninStream
from simulators.serial_peers import GeS5Monitor, MedibusVentilator
from simulators.signals import WaveRates
from simulators.ward import SimulatedMonitor, build_monitors

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SerialCounters:
    written: int = 0
    """Bytes the reader could take."""
    dropped: int = 0
    """Bytes lost because nobody read the port and its buffer was full."""
    received: int = 0
    """Bytes the reader sent back (ACKs)."""
    records: int = 0
    """Lines, frames or messages written."""


class PtyPort:
    """The device's end of a pseudo-terminal; :attr:`path` is the end the gateway opens."""

    def __init__(self) -> None:
        self._master, self._slave = os.openpty()
        # Raw: the line discipline must pass 0x0B, 0x1C, CR and 0xFF through untouched.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self.counters = SerialCounters()
        self.closed = False
        self.listener: Callable[[bytes], None] | None = None
        """Who hears what the reader writes (a device that answers); None: nobody."""

    @property
    def fd(self) -> int:
        """The device end's file descriptor (for the event loop to watch)."""
        return self._master

    def write(self, data: bytes) -> int:
        """Write what the reader can take now; the rest is dropped (and counted)."""
        if self.closed:
            raise OSError(f"{self.path} is closed")
        written = 0
        try:
            while written < len(data):
                written += os.write(self._master, data[written:])
        except BlockingIOError:
            pass
        self.counters.written += written
        self.counters.dropped += len(data) - written
        if self.listener is None:
            self.drain_input()  # a device that answers reads its input as it arrives
        return written

    def drain_input(self) -> bytes:
        """What the reader wrote to the device (read, counted, given to the listener)."""
        chunks = []
        with contextlib.suppress(BlockingIOError, OSError):
            while chunk := os.read(self._master, 4096):
                chunks.append(chunk)
        data = b"".join(chunks)
        self.counters.received += len(data)
        if data and self.listener is not None:
            self.listener(data)
        return data

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self._master)
            os.close(self._slave)

    def __enter__(self) -> PtyPort:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# Records per second of each kind (Nonin streams 3 packets a second).
_PERIOD_S = {
    "masimo": 1.0,
    "nonin": 1.0 / serial_formats.NONIN_PACKETS_PER_S,
    "ivy": 1.0,
    "hl7": 1.0,
    "ge-s5": GeS5Monitor.period_s,
    "medibus": MedibusVentilator.period_s,
}


class SerialDevice:
    """One simulated device of ``kind`` (see :data:`SERIAL_KINDS`) writing to its own pty."""

    def __init__(
        self,
        kind: str,
        monitor: SimulatedMonitor,
        *,
        clock: Clock | None = None,
        waveforms: bool = False,
    ) -> None:
        if kind not in SERIAL_KINDS:
            raise ValueError(f"unknown serial device {kind!r}; known: {', '.join(SERIAL_KINDS)}")
        self.kind = kind
        self.monitor = monitor
        self.waveforms = waveforms
        self.period_s = _PERIOD_S[kind]
        self._clock = clock or SystemClock()
        self.port = PtyPort()
        self._nonin = NoninStream()
        self._serial_number = serial_formats.masimo_serial_number(monitor.device.eui64)
        self.peer: GeS5Monitor | MedibusVentilator | None = None
        """The device's side of a conversation (GE S/5, MEDIBUS); None for one-way ones."""
        if kind == "ge-s5":
            self.peer = GeS5Monitor(monitor.index)
        elif kind == "medibus":
            self.peer = MedibusVentilator(monitor.index)
        if self.peer is not None:
            self.port.listener = self._heard

    @property
    def path(self) -> str:
        return self.port.path

    def close(self) -> None:
        self.port.close()

    def _heard(self, data: bytes) -> None:
        """What the reader wrote, for a device that answers: its answer, at once."""
        assert self.peer is not None
        answer = self.peer.hear(data, self._clock.monotonic_ns() / NS_PER_S)
        if answer and not self.port.closed:
            self.port.write(answer)

    def step(self, dt: float) -> bytes:
        """Advance ``dt`` seconds and return the bytes the device puts on its line."""
        now_ns = self._clock.now_ns()
        readout = self.monitor.tick(dt, now_ns)
        if self.peer is not None:
            return self.peer.step(readout, self._clock.monotonic_ns() / NS_PER_S)
        if not readout.connected:
            return b""
        vitals = self.monitor.last_vitals
        assert vitals is not None
        if self.kind == "masimo":
            return serial_formats.masimo_line(
                vitals, readout, self._serial_number, now_ns / NS_PER_S
            )
        if self.kind == "nonin":
            return self._nonin.frames(readout)
        if self.kind == "ivy":
            return serial_formats.ansar_b_frame(readout)
        messages = self.monitor.hl7_messages(readout, now_ns, waveforms=self.waveforms)
        return serial_formats.hl7_over_serial(messages)

    async def run(self) -> None:
        """Write at the device's pace until cancelled; the pty stays open until :meth:`close`."""
        loop = asyncio.get_running_loop()
        period = self.period_s
        due = loop.time()
        steps = 1
        if self.peer is not None:
            loop.add_reader(self.port.fd, self.port.drain_input)
        try:
            await self._pace(loop, period, due, steps)
        finally:
            if self.peer is not None and not self.port.closed:
                loop.remove_reader(self.port.fd)

    async def _pace(
        self, loop: asyncio.AbstractEventLoop, period: float, due: float, steps: int
    ) -> None:
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            data = self.step(period * steps)
            if data:
                self.port.write(data)
                self.port.counters.records += 1
            due += period
            late = loop.time() - due
            steps = 1
            if late > 0:
                missed = math.ceil(late / period)
                due += missed * period
                steps += missed


def serial_devices(
    kind: str,
    beds: int,
    seed: int,
    scenario: WardScenario | None = None,
    *,
    clock: Clock | None = None,
    waveforms: bool = False,
    rates: WaveRates | None = None,
) -> list[SerialDevice]:
    """``beds`` devices of ``kind``, each on its own pty (the caller closes them)."""
    return open_all(
        # index, identity, location, model: the spare seed is an MLLP link's
        lambda built: SerialDevice(
            kind, SimulatedMonitor(*built[:4]), clock=clock, waveforms=waveforms
        ),
        build_monitors(beds, seed, scenario, rates=rates),
    )


async def run_serial(devices: list[SerialDevice]) -> None:
    """Run every device until cancelled, then close their ptys."""
    await serve_all(devices, lambda device: f"serial {device.kind} {device.path}")

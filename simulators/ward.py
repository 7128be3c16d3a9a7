"""A simulated ward: N bedside monitors reporting their patients to a gateway over MLLP.

Each bed is a :class:`SimulatedMonitor` (its own patient, device identity and location)
with its own :class:`MllpEmitter` connection. Every ``period_s`` a monitor sends one
PCD-01 ORU^R01 and waits for its ACK before the next, as real monitors do; the beds'
start times are spread over the period so the gateway never sees them in lockstep. A
monitor that overruns its period (a slow ACK, a reconnect) skips the ticks it missed
rather than sending a burst. One monitor that cannot connect retries on its own, with
backoff, and disturbs no other.

This module schedules and owns connections; it must not encode HL7 (``pcd01`` does) nor
invent physiology (``physiology`` does). Other transports (serial, MQTT) reuse
:class:`SimulatedMonitor` and supply their own link.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np

from gateway.clock import NS_PER_S, Clock, SystemClock
from simulators.mllp_emitter import DeliveryFailed, EmitterCounters, MllpEmitter
from simulators.pcd01 import BedProfile, DeviceProfile, encode_oru_r01, ward_profiles
from simulators.physiology import Patient, Vitals


class SimulatedMonitor:
    """One bedside monitor: what it is, where it is, whom it watches, what it last sent."""

    def __init__(
        self,
        index: int,
        device: DeviceProfile,
        bed: BedProfile,
        patient: Patient,
        emitter: MllpEmitter,
    ) -> None:
        self.index = index
        self.device = device
        self.bed = bed
        self.patient = patient
        self.emitter = emitter
        self.sequence = 0
        """Messages made so far; the next control id is built from it."""
        self.last_vitals: Vitals | None = None
        self.last_ack: str | None = None
        """MSA-1 of the last settled message; None before any, or when it got no ACK."""

    @property
    def counters(self) -> EmitterCounters:
        return self.emitter.counters

    def next_message(self, now_ns: int) -> bytes:
        """The ORU^R01 this monitor sends at ``now_ns`` (UTC), with a fresh control id."""
        vitals = self.patient.step(now_ns / NS_PER_S)
        self.sequence += 1
        self.last_vitals = vitals
        # Unique per sender, which is all MSH-10 must be: the device's own serial part.
        control_id = f"{self.device.eui64[10:]}{self.sequence:08d}"
        return encode_oru_r01(
            vitals, device=self.device, bed=self.bed, control_id=control_id, now_ns=now_ns
        )


class SimulatedWard:
    """``beds`` simulated monitors sending to ``host:port`` until :meth:`run` is cancelled."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        beds: int = 8,
        seed: int = 0,
        period_s: float = 1.0,
        clock: Clock | None = None,
        ack_timeout_s: float = 5.0,
        max_tries: int = 3,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
    ) -> None:
        if beds < 0:
            raise ValueError(f"the number of beds cannot be negative: {beds}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, not {period_s}")
        self.period_s = period_s
        self._clock = clock if clock is not None else SystemClock()
        monitors = []
        for index, (device, bed) in enumerate(ward_profiles(beds, seed)):
            streams = np.random.SeedSequence(seed, spawn_key=(index, 1)).spawn(2)
            emitter = MllpEmitter(
                host,
                port,
                ack_timeout_s=ack_timeout_s,
                max_tries=max_tries,
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                seed=int(streams[1].generate_state(1)[0]),
            )
            monitors.append(SimulatedMonitor(index, device, bed, Patient(streams[0]), emitter))
        self.monitors: tuple[SimulatedMonitor, ...] = tuple(monitors)
        self._enabled = [True] * beds
        self._tasks: list[asyncio.Task[None] | None] = [None] * beds
        self._group: asyncio.TaskGroup | None = None

    def bed_running(self, index: int) -> bool:
        """Whether bed ``index`` is sending (its cable plugged in)."""
        return self._tasks[index] is not None

    async def run(self) -> None:
        """Run every enabled monitor in one task group until cancelled.

        A monitor's unexpected failure (a bug, not a network fault) ends the run with it,
        loudly: the simulator must not hide its own faults either.
        """
        if self._group is not None:
            raise RuntimeError("this ward is already running")
        try:
            async with asyncio.TaskGroup() as group:
                self._group = group
                for index, enabled in enumerate(self._enabled):
                    if enabled:
                        self._start(group, index)
                await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            self._group = None
            self._tasks = [None] * len(self._tasks)

    def stop_bed(self, index: int) -> None:
        """Pull bed ``index``'s cable: its monitor stops and its connection is closed."""
        self._check(index)
        self._enabled[index] = False
        task, self._tasks[index] = self._tasks[index], None
        if task is not None:
            task.cancel()

    def start_bed(self, index: int) -> None:
        """Plug bed ``index`` back in: it reconnects and reports again (now, if running)."""
        self._check(index)
        self._enabled[index] = True
        if self._group is not None and self._tasks[index] is None:
            self._start(self._group, index)

    def _check(self, index: int) -> None:
        if not 0 <= index < len(self.monitors):
            raise IndexError(f"no bed {index} in a ward of {len(self.monitors)}")

    def _start(self, group: asyncio.TaskGroup, index: int) -> None:
        monitor = self.monitors[index]
        task = group.create_task(
            self._report(monitor), name=f"simulated monitor {monitor.bed.location}"
        )
        self._tasks[index] = task

    async def _report(self, monitor: SimulatedMonitor) -> None:
        loop = asyncio.get_running_loop()
        period = self.period_s
        due = loop.time() + period * monitor.index / max(1, len(self.monitors))
        async with monitor.emitter:
            while True:
                await asyncio.sleep(max(0.0, due - loop.time()))
                message = monitor.next_message(self._clock.now_ns())
                try:
                    monitor.last_ack = await monitor.emitter.send(message)
                except DeliveryFailed:
                    monitor.last_ack = None  # the emitter logged and counted it
                due += period
                late = loop.time() - due
                if late > 0:
                    due += math.ceil(late / period) * period

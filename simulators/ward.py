"""A simulated ward: N bedside monitors reporting their patients to a gateway over MLLP.

Each bed is a :class:`SimulatedMonitor`: a :class:`~simulators.monitor.MonitorModel`
playing the bed's scenario, a device identity and a location. Every ``period_s`` a
monitor advances its model by ``period_s`` of simulated time and sends what a real one
sends: a PCD-01 ORU^R01 of its numerics, a PCD-04 ORU^R40 for each alarm update, and
(``waveforms``) one ORU^R01 per wave with the interval's samples — each waiting for its
ACK before the next, as real monitors do. The beds' start times are spread over the period
so the gateway never sees them in lockstep; a monitor that overruns its period (a slow
ACK, a reconnect) skips the ticks it missed rather than sending a burst, and its patient
still lives through them. A scenario's ``disconnect`` closes the monitor's connection for
its duration; :meth:`SimulatedWard.stop_bed` pulls its cable until :meth:`start_bed`.

By default each monitor has its own connection; ``vendor_gateway`` sends every bed over
ONE connection, as Mindray's eGateway or a Philips IIC do, with MSH-3 naming the gateway,
PV1-3 the bed and OBX-18 the bed's monitor.

This module schedules and owns connections; it must not encode HL7 (``pcd01``/``pcd04``
do) nor invent physiology (``monitor`` does). The serial and MQTT emitters reuse
:class:`SimulatedMonitor` with their own links.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
from collections.abc import Iterator

import numpy as np

from gateway.clock import NS_PER_S, Clock, SystemClock
from simulators.mllp_emitter import DeliveryFailed, EmitterCounters, MllpEmitter
from simulators.monitor import MonitorModel, Readout
from simulators.pcd01 import (
    ABP,
    ECG_II,
    PLETH,
    RESP,
    BedProfile,
    DeviceProfile,
    WaveKind,
    encode_oru_r01,
    encode_waveform,
    ward_profiles,
)
from simulators.pcd04 import encode_oru_r40
from simulators.physiology import Patient, Vitals
from simulators.scenario import STABLE, WardScenario
from simulators.signals import Wave, WaveRates

VENDOR_GATEWAY = DeviceProfile("SIM_VENDOR_GATEWAY", "02A0C9FFFE000000")
"""Who MSH-3 names in vendor-gateway mode."""


class SimulatedMonitor:
    """One bedside monitor: what it is, where it is, whom it watches, what it last sent."""

    def __init__(
        self,
        index: int,
        device: DeviceProfile,
        bed: BedProfile,
        model: MonitorModel,
        emitter: MllpEmitter | None = None,
        *,
        sender: DeviceProfile | None = None,
    ) -> None:
        self.index = index
        self.device = device
        self.bed = bed
        self.model = model
        self._emitter = emitter
        self.sender = sender
        """MSH-3 when a vendor gateway speaks for this monitor; None: the monitor itself."""
        self.sequence = 0
        """Messages made so far; the next control id is built from it."""
        self.last_vitals: Vitals | None = None
        """What the last readout showed, times in epoch seconds."""
        self.last_readout: Readout | None = None
        self.last_ack: str | None = None
        """MSA-1 of the last settled message; None before any, or when it got no ACK."""
        self.origin_ns: int | None = None
        """UTC time of the model's time 0, fixed by the first :meth:`tick`."""

    @property
    def emitter(self) -> MllpEmitter:
        if self._emitter is None:
            raise RuntimeError(f"monitor {self.bed.location} has no MLLP link")
        return self._emitter

    @property
    def counters(self) -> EmitterCounters:
        return self.emitter.counters

    @property
    def patient(self) -> Patient:
        return self.model.patient

    def tick(self, dt: float, now_ns: int) -> Readout:
        """Advance the model ``dt`` seconds, the interval ending at ``now_ns`` (UTC)."""
        readout = self.model.advance(dt)
        if self.origin_ns is None:
            self.origin_ns = now_ns - round(readout.t1 * NS_PER_S)
        origin_s = self.origin_ns / NS_PER_S
        v = readout.vitals
        self.last_vitals = dataclasses.replace(
            v, time_s=origin_s + v.time_s, nibp_time_s=origin_s + v.nibp_time_s
        )
        self.last_readout = readout
        return readout

    def wave_start_ns(self, wave: Wave) -> int:
        assert self.origin_ns is not None
        return self.origin_ns + round(wave.start_s * NS_PER_S)

    def next_control_id(self) -> str:
        self.sequence += 1
        # Unique per sender, which is all MSH-10 must be: the device's own serial part.
        return f"{self.device.eui64[10:]}{self.sequence:08d}"

    def hl7_messages(self, readout: Readout, now_ns: int, *, waveforms: bool) -> list[bytes]:
        """What the monitor sends for ``readout``: numerics, alarm updates, waves."""
        assert self.last_vitals is not None
        device, bed, sender = self.device, self.bed, self.sender
        messages = [
            encode_oru_r01(
                self.last_vitals,
                device=device,
                bed=bed,
                control_id=self.next_control_id(),
                now_ns=now_ns,
                sender=sender,
            )
        ]
        for alarm in readout.alarms:
            messages.append(
                encode_oru_r40(
                    alarm,
                    device=device,
                    bed=bed,
                    control_id=self.next_control_id(),
                    now_ns=now_ns,
                    sender=sender,
                )
            )
        if waveforms:
            for kind, wave, valid in self.waves(readout):
                messages.append(
                    encode_waveform(
                        kind,
                        wave.samples,
                        wave.rate,
                        self.wave_start_ns(wave),
                        device=device,
                        bed=bed,
                        control_id=self.next_control_id(),
                        now_ns=now_ns,
                        sender=sender,
                        valid=valid,
                    )
                )
        return messages

    @staticmethod
    def waves(readout: Readout) -> Iterator[tuple[WaveKind, Wave, bool]]:
        """Each wave of the readout with how it is sent and whether it is a real signal."""
        yield ECG_II, readout.ecg, not readout.lead_off
        yield PLETH, readout.pleth, not readout.sensor_off
        yield RESP, readout.resp, not readout.lead_off
        if readout.abp is not None:
            yield ABP, readout.abp, True


def build_monitors(
    beds: int,
    seed: int,
    scenario: WardScenario | None = None,
    *,
    rates: WaveRates | None = None,
) -> list[tuple[int, DeviceProfile, BedProfile, MonitorModel, np.random.SeedSequence]]:
    """The beds of a ward: index, identity, location, model, and a spare seed for its link.

    The same ``(beds, seed, scenario)`` always gives the same ward, and bed k is the same
    whatever the number of beds.
    """
    ward = scenario or WardScenario("stable", "", (STABLE,))
    out = []
    for index, (device, bed) in enumerate(ward_profiles(beds, seed)):
        streams = np.random.SeedSequence(seed, spawn_key=(index, 1)).spawn(2)
        model = MonitorModel(
            ward.for_bed(index), streams[0], rates=rates, alarm_id_prefix=device.eui64[10:]
        )
        out.append((index, device, bed, model, streams[1]))
    return out


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
        scenario: WardScenario | None = None,
        waveforms: bool = False,
        rates: WaveRates | None = None,
        vendor_gateway: bool = False,
    ) -> None:
        if beds < 0:
            raise ValueError(f"the number of beds cannot be negative: {beds}")
        if period_s <= 0:
            raise ValueError(f"period_s must be positive, not {period_s}")
        self.period_s = period_s
        self.waveforms = waveforms
        self.vendor_gateway = vendor_gateway
        self._clock = clock if clock is not None else SystemClock()

        def link(seed_sequence: np.random.SeedSequence) -> MllpEmitter:
            return MllpEmitter(
                host,
                port,
                ack_timeout_s=ack_timeout_s,
                max_tries=max_tries,
                backoff_initial_s=backoff_initial_s,
                backoff_max_s=backoff_max_s,
                seed=int(seed_sequence.generate_state(1)[0]),
            )

        shared = (
            link(np.random.SeedSequence(seed, spawn_key=(1 << 20,))) if vendor_gateway else None
        )
        self.shared_link = shared
        """The one connection of vendor-gateway mode (None otherwise)."""
        monitors = []
        for index, device, bed, model, link_seed in build_monitors(
            beds, seed, scenario, rates=rates
        ):
            emitter = shared if shared is not None else link(link_seed)
            sender = VENDOR_GATEWAY if vendor_gateway else None
            monitors.append(SimulatedMonitor(index, device, bed, model, emitter, sender=sender))
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
            async with contextlib.AsyncExitStack() as stack:
                if self.shared_link is not None:
                    await stack.enter_async_context(self.shared_link)
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
        """Pull bed ``index``'s cable: its monitor stops and its connection is closed
        (in vendor-gateway mode the gateway's connection stays: only the bed falls silent)."""
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
        own_link = self.shared_link is None
        async with contextlib.AsyncExitStack() as stack:
            if own_link:
                await stack.enter_async_context(monitor.emitter)
            await self._tick_forever(monitor, own_link)

    async def _tick_forever(self, monitor: SimulatedMonitor, own_link: bool) -> None:
        loop = asyncio.get_running_loop()
        period = self.period_s
        due = loop.time() + period * monitor.index / max(1, len(self.monitors))
        steps = 1
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            readout = monitor.tick(period * steps, self._clock.now_ns())
            if not readout.connected:
                if own_link and monitor.emitter.connected:
                    await monitor.emitter.close()  # the scenario unplugged it
            else:
                now_ns = self._clock.now_ns()
                for message in monitor.hl7_messages(readout, now_ns, waveforms=self.waveforms):
                    try:
                        monitor.last_ack = await monitor.emitter.send(message)
                    except DeliveryFailed:
                        monitor.last_ack = None  # the emitter logged and counted it
                        break
            due += period
            late = loop.time() - due
            steps = 1
            if late > 0:
                missed = math.ceil(late / period)
                due += missed * period
                steps += missed  # the patient lived through the ticks the monitor missed

"""Dashboard CPU and frame time: 64 beds with wave strips at realistic load, headless.

A WardState in this process takes what 64 monitors send — numerics once a second (HR,
SpO2, RR, Temp, NIBP; ABP on a third of the beds, EtCO2 on a quarter) and three waves in
half-second chunks (ECG II 250 Hz, pleth 125 Hz, respiration 25 Hz) — while the dashboard
runs headless at 200×60 on the same asyncio loop, pulling snapshots at 4 Hz. The waves come
from a small generator here (a bench load, not physiology: the simulators will emit real
ones). 64 beds take compact tiles at 200×60, and the last row is scrolled out of view.

Reported, each against the others in the same run:

* **ward, 64 beds with wave strips** (10 s) — the case the target is for;
* **ward, 64 beds with wave strips, 16 in alarm** (5 s) — an alarm engine on the same
  reports, a quarter of the beds past a limit (HR 130: medium; SpO2 84: high), their tiles
  flashing;
* **ward, 64 beds, numerics only** (5 s) — what the wave strips cost;
* **ward, 32 beds with wave strips** (5 s) — full tiles, big digits, all in view;
* **bed screen, waves at 10 Hz** (5 s).

CPU is the process's CPU time over the run minus the time spent in ``WardState.apply``
(timed around each call), as a share of one core. A *tick* is one snapshot pulled and
handed to the widgets (faces rebuilt, waves read); a *paint* is one screen update: layout,
compositor and the terminal output it would write (rendered here to a string and thrown
away, since a headless driver writes nothing). Target (DESIGN.md): ≤ 20 % of one core.
With the alarm engine, its work is counted with the ingest (it is timed with each apply)
and its snapshot with the dashboard.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gateway.alarms.engine import AlarmEngine
from gateway.alarms.rules import default_limits
from gateway.alarms.settings import AlarmSettings
from gateway.clock import NS_PER_S, SystemClock
from gateway.domain import (
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
    WaveformChunk,
)
from gateway.ward.snapshot import WardSnapshot
from gateway.ward.state import WardState

BEDS = 64
SIZE = (200, 60)
ALARMING = 4
"""With an alarm engine, one bed in this many is past a limit."""
CHUNK_S = 0.5
WAVES = (  # code, label, unit, rate
    (131330, "ECG II", "mV", 250.0),
    (150452, "Pleth", "", 125.0),
    (151780, "Resp", "", 25.0),
)
VALID = ObservationStatus.VALID


def wave(code: int, times: np.ndarray, hr: float, rr: float) -> np.ndarray:
    """A beat-like or breath-like shape: enough to give the strips real work."""
    phase = np.mod(times, 60 / hr)
    if code == 151780:
        shape = np.sin(2 * math.pi * times * rr / 60)
    elif code == 131330:
        shape = np.exp(-(((phase - 0.2) / 0.01) ** 2)) + 0.3 * np.exp(
            -(((phase - 0.4) / 0.04) ** 2)
        )
    else:
        shape = 40 * np.exp(-(((phase - 0.3) / 0.08) ** 2))
    return np.asarray(shape, dtype=np.float32)


@dataclass
class Load:
    """Feeds ``ward`` (and ``alarms``, when given) as ``beds`` monitors would, in real
    time, and times every apply."""

    ward: WardState
    beds_count: int = BEDS
    alarms: AlarmEngine | None = None
    clock: SystemClock = field(default_factory=SystemClock)
    apply_s: float = 0.0
    reports: int = 0

    def __post_init__(self) -> None:
        count = self.beds_count
        self.beds = [BedId(f"bed-{n}") for n in range(count)]
        self.labels = [f"ICU {101 + n}" for n in range(count)]
        for bed, label in zip(self.beds, self.labels, strict=True):
            self.ward.add_bed(bed, label)
        self.devices = [
            DeviceId(f"EUI-64:00A037EB2175{n:04X}", f"MX800 #{n}") for n in range(count)
        ]

    def _apply(self, index: int, report: DeviceReport) -> None:
        start = time.perf_counter()
        seen = self.clock.monotonic_ns()
        if self.alarms is not None:
            self.alarms.observe(self.beds[index], self.labels[index], report, seen)
        self.ward.apply(self.beds[index], report, seen_ns=seen)
        self.apply_s += time.perf_counter() - start
        self.reports += 1

    def snapshot(self) -> WardSnapshot:
        """What the gateway's hub hands the dashboard: the ward, and the alarms if any."""
        now = self.clock.monotonic_ns()
        ward = self.ward.snapshot(now, wall_ns=self.clock.now_ns())
        if self.alarms is None:
            return ward
        self.alarms.tick(now)
        return dataclasses.replace(ward, alarms=self.alarms.snapshot(now))

    def numerics(self, index: int, now: int) -> None:
        hr, spo2 = 60 + index % 40, 97
        if self.alarms is not None and index % ALARMING == 0:
            hr, spo2 = (130, 97) if index % (2 * ALARMING) == 0 else (80, 84)
        values = [(147842, hr), (150456, spo2), (151562, 16), (150344, 36.8)]
        values += [(150021, 120), (150022, 80), (150023, 93)]
        if index % 3 == 0:
            values += [(150033, 125), (150034, 78), (150035, 94)]
        if index % 4 == 1:
            values.append((151708, 38))
        device = self.devices[index]
        observations = tuple(
            Observation(device, code, "", float(value), "", VALID, now) for code, value in values
        )
        self._apply(
            index, DeviceReport(device, "mllp", "10.0.0.1:1", now, observations=observations)
        )

    def waves(self, index: int, now: int) -> None:
        device = self.devices[index]
        start = now - round(CHUNK_S * NS_PER_S)
        t0 = start / NS_PER_S
        chunks = []
        for code, label, unit, rate in WAVES:
            times = t0 + np.arange(round(CHUNK_S * rate)) / rate
            samples = wave(code, times, 60 + index % 40, 16).astype(np.float32)
            chunks.append(WaveformChunk(device, code, label, rate, start, samples, unit))
        self._apply(index, DeviceReport(device, "mllp", "10.0.0.1:1", now, waveforms=tuple(chunks)))

    async def run(self, *, waves: bool = True) -> None:
        """Every bed on its own phase: numerics each second, waves each half second."""
        tick = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        count = self.beds_count
        while True:
            for index in range(count):
                due = start + (tick + index / count) * CHUNK_S
                await asyncio.sleep(max(0.0, due - loop.time()))
                now = self.clock.now_ns()
                if waves:
                    self.waves(index, now)
                if tick % 2 == 0:
                    self.numerics(index, now)
            tick += 1


@contextmanager
def timed(samples: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        samples.append(time.perf_counter() - start)


@dataclass
class Result:
    name: str
    seconds: float
    cpu_s: float
    apply_s: float
    ticks: list[float]
    paints: list[float]
    reports: int

    def line(self) -> str:
        share = (self.cpu_s - self.apply_s) / self.seconds * 100
        ingest = self.apply_s / self.seconds * 100
        rate = self.reports / self.seconds
        return (
            f"{self.name}\n"
            f"    dashboard CPU {share:5.1f} % of a core"
            f"  (ingest {ingest:.1f} %, {rate:,.0f} reports/s)\n"
            f"    tick p50 {_ms(self.ticks, 50)} p99 {_ms(self.ticks, 99)}   "
            f"paint p50 {_ms(self.paints, 50)} p99 {_ms(self.paints, 99)}   "
            f"frame p99 ≤ {_frame_p99(self.ticks, self.paints)} ms  ({len(self.paints)} paints)"
        )


def _ms(samples: list[float], percent: int) -> str:
    if not samples:
        return "  -  "
    ordered = sorted(samples)
    value = ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]
    return f"{value * 1e3:5.2f} ms"


def _frame_p99(ticks: list[float], paints: list[float]) -> str:
    """A frame is a tick and the paint that shows it: p99 of each, added (an upper bound)."""
    if not ticks or not paints:
        return "-"
    ordered_t, ordered_p = sorted(ticks), sorted(paints)
    p99 = ordered_t[int(len(ordered_t) * 0.99)] + ordered_p[int(len(ordered_p) * 0.99)]
    return f"{p99 * 1e3:.2f}"


async def measure(
    name: str,
    seconds: float,
    *,
    waves: bool,
    bed_screen: bool,
    beds: int = BEDS,
    alarms: bool = False,
) -> Result:
    from textual.screen import Screen

    from tui.app import WardApp

    ward = WardState()
    engine = None
    if alarms:
        no_delay = default_limits(condition_delay_s=0.0)
        engine = AlarmEngine(AlarmSettings(limits=lambda bed: no_delay))
    load = Load(ward, beds, engine)
    ticks: list[float] = []
    paints: list[float] = []

    class TimedApp(WardApp):
        def pull_snapshot(self) -> None:
            with timed(ticks):
                super().pull_snapshot()

        def _display(self, screen: Screen[Any], renderable: Any) -> None:
            # Headless drivers write nothing; render what a terminal would be sent anyway.
            if renderable is not None and hasattr(renderable, "render_segments"):
                renderable.render_segments(self.console)
            super()._display(screen, renderable)

    app = TimedApp(load.snapshot, traces=ward, title="BENCH", alarms=engine, ask_operator=False)
    original: Callable[[Screen[Any]], None] = Screen._on_timer_update

    def timed_update(screen: Screen[Any]) -> None:
        with timed(paints):
            original(screen)

    Screen._on_timer_update = timed_update  # type: ignore[method-assign,assignment]
    try:
        feeding = asyncio.create_task(load.run(waves=waves))
        async with app.run_test(headless=True, size=SIZE) as pilot:
            await asyncio.sleep(1.5)  # every bed has spoken, tiles are mounted
            if bed_screen:
                await pilot.press("enter")
                await asyncio.sleep(0.5)
            ticks.clear()
            paints.clear()
            load.apply_s, load.reports = 0.0, 0
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            result = Result(name, wall, cpu, load.apply_s, list(ticks), list(paints), load.reports)
        feeding.cancel()
    finally:
        Screen._on_timer_update = original  # type: ignore[method-assign,assignment]
    per_bed = ward.memory_bytes(load.beds[0])
    print(f"  ({name}: trend and wave buffers {per_bed / 1e6:.2f} MB per bed)")
    return result


async def _run() -> list[Result]:
    alarming = BEDS // ALARMING
    return [
        await measure(f"ward, {BEDS} beds with wave strips", 10.0, waves=True, bed_screen=False),
        await measure(
            f"ward, {BEDS} beds with wave strips, {alarming} in alarm",
            5.0,
            waves=True,
            bed_screen=False,
            alarms=True,
        ),
        await measure(f"ward, {BEDS} beds, numerics only", 5.0, waves=False, bed_screen=False),
        await measure("ward, 32 beds with wave strips", 5.0, waves=True, bed_screen=False, beds=32),
        await measure("bed screen, waves at 10 Hz", 5.0, waves=True, bed_screen=True),
    ]


def main() -> None:
    print(f"\n== dashboard: {BEDS} beds, {SIZE[0]}×{SIZE[1]}, headless, snapshots at 4 Hz")
    results = asyncio.run(_run())
    for result in results:
        print(result.line())
    print(f"target: dashboard ≤ 20 % of one core with {BEDS} beds and wave strips (DESIGN.md)")
    ticks = results[0].ticks
    if ticks:
        print(f"ticks in the main run: {len(ticks)} (mean {statistics.mean(ticks) * 1e3:.2f} ms)")

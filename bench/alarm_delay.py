"""Alarm signal generation delay: from the message carrying an alarming value arriving at the
gateway's socket to the bed's tile showing the alarm, at 64 simulated beds.

The gateway runs in this process as ``icu-gateway run`` assembles it — MLLP listener, journal
(SQLite in a temporary folder, fsync at every commit, ACK after commit), hub, alarm engine —
with the dashboard headless at 200×60, pulling snapshots at its default 4 Hz and at once when
the engine raises a new alarm. The condition delay is set to 0: what is measured is the
system's own delay (IEC 60601-1-8's *alarm signal generation delay*), not the delay staff
configure on purpose.

The monitors run in a child process, as the real ones are other machines: 48 beds of the
simulated ward (stable scenario: numerics every second, and ECG, pleth and respiration
waves unless ``waves`` is off) and 16 probe monitors, one per bed. A probe, at a random
moment, writes a PCD-01 message with HR 130 (past the default high limit: medium priority)
to its socket — the start of the measure, read on the system-wide monotonic clock just
before the write and passed to this process — keeps it up for 0.6–1 s, clears it with HR
72, and starts again after a pause longer than a refresh period.

*Shown* is when the bed's tile has taken the alarm's class (``-alarm-medium``) from the
snapshot it was handed and the screen has refreshed after it (Textual's
``call_after_refresh``). An alarm never shown while it lasted counts as the probe's whole
hold time, never dropped. Reported: p50, p99 and the worst, in two parts (until the tile has
it; then until the screen is refreshed), and the gateway's CPU (this process and its
journal writer process) — beside the peer, the same dashboard waiting for its refresh
timer. Target (issue #5): p99 < 300 ms.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import queue
import random
import tempfile
import time
from pathlib import Path

from bench.programs import cpu_s

SIM_BEDS = 48
PROBES = 16
SECONDS = 30.0
WARM_UP_S = 5.0
SIZE = (200, 60)
REFRESH_HZ = 4.0
HOLD_S = (0.6, 1.0)
"""How long a probe keeps its alarm up: longer than any delay worth reporting."""

ORU = (
    "MSH|^~\\&|PROBE^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{id}|P|2.6|||AL|NE\r"
    "PID|||P{bed}\rPV1||I|ICU^{bed}^1\rOBR|1||{id}|182777000^monitoring of patient^SCT\r"
    "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R\r"
)

Sent = tuple[int, int, int]
"""(bed number, monotonic ns the alarming message was written, ns it was cleared; 0 while
it is still up)."""


def _monitors(port: int, waves: bool, sent: multiprocessing.Queue[Sent]) -> None:
    """The child process: the simulated ward and the probes, until terminated."""
    from simulators.ward import SimulatedWard

    async def run() -> None:
        ward = SimulatedWard("127.0.0.1", port, beds=SIM_BEDS, seed=1, waveforms=waves)
        probes = [_probe(SIM_BEDS + 1 + n, port, sent) for n in range(PROBES)]
        await asyncio.gather(ward.run(), *probes)

    asyncio.run(run())


async def _probe(number: int, port: int, sent: multiprocessing.Queue[Sent]) -> None:
    from adapters.hl7.mllp import MllpFramer, frame

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = MllpFramer()
    rng = random.Random(number)
    count = 0

    async def send(hr: int, raised: int = 0) -> int:
        nonlocal count
        count += 1
        message = ORU.format(eui=f"FE{number:014X}", id=f"p{number}-{count}", bed=number, hr=hr)
        at = time.monotonic_ns()
        if hr > 120:
            sent.put((number, at, 0))  # the measure starts now (it may arrive after the tile)
        elif raised:
            sent.put((number, raised, at))
        writer.write(frame(message.encode()))
        while not list(framer.feed(await reader.read(65536))):
            pass
        return at

    await send(72)
    while True:
        # Longer than a refresh period: the dashboard sees the last alarm gone first.
        await asyncio.sleep(rng.uniform(0.4, 1.0))
        raised = await send(130)
        await asyncio.sleep(rng.uniform(*HOLD_S))
        await send(72, raised)


async def measure(*, wake: bool, waves: bool) -> tuple[list[tuple[float, float]], int, float]:
    from adapters.hl7.listener import MllpListener
    from gateway.app.service import build_hub, open_journal
    from gateway.config.load import parse_config
    from gateway.domain import BedId
    from gateway.ward.routing import location_key
    from tui.app import WardApp
    from tui.widgets import BedGrid

    measures: list[tuple[float, float]] = []
    context = multiprocessing.get_context("spawn")
    sent: multiprocessing.Queue[Sent] = context.Queue()
    up: dict[int, int] = {}
    """Each probe bed's alarm now up and not yet measured: when it was sent."""
    seen: dict[int, tuple[int, int]] = {}
    """Each probe bed whose tile shows the alarm: since when, and when the screen was
    refreshed after (0 until it has been)."""
    numbers = {
        BedId(location_key(f"ICU^{number}^1")): number
        for number in range(SIM_BEDS + 1, SIM_BEDS + 1 + PROBES)
    }

    def take_sent() -> None:
        while True:
            try:
                number, raised, cleared = sent.get_nowait()
            except queue.Empty:
                break
            if not cleared:
                up[number] = raised
            elif up.pop(number, None) == raised:  # cleared and never seen: counted
                measures.append(((cleared - raised) / 1e6, 0.0))
        match()

    def match() -> None:
        for number, raised in list(up.items()):
            on_tile, refreshed = seen.get(number, (0, 0))
            if on_tile >= raised and refreshed:
                del up[number]
                measures.append(((on_tile - raised) / 1e6, (refreshed - on_tile) / 1e6))

    with tempfile.TemporaryDirectory(prefix="icu-bench-alarm-") as scratch:
        config = parse_config(
            f'[gateway]\njournal = "{Path(scratch) / "j.sqlite"}"\n'
            "[alarms]\ncondition_delay_s = 0\n"
        )
        hub = build_hub(config)
        journal = await open_journal(config, hub)

        class ProbedApp(WardApp):
            def pull_snapshot(self) -> None:
                super().pull_snapshot()  # the refresh timer's full snapshot
                self._look()

            def _pull_woken(self) -> None:
                super()._pull_woken()  # a new alarm's snapshot, alarms only
                self._look()

            def _look(self) -> None:
                now = time.monotonic_ns()
                grids = self.screen.query(BedGrid)
                if grids:
                    for tile in grids.first().tiles:
                        number = numbers.get(tile.bed_id)
                        if number is None:
                            continue
                        if not tile.has_class("-alarm-medium"):
                            seen.pop(number, None)
                        elif number not in seen:
                            seen[number] = (now, 0)
                            self.call_after_refresh(refreshed, number, now)
                take_sent()

        def refreshed(number: int, on_tile: int) -> None:
            if seen.get(number) == (on_tile, 0):
                seen[number] = (on_tile, time.monotonic_ns())
            match()

        app = ProbedApp(
            hub.snapshot,
            traces=hub.ward,
            title="BENCH",
            refresh_hz=REFRESH_HZ,
            alarms=hub.alarms,
            ask_operator=False,
            freeze_startup_objects=True,  # as `icu-gateway run` builds it
        )
        listener = MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock)
        async with listener:
            serving = asyncio.create_task(listener.serve_forever())
            monitors = context.Process(
                target=_monitors, args=(listener.port, waves, sent), daemon=True
            )
            monitors.start()
            try:
                async with app.run_test(headless=True, size=SIZE):
                    if not wake:
                        hub.alarms.on_new_alarm = None  # the peer: the refresh timer only
                    await asyncio.sleep(WARM_UP_S)
                    measures.clear()
                    cpu = time.process_time() + cpu_s(journal.writer_pid)
                    await asyncio.sleep(SECONDS)
                    cpu = time.process_time() + cpu_s(journal.writer_pid) - cpu
                    cpu_share = cpu / SECONDS
                    measured = list(measures)
                    beds = len(hub.snapshot().beds)
            finally:
                monitors.terminate()
                await asyncio.to_thread(monitors.join)
                await asyncio.sleep(0.5)  # the gateway sees every connection close
                serving.cancel()
                await asyncio.gather(serving, return_exceptions=True)
        await journal.close()
    return measured, beds, cpu_share


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def _line(name: str, values: list[float]) -> str:
    return (
        f"{name:<30} p50 {_percentile(values, 50):5.0f} ms   p99 {_percentile(values, 99):5.0f} ms"
        f"   worst {max(values):5.0f} ms"
    )


RUNS: tuple[tuple[bool, bool, str], ...] = (
    (True, True, "as built, waves on every bed"),
    (True, False, "as built, numerics only"),
    (False, True, f"peer: the {REFRESH_HZ:g} Hz refresh timer alone, waves on every bed"),
)


def main() -> None:
    # The monitors' connections closing at the end are not news here.
    for name in ("gateway", "adapters"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print(
        f"\n== alarm delay: message at the socket → tile shown; {SIM_BEDS} simulated beds"
        f" + {PROBES} probe beds, journal fsync, dashboard {SIZE[0]}×{SIZE[1]}"
    )
    for wake, waves, name in RUNS:
        measured, beds, cpu = asyncio.run(measure(wake=wake, waves=waves))
        if not measured:
            print(f"{name}: no alarm was measured")
            continue
        totals = [a + b for a, b in measured]
        print(f"{name} — {len(measured)} alarms, {beds} beds, {SECONDS:g} s, gateway CPU {cpu:.0%}")
        print(_line("  socket → tile has it", [a for a, _ in measured]))
        print(_line("  tile has it → refreshed", [b for _, b in measured]))
        print(_line("  socket → shown (the delay)", totals))
    print("target: p99 < 300 ms (issue #5)")


if __name__ == "__main__":
    main()

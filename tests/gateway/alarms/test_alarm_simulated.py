"""Alarms from a real simulated ward over a real MLLP listener: a monitor whose cable is pulled
is NO DATA (medium), then DEVICE LOST (high) after 60 s; the beds that keep talking raise
nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from waiting import eventually

from adapters.hl7.listener import MllpListener
from gateway.clock import ManualClock
from gateway.domain import AlarmPriority, BedId
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from simulators.ward import SimulatedWard

BED_1, BED_2 = BedId("ICU^1^1"), BedId("ICU^2^1")


@contextlib.asynccontextmanager
async def ward_on_gateway(clock: ManualClock) -> AsyncIterator[tuple[Hub, SimulatedWard]]:
    hub = Hub(WardState(), Router(), clock)
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=clock) as listener:
        serving = asyncio.create_task(listener.serve_forever())
        ward = SimulatedWard(
            "127.0.0.1", listener.port, beds=2, seed=1, period_s=0.05, clock=clock,
            backoff_initial_s=0.02, backoff_max_s=0.1,
        )  # fmt: skip
        running = asyncio.create_task(ward.run())
        try:
            yield hub, ward
        finally:
            for task in (running, serving):
                task.cancel()
            await asyncio.wait([running, serving])


def lost(hub: Hub, bed: BedId) -> list[AlarmPriority]:
    hub.snapshot()  # as the dashboard's timer does: the timed rules move on to now
    silence = ("NO DATA", "DEVICE LOST")  # the one alarm: medium, then escalated to high
    return [a.priority for a in hub.alarms.snapshot().of_bed(bed) if a.text.startswith(silence)]


async def test_a_monitor_that_stops_is_lost_medium_then_high_after_60_s() -> None:
    clock = ManualClock()
    async with ward_on_gateway(clock) as (hub, ward):
        await eventually(lambda: {b.bed for b in hub.snapshot().beds} == {BED_1, BED_2}, "beds")
        ward.stop_bed(0)
        await eventually(lambda: not ward.bed_running(0), "the cable pulled")
        clock.advance(5)
        assert lost(hub, BED_1) == []
        clock.advance(5.5)  # silent past the 10 s stale timeout
        # Bed 2 looks silent too until its next message at the new time: wait for it.
        await eventually(lambda: lost(hub, BED_2) == [], "bed 2 to speak again")
        assert lost(hub, BED_1) == [AlarmPriority.MEDIUM]
        clock.advance(50)  # 60.5 s of silence
        await eventually(lambda: lost(hub, BED_2) == [], "bed 2 to speak again")
        assert lost(hub, BED_1) == [AlarmPriority.HIGH]
        (alarm,) = [a for a in hub.alarms.snapshot().of_bed(BED_1) if "DEVICE LOST" in a.text]
        assert alarm.kind.value == "technical" and not alarm.acknowledged

        ward.start_bed(0)  # plugged back in: the alarm ends with its first message
        await eventually(lambda: lost(hub, BED_1) == [], "bed 1 back")
        changes = [t.change.value for t in reversed(hub.alarms.history(BED_1))]
        assert changes[-3:] == ["raised", "escalated", "ended"]

"""The whole path over real loopback sockets: simulated monitors → MLLP listener → hub →
ward state → dashboard; and a monitor whose cable is pulled turns stale on screen."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from waiting import eventually

from adapters.hl7.listener import MllpListener
from gateway import nomenclature
from gateway.clock import SystemClock
from gateway.domain import Connectivity
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from simulators.ward import SimulatedWard
from tui.app import WardApp
from tui.widgets import BedGrid


@contextlib.asynccontextmanager
async def gateway_with_ward(
    beds: int, *, stale_timeout_s: float = 10.0
) -> AsyncIterator[tuple[Hub, SimulatedWard]]:
    hub = Hub(WardState(stale_timeout_s, lost_after_s=60), Router(), SystemClock())
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        ward = SimulatedWard("127.0.0.1", listener.port, beds=beds, seed=7, period_s=0.1)
        task = asyncio.create_task(ward.run())
        try:
            yield hub, ward
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_the_ward_state_holds_what_each_simulated_monitor_sent() -> None:
    async with gateway_with_ward(4) as (hub, ward):
        await eventually(
            lambda: sum(m.counters.acked for m in ward.monitors) >= 12, "three rounds of ACKs"
        )
        for index in range(4):
            ward.stop_bed(index)
        await eventually(lambda: not any(ward.bed_running(i) for i in range(4)), "beds stopped")
        beds = {bed.label: bed for bed in hub.snapshot().beds}
        assert len(beds) == 4
        for monitor in ward.monitors:
            assert monitor.last_ack == "CA"
            sent = monitor.last_vitals
            assert sent is not None
            location = monitor.bed.location.split("^")
            bed = beds[f"{location[0]} {location[1]}-{location[2]}"]
            readings = bed.readings
            assert readings[nomenclature.HEART_RATE[0]].value == sent.heart_rate
            assert readings[nomenclature.SPO2[0]].value == sent.spo2
            assert readings[nomenclature.RESP_RATE[0]].value == sent.resp_rate
            assert readings[nomenclature.TEMPERATURE[0]].value == sent.temperature_c
            assert readings[nomenclature.NIBP_SYS[0]].value == sent.nibp_sys
            assert readings[nomenclature.NIBP_DIA[0]].value == sent.nibp_dia
            assert bed.patient_id == monitor.bed.patient_id
            assert {d.device.key for d in bed.devices} == {f"EUI-64:{monitor.device.eui64}"}


@pytest.mark.timeout(30)
async def test_a_bed_whose_monitor_stops_turns_stale_on_screen_while_others_stay_live() -> None:
    async with gateway_with_ward(2, stale_timeout_s=0.5) as (hub, ward):
        app = WardApp(hub.snapshot, refresh_hz=20)
        async with app.run_test(size=(120, 30)) as pilot:

            def tile_texts() -> list[str]:
                return [tile.face.plain for tile in app.query_one(BedGrid).tiles]

            await eventually(lambda: len(tile_texts()) == 2, "two tiles")
            await eventually(
                lambda: all("NO DATA" not in t and "HR" in t for t in tile_texts()), "live"
            )
            ward.stop_bed(1)
            await eventually(lambda: "NO DATA" in tile_texts()[1], "bed 2 shown as NO DATA")
            first, second = tile_texts()
            assert "NO DATA" not in first
            assert "?" in second.split("HR", 1)[1].splitlines()[0]  # the HR line shows its age
            bed_one, bed_two = hub.snapshot().beds
            assert bed_one.connectivity is Connectivity.CONNECTED
            assert bed_two.connectivity is not Connectivity.CONNECTED
            ward.start_bed(1)
            await eventually(lambda: "NO DATA" not in tile_texts()[1], "bed 2 live again")
            await pilot.press("q")

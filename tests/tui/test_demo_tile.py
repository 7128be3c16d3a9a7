"""Demo data on the dashboard, end to end: a monitor in demo mode (tests/fixtures/hl7/54)
sends over the real MLLP listener, and its tile and bed screen say DEMO."""

from __future__ import annotations

import asyncio
import contextlib

from samples import load_sample
from ward_rig import TEST_HZ, screen_text, wait_for

from adapters.hl7 import er7
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer, frame
from gateway.clock import ManualClock
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from tui.app import WardApp
from tui.bed_screen import BedScreen


async def send(port: int, raw: bytes) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(raw))
    await writer.drain()
    framer = MllpFramer()
    items: list[bytes] = []
    while not items:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data
        items = [i for i in framer.feed(data) if isinstance(i, bytes)]
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    msa = er7.parse(items[0]).first("MSA")
    assert msa is not None
    return msa.get(1), msa.get(2)


async def test_a_monitor_in_demo_mode_is_shown_demo_on_its_tile_and_bed_screen() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=clock) as listener:
        assert await send(listener.port, load_sample("54")) == ("CA", "DEMO-50")
    app = WardApp(
        hub.snapshot, traces=hub.ward, refresh_hz=TEST_HZ, alarms=hub.alarms, ask_operator=False
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "DEMO DATA" in screen_text(app), "the DEMO DATA line")
        text = screen_text(app)
        assert "DEMO DATA - not a patient" in text
        assert "DEMO" in text.split("NIBP", 1)[1].split("\n", 1)[0]  # NIBP 121/… DEMO
        assert hub.alarms.snapshot().of_bed(hub.snapshot().beds[0].bed) == ()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        screen = app.screen
        assert isinstance(screen, BedScreen)
        await wait_for(pilot, lambda: "DEMO" in screen.parameters.text.plain, "DEMO marks")
        lines = screen.parameters.text.plain.split("\n")
        assert [line.split()[0] for line in lines if "DEMO" in line] == ["HR", "SpO2", "NIBP", "RR"]
        assert all("DEMO" not in line for line in lines if line.startswith("Temp"))


async def test_the_waves_of_a_monitor_in_demo_mode_are_marked_demo_on_the_bed_screen() -> None:
    """A demo monitor's waves are the demo's too: the bed screen's title says DEMO DATA
    beside LIVE and each wave's name is marked, on this screen as on a remote one (both
    draw the bed screen from the snapshot)."""
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    demo = load_sample("17").replace(b"|WF-0001|P|2.6|", b"|WF-0001|D|2.6|")  # MSH-11 debug
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=clock) as listener:
        assert await send(listener.port, demo) == ("CA", "WF-0001")
    app = WardApp(
        hub.snapshot, traces=hub.ward, refresh_hz=TEST_HZ, alarms=hub.alarms, ask_operator=False
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "DEMO DATA" in screen_text(app), "the tile's DEMO DATA")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        screen = app.screen
        assert isinstance(screen, BedScreen)
        await wait_for(pilot, lambda: "ECG" in screen.waves.text.plain, "the waves drawn")
        heads = [line for line in screen.waves.text.plain.split("\n") if " Hz " in line]
        assert heads and all(" DEMO " in line for line in heads), heads
        assert "DEMO DATA - not a patient" in screen_text(app)

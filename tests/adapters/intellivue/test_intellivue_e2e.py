"""Simulated IntelliVue → client → hub → ward, over real UDP on loopback and a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from waiting import eventually

from adapters.intellivue.lan import IntellivueLan
from adapters.intellivue.rs232 import MibReader
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.settings import AlarmSettings
from gateway.config.load import parse_config
from gateway.domain import AlarmSource
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.snapshot import BedSnapshot
from gateway.ward.state import WardState
from simulators.intellivue import build_intellivues
from simulators.intellivue_emitter import IntellivueSerialMonitor, IntellivueUdpMonitor
from simulators.scenario import load_scenario

HR, SPO2 = 147842, 150456
ALLOWED = {
    "CN",
    "FN",
    "RORS CONFIRMED_EVENT_REPORT",
    "ROIV CONFIRMED_ACTION POLL",
    "ROIV CONFIRMED_ACTION POLL_EXT",
}
"""What the simulated monitor may hear from the client: association, release, the MDS
Create result, single and extended polls. Never a SET, a GET or another action."""


def a_hub() -> Hub:
    config = parse_config("[gateway]\nstale_timeout_s = 1.5\nlost_after_s = 3\n", "<test>")
    settings, _ = AlarmSettings.from_config(config)
    ward = WardState(config.stale_timeout_s, config.lost_after_s)
    hub = Hub(ward, Router(), alarms=AlarmEngine(settings))
    hub.alarms.clock = hub.clock
    return hub


def beds(hub: Hub) -> dict[str, BedSnapshot]:
    return {bed.label: bed for bed in hub.snapshot().beds}


def live(hub: Hub, label: str, code: int) -> float | None:
    bed = beds(hub).get(label)
    reading = None if bed is None else bed.readings.get(code)
    return None if reading is None or reading.stale else float(reading.value)


@contextlib.asynccontextmanager
async def udp_ward(
    n: int = 2, *, demo: bool = False, scenario: str = "stable"
) -> AsyncIterator[tuple[Hub, IntellivueLan, list[IntellivueUdpMonitor]]]:
    hub = a_hub()
    async with IntellivueLan(
        hub, host="127.0.0.1", port=0, multicast=False, clock=hub.clock, lost_after_s=1.5
    ) as lan:
        made = build_intellivues(
            n,
            7,
            load_scenario(scenario),
            demo=demo,
            connection_timeout_s=2.0,
            started_s=time.monotonic(),
        )
        monitors = [
            IntellivueUdpMonitor(m, indication_to=("127.0.0.1", lan.port), indication_every_s=1.0)
            for m in made
        ]
        for monitor in monitors:
            await monitor.bind()
        tasks = [asyncio.create_task(lan.serve_forever())]
        tasks += [asyncio.create_task(monitor.run()) for monitor in monitors]
        try:
            yield hub, lan, monitors
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for monitor in monitors:
                monitor.close()


def wave(hub: Hub, label: str, name: str) -> float | None:
    """The rate of the bed's live wave called ``name``, None when it has none."""
    bed = beds(hub).get(label)
    for info in () if bed is None else bed.waves:
        if info.label == name and not info.stale:
            return info.sample_rate_hz
    return None


def closed(hub: Hub, label: str) -> list[bool]:
    """Per device of the bed: whether its link is closed (the devices screen's Connection)."""
    return [link.closed for link in beds(hub)[label].devices]


def labels(monitors: list[IntellivueUdpMonitor]) -> list[str]:
    return [m.monitor.identity.bed_label for m in monitors]


async def test_simulated_monitors_on_the_switch_become_beds_with_values_waves_and_ids() -> None:
    async with udp_ward(2) as (hub, lan, monitors):
        names = labels(monitors)
        await eventually(
            lambda: all(live(hub, label, HR) and live(hub, label, SPO2) for label in names),
            "HR and SpO2 on both Philips beds",
        )
        keys = {s.device.key for s in lan.sessions.values()}
        assert keys == {f"EUI-64:{m.monitor.identity.system_id.hex().upper()}" for m in monitors}
        bed = beds(hub)[names[0]]
        assert 30 <= float(bed.readings[HR].value) <= 200
        await eventually(lambda: wave(hub, names[0], "ECG II") == 500.0, "ECG II at 500 Hz")
        await eventually(lambda: wave(hub, names[0], "Pleth") == 125.0, "Pleth at 125 Hz")
        for monitor in monitors:
            assert set(monitor.monitor.commands) <= ALLOWED, monitor.monitor.commands


async def test_an_unplugged_monitor_goes_no_data_and_device_lost_then_comes_back() -> None:
    async with udp_ward(2) as (hub, lan, monitors):
        names = labels(monitors)
        await eventually(lambda: all(live(hub, n, HR) for n in names), "both beds live")
        monitors[0].unplug()
        await eventually(lambda: live(hub, names[0], HR) is None, "the unplugged bed stale")
        await eventually(
            lambda: any(
                a.source is AlarmSource.GATEWAY and a.text.startswith(("NO DATA", "DEVICE LOST"))
                for a in hub.alarms.snapshot().alarms
            ),
            "DEVICE LOST",
        )
        assert live(hub, names[1], HR) is not None  # the other monitor is untouched
        # the gateway gives the association up after its own silence timeout: plugged back
        # in before that, the monitor would simply go on in the same association
        await eventually(
            lambda: any("association lost" in f.text for f in hub.faults), "association lost"
        )
        # no association now: the devices screen says the link closed, not "silent"
        await eventually(lambda: closed(hub, names[0]) == [True], "the link closed")
        assert closed(hub, names[1]) == [False]
        monitors[0].replug()
        await eventually(lambda: live(hub, names[0], HR) is not None, "values again", 15)
        assert closed(hub, names[0]) == [False]
        session = next(
            s for s in lan.sessions.values() if s.peer.endswith(f":{monitors[0].address[1]}")
        )
        # the monitor's replies to the polls of the old association can bring values back
        # before the new association's AC arrives (on a loaded machine): wait for it
        await eventually(lambda: session.associations >= 2, "a second association", 15)


async def test_a_monitor_that_aborts_the_association_is_associated_again() -> None:
    async with udp_ward(1) as (hub, lan, monitors):
        (name,) = labels(monitors)
        await eventually(lambda: live(hub, name, HR) is not None, "the bed live")
        monitors[0].drop(abort=True)
        (session,) = lan.sessions.values()
        await eventually(lambda: session.associations == 2, "a second association")
        assert any("aborted the association" in f.text for f in hub.faults)
        await eventually(lambda: live(hub, name, HR) is not None, "values after it")


async def test_a_monitor_in_demo_mode_is_shown_as_demo_and_never_limit_alarmed() -> None:
    async with udp_ward(1, demo=True, scenario="desaturation") as (hub, _lan, monitors):
        (name,) = labels(monitors)
        await eventually(lambda: live(hub, name, HR) is not None, "the demo bed")
        bed = beds(hub)[name]
        assert all(r.demo for r in bed.readings.values())
        assert not any(
            a.source is AlarmSource.GATEWAY and a.bed == bed.bed and "LOST" not in a.text.upper()
            for a in hub.alarms.snapshot().alarms
        )


async def test_a_monitor_on_its_mib_port_is_read_over_a_pty() -> None:
    hub = a_hub()
    (made,) = build_intellivues(1, 3, load_scenario("stable"), started_s=time.monotonic())
    monitor = IntellivueSerialMonitor(made)
    reader = MibReader(hub, port=monitor.path, clock=hub.clock, lost_after_s=1.5, backoff_max_s=0.2)
    tasks = [asyncio.create_task(monitor.run()), asyncio.create_task(reader.run())]
    try:
        name = made.identity.bed_label
        await eventually(lambda: live(hub, name, HR) is not None, "HR over the MIB port")
        await eventually(lambda: wave(hub, name, "ECG II") == 500.0, "ECG over serial")
        assert reader.session.device.key == f"EUI-64:{made.identity.system_id.hex().upper()}"
        assert set(made.commands) <= ALLOWED, made.commands
        assert reader.bad_frames == 0
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        monitor.close()


async def test_a_pulled_serial_cable_is_a_fault_and_the_bed_goes_stale() -> None:
    hub = a_hub()
    (made,) = build_intellivues(1, 4, load_scenario("stable"), started_s=time.monotonic())
    monitor = IntellivueSerialMonitor(made)
    reader = MibReader(hub, port=monitor.path, clock=hub.clock, lost_after_s=1.5, backoff_max_s=0.2)
    serving = asyncio.create_task(monitor.run())
    reading = asyncio.create_task(reader.run())
    try:
        name = made.identity.bed_label
        await eventually(lambda: live(hub, name, HR) is not None, "HR over the MIB port")
        serving.cancel()
        monitor.close()  # the device side of the pty goes away: the cable is pulled
        await eventually(lambda: live(hub, name, HR) is None, "the bed stale")
        await eventually(
            lambda: any(f.source == f"intellivue {monitor.path}" for f in hub.faults),
            "a fault naming the port",
        )
        await eventually(lambda: closed(hub, name) == [True], "the link closed")
        assert not reading.done()  # the reader keeps trying, it does not die
    finally:
        reading.cancel()
        await asyncio.gather(serving, reading, return_exceptions=True)

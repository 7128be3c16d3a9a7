"""What the bed screen and the devices screen show, and the config snippet they offer."""

from __future__ import annotations

import numpy as np
from ward_rig import ECG_II, HR, LOST_S, Rig, monitor, screen_text, wait_for

from gateway.config.load import parse_config
from gateway.domain import BedId, DeviceId, DeviceReport, Location
from gateway.ward.routing import Router
from gateway.ward.snapshot import UnassignedDevice
from gateway.ward.state import WardState
from tui.app import WardApp
from tui.bed_screen import NO_ALARM_ENGINE, BedScreen
from tui.devices import UNASSIGNED, bed_snippet, device_rows
from tui.devices_screen import DevicesScreen


async def open_bed(app: WardApp, pilot: object, index: int = 0) -> BedScreen:
    from textual.pilot import Pilot

    assert isinstance(pilot, Pilot)
    for _ in range(index):
        await pilot.press("right")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
    screen = app.screen
    assert isinstance(screen, BedScreen)
    return screen


async def test_the_bed_screen_shows_every_parameter_its_waves_trends_and_devices() -> None:
    rig = Rig.of(4)
    rig.scenario(history_bed=0, seconds=20)
    app = rig.app()
    async with app.run_test(size=(160, 60)) as pilot:
        screen = await open_bed(app, pilot)
        await wait_for(pilot, lambda: "ECG II" in screen.waves.text.plain, "the waves")
        parameters = screen.parameters.text.plain
        for label in ("HR", "SpO2", "NIBP sys", "NIBP dia", "NIBP mean", "ABP sys", "RR", "Temp"):
            assert label in parameters, label
        assert "measured 7m ago" in parameters  # the held cuff measurement
        waves = screen.waves.text.plain
        assert [line.split("  ")[0] for line in waves.split("\n") if "Hz" in line] == [
            "ECG II",
            "Pleth",
            "Resp",
        ]
        assert any(ch for ch in waves if 0x2800 < ord(ch) <= 0x28FF)  # a trace is drawn
        trends = screen.trends.text.plain
        assert trends.split("\n")[0].startswith("HR")
        assert "now" in trends.split("\n")[-1]
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in trends)
        assert screen.alarms.text.plain == NO_ALARM_ENGINE
        devices = screen.devices.text.plain
        assert monitor(0).key in devices
        assert "mllp 10.1.0.10:4000" in devices
        assert "msg/s" in devices
        assert "LIVE" in screen.title_line.line.plain
        assert "patient P-4711" in screen.title_line.line.plain


async def test_the_24_hour_trend_keeps_the_desaturation_of_5_hours_ago() -> None:
    rig = Rig.of(2)
    rig.history(0)
    rig.live_ward(2, seconds=2)
    envelope = rig.ward.trend(rig.beds[0], 150456, 24 * 3600, 300, rig.clock.now_ns())
    assert envelope is not None
    assert float(np.nanmin(envelope.low)) == 84.0
    app = rig.app()
    async with app.run_test(size=(160, 60)) as pilot:
        screen = await open_bed(app, pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: "-24h" in screen.trends.text.plain, "the 24 h axis")
        spo2_scale = next(
            line for line in screen.trends.text.plain.split("\n") if line.startswith("SpO2")
        )
        assert spo2_scale.split()[1] == "100"  # the scale never goes past 100 %


async def test_a_silent_bed_is_no_data_on_its_screen_too_and_its_waves_are_stale() -> None:
    rig = Rig.of(4)
    rig.scenario(history_bed=None, seconds=100)
    app = rig.app()
    async with app.run_test(size=(160, 60)) as pilot:
        screen = await open_bed(app, pilot, index=1)  # silent for the last 15 s
        await wait_for(pilot, lambda: "NO DATA 00:15" in screen_text(app), "NO DATA")
        assert "?15s no new samples" in screen.waves.text.plain
        assert "?15s" in screen.parameters.text.plain
        await pilot.press("right")  # silent for 90 s: lost
        await wait_for(pilot, lambda: "NO DATA 01:30" in screen_text(app), "NO DATA 01:30")
        assert "lost" in screen.devices.text.plain
        await pilot.press("right")  # never spoke
        await wait_for(pilot, lambda: "NO DATA --:--" in screen_text(app), "never spoke")
        assert "No values received" in screen.parameters.text.plain
        assert "No waveform received" in screen.waves.text.plain
        assert "No device has reported" in screen.devices.text.plain
        assert LOST_S < 90


async def test_a_bed_with_no_wave_says_so_on_its_tile_and_its_screen() -> None:
    rig = Rig.of(1)
    rig.send_vitals(0)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "no waveform" in screen_text(app), "no waveform")
        screen = await open_bed(app, pilot)
        await wait_for(pilot, lambda: "No waveform" in screen.waves.text.plain, "no waveform")


async def test_a_tile_draws_its_wave_and_greys_it_when_the_wave_stops() -> None:
    rig = Rig.of(1)
    rig.live_ward(1, seconds=5)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: "II " in screen_text(app), "the wave strip")
        wave_line = next(line for line in screen_text(app).splitlines() if "│ II " in line)
        assert any(0x2800 < ord(ch) <= 0x28FF for ch in wave_line)
        rig.clock.advance(4)
        rig.send_patient(0)  # numerics go on, the wave stopped
        await wait_for(pilot, lambda: "?4s" in screen_text(app), "the stale wave's age")
        assert "NO DATA" not in screen_text(app)


async def test_the_devices_screen_lists_devices_rejects_and_unassigned_senders() -> None:
    rig = Rig.of(4)
    rig.scenario(history_bed=None, seconds=100)
    app = rig.app()
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen), "devices")
        await wait_for(pilot, lambda: "IntelliVue MX450" in screen_text(app), "the rows")
        shown = screen_text(app)
        assert "3 devices on 4 beds · 1 unassigned · 1 message rejected" in shown
        assert 'devices = ["EUI-64:00A037EB21759999"]' in shown
        assert 'locations = ["ICU^9^2"]' in shown
        assert "rejected: no MSH segment" in shown
    rows = device_rows(rig.snapshot())
    assert [row.link for row in rows] == ["connected", "stale", "lost", "unassigned", "rejected"]
    assert rows[3].bed == UNASSIGNED
    assert rows[4].rejected == 1
    assert rows[4].peer == "10.1.0.200:5100"
    # two patient reports and a wave report every second, over a sliding 10 s window
    assert abs(float(rows[0].rate) - 3.0) <= 0.4


def stray(location: Location | None, key: str = "EUI-64:00A037EB21759999") -> UnassignedDevice:
    return UnassignedDevice(DeviceId(key, 'MX450 "ICU"'), "mllp", "10.0.0.9:1", location, 0, 3)


def test_the_snippet_is_a_valid_configuration_that_binds_the_device() -> None:
    device = stray(Location("ICU^9^2", "ICU", "9", "2"))
    snippet = bed_snippet(device, {"icu-9-2"})
    config = parse_config(snippet, "<snippet>")
    (bed,) = config.beds
    assert bed.id == "icu-9-2-2"  # not the id already taken
    assert bed.label == "ICU 9-2"
    assert bed.devices == ("EUI-64:00A037EB21759999",)
    assert bed.locations == ("ICU^9^2",)
    router = Router(config.bindings(), auto_beds=False)
    report = DeviceReport(device.device, "mllp", "10.0.0.9:1", 0)
    route = router.route(report)
    assert route is not None and route.bed == BedId("icu-9-2-2")


def test_a_snippet_without_a_location_binds_by_device_and_quotes_what_it_must() -> None:
    for key in ("app:ACME^MONITOR", 'app:odd "name" \\ here', "tcp:10.0.0.9"):
        config = parse_config(bed_snippet(stray(None, key)), "<snippet>")
        (bed,) = config.beds
        assert bed.devices == (key,)
        assert bed.locations == ()
        assert bed.label == 'MX450 "ICU"'


def test_a_snippet_pasted_after_an_existing_file_still_validates() -> None:
    existing = '[gateway]\nname = "ICU Nord"\n\n[[beds]]\nid = "icu-9-2"\nlabel = "ICU 9-2"\n'
    snippet = bed_snippet(stray(Location("ICU^9^2", "ICU", "9", "2")), {"icu-9-2"})
    config = parse_config(existing + "\n" + snippet, "<file>")
    assert [bed.id for bed in config.beds] == ["icu-9-2", "icu-9-2-2"]


def test_garbage_from_one_connection_is_its_own_row_never_a_healthy_neighbours() -> None:
    from gateway.domain import ReceivedMessage

    ward = WardState()
    ward.add_bed(BedId("b"), "Bed")
    ward.add_bed(BedId("c"), "Bed C")
    healthy, named = monitor(0), monitor(1)
    # two monitors behind one address (a vendor gateway, a serial hub), and a third sender
    # at that address that sends garbage
    ward.apply(BedId("b"), DeviceReport(healthy, "mllp", "10.1.0.10:4000", 0), seen_ns=0)
    ward.apply(BedId("c"), DeviceReport(named, "mllp", "10.1.0.10:4001", 0), seen_ns=0)
    ward.note_rejected(ReceivedMessage(b"x", "mllp", "10.1.0.10:4999", 5), "no MSH segment")
    ward.note_rejected(ReceivedMessage(b"x", "mllp", "10.1.0.10:4999", 6), "no MSH segment")
    # a message that named its device (MSH-3) and was refused all the same: that device's
    ward.note_rejected(ReceivedMessage(b"y", "mllp", "10.1.0.10:4001", 7, device=named), "bad")
    rows = {row.peer: row for row in device_rows(ward.snapshot(10))}
    assert (rows["10.1.0.10:4000"].rejected, rows["10.1.0.10:4000"].last_error) == (0, "")
    assert rows["10.1.0.10:4001"].rejected == 1
    garbage = rows["10.1.0.10:4999"]
    assert (garbage.device, garbage.link, garbage.rejected) == ("?", "rejected", 2)
    assert garbage.last_error == "rejected: no MSH segment"
    assert HR and ECG_II  # the rig's codes, used above through the scenario


def test_rejects_of_many_senders_are_bounded_and_their_total_kept() -> None:
    from gateway.domain import ReceivedMessage
    from gateway.ward.state import MAX_REJECT_SENDERS

    ward = WardState()
    senders = MAX_REJECT_SENDERS * 3
    for n in range(senders):  # a flood of connections, each sending one bad message
        peer = f"10.1.{n % 7}.1:{1000 + n}"
        ward.note_rejected(ReceivedMessage(b"x", "mllp", peer, n), "junk")
    rejects = ward.snapshot(senders).rejects
    assert len(rejects) <= MAX_REJECT_SENDERS
    assert sum(r.rejected for r in rejects) == senders
    newest = max(rejects, key=lambda r: r.last_time_ns)
    assert newest.last_peer == f"10.1.{(senders - 1) % 7}.1:{1000 + senders - 1}"  # kept apart

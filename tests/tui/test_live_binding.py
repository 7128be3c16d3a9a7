"""Binding a device from the devices screen while it is connected: its one MLLP connection
is kept, its values move to the bed from its next message, the change is journaled with
the operator and kept in the bindings overlay across a restart; renaming a bed likewise."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_support import Monitor, oru
from live_beds import CONFIG, live_beds, write_config
from textual.widgets import Input
from waiting import eventually

from adapters.hl7.listener import MllpListener
from gateway import nomenclature
from gateway.app.bindings import LiveBindings
from gateway.app.service import build_hub
from gateway.config import load_config
from gateway.config.overlay import read_overlay
from gateway.domain import AlarmChange
from tui.app import WardApp
from tui.binding_screen import BindScreen, RenameScreen
from tui.devices_screen import DevicesScreen

DEVICE = "EUI-64:0012211839000001"
HR = nomenclature.HEART_RATE[0]


@pytest.mark.timeout(60)
async def test_binding_an_unassigned_device_moves_its_values_on_its_own_connection(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    hub, beds = live_beds(path)
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        monitor = await Monitor.connect(listener.port)
        port = monitor.writer.get_extra_info("sockname")[1]
        peer = f"127.0.0.1:{port}"
        assert await monitor.send(oru("1", hr=70)) == ("CA", "1")
        (stray,) = hub.snapshot().unassigned
        assert (stray.device.key, stray.peer) == (DEVICE, peer)

        app = WardApp(hub.snapshot, alarms=hub.alarms, beds=beds, refresh_hz=20)
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.press(*"Nurse Martin", "enter")  # who is at the screen
            await pilot.press("d")
            await eventually(lambda: isinstance(app.screen, DevicesScreen), "devices screen")
            devices = app.screen
            assert isinstance(devices, DevicesScreen)
            await eventually(lambda: len(devices._rows) == 1, "the unassigned row")
            await pilot.press("b")
            await eventually(lambda: isinstance(app.screen, BindScreen), "the bind dialog")
            dialog = app.screen
            assert dialog.query_one("#bind-bed", Input).value == "icu-1-1"  # as the snippet
            assert dialog.query_one("#bind-operator", Input).value == "Nurse Martin"
            await pilot.press("enter", "enter", "enter")
            await eventually(lambda: "icu-1-1" in beds.bed_ids, "the binding applied")

            # The same connection goes on; its next message lands on the bed.
            assert await monitor.send(oru("2", hr=88)) == ("CA", "2")
            snapshot = hub.snapshot()
            assert not snapshot.unassigned
            (bed,) = [b for b in snapshot.beds if b.bed.key == "icu-1-1"]
            assert bed.readings[HR].value == 88 and not bed.readings[HR].stale
            assert [(d.device.key, d.peer) for d in bed.devices] == [(DEVICE, peer)]
            assert len(listener._connections) == 1  # never dropped, never reconnected
            for other in snapshot.beds:
                if other.bed.key != "icu-1-1":
                    assert DEVICE not in {d.device.key for d in other.devices}

            # Journaled (the alarm log's ward-wide entries) with the operator's name.
            (entry,) = [
                t for t in hub.alarms.history(ward=True) if t.change is AlarmChange.CONFIGURATION
            ]
            assert entry.operator == "Nurse Martin"
            assert DEVICE in entry.text and "icu-1-1" in entry.text

            # Rename the bed of the device under the cursor.
            await eventually(
                lambda: [r.bed_key for r in devices._rows] == ["icu-1-1"], "the bound row"
            )
            await pilot.press("r")
            await eventually(lambda: isinstance(app.screen, RenameScreen), "the rename dialog")
            app.screen.query_one("#rename-label", Input).value = "Room 1"
            await pilot.press("enter", "enter")
            await eventually(lambda: beds.bed_ids.get("icu-1-1") == "Room 1", "renamed")
            assert await monitor.send(oru("3", hr=90)) == ("CA", "3")
            (bed,) = [b for b in hub.snapshot().beds if b.bed.key == "icu-1-1"]
            assert (bed.label, bed.readings[HR].value) == ("Room 1", 90)
            renames = [
                t
                for t in hub.alarms.history(ward=True)
                if t.change is AlarmChange.CONFIGURATION and "renamed" in t.text
            ]
            assert [t.operator for t in renames] == ["Nurse Martin"]
        await monitor.close()

    # Written beside the configuration, which is left as the engineer wrote it.
    assert path.read_text() == CONFIG
    overlay = read_overlay(tmp_path / "ward.bindings.toml")
    assert [(b.id, b.label, b.devices) for b in overlay.beds] == [("icu-1-1", "Room 1", (DEVICE,))]

    # A restart reads it back: the device goes to its bed from its first message.
    hub, _ = live_beds(path)
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        monitor = await Monitor.connect(listener.port)
        assert await monitor.send(oru("4", hr=65)) == ("CA", "4")
        await monitor.close()
    snapshot = hub.snapshot()
    assert not snapshot.unassigned
    (bed,) = [b for b in snapshot.beds if b.bed.key == "icu-1-1"]
    assert (bed.label, bed.readings[HR].value) == ("Room 1", 65)


@pytest.mark.timeout(60)
async def test_without_a_gateway_behind_it_the_screen_hides_the_bed_keys(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    hub = build_hub(config)
    app = WardApp(hub.snapshot, refresh_hz=20)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press("d")
        await eventually(lambda: isinstance(app.screen, DevicesScreen), "devices screen")
        await pilot.press("b")
        await pilot.pause()
        assert isinstance(app.screen, DevicesScreen)  # no dialog: nothing to bind with
        assert app.screen.check_action("bind", ()) is False


@pytest.mark.timeout(60)
async def test_r_on_the_devices_screen_reloads_the_edited_file_and_a_bad_file_changes_nothing(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    hub = build_hub(config)
    beds = LiveBindings(hub, config, path)
    app = WardApp(hub.snapshot, alarms=hub.alarms, beds=beds, refresh_hz=20)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press(*"Ana", "enter", "d")
        await eventually(lambda: isinstance(app.screen, DevicesScreen), "devices screen")
        path.write_text(CONFIG + '\n[[beds]]\nid = "bed-b"\nlabel = "Bed B"\n')
        await pilot.press("R")
        await eventually(lambda: "bed-b" in beds.bed_ids, "the reload")
        assert [b.label for b in hub.snapshot().beds] == ["Bed A", "Bed B"]
        (entry,) = [
            t for t in hub.alarms.history(ward=True) if t.change is AlarmChange.CONFIGURATION
        ]
        assert entry.operator == "Ana" and "reloaded" in entry.text

        path.write_text("[[beds]\n")
        await pilot.press("R")
        await eventually(
            lambda: any("reload failed" in f.text for f in hub.snapshot().faults), "the fault"
        )
        assert beds.bed_ids == {"bed-a": "Bed A", "bed-b": "Bed B"}

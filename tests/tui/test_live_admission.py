"""Admitting a patient to a bed from the devices screen (``a``) and discharging them
(``D``): the tile names the patient at once, the change is journaled with the operator
and kept in the bindings overlay across a restart; what a device sends in PID wins, and a
different id is a mismatch said on screen, never mixed with the entered name."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_support import Monitor
from live_beds import CONFIG, live_beds, write_config
from textual.pilot import Pilot
from textual.widgets import Input
from waiting import eventually

from adapters.hl7.listener import MllpListener
from gateway.config.overlay import Admission, read_overlay
from gateway.domain import AlarmChange, BedId
from gateway.hub import Hub
from gateway.journal.admissions import parse_admission
from gateway.ward.snapshot import BedSnapshot
from tui.app import WardApp
from tui.bed_screen import BedScreen
from tui.binding_screen import AdmitScreen, DischargeScreen
from tui.devices_screen import DevicesScreen
from tui.widgets import BedTile


def oru(control_id: str, patient: str = "", hr: float = 72) -> bytes:
    """An ORU^R01 for ``ICU^9^1``, with PID-3 ``patient`` (none: a monitor without an
    admission of its own), asking for a commit ACK."""
    return (
        f"MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01"
        f"|{control_id}|P|2.6|||AL|NE\rPID|||{patient}\rPV1||I|ICU^9^1\r"
        f"OBR|1||{control_id}|182777000^monitoring of patient^SCT\r"
        f"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr:g}|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        "|||||R\r"
    ).encode()


def bed_a(hub: Hub) -> BedSnapshot:
    (bed,) = [b for b in hub.snapshot().beds if b.bed.key == "bed-a"]
    return bed


async def open_devices(app: WardApp, pilot: Pilot[None], operator: str) -> DevicesScreen:
    """Sign in as ``operator`` (empty: signed in already) and open the devices screen."""
    await pilot.press(*((*operator, "enter") if operator else ()), "d")
    await eventually(lambda: isinstance(app.screen, DevicesScreen), "devices screen")
    devices = app.screen
    assert isinstance(devices, DevicesScreen)
    await eventually(lambda: [r.bed_key for r in devices._rows] == ["bed-a"], "the device row")
    return devices


@pytest.mark.timeout(60)
async def test_a_patient_admitted_on_the_devices_screen_is_on_the_tile_journaled_and_kept(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    hub, beds = live_beds(path)
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        monitor = await Monitor.connect(listener.port)
        assert await monitor.send(oru("1")) == ("CA", "1")
        assert bed_a(hub).patient_id == ""  # the monitor sends no patient

        app = WardApp(hub.snapshot, alarms=hub.alarms, beds=beds, refresh_hz=20)
        async with app.run_test(size=(200, 50)) as pilot:
            await open_devices(app, pilot, "Nurse Martin")
            await pilot.press("a")
            await eventually(lambda: isinstance(app.screen, AdmitScreen), "the admit dialog")
            dialog = app.screen
            assert dialog.query_one("#admit-operator", Input).value == "Nurse Martin"
            await pilot.press(*"MRN-42", "enter", *"Curie", "enter", *"Marie", "enter", "enter")
            await eventually(lambda: beds.admission("bed-a") is not None, "the admission")

            bed = bed_a(hub)
            assert (bed.patient_id, bed.patient_name) == ("MRN-42", "Curie, Marie")
            assert bed.patient_entered and not bed.patient_mismatch
            # The same connection goes on, its values on the admitted patient's bed.
            assert await monitor.send(oru("2", hr=81)) == ("CA", "2")
            assert bed_a(hub).patient_id == "MRN-42"
            assert len(listener._connections) == 1

            # The tile names the patient, back on the ward screen.
            await pilot.press("escape")
            await eventually(
                lambda: any(
                    tile.label == "Bed A · Curie, Marie · MRN-42"
                    for tile in app.screen.query(BedTile)
                ),
                "the name on the tile",
            )

        # Journaled as the bed's entry, signed by the operator, readable back exactly.
        (entry,) = [
            t for t in hub.alarms.history(BedId("bed-a")) if t.change is AlarmChange.CONFIGURATION
        ]
        assert entry.operator == "Nurse Martin"
        parsed = parse_admission(entry)
        assert parsed is not None and parsed.admitted
        assert (parsed.bed, parsed.patient_id, parsed.patient_name) == (
            "bed-a",
            "MRN-42",
            "Curie, Marie",
        )
        await monitor.close()

    # Kept in the overlay beside the configuration, which is left as it was written.
    assert path.read_text() == CONFIG
    overlay = read_overlay(tmp_path / "ward.bindings.toml")
    assert overlay.admissions == (Admission("bed-a", "MRN-42", "Curie, Marie"),)

    # A restart reads it back: the bed names the patient before any device speaks.
    hub, _ = live_beds(path)
    bed = bed_a(hub)
    assert (bed.patient_id, bed.patient_name, bed.patient_entered) == (
        "MRN-42",
        "Curie, Marie",
        True,
    )


@pytest.mark.timeout(60)
async def test_a_device_sending_another_patient_id_is_shown_as_a_mismatch_never_mixed(
    tmp_path: Path,
) -> None:
    path = write_config(tmp_path)
    hub, beds = live_beds(path)
    await beds.admit("bed-a", "Bed A", "MRN-42", "Curie, Marie", "Ana")
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        monitor = await Monitor.connect(listener.port)
        # The same id from the monitor: one patient, the entered name kept.
        assert await monitor.send(oru("1", patient="MRN-42")) == ("CA", "1")
        bed = bed_a(hub)
        assert (bed.patient_id, bed.patient_name, bed.patient_mismatch) == (
            "MRN-42",
            "Curie, Marie",
            "",
        )
        assert not bed.patient_entered  # the monitor's own admission now

        # Another id: the monitor's is shown, without the entered name, and it is said.
        assert await monitor.send(oru("2", patient="P-7")) == ("CA", "2")
        bed = bed_a(hub)
        assert (bed.patient_id, bed.patient_name) == ("P-7", "")
        assert bed.patient_mismatch == "patient id mismatch: entered MRN-42, device sends P-7"
        faults = [f.text for f in hub.snapshot().faults if f.source == "patient"]
        assert faults == [
            "bed Bed A: patient id mismatch: entered MRN-42, device sends P-7 — the device's"
            " id is shown; check the admission (devices screen)"
        ]  # once, not at every snapshot

        app = WardApp(hub.snapshot, alarms=hub.alarms, beds=beds, refresh_hz=20)
        async with app.run_test(size=(200, 50)) as pilot:
            await pilot.press(*"Ana", "enter")
            await eventually(
                lambda: any(
                    tile.label == "Bed A · ID MISMATCH · P-7" for tile in app.screen.query(BedTile)
                ),
                "the mismatch on the tile",
            )
            devices = await open_devices(app, pilot, "")
            await eventually(
                lambda: "1 patient id mismatch" in str(devices.summary.render()),
                "the mismatch in the summary",
            )

            # Discharge (confirmed): the device's id stays, the mismatch ends.
            await pilot.press("D")
            await eventually(lambda: isinstance(app.screen, DischargeScreen), "the confirmation")
            await pilot.press("enter")
            await eventually(lambda: beds.admission("bed-a") is None, "the discharge")
            bed = bed_a(hub)
            assert (bed.patient_id, bed.patient_mismatch, bed.patient_entered) == ("P-7", "", False)
            await pilot.press("escape")
            await eventually(
                lambda: any(tile.label == "Bed A · P-7" for tile in app.screen.query(BedTile)),
                "the tile without the mismatch",
            )

            # D again: nobody admitted here, nothing to confirm.
            await pilot.press("d")
            await eventually(lambda: isinstance(app.screen, DevicesScreen), "devices screen")
            await pilot.press("D")
            await pilot.pause()
            assert isinstance(app.screen, DevicesScreen)
        await monitor.close()

    entries = [
        parse_admission(t)
        for t in reversed(hub.alarms.history(BedId("bed-a")))
        if t.change is AlarmChange.CONFIGURATION
    ]
    assert [(e.admitted, e.patient_id) for e in entries if e is not None] == [
        (True, "MRN-42"),
        (False, "MRN-42"),
    ]
    assert read_overlay(tmp_path / "ward.bindings.toml").admissions == ()


@pytest.mark.timeout(60)
async def test_a_bed_with_no_device_yet_is_admitted_and_discharged_from_its_bed_screen(
    tmp_path: Path,
) -> None:
    """The monitor is not plugged in yet (or a serial oximeter only is coming): the bed has
    no row on the devices screen, but its bed screen admits (``P``) and discharges (``D``)."""
    path = write_config(tmp_path)
    hub, beds = live_beds(path)
    app = WardApp(hub.snapshot, alarms=hub.alarms, beds=beds, refresh_hz=20)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.press(*"Nurse Roux", "enter")
        await eventually(lambda: bool(app.screen.query(BedTile)), "the ward")
        await pilot.press("enter")
        await eventually(lambda: isinstance(app.screen, BedScreen), "the bed screen")
        await pilot.press("P")
        await eventually(lambda: isinstance(app.screen, AdmitScreen), "the admit dialog")
        await pilot.press(*"MRN-9", "enter", *"Pasteur", "enter", *"Louis", "enter", "enter")
        await eventually(lambda: beds.admission("bed-a") is not None, "the admission")
        assert (bed_a(hub).patient_id, bed_a(hub).patient_name) == ("MRN-9", "Pasteur, Louis")
        await eventually(lambda: isinstance(app.screen, BedScreen), "back on the bed screen")
        await pilot.press("D")
        await eventually(lambda: isinstance(app.screen, DischargeScreen), "the confirmation")
        await pilot.press("enter")
        await eventually(lambda: beds.admission("bed-a") is None, "the discharge")
        assert bed_a(hub).patient_id == ""
    changes = [
        (t.operator, t.text.split(":")[0])
        for t in hub.alarms.history(BedId("bed-a"))
        if t.change is AlarmChange.CONFIGURATION
    ]
    assert [operator for operator, _ in changes] == ["Nurse Roux", "Nurse Roux"]

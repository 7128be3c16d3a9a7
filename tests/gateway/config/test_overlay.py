"""The bindings overlay: beds changed on the running gateway, kept beside the configuration."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.app.bindings import LiveBindings, write_overlay
from gateway.app.service import build_hub
from gateway.config import load_config, parse_config
from gateway.config.overlay import (
    Admission,
    BindingOverlay,
    OverlayBed,
    apply_overlay,
    overlay_path,
    parse_overlay,
    read_overlay,
)
from gateway.domain import BedId
from gateway.errors import BindingRefused, ConfigError
from gateway.journal.admissions import parse_admission

CONFIG = """
[gateway]
journal = "ward.sqlite"

[[beds]]
id = "bed-a"
label = "Bed A"
locations = ["ICU^1^1"]
devices = ["EUI-64:00000000000000AA"]

[[serial]]
kind = "masimo"
port = "/dev/ttyUSB0"
bed = "bed-a"
"""


def test_the_overlay_lives_beside_the_config_file_or_beside_the_journal_without_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(CONFIG)
    assert overlay_path(load_config(path)) == tmp_path / "ward.bindings.toml"
    zero = parse_config('[gateway]\njournal = "/var/icu/j.sqlite"\n', "<default>")
    assert overlay_path(zero) == Path("/var/icu/j.bindings.toml")


def test_a_device_bound_in_the_overlay_leaves_every_other_bed_and_the_latest_wins() -> None:
    config = parse_config(CONFIG)
    overlay = (
        BindingOverlay()
        .bind("bed-b", "Bed B", "EUI-64:00000000000000AA", "ICU^1^1")
        .bind("bed-c", None, "serial:/dev/ttyUSB0")
        .rename("bed-a", "Window")
    )
    merged = apply_overlay(config, overlay)
    beds = {bed.id: bed for bed in merged.beds}
    assert beds["bed-a"].label == "Window"
    assert beds["bed-a"].devices == () and beds["bed-a"].locations == ()
    assert beds["bed-b"].devices == ("EUI-64:00000000000000AA",)
    assert beds["bed-b"].locations == ("ICU^1^1",)
    assert beds["bed-c"].label == "bed-c"
    assert merged.serial[0].bed is None  # the port's own bed= no longer binds it
    owners = [b.bed.key for b in merged.bindings() if "serial:/dev/ttyUSB0" in b.devices]
    assert owners == ["bed-c"]


def test_what_is_written_is_read_back_as_it_was(tmp_path: Path) -> None:
    overlay = BindingOverlay(
        (
            OverlayBed("room-1", 'Room "1"', ("EUI-64:00A037EB2175780F",), ("ICU^1^1",)),
            OverlayBed("bed-a", "Window"),
        )
    )
    path = tmp_path / "ward.bindings.toml"
    write_overlay(path, overlay, "device bound by Nurse Martin")
    assert read_overlay(path) == overlay
    assert read_overlay(tmp_path / "none.bindings.toml") == BindingOverlay()


def test_a_bad_overlay_names_its_file_line_and_key() -> None:
    with pytest.raises(ConfigError) as error:
        parse_overlay('[[beds]]\nid = "x y"\ndevices = ["nonsense"]\n', "w.bindings.toml")
    text = "\n".join(error.value.problems)
    assert "w.bindings.toml:2" in text and "beds[0].id" in text
    assert "w.bindings.toml:3" in text and "devices" in text


async def test_binding_to_an_existing_bed_keeps_its_label_and_its_location(tmp_path: Path) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    beds = LiveBindings(build_hub(config), config, path)
    said = await beds.bind_device("EUI-64:00000000000000BB", "bed-a", "ICU 1-1", "Ana", "ICU^2^1")
    assert "bed-a" in said
    assert beds.bed_ids == {"bed-a": "Bed A"}
    (bed,) = beds.running.beds
    assert bed.devices == ("EUI-64:00000000000000AA", "EUI-64:00000000000000BB")
    assert bed.locations == ("ICU^1^1",)  # a device bound to a known bed: the device alone
    assert path.read_text() == CONFIG
    assert read_overlay(tmp_path / "ward.bindings.toml").beds == (
        OverlayBed("bed-a", None, ("EUI-64:00000000000000BB",)),
    )


def test_admissions_are_written_and_read_back_one_per_bed(tmp_path: Path) -> None:
    overlay = (
        BindingOverlay()
        .rename("bed-a", "Window")
        .admit(Admission("bed-a", "MRN-1", "Doe, Jane"))
        .admit(Admission("ICU^9^1", 'ID "7"'))  # an automatic bed's key; no name entered
        .admit(Admission("bed-a", "MRN-2", "Roe, John"))  # the bed's next patient
    )
    assert overlay.admissions == (
        Admission("ICU^9^1", 'ID "7"'),
        Admission("bed-a", "MRN-2", "Roe, John"),
    )
    path = tmp_path / "ward.bindings.toml"
    write_overlay(path, overlay)
    assert read_overlay(path) == overlay
    assert read_overlay(path).discharge("bed-a").admissions == (Admission("ICU^9^1", 'ID "7"'),)
    config = parse_config(CONFIG)
    without = BindingOverlay(overlay.beds)
    assert apply_overlay(config, overlay) == apply_overlay(config, without)  # binds nothing


def test_a_bad_admission_is_refused_and_never_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        parse_overlay('[[admissions]]\nbed = "bed-a"\npatient_id = "P\\u0007"\n', "w.toml")
    assert "w.toml:3" in "\n".join(error.value.problems)
    assert "control character" in "\n".join(error.value.problems)
    path = tmp_path / "ward.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    beds = LiveBindings(build_hub(config), config, path)
    with pytest.raises(BindingRefused, match="a patient id is needed"):
        asyncio.run(beds.admit("bed-a", "Bed A", "  ", "Doe, Jane", "Ana"))
    with pytest.raises(BindingRefused, match="longer than 128"):
        asyncio.run(beds.admit("bed-a", "Bed A", "P1", "x" * 129, "Ana"))
    assert not (tmp_path / "ward.bindings.toml").exists()


async def test_an_admission_deleted_from_the_overlay_is_a_discharge_at_the_reload(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ward.toml"
    path.write_text(CONFIG)
    config = load_config(path)
    hub = build_hub(config)
    beds = LiveBindings(hub, config, path)
    await beds.admit("bed-a", "Bed A", "MRN-1", "Doe, Jane", "Ana")
    (bed,) = hub.snapshot().beds
    assert (bed.patient_id, bed.patient_entered) == ("MRN-1", True)
    write_overlay(tmp_path / "ward.bindings.toml", BindingOverlay())  # the engineer's edit
    assert await beds.reload("Ana")
    (bed,) = hub.snapshot().beds
    assert (bed.patient_id, bed.patient_name, bed.patient_entered) == ("", "", False)
    assert beds.admission("bed-a") is None
    entries = [parse_admission(t) for t in reversed(hub.alarms.history(BedId("bed-a")))]
    assert [(e.admitted, e.patient_id) for e in entries if e is not None] == [
        (True, "MRN-1"),
        (False, "MRN-1"),  # journaled: the record's patient ends there too
    ]

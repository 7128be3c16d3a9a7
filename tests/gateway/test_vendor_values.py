"""What real monitors send (issue 12, part A), end to end through the real listener, the
journal and the hub: Mindray's no-value markers are ``***`` and never a limit alarm;
Philips MDIL codes and units reach the tile and the gateway's limits; MDIL partitions are
hexadecimal; GE's MDC_CONC_AWAY_CO2_EXP/_INSP are EtCO2/FiCO2 with the EtCO2 limits; the
HL7 export labels each unit with its real coding system; ``validate`` reports markers."""

from __future__ import annotations

import io
from pathlib import Path

from journal_support import Gateway, running_gateway
from samples import load_sample

from adapters.hl7 import er7
from adapters.hl7.validate import Severity, validate_bytes
from gateway.app.export import export
from gateway.clock import ManualClock
from gateway.domain import (
    AlarmKind,
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
    ReceivedMessage,
)
from gateway.hub import Hub
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.ward.routing import Router, location_key
from gateway.ward.snapshot import BedSnapshot
from gateway.ward.state import WardState
from tui import vitals
from tui.devices import device_rows

INVALID, VALID = ObservationStatus.INVALID, ObservationStatus.VALID


def again(raw: bytes, suffix: bytes) -> bytes:
    """The same message sent again a few seconds later: a new control id (MSH-10)."""
    message = er7.parse(raw)
    return raw.replace(message.control_id.encode(), message.control_id.encode() + suffix, 1)


async def send_twice(gateway: Gateway, clock: ManualClock, name: str) -> None:
    """The sample, then the same values 6 s later: past the 5 s condition delay."""
    monitor = await gateway.monitor()
    raw = load_sample(name)
    assert (await monitor.send(raw))[0] in ("AA", "CA")
    clock.advance(6)
    assert (await monitor.send(again(raw, b"-2")))[0] in ("AA", "CA")
    await monitor.close()


def bed_of(gateway: Gateway, location: str) -> BedSnapshot:
    bed = gateway.hub.snapshot().bed(BedId(location_key(location)))
    assert bed is not None
    return bed


def alarm_texts(gateway: Gateway, location: str) -> list[tuple[str, AlarmKind]]:
    shown = gateway.hub.snapshot().alarms
    assert shown is not None
    return [(a.text, a.kind) for a in shown.of_bed(BedId(location_key(location)))]


def face(bed: BedSnapshot, variant: vitals.Variant = vitals.Variant.COMPACT) -> str:
    """The tile's text, on one line: a compact tile writes HR and SpO2 as text (a full one
    draws them in big digits, ``***`` as big stars)."""
    return " ".join(vitals.tile_face(bed, 48, variant, []).plain.split())


async def test_mindray_no_value_markers_are_stars_and_never_a_limit_alarm(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        await send_twice(gateway, clock, "50")
        bed = bed_of(gateway, "ICU^8^1")
        for code in (147842, 150456, 149530, 151562, 150344, 150045):
            assert bed.readings[code].status is INVALID, code
        assert bed.readings[150021].status is VALID  # NIBP 118 is a value
        for variant in vitals.Variant:
            assert "-999" not in face(bed, variant) and "-99.9" not in face(bed, variant)
        tile = face(bed)
        for shown in ("HR ***", "SpO2 ***", "RR ***", "Temp ***", "NIBP 118"):
            assert shown in tile, shown
        assert "***" in vitals.parameter_line(bed.readings[150045]).plain  # the bed screen
        texts = alarm_texts(gateway, "ICU^8^1")
        assert not [t for t, _ in texts if "LOW" in t or "HIGH" in t]
        assert all(kind is AlarmKind.TECHNICAL for _, kind in texts)
        # The devices screen's technical note: a count, and the latest.
        (row,) = [r for r in device_rows(gateway.hub.snapshot()) if r.bed_key]
        assert row.out_of_range == 12
        assert row.last_error.startswith("value out of range (12): ")
        # Once per parameter in the log and the fault list, not once per message.
        faults = [f.text for f in gateway.hub.faults if "value out of range" in f.text]
        assert len(faults) == 6
        assert any("SpO2 -999: no-value marker -999" in f for f in faults)
        assert any("PAP sys 450: outside the physiological range -30–400 mmHg" in f for f in faults)
    with JournalReader(tmp_path / "j.sqlite") as reader:
        stored = {
            (s.observation.code, s.observation.status, s.observation.reason)
            for s in reader.observations()
        }
    assert (150456, INVALID, "no-value marker -999") in stored
    assert (150344, INVALID, "no-value marker -99.9") in stored
    assert (150021, VALID, "") in stored


async def test_philips_mdil_codes_and_units_reach_the_tile_and_the_limits(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        await send_twice(gateway, clock, "51")
        bed = bed_of(gateway, "REA^14^1")
        units = {code: r.unit for code, r in bed.readings.items()}
        assert units[147842] == units[151562] == "/min"
        assert units[150456] == "%"
        assert units[150033] == units[150087] == units[150045] == "mmHg"
        assert units[150344] == "°C"
        tile = face(bed)
        for shown in ("HR 38", "SpO2 97", "RR 16", "ABP 124/68", "Temp 37.1", "EtCO2 36"):
            assert shown in tile, shown
        # HR 38: below the low limit (50) and its extreme (40): the gateway's own alarm.
        texts = alarm_texts(gateway, "REA^14^1")
        assert ("HR LOW 38", AlarmKind.PHYSIOLOGICAL) in texts


async def test_mdil_partitions_are_hexadecimal(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "j.sqlite") as gateway:
        monitor = await gateway.monitor()
        assert (await monitor.send(load_sample("52")))[0] == "AA"
        await monitor.close()
        bed = bed_of(gateway, "REA^15^1")
        assert 0x0402 * 65536 + 0xF8F5 in bed.readings
        assert 402 * 65536 + 0xF8F5 not in bed.readings
        assert 0x000A * 65536 + 1 in bed.readings
        assert bed.readings[147842].unit == "/min"


async def test_ge_co2_exp_and_insp_are_etco2_and_fico2_with_the_etco2_limits(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        await send_twice(gateway, clock, "53")
        bed = bed_of(gateway, "USC^3^1")
        tile = face(bed, vitals.Variant.FULL)
        assert "EtCO2 22" in tile and "FiCO2 1" in tile
        texts = alarm_texts(gateway, "USC^3^1")
        assert ("EtCO2 LOW 22", AlarmKind.PHYSIOLOGICAL) in texts


async def test_the_hl7_export_of_mdil_units_carries_their_real_coding_system(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert (await monitor.send(load_sample("51")))[0] == "AA"
        assert (await monitor.send(load_sample("52")))[0] == "AA"
        await monitor.close()
    out = io.StringIO()
    with JournalReader(path) as reader:
        export(reader, out, "hl7", Selection())
    units = [line.split("|")[6] for line in out.getvalue().split("\r") if line.startswith("OBX|")]
    assert units
    assert not [u for u in units if "0004-" in u or "MDIL" in u]
    assert "/min^/min^UCUM" in units and "mm[Hg]^mm[Hg]^UCUM" in units
    assert "%^%^UCUM" in units and "Cel^Cel^UCUM" in units
    assert all(u.endswith(("^UCUM", "^MDC", "^L")) or not u for u in units)


def test_validate_reports_no_value_markers_and_impossible_values() -> None:
    (message,) = validate_bytes(load_sample("50")).messages
    texts = [f.text for f in message.findings if f.severity is Severity.WARNING]
    assert any(t.startswith("HR -999: no-value marker -999 — a vendor no-value") for t in texts)
    assert any(t.startswith("Temp -99.9: no-value marker -99.9") for t in texts)
    assert any("PAP sys 450: outside the physiological range -30–400 mmHg" in t for t in texts)
    assert not any("NIBP" in t for t in texts)


def test_validate_knows_mdil_units() -> None:
    (message,) = validate_bytes(load_sample("51")).messages
    assert not [f for f in message.findings if "0004-" in f.text or "(OBX-5)" in f.where]


async def test_a_serial_report_is_screened_by_the_hub_as_an_hl7_one() -> None:
    """The check sits in the hub: every adapter's reports pass it (here a serial oximeter's,
    as adapters/serial/reader.py submits them)."""
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    device = DeviceId("serial:/dev/ttyUSB3", "Rad-8")
    now = clock.now_ns()
    report = DeviceReport(
        device,
        "serial",
        "/dev/ttyUSB3",
        now,
        observations=(
            Observation(device, 150456, "SpO2", 127.0, "%", VALID, now),
            Observation(device, 149530, "PR", 64.0, "/min", VALID, now),
        ),
    )
    await hub.submit(ReceivedMessage(b"SPO2=127 BPM=64", "serial", "/dev/ttyUSB3", now), [report])
    (row,) = device_rows(hub.snapshot())
    assert row.out_of_range == 1
    assert row.last_error == (
        "value out of range (1): SpO2 127: outside the physiological range 0–100 %"
    )
    bed = hub.snapshot().bed(BedId(row.bed_key))
    assert bed is not None
    assert bed.readings[150456].status is INVALID
    assert bed.readings[149530].status is VALID

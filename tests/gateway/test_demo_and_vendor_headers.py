"""What real monitors send (issue 12, part B), end to end through the real MLLP listener and
journal: demo and test data (OBX-8 DEMO/TEST, MSH-11 T/D) marked and never alarmed as a
patient's, in every export; Philips INOPs in every spelling; a Mindray D-series header
shifted one field, accepted with the real control id; a blank PV1-3 is no location."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from journal_support import running_gateway
from samples import FIXTURES, load_sample

from adapters.hl7 import batch, er7
from gateway.app.export import export
from gateway.clock import ManualClock
from gateway.domain import AlarmKind, AlarmPriority, BedId
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.ward.routing import location_key

HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW
TECHNICAL, ADVISORY = AlarmKind.TECHNICAL, AlarmKind.ADVISORY


def bad_sample(prefix: str) -> bytes:
    """A tests/fixtures/bad file without its ``#`` lines."""
    data = next((FIXTURES / "bad").glob(f"{prefix}*.hl7")).read_bytes()
    while data.startswith(b"#"):
        data = data.split(b"\n", 1)[1]
    return data


def not_demo(data: bytes) -> bytes:
    """Fixture 50 as the same monitor sends it out of demo mode (no OBX-8 flags)."""
    for flag in (b"||DEMO|||R", b"||demo-data|||R", b"||N~TEST|||R"):
        data = data.replace(flag, b"||||||R")
    return data


def shown(hub: object, bed: BedId) -> list[tuple[str, AlarmPriority, AlarmKind]]:
    from gateway.hub import Hub

    assert isinstance(hub, Hub)
    return [(a.text, a.priority, a.kind) for a in hub.alarms.snapshot().of_bed(bed)]


async def test_demo_values_are_acked_shown_marked_never_limit_alarmed_and_exported_marked(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    demo = load_sample("54")
    bed = BedId(location_key("ICU^8^1"))
    async with running_gateway(path, clock=clock) as gateway:
        monitor = await gateway.monitor()
        for _ in range(8):  # SpO2 82 % and HR 124 for 8 s: past every condition delay
            assert await monitor.send(demo) == ("CA", "DEMO-50")
            clock.advance(1)
            gateway.hub.alarms.tick()
        assert shown(gateway.hub, bed) == []  # no SpO2 LOW, no HR HIGH: demo data
        (snapshot,) = gateway.hub.snapshot().beds
        readings = snapshot.readings
        assert [code for code, r in readings.items() if r.demo] == [147842, 150456, 151562, 150021]
        assert not readings[150344].demo  # the one value without a flag
        # The same monitor out of demo mode: the same values are alarmed (the test can fail).
        for n in range(7):
            assert (await monitor.send(not_demo(demo).replace(b"DEMO-50", b"LIVE-%d" % n)))[
                0
            ] == "CA"
            clock.advance(1)
            gateway.hub.alarms.tick()
        assert sorted(text for text, _, _ in shown(gateway.hub, bed)) == [
            "HR HIGH 124",
            "SpO2 LOW 82",
        ]
        await monitor.close()
    with JournalReader(path) as reader:
        out = io.StringIO()
        export(reader, out, "csv", Selection())
        rows = list(csv.DictReader(io.StringIO(out.getvalue())))
        first = [(r["mdc_code"], r["demo"]) for r in rows if r["message_id"] == "DEMO-50"][:5]
        assert first == [
            ("147842", "1"),
            ("150456", "1"),
            ("151562", "1"),
            ("150021", "1"),
            ("150344", "0"),
        ]
        assert {r["demo"] for r in rows if r["message_id"].startswith("LIVE-")} == {"0"}
        out = io.StringIO()
        export(reader, out, "jsonl", Selection())
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert [line["demo"] for line in lines[:5]] == [True, True, True, True, False]
        out = io.StringIO()
        export(reader, out, "hl7", Selection())
        first_oru = batch.split_batch(out.getvalue())[0]
        flags = [seg.get(8) for seg in er7.parse(first_oru.encode()).all("OBX") if seg.get(5)]
        assert flags == ["DEMO", "DEMO", "DEMO", "DEMO", ""]
        out = io.StringIO()
        export(reader, out, "flowsheet", Selection(bed=bed))
        sheet = out.getvalue()
        # The 8 demo messages are one (a resent duplicate is stored once): its 4 demo values
        # on rows of their own marked DEMO, never in the patient's rows (issue 19).
        assert "DEMO: 4 demo or test readings" in sheet
        demo_rows = re.findall(r"<tr class='row demo' data-row='([^']*)'>(.*?)</tr>", sheet)
        assert [label for label, _ in demo_rows] == ["HR", "SpO2", "RR", "NIBP sys"]
        assert all("DEMO " in cells for _, cells in demo_rows)
        patient_rows = re.findall(r"<tr class='row' data-row='([^']*)'>", sheet)
        assert patient_rows == ["HR", "SpO2", "NIBP", "RR", "Temp"]
        hourly = {(s.code, s.count) for s in reader.hourly(bed)}
        # Only the 7 live messages are in the means (and Temp from all 8 stored).
        assert hourly == {(147842, 7), (150456, 7), (151562, 7), (150021, 7), (150344, 8)}


async def test_a_training_message_is_demo_and_its_red_alarm_a_low_demo_advisory(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    bed = BedId(location_key("REA^14^1"))
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        monitor = await gateway.monitor()
        for _ in range(8):  # HR 150 for 8 s
            assert await monitor.send(load_sample("55")) == ("AA", "PIIC-TRAINING-51")
            clock.advance(1)
            gateway.hub.alarms.tick()
        assert shown(gateway.hub, bed) == [("DEMO HR 150 > 120", LOW, ADVISORY)]
        (snapshot,) = gateway.hub.snapshot().beds
        assert all(r.demo for r in snapshot.readings.values())
        await monitor.close()


async def test_a_debugging_pcd04_alarm_is_a_low_demo_advisory(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "j.sqlite") as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(load_sample("56")) == ("CA", "DBG-52")
        bed = BedId(location_key("HO Surgery^OR^1"))
        assert shown(gateway.hub, bed) == [("DEMO Low SpO2 88", LOW, ADVISORY)]
        # The same alarm in a production message is the patient's medium alarm.
        production = load_sample("56").replace(b"|DBG-52|D|", b"|PRD-52|P|")
        assert await monitor.send(production) == ("CA", "PRD-52")
        assert ("Low SpO2 88", MEDIUM, AlarmKind.PHYSIOLOGICAL) in shown(gateway.hub, bed)
        await monitor.close()


async def test_philips_inops_in_every_spelling_are_technical_with_philips_priorities(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path / "j.sqlite") as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(load_sample("57")) == ("AA", "PIIC-INOP-53")
        bed = BedId(location_key("REA^15^1"))
        assert sorted(shown(gateway.hub, bed)) == sorted(
            [
                ("ECG LEADS OFF", MEDIUM, TECHNICAL),  # 5^HardInop^MDIL-ALERT
                ("SpO2 WEAK SIGNAL", LOW, TECHNICAL),  # 6^SoftInop^MDIL-ALERT
                ("NBP CUFF OVERPRESS", MEDIUM, TECHNICAL),  # 3^Hard INOP^MDIL-ALERT
                ("RESP ERRATIC", LOW, TECHNICAL),  # 4^Soft INOP^MDIL-ALERT
                ("TEMP UNPLUGGED", MEDIUM, TECHNICAL),  # 7^INOP^MDIL-ALERT
            ]
        )
        await monitor.close()


async def test_a_shifted_mindray_header_is_acked_with_its_control_id_and_decoded(
    tmp_path: Path,
) -> None:
    async with running_gateway(tmp_path / "j.sqlite") as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(bad_sample("20_")) == ("CA", "375")
        hub = gateway.hub
        assert [f.text for f in hub.faults if "shifted MSH" in f.text] == [
            "message 375: " + er7.SHIFTED_MSH
        ]
        (bed,) = hub.snapshot().beds
        assert bed.label == "ICU 9-2"
        assert bed.readings[147842].value == 72.0
        assert [d.device.key for d in bed.devices] == ["EUI-64:00A037009A0053DE"]
        assert [(w.key, w.sample_rate_hz) for w in bed.waves] == [((151780, "1.7.1.151780"), 500)]
        # Unreadable after the header (a segment name that is none): the reject (original
        # mode: the message could not be read) still names 375, not ORU\S\R01\S\ORU_R01.
        broken = bad_sample("20_").replace(b"\rPID|", b"\rP!D|")
        assert await monitor.send(broken) == ("AR", "375")
        await monitor.close()
    with JournalReader(tmp_path / "j.sqlite") as reader:
        (stored,) = list(reader.reports())
        assert stored.routed.report.message_id == "375"
        assert len(stored.routed.report.waveforms) == 1


async def test_a_blank_location_names_the_bed_after_the_device(tmp_path: Path) -> None:
    async with running_gateway(tmp_path / "j.sqlite") as gateway:
        monitor = await gateway.monitor()
        for n, blank in enumerate((b"^^", b"   ", b"^^^^")):
            sent = load_sample("58").replace(b"PV1||I|^^", b"PV1||I|" + blank)
            sent = sent.replace(b"BLANK-54", b"BLANK-%d" % n)
            assert await monitor.send(sent) == ("CA", f"BLANK-{n}")
        beds = gateway.hub.snapshot().beds
        assert [(b.bed.key, b.label) for b in beds] == [("EUI-64:00A0370000000054", "BEDSIDE-7")]
        await monitor.close()

"""Exports: CSV and JSON lines of observations, an HL7 batch that hl7apy validates and that
re-ingests into the same observations, waveforms and alarms, a printable hourly flowsheet,
and the CLI."""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import datetime as dt
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message
from journal_support import oru, received, running_gateway
from samples import load_sample

from adapters.hl7.batch import samples_text, split_batch
from gateway.app.export import export
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import BedId, WaveformChunk
from gateway.journal.client import Journal
from gateway.journal.export import Selection, parse_when
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport

HOUR = 3600 * NS_PER_S
# 2023-11-14 22:13:20 UTC: the ManualClock's default start.
START = ManualClock().now_ns()


WAVES_AND_ALARMS = ("03", "04", "05", "06", "12", "16", "17", "18", "19", "20", "21", "22")
"""Samples with PCD-04 alarms (start, end, facets in every form), Philips text alarms,
waveforms (rate child rows, resolution and INOP marker, scaled counts, W01 channels) and
gateways forwarding several devices or beds."""


async def journal_with_samples(path: Path, clock: ManualClock) -> None:
    """Reference samples and a generated stream, through the real listener."""
    async with running_gateway(path, clock=clock) as gateway:
        monitor = await gateway.monitor()
        for prefix in ("01", "02", "07"):
            code, _ = await monitor.send(load_sample(prefix))
            assert code in ("AA", "CA")  # original or enhanced mode, as each sample asks
            clock.advance(0.25)
        for n in range(30):
            code, _ = await monitor.send(oru(f"g{n}", bed=1 + n % 3, hr=60.5 + n))
            assert code == "CA"
            clock.advance(1.5)
        for prefix in WAVES_AND_ALARMS:
            code, _ = await monitor.send(load_sample(prefix))
            assert code in ("AA", "CA")
            clock.advance(0.25)
        await monitor.close()


def exported(path: Path, fmt: str, selection: Selection | None = None) -> str:
    out = io.StringIO()
    with JournalReader(path) as reader:
        export(reader, out, fmt, selection or Selection())
    return out.getvalue()


def observation_keys(path: Path) -> Counter[tuple[object, ...]]:
    """What must survive export → re-import: everything but when the gateway got it."""
    with JournalReader(path) as reader:
        return Counter(
            (
                s.bed,
                s.observation.device.key,
                s.observation.code,
                s.observation.source_code,
                s.observation.label,
                s.observation.value,
                s.observation.unit,
                s.observation.status,
                s.observation.sub_id,
                s.observation.time_ns // 100_000,  # HL7 times carry 0.1 ms
            )
            for s in reader.observations()
        )


async def test_csv_and_json_lines_have_one_observation_per_row(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with_samples(path, ManualClock())
    rows = list(csv.DictReader(io.StringIO(exported(path, "csv"))))
    lines = [json.loads(line) for line in exported(path, "jsonl").splitlines()]
    with JournalReader(path) as reader:
        total = sum(1 for _ in reader.observations())
    assert len(rows) == len(lines) == total > 60
    generated = [r for r in rows if r["message_id"] == "g0"]
    assert [(r["bed"], r["mdc_code"], r["label"], r["value"], r["unit"]) for r in generated] == [
        ("ICU^1^1", "147842", "HR", "60.5", "/min"),
        ("ICU^1^1", "150456", "SpO2", "97.0", "%"),
    ]
    first = generated[0]
    assert first["device"] == "EUI-64:0012211839000001"
    assert first["status"] == "valid"
    assert dt.datetime.fromisoformat(first["receive_time"]).timestamp() == pytest.approx(
        START / NS_PER_S + 0.75
    )
    assert first["device_time"] == "2024-01-01T12:00:00.000+00:00"  # MSH-7 of the message
    line = next(entry for entry in lines if entry["message_id"] == "g0")
    assert line["value"] == 60.5
    assert line["mdc_code"] == 147842
    assert set(line) == set(rows[0])


async def test_every_csv_row_and_json_line_names_its_patient(tmp_path: Path) -> None:
    """72 h of a bed that held two patients: each row says whose value it is (issue 19)."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        for n, (patient, name) in enumerate(
            [("P1", "DOE^JANE"), ("P1", "DOE^JANE"), ("P2", "ROE^JOHN"), ("P3", "")]
        ):
            raw = oru(f"p{n}").replace(
                b"PID|||P1^^^^MR||DOE^JOHN", f"PID|||{patient}||{name}".encode()
            )
            message, reports = received(raw, clock)
            await journal.record(message, [RoutedReport(reports[0], BedId("B1"), "Bed 1")])
            clock.advance(1)
    rows = list(csv.DictReader(io.StringIO(exported(path, "csv"))))
    assert list(rows[0])[:4] == ["bed", "bed_label", "patient_id", "patient_name"]
    assert [(r["message_id"], r["patient_id"], r["patient_name"]) for r in rows] == [
        (f"p{n}", patient, name)
        for n, patient, name in [
            (0, "P1", "DOE, JANE"),
            (1, "P1", "DOE, JANE"),
            (2, "P2", "ROE, JOHN"),
            (3, "P3", ""),
        ]
        for _ in range(2)  # HR and SpO2
    ]
    lines = [json.loads(line) for line in exported(path, "jsonl").splitlines()]
    assert [(line["patient_id"], line["patient_name"]) for line in lines] == [
        (r["patient_id"], r["patient_name"]) for r in rows
    ]


async def test_export_selects_by_bed_and_time(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with_samples(path, ManualClock())
    since = START + round(0.75 * NS_PER_S) + 3 * round(1.5 * NS_PER_S)  # from g3 on
    rows = list(
        csv.DictReader(
            io.StringIO(exported(path, "csv", Selection(BedId("ICU^2^1"), since_ns=since)))
        )
    )
    assert {r["bed"] for r in rows} == {"ICU^2^1"}
    assert sorted({r["message_id"] for r in rows}, key=lambda m: int(m[1:])) == [
        f"g{n}" for n in range(4, 30, 3)
    ]


def hl7apy_verdict(message: str) -> str:
    """'valid', or hl7apy's first objection. An ORU^R40 is checked against the ORU_R01
    structure it shares (hl7apy knows no R40; as ``icu-gateway validate`` does)."""
    text = message.replace("|ORU^R40^ORU_R40|", "|ORU^R01^ORU_R01|", 1)
    try:
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        parsed.validate()  # raises on any conformance problem
    except HL7apyException as exc:
        return str(exc)
    return "valid"


async def test_the_hl7_batch_is_valid_hl7_to_hl7apy(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await journal_with_samples(path, ManualClock())
    batch = exported(path, "hl7")
    lines = batch.split("\r")
    assert lines[0].startswith("FHS|^~\\&|ICU-GATEWAY")
    assert lines[1].startswith("BHS|^~\\&|ICU-GATEWAY")
    messages = split_batch(batch)
    assert lines[-3:] == [f"BTS|{len(messages)}", "FTS|1", ""]
    kinds = Counter(message.split("|")[8] for message in messages)
    # One R01 per report with values (two gateway samples carry two patients each); one
    # R40 per report with device alarms (Philips text alarms stay in their R01).
    assert kinds == {"ORU^R01^ORU_R01": 33 + 9, "ORU^R40^ORU_R40": 5}
    verdicts = {message.split("|")[9]: hl7apy_verdict(message) for message in messages}
    # A device that sent no patient identifier: PID-3 is required, and never made up.
    assert {cid for cid, verdict in verdicts.items() if verdict != "valid"} == {"374", "CTS-1"}
    assert verdicts["374"] == verdicts["CTS-1"] == "Missing required child PID_3.CX_1"


async def test_a_report_without_its_original_pid_still_exports_valid_hl7(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    message, reports = received(oru("np1"), clock)
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        bare = message.__class__(b"", "mllp", message.peer, message.receive_time_ns, "np1")
        await journal.record(bare, [RoutedReport(reports[0], BedId("B"), "")])
    (hl7,) = split_batch(exported(tmp_path / "j.sqlite", "hl7"))
    assert "\rPID|||P1^^^^MR||^^^^^^U\r" in hl7
    parse_message(hl7, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()


def waveforms(path: Path) -> dict[tuple[object, ...], list[np.ndarray]]:
    """Every waveform chunk by what it is, where and when (samples apart, in order)."""
    found: dict[tuple[object, ...], list[np.ndarray]] = {}
    with JournalReader(path) as reader:
        for stored in reader.reports():
            for chunk in stored.routed.report.waveforms:
                key = (
                    stored.routed.bed,
                    chunk.device.key,
                    chunk.code,
                    chunk.source_code,
                    chunk.sub_id,
                    chunk.label,
                    chunk.unit,
                    chunk.sample_rate_hz,
                    chunk.start_time_ns // 100_000,  # HL7 times carry 0.1 ms
                )
                found.setdefault(key, []).append(chunk.samples)
    return found


def alarms(path: Path) -> Counter[tuple[object, ...]]:
    """Every device alarm with all it says (but the gateway's receive time)."""
    with JournalReader(path) as reader:
        return Counter(
            (
                stored.routed.bed,
                alarm.device.key,
                alarm.code,
                alarm.source_code,
                alarm.text,
                alarm.priority,
                alarm.kind,
                alarm.phase,
                alarm.state,
                alarm.inactivation,
                alarm.source,
                alarm.alarm_id,
                alarm.parameter_code,
                alarm.parameter_label,
                alarm.value,
                alarm.unit,
                alarm.limits,
                alarm.sub_id,
                alarm.time_ns // 100_000,
            )
            for stored in reader.reports()
            for alarm in stored.routed.report.alarms
        )


async def reingest(batch: str, path: Path) -> None:
    """Send every message of a batch to a fresh gateway over MLLP, days later."""
    clock = ManualClock(START + 48 * HOUR)
    async with running_gateway(path, clock=clock) as gateway:
        monitor = await gateway.monitor()
        for message in split_batch(batch):
            assert (await monitor.send(message.encode()))[0] == "CA"
            clock.advance(0.001)
        await monitor.close()


async def test_an_exported_batch_reingested_gives_the_same_record(tmp_path: Path) -> None:
    original, copy = tmp_path / "original.sqlite", tmp_path / "copy.sqlite"
    await journal_with_samples(original, ManualClock())
    await reingest(exported(original, "hl7"), copy)
    assert observation_keys(copy) == observation_keys(original)
    assert sum(observation_keys(copy).values()) > 80
    waves, waves_back = waveforms(original), waveforms(copy)
    assert waves_back.keys() == waves.keys()
    assert sum(len(chunks) for chunks in waves.values()) == 7
    for key, chunks in waves.items():
        for sent, back in zip(chunks, waves_back[key], strict=True):
            np.testing.assert_array_equal(back, sent, err_msg=str(key))  # NaN gaps too
    assert alarms(copy) == alarms(original)
    assert sum(alarms(original).values()) == 9


async def test_any_float32_sample_goes_through_the_batch_exactly(tmp_path: Path) -> None:
    """Stored samples that no device would send as text (noise, tiny and huge values,
    gaps): written without an exponent, read back bit for bit."""
    rng = np.random.default_rng(7)
    samples = rng.normal(0, 1, 500).astype(np.float32)
    samples[::7] *= np.float32(1e-7)
    samples[3::11] *= np.float32(1e8)
    samples[5::13] = np.nan
    text = samples_text(samples)
    assert "e" not in text and "nan" not in text
    assert text.split("^")[5] == ""
    clock = ManualClock()
    message, reports = received(oru("w1"), clock)
    chunk = WaveformChunk(
        reports[0].device, 131330, "ECG II", 250.0, clock.now_ns(), samples, "mV",
        sub_id="1.1.1.1",
    )  # fmt: skip
    report = dataclasses.replace(reports[0], waveforms=(chunk,))
    original, copy = tmp_path / "original.sqlite", tmp_path / "copy.sqlite"
    async with Journal(original, clock=clock) as journal:
        await journal.record(message, [RoutedReport(report, BedId("ICU^1^1"), "")])
    await reingest(exported(original, "hl7"), copy)
    ((_, [back]),) = waveforms(copy).items()
    assert back.tobytes() == samples.tobytes()


async def test_the_flowsheet_has_a_column_per_hour_and_the_value_at_the_hour(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock(START - START % HOUR)  # on the hour
    async with Journal(path, clock=clock) as journal:
        for minute in range(150):  # 2 h 30: three hourly columns
            hr = (60 if minute < 60 else 90) + minute % 5
            when = dt.datetime.fromtimestamp(clock.now_ns() // NS_PER_S, dt.UTC)
            raw = oru(f"f{minute}", hr=hr, when=when.strftime("%Y%m%d%H%M%S+0000"))
            message, reports = received(raw, clock)
            await journal.record(message, [RoutedReport(reports[0], BedId("ICU^1^1"), "Bed 1")])
            clock.advance(60)
    page = exported(path, "flowsheet")
    assert page.startswith("<!DOCTYPE html>")
    assert "Vitals flowsheet — Bed 1" in page
    assert "Patient <b>DOE, JOHN</b> · ID <b>P1</b>" in page  # PID-5 and PID-3
    assert page.count("<th data-hour=") == 3
    rows = page.split("<tr")
    hr_row = next(r for r in rows if "<td class='param'>HR (/min)" in r)
    assert hr_row.count("<td class='value'>") == 3
    # The value at the hour (the reading at :00, never a mean), the hour's range below.
    assert re.findall(r"<td class='value'>(\d+)<span class='range'>([^<]*)</span>", hr_row) == [
        ("60", "60–64"),
        ("90", "90–94"),
        ("90", "90–94"),
    ]
    assert any("<td class='param'>SpO2 (%)" in r for r in rows)
    assert any("<td class='param'>Alarms" in r for r in rows)


def test_times_are_iso_8601_or_relative() -> None:
    now = 1_700_000_000 * NS_PER_S
    assert parse_when("-2h", now) == now - 2 * HOUR
    assert parse_when("-30m", now) == now - 30 * 60 * NS_PER_S
    assert parse_when("-1d", now) == now - 24 * HOUR
    assert parse_when("now", now) == now
    assert parse_when("2023-11-14T22:13:20Z", now) == now
    assert parse_when("2023-11-14T23:13:20.5+01:00", now) == now + NS_PER_S // 2
    local = dt.datetime(2023, 11, 14, 8, 0).astimezone()
    assert parse_when("2023-11-14T08:00", now) == round(local.timestamp()) * NS_PER_S
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_when("yesterday", now)


def test_the_export_command_writes_a_file_or_stdout(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    asyncio.run(journal_with_samples(path, ManualClock()))
    command = [sys.executable, "-m", "gateway.app.cli", "export", "--journal", str(path)]
    to_stdout = subprocess.run(
        [*command, "--format", "jsonl", "--bed", "ICU^3^1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert to_stdout.returncode == 0, to_stdout.stderr
    assert {json.loads(line)["bed"] for line in to_stdout.stdout.splitlines()} == {"ICU^3^1"}
    assert "exported 20 observations" in to_stdout.stderr
    out = tmp_path / "sheet.html"
    to_file = subprocess.run(
        [*command, "--format", "flowsheet", "--out", str(out), "--since", "2023-11-14T00:00Z"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert to_file.returncode == 0, to_file.stderr
    assert to_file.stdout == ""
    assert "Vitals flowsheet" in out.read_text()
    with JournalReader(path) as reader:
        pages = {
            (s.routed.bed, s.routed.report.patient_id, s.routed.report.patient_name)
            for s in reader.reports()
            if s.routed.bed is not None
        }
    assert f"exported {len(pages)} flowsheet pages" in to_file.stderr  # a page per bed-patient
    bad = subprocess.run(
        [*command, "--format", "csv", "--since", "last week"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "--since: 'last week' is not a time" in bad.stderr
    unknown_out = tmp_path / "unknown.csv"
    unknown = subprocess.run(
        [*command, "--format", "csv", "--bed", "ICU^9^1", "--out", str(unknown_out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    # An unknown bed is an error naming the beds there are, never an empty file (issue 19).
    assert unknown.returncode == 2
    assert "no bed 'ICU^9^1' in the journal; its beds: " in unknown.stderr
    assert all(bed in unknown.stderr for bed in ("ICU^1^1", "ICU^2^1", "ICU^3^1"))
    assert not unknown_out.exists()
    assert unknown.stdout == ""
    missing = subprocess.run(
        [sys.executable, "-m", "gateway.app.cli", "export",
         "--journal", str(tmp_path / "no.sqlite"), "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "no journal at" in missing.stderr

"""A journal written by schema 2 (before the folded parts) still opens and reads: read-only
as it is, and upgraded in place by a writer, its old rows beside the new ones. The fixture
was written by the schema 2 code (tests/fixtures/journal/make_schema2.py)."""

from __future__ import annotations

import dataclasses
import shutil
import sqlite3
from pathlib import Path

import numpy as np
from journal_support import oru, received, schema2_messages, view

from gateway.clock import ManualClock
from gateway.domain import BedId, WaveformChunk
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport

FIXTURE = Path(__file__).parents[2] / "fixtures" / "journal" / "schema2.sqlite"


def _copy(tmp_path: Path) -> Path:
    path = tmp_path / "old.sqlite"
    shutil.copyfile(FIXTURE, path)
    return path


def _expected_reports() -> list[RoutedReport]:
    """What the fixture's reports read back as: as decoded then, so without the patient's
    name (PID-5), which the journal keeps since issue 19 — an old row reads as no name."""
    return [
        dataclasses.replace(routed, report=dataclasses.replace(routed.report, patient_name=""))
        for _, reports in schema2_messages()
        for routed in reports
    ]


def _plain(routed: list[RoutedReport]) -> list[tuple[object, ...]]:
    """Reports comparable with ==: their waves' samples as bytes (bit for bit)."""
    return [
        (
            dataclasses.replace(r, report=dataclasses.replace(r.report, waveforms=())),
            [
                (
                    *(c.device, c.code, c.label, c.unit, c.sample_rate_hz, c.start_time_ns),
                    *(c.sub_id, c.source_code, c.message_id or r.report.message_id),
                    c.samples.tobytes(),
                )
                for c in r.report.waveforms
            ],
        )
        for r in routed
    ]


def _version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def test_a_schema_2_journal_reads_as_written(tmp_path: Path) -> None:
    path = _copy(tmp_path)
    assert _version(path) == 2
    with JournalReader(path) as reader:
        stored = [s.routed for s in reader.reports()]
        messages = list(reader.messages())
        of_bed_2 = [s.routed for s in reader.reports(bed=BedId("B2"))]
        values = [s.routed for s in reader.reports(values_only=True)]
        hourly = reader.hourly(BedId("B1"))
    expected = _expected_reports()
    assert _plain(stored) == _plain(expected)
    assert _plain(of_bed_2) == _plain([r for r in expected if r.bed == BedId("B2")])
    assert [v.report.observations for v in values] == [r.report.observations for r in expected]
    assert [m.raw for m in messages] == [m.raw for m, _ in schema2_messages()] + [b"MSH|garbage"]
    assert sum(h.count for h in hourly) == 6 * 2  # 6 messages of B1, HR and SpO2 each
    assert _version(path) == 2  # a reader never rewrites


async def test_a_writer_upgrades_a_schema_2_journal_and_both_layouts_read(
    tmp_path: Path,
) -> None:
    path = _copy(tmp_path)
    clock = ManualClock(1_700_000_000 * 1_000_000_000 + 200 * 1_000_000_000)
    new = []
    for n in range(6):
        message, reports = received(oru(f"s3-{n}", bed=2, hr=90 + n), clock)
        report = reports[0]
        wave = np.linspace(-1, 1, 125).round(3).astype(np.float32)
        chunk = WaveformChunk(report.device, 131330, "ECG", 250.0, clock.now_ns(), wave)
        report = dataclasses.replace(report, waveforms=(chunk,))
        new.append((message, RoutedReport(report, BedId("B2"), "Bed 2")))
        clock.advance(1)
    async with Journal(path, clock=clock) as journal:
        for message, routed in new:
            await journal.record(message, [routed])
        # a resend of an old message is recognised across the upgrade
        old_message, old_routed = schema2_messages()[-1]
        assert await journal.record(old_message, old_routed) is False
    assert _version(path) == 4
    with JournalReader(path) as reader:
        stored = [s.routed for s in reader.reports()]
        raws = [m.raw for m in reader.messages()]
        beds = reader.beds()
        of_bed_2 = [s.routed for s in reader.reports(bed=BedId("B2"))]
    expected = _expected_reports() + [r for _, r in new]
    assert {r.report.patient_name for _, r in new} == {"DOE, JOHN"}  # new rows keep the name
    assert _plain(stored) == _plain(expected)
    assert raws == [m.raw for m, _ in schema2_messages()] + [b"MSH|garbage"] + [
        m.raw for m, _ in new
    ]
    assert [b for b, _ in beds] == [BedId("B1"), BedId("B2")]
    assert _plain(of_bed_2) == _plain([r for r in expected if r.bed == BedId("B2")])
    for routed in of_bed_2[-6:]:
        (chunk,) = routed.report.waveforms
        assert chunk.samples.tobytes() == np.linspace(-1, 1, 125).round(3).astype("<f4").tobytes()


SCHEMA3 = FIXTURE.with_name("schema3.sqlite")


async def test_a_schema_3_journal_is_upgraded_in_place_and_packed_reading_the_same(
    tmp_path: Path,
) -> None:
    """Its bundles on their commits' first messages (tests/fixtures/journal/make_schema3.py):
    read as they are, then upgraded by a writer, packed when it closes — the rows that held
    a bundle lose it — and read back bit for bit, beside a message written after."""
    path = tmp_path / "old.sqlite"
    shutil.copyfile(SCHEMA3, path)
    messages, reports = view(path)  # read as written, not upgraded
    assert _version(path) == 3 and len(messages) == 34
    clock = ManualClock(1_700_000_000 * 1_000_000_000 + 100 * 1_000_000_000)
    message, decoded = received(oru("after", bed=2, hr=99), clock)
    async with Journal(path, clock=clock) as journal:
        await journal.record(message, [RoutedReport(decoded[0], BedId("B2"), "")])
    assert _version(path) == 4
    with sqlite3.connect(path) as conn:
        ((inline, packed, rows),) = conn.execute(
            "SELECT count(bundle), sum(bundle_row < 0), count(*) FROM messages"
        )
    assert (inline, packed, rows) == (0, 35, 35)  # every message packed, no bundle left inline
    after_messages, after_reports = view(path)
    assert after_messages[:-1] == messages and "b'MSH|^~\\\\&|MON^" in after_messages[-1]
    assert after_reports[:-1] == reports and len(after_reports) == len(reports) + 1

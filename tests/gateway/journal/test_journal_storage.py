"""How the journal lays out what it stores, and that every way back to it finds it all: a
row per message, a bed index written in bulk (and rebuilt after a crash), the WAL copied
into the file by a thread of its own. Real SQLite files; the real parser where it helps."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest
from journal_support import EUI, oru, received
from samples import load_sample
from waiting import eventually

from gateway.clock import ManualClock
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.errors import JournalError
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport
from gateway.journal.schema import BED_INDEX_LAG

DEVICE = DeviceId(f"EUI-64:{EUI}", "MON")


def comparable(routed: RoutedReport) -> tuple[object, ...]:
    """Every field of a routed report (waveform chunks compare by identity: by value here)."""
    waves = tuple(
        (*(getattr(w, f.name) for f in dataclasses.fields(w) if f.name != "samples"),
         w.samples.dtype, w.samples.tolist())
        for w in routed.report.waveforms
    )  # fmt: skip
    return routed.bed, routed.bed_label, dataclasses.replace(routed.report, waveforms=()), waves


async def record_many(journal: Journal, clock: ManualClock, count: int, beds: int) -> None:
    """``count`` ORUs, message n from bed n % beds (label "Bed <n % beds> v<n>"), sent 64
    at a time as concurrent monitors would."""
    for start in range(0, count, 64):
        pending = []
        for n in range(start, min(count, start + 64)):
            message, reports = received(oru(f"m{n}", bed=n % beds, hr=60 + n % 40), clock)
            routed = [RoutedReport(reports[0], BedId(f"B{n % beds}"), f"Bed {n % beds} v{n}")]
            pending.append(journal.record(message, routed))
        assert all(await asyncio.gather(*pending))
        clock.advance(1)


def indexed_through(path: Path) -> int:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as conn:
        return int(conn.execute("SELECT value FROM journal_state").fetchone()[0])


def expected_ids(count: int, beds: int, bed: int) -> list[str]:
    return [f"m{n}" for n in range(count) if n % beds == bed]


async def test_a_bed_is_found_through_its_index_and_through_its_newest_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    count = 2 * BED_INDEX_LAG + 300
    async with Journal(path, clock=clock) as journal:
        await record_many(journal, clock, count, beds=3)
        # While it runs, the index covers the older messages only: both halves are read.
        assert BED_INDEX_LAG <= indexed_through(path) < count
        with JournalReader(path) as reader:
            found = [s.routed.report.message_id for s in reader.reports(bed=BedId("B1"))]
            beds = reader.beds()
        assert found == expected_ids(count, 3, 1)
        last = [count - 1 - (count - 1 - b) % 3 for b in (0, 1, 2)]  # each bed's last message
        assert beds == [(BedId(f"B{b}"), f"Bed {b} v{last[b]}") for b in (0, 1, 2)]
    assert indexed_through(path) == count  # closed cleanly: everything indexed
    with JournalReader(path) as reader:
        assert [s.routed.report.message_id for s in reader.reports(bed=BedId("B2"))] == (
            expected_ids(count, 3, 2)
        )
        summaries = reader.hourly(BedId("B0"))
    heart_rates = [h for h in summaries if h.code == 147842]
    assert sum(h.count for h in heart_rates) == len(expected_ids(count, 3, 0))


async def test_the_bed_index_lost_in_a_crash_is_rebuilt_when_the_journal_opens(
    tmp_path: Path,
) -> None:
    path, crashed = tmp_path / "j.sqlite", tmp_path / "crashed.sqlite"
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        await record_many(journal, clock, 100, beds=2)
        # The file as a power cut would leave it: 100 messages committed, none indexed.
        with sqlite3.connect(path) as source, sqlite3.connect(crashed) as copy:
            source.backup(copy)
    assert indexed_through(crashed) == 0
    async with Journal(crashed, clock=clock) as journal:
        message, reports = received(oru("after", bed=1), clock)
        assert await journal.record(message, [RoutedReport(reports[0], BedId("B1"), "")])
    assert indexed_through(crashed) == 101
    with JournalReader(crashed) as reader:
        found = [s.routed.report.message_id for s in reader.reports(bed=BedId("B1"))]
        assert [m.row for m in reader.messages()] == list(range(1, 102))
    assert found == [*expected_ids(100, 2, 1), "after"]


async def test_retention_takes_the_bed_index_and_gone_beds_with_the_messages(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    count = BED_INDEX_LAG + 200
    async with Journal(path, clock=clock) as journal:
        await record_many(journal, clock, count, beds=4)
        message, reports = received(oru("late", bed=9), clock)
        clock.advance(3600)
        late = ReceivedMessage(message.raw, "mllp", message.peer, clock.now_ns(), "late", None)
        assert await journal.record(late, [RoutedReport(reports[0], BedId("B9"), "Bed 9")])
        assert await journal.prune_before(clock.now_ns() - 1800 * 10**9) == count
    with JournalReader(path) as reader:
        assert reader.beds() == [(BedId("B9"), "Bed 9")]
        assert list(reader.reports(bed=BedId("B1"))) == []
        assert [s.routed.report.message_id for s in reader.reports()] == ["late"]
        assert reader.hourly(BedId("B1")) == []
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT bed, message_id FROM bed_messages").fetchall() == [
            ("B9", count + 1)
        ]


async def test_several_patients_in_one_message_come_back_each_with_its_own_data(
    tmp_path: Path,
) -> None:
    """A gateway's message for two beds: each report keeps its waveforms (their samples
    share one blob), its alarms and its bed; a bed's query takes only its own."""
    first = np.arange(250, dtype=np.float32) / 7
    second = -np.arange(125, dtype=np.float32)
    third = np.linspace(0, 1, 62, dtype=np.float32)
    alarm = AlarmEvent(
        DEVICE,
        196648,
        "SpO2 low",
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "start",
        "active",
        "enabled",
        AlarmSource.DEVICE,
        2_000,
        value="84",
        message_id="g1",
    )

    def report(bed: int, *chunks: np.ndarray, alarms: tuple[AlarmEvent, ...] = ()) -> RoutedReport:
        waves = tuple(
            WaveformChunk(DEVICE, 131330 + n, f"W{n}", 250.0 / (n + 1), 1_000 + n, c, "mV", "g1")
            for n, c in enumerate(chunks)
        )
        location = Location(f"ICU^{bed}^1", "ICU", str(bed), "1", "")
        heart_rate = Observation(
            DEVICE, 147842, "HR", 60.0 + bed, "/min", ObservationStatus.VALID, 3_000,
            message_id="g1",
        )  # fmt: skip
        device_report = DeviceReport(
            DEVICE, "mllp", "p:1", 3_000, "g1", location, f"P{bed}", (heart_rate,), waves, alarms
        )
        return RoutedReport(device_report, BedId(f"B{bed}"), f"Bed {bed}")

    sent = [report(1, first), report(2, second, third, alarms=(alarm,))]
    async with Journal(tmp_path / "j.sqlite", clock=ManualClock()) as journal:
        message = ReceivedMessage(b"MSH|^~\\&|GW", "mllp", "p:1", 3_000, "g1", DEVICE)
        assert await journal.record(message, sent)
    with JournalReader(tmp_path / "j.sqlite") as reader:
        everything = list(reader.reports())
        (of_bed_2,) = reader.reports(bed=BedId("B2"))
    assert [(s.report_seq, s.routed.bed) for s in everything] == [
        (0, BedId("B1")),
        (1, BedId("B2")),
    ]
    assert [comparable(s.routed) for s in everything] == [comparable(r) for r in sent]
    assert [w.samples.tolist() for w in of_bed_2.routed.report.waveforms] == [
        second.tolist(),
        third.tolist(),
    ]
    assert of_bed_2.routed.report.alarms == (alarm,)
    assert of_bed_2.routed.report.location == Location("ICU^2^1", "ICU", "2", "1", "")
    # Values only (the trend back-fill): the same reports without their waves and alarms.
    with JournalReader(tmp_path / "j.sqlite") as reader:
        values = list(reader.reports(values_only=True))
    assert [dataclasses.replace(s.routed.report, waveforms=(), alarms=()) for s in everything] == [
        s.routed.report for s in values
    ]


async def test_values_come_back_exactly_as_they_went_in(tmp_path: Path) -> None:
    def observation(  # noqa: PLR0917
        code: int,
        value: float | str,
        status: ObservationStatus = ObservationStatus.VALID,
        device_time_ns: int | None = None,
        sub_id: str = "",
        source_code: str | None = None,
    ) -> Observation:
        return Observation(
            DEVICE, code, "T° skin", value, "°C", status, 5, device_time_ns, sub_id, source_code
        )

    sent = (
        observation(1, 36.6, device_time_ns=4, sub_id="1.2", source_code="LOCAL^x"),
        observation(2, "ASYSTOLE", ObservationStatus.INVALID),
        observation(3, 1e300, ObservationStatus.QUESTIONABLE, device_time_ns=-(10**18)),
        observation(4, "odd \udcff byte and \x1f unit separator"),
        observation(5, math.nan),
    )
    report = DeviceReport(DEVICE, "serial", "/dev/ttyUSB0", 5, "", None, "", sent)
    long_raw = load_sample("01")
    async with Journal(tmp_path / "j.sqlite", clock=ManualClock()) as journal:
        for raw in (b"short", long_raw):
            message = ReceivedMessage(raw, "serial", "/dev/ttyUSB0", 5, "", DEVICE)
            assert await journal.record(message, [RoutedReport(report, None, "unassigned")])
    with JournalReader(tmp_path / "j.sqlite") as reader:
        assert [m.raw for m in reader.messages()] == [b"short", long_raw]
        stored = [s.routed for s in reader.reports()]
    assert [(s.bed, s.bed_label) for s in stored] == [(None, "unassigned")] * 2
    got = stored[0].report.observations
    assert got[:3] == sent[:3]
    # Text is stored as valid UTF-8: a lone surrogate comes back as U+FFFD, the rest exact.
    assert got[3] == dataclasses.replace(sent[3], value="odd \ufffd byte and \x1f unit separator")
    assert math.isnan(got[4].value)  # type: ignore[arg-type]


async def test_a_journal_of_an_older_layout_is_refused_with_a_clear_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY)")
        conn.execute("PRAGMA user_version=1")
    with pytest.raises(JournalError, match=r"older icu-gateway .*schema 1\).* reads schema 2"):
        JournalReader(path)
    journal = Journal(path)
    with pytest.raises(JournalError, match="journal schema 1, this gateway writes 4"):
        await journal.start()
    await journal.close()
    with sqlite3.connect(path) as conn:  # refused, not rewritten
        assert conn.execute("PRAGMA user_version").fetchone() == (1,)


async def test_the_wal_is_copied_into_the_database_file_while_the_journal_runs(
    tmp_path: Path,
) -> None:
    """By the checkpointer, not the writer: the writer's own threshold is far away."""
    path, snapshot = tmp_path / "j.sqlite", tmp_path / "main-file-only.sqlite"
    clock = ManualClock()

    def messages_in_main_file() -> int:
        shutil.copyfile(path, snapshot)  # the database file alone, without its WAL
        try:
            with sqlite3.connect(snapshot) as conn:
                found = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'messages'")
                if found.fetchone() != (1,):
                    return 0
                return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
        except sqlite3.DatabaseError:  # copied while a checkpoint was writing it: look again
            return -1
        finally:
            snapshot.unlink(missing_ok=True)

    async with Journal(path, clock=clock, checkpoint_interval_s=0.01) as journal:
        await record_many(journal, clock, 200, beds=2)
        await eventually(lambda: messages_in_main_file() == 200, "a checkpoint")
        assert (tmp_path / "j.sqlite-wal").exists()  # still open: the WAL is in use


async def test_messages_committed_together_share_a_bundle_that_retention_never_cuts(
    tmp_path: Path,
) -> None:
    """Their bytes are compressed as one bundle named by the first of them; pruning up to
    the middle of a bundle keeps it for the messages that stay."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    sent = []
    for n in range(50):
        message, reports = received(oru(f"b{n}", bed=n % 3, hr=50 + n), clock)
        report = reports[0]
        if n % 10 == 7:  # some with samples, which follow the raw bytes in the bundle
            wave = np.full(25 + n, n, dtype=np.float32)
            chunk = WaveformChunk(report.device, 131330, "ECG", 250.0, clock.now_ns(), wave)
            report = dataclasses.replace(report, waveforms=(chunk,))
        sent.append((message, RoutedReport(report, BedId(f"B{n % 3}"), "")))
        clock.advance(1)
    async with Journal(path, clock=clock) as journal:
        # Sent at once: the writer takes what waits as one batch, one statement, one
        # bundle (how the 50 split into batches depends on when the writer wakes).
        await asyncio.gather(*(journal.record(m, [r]) for m, r in sent))
        groups = bundles(path)
        assert sorted(i for ids in groups.values() for i in ids) == list(range(1, 51))
        for holder, ids in groups.items():  # consecutive messages, kept on the first
            assert ids == list(range(holder, holder + len(ids)))
        shared = max(groups.values(), key=len)
        assert len(shared) >= 10, groups  # 50 sent in a burst are not 50 commits
        with sqlite3.connect(path) as conn:
            (compressed,) = conn.execute("SELECT sum(length(data)) FROM bundles").fetchone()
            (raw_total,) = conn.execute("SELECT sum(raw_size) FROM messages").fetchone()
        assert compressed < raw_total / 4  # alike messages compress well together
        # Retention up to the middle of the biggest bundle: its first messages go, the
        # bundle stays for the others.
        cut = shared[len(shared) // 2]  # the first message id to keep
        assert await journal.prune(sent[cut - 1][0].receive_time_ns) == cut - 1
        assert bundles(path)[shared[0]] == list(range(cut, shared[-1] + 1))
    # Closed: packed (one device's messages in a pack of their own), read the same.
    assert all(holder < 0 for holder in bundles(path))
    with JournalReader(path) as reader:
        assert [m.raw for m in reader.messages()] == [m.raw for m, _ in sent[cut - 1 :]]
        assert reader.raw(cut + 1) == sent[cut][0].raw
        kept = {s.routed.report.message_id: s.routed.report for s in reader.reports()}
    assert sorted(kept) == sorted(f"b{n}" for n in range(cut - 1, 50))
    for n in (n for n in range(cut - 1, 50) if n % 10 == 7):
        (chunk,) = kept[f"b{n}"].waveforms
        assert chunk.samples.tolist() == [float(n)] * (25 + n)


def bundles(path: Path) -> dict[int, list[int]]:
    """Message ids by the message that holds their bundle."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT id, bundle_row FROM messages ORDER BY id").fetchall()
    groups: dict[int, list[int]] = {}
    for row, holder in rows:
        groups.setdefault(holder, []).append(row)
    return groups


async def test_a_message_that_cannot_be_stored_is_refused_alone_never_its_batch(
    tmp_path: Path,
) -> None:
    """A value of a type no journal column takes (an adapter's bug) costs that message its
    ACK, not the other monitors' messages committed with it; numpy's numbers are stored."""
    clock = ManualClock()

    def with_value(control_id: str, value: object) -> tuple[ReceivedMessage, RoutedReport]:
        message, reports = received(oru(control_id), clock)
        observation = dataclasses.replace(reports[0].observations[0], value=value)  # type: ignore[arg-type]
        report = dataclasses.replace(reports[0], observations=(observation,))
        return message, RoutedReport(report, BedId("B"), "")

    sent = [
        with_value("ok1", 71.0),
        with_value("bad", object()),  # not JSON: refused by the writer
        with_value("ok2", np.float32(2.5)),
        with_value("worse", threading.Lock()),  # cannot even be sent to the writer
    ]
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        outcomes = await asyncio.gather(
            *(journal.record(m, [r]) for m, r in sent), return_exceptions=True
        )
        assert outcomes[0] is True and outcomes[2] is True
        assert isinstance(outcomes[1], JournalError)
        assert "'bad'" in str(outcomes[1]) and "object" in str(outcomes[1])
        assert isinstance(outcomes[3], JournalError)
        assert "'worse'" in str(outcomes[3]) and "lock" in str(outcomes[3])
        assert journal.counters.failed_batches == 0
    with JournalReader(tmp_path / "j.sqlite") as reader:
        stored = {s.routed.report.message_id: s.routed.report for s in reader.reports()}
    assert sorted(stored) == ["ok1", "ok2"]
    assert stored["ok2"].observations[0].value == 2.5
    assert type(stored["ok2"].observations[0].value) is float


async def test_hourly_summaries_take_valid_numbers_by_measurement_hour(tmp_path: Path) -> None:
    hour = 3600 * 10**9
    start = 1_700_000_000 // 3600 * 3600 * 10**9  # on an hour
    clock = ManualClock(start)

    def reading(
        value: float | str, status: ObservationStatus, device_ns: int | None
    ) -> RoutedReport:
        observation = Observation(
            DEVICE, 147842, "HR", value, "/min", status, clock.now_ns(), device_ns
        )
        report = DeviceReport(DEVICE, "mllp", "p", clock.now_ns(), "h", observations=(observation,))
        return RoutedReport(report, BedId("B"), "Bed")

    readings: list[tuple[float | str, ObservationStatus, int | None]] = [
        (60.0, ObservationStatus.VALID, None),  # hour 0, by receive time
        (80.0, ObservationStatus.VALID, start + 10),  # hour 0, by device time
        (999.0, ObservationStatus.INVALID, None),  # not valid: left out
        ("ASYSTOLE", ObservationStatus.VALID, None),  # text: left out
        (70.0, ObservationStatus.VALID, start + hour + 5),  # measured in hour 1
    ]
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        for n, (value, status, device_ns) in enumerate(readings):
            message = ReceivedMessage(b"MSH|x", "mllp", "p", clock.now_ns(), f"h{n}", DEVICE)
            assert await journal.record(message, [reading(value, status, device_ns)])
            clock.advance(60)
    with JournalReader(tmp_path / "j.sqlite") as reader:
        summaries = reader.hourly(BedId("B"))
    assert [(s.hour_start_ns - start, s.count, s.mean, s.low, s.high) for s in summaries] == [
        (0, 2, 70.0, 60.0, 80.0),
        (hour, 1, 70.0, 70.0, 70.0),
    ]
    assert {(s.code, s.label, s.unit, s.sub_id, s.source_code) for s in summaries} == {
        (147842, "HR", "/min", "", None)
    }

"""Packing (``gateway/journal/packer.py``): a device's messages of many commits moved into
one pack keep every received byte and every decoded value, whenever it is interrupted and
whoever reads meanwhile; exports are the same byte for byte."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_support import oru, view
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.app.export import export
from gateway.clock import ManualClock
from gateway.domain import ReceivedMessage
from gateway.hub import Hub
from gateway.journal import packer
from gateway.journal.client import Journal
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.ward.routing import Router
from gateway.ward.state import WardState

SAMPLES = ("01", "02", "03", "04", "05", "06", "07", "12", "16", "17", "18", "19", "20", "21")
"""Reference samples: numerics, PCD-04 alarms, Philips text alarms, waveforms of every form."""


def ward_messages(seconds: int, beds: int = 3) -> list[tuple[bytes, int]]:
    """The simulator's mixed ward with waves (numerics, alarms, ECG, pleth, respiration,
    ABP), reference samples and numerics of other senders between them: (bytes, ns)."""
    from simulators.scenario import load_scenario
    from simulators.ward import SimulatedMonitor, build_monitors

    scenario = load_scenario("mixed-ward")
    monitors = [
        SimulatedMonitor(index, device, bed, model)
        for index, device, bed, model, _ in build_monitors(beds, 1, scenario)
    ]
    start = ManualClock().now_ns()
    out = []
    for second in range(seconds):
        now = start + second * 1_000_000_000
        for monitor in monitors:
            readout = monitor.tick(1.0, now)
            out += [(raw, now) for raw in monitor.hl7_messages(readout, now, waveforms=True)]
        if second < len(SAMPLES):
            out.append((load_sample(SAMPLES[second]), now))
        out.append((oru(f"n{second}", bed=7 + second % 2, hr=60 + second), now))
    return out


async def write(
    path: Path, messages: list[tuple[bytes, int]], *, copy_to: Path | None = None
) -> None:
    """Through the hub and the real writer process, a second's messages together; with
    ``copy_to``, a copy of the journal as it is before it is closed (nothing packed yet)."""
    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        by_time: dict[int, list[bytes]] = {}
        for raw, now in messages:
            by_time.setdefault(now, []).append(raw)
        for now, raws in by_time.items():
            submits = []
            for raw in raws:
                parsed = er7.parse(raw)
                reports = pcd.decode(parsed, transport="mllp", peer="p", receive_time_ns=now)
                device = reports[0].device if reports else None
                message = ReceivedMessage(raw, "mllp", "p", now, parsed.control_id, device)
                submits.append(hub.submit(message, reports))
            await asyncio.gather(*submits)
        garbage = ReceivedMessage(b"MSH|garbage\r\x00\xff", "mllp", "p", now, "x")
        await journal.record_rejected(garbage, "not HL7")
        if copy_to is not None:
            with sqlite3.connect(path) as source, sqlite3.connect(copy_to) as target:
                source.backup(target)


def exports(path: Path) -> dict[str, str]:
    """CSV, JSON lines and the HL7 batch (without its file and batch headers, which say
    when the export was made)."""
    found = {}
    for fmt in ("csv", "jsonl", "hl7"):
        out = io.StringIO()
        with JournalReader(path) as reader:
            export(reader, out, fmt, Selection())
        found[fmt] = re.sub(r"(?:^|(?<=\r))(FHS|BHS)\|[^\r]*\r", "", out.getvalue())
    assert "MSH|" in found["hl7"] and "FHS" not in found["hl7"]
    return found


def layouts(path: Path) -> dict[str, int]:
    """How many messages point at a commit's bundle, how many at a pack; bundles of each."""
    with sqlite3.connect(path) as conn:
        ((committed, packed),) = conn.execute(
            "SELECT sum(bundle_row > 0), sum(bundle_row < 0) FROM messages"
        )
        ((commits, packs),) = conn.execute("SELECT sum(id > 0), sum(id < 0) FROM bundles")
    return {
        "in commits": committed or 0,
        "in packs": packed or 0,
        "commit bundles": commits or 0,
        "packs": packs or 0,
    }


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A journal of a mixed ward as committed (nothing packed), and the same closed (packed
    by its writer when it was closed)."""
    folder = tmp_path_factory.mktemp("packing")
    closed, copy = folder / "closed.sqlite", folder / "unpacked.sqlite"
    asyncio.run(write(closed, ward_messages(40), copy_to=copy))
    return copy, closed


def test_packed_messages_read_back_bit_for_bit_and_export_the_same(
    unpacked: tuple[Path, Path],
) -> None:
    copy, closed = unpacked
    before, after = layouts(copy), layouts(closed)
    assert before["packs"] == 0 and before["in packs"] == 0  # as committed
    assert before["in commits"] > 400
    # Closed: every message in a pack, no commit's bundle left.
    assert after["in commits"] == after["commit bundles"] == 0
    assert after["in packs"] == before["in commits"]
    assert 0 < after["packs"] < after["in packs"] / 10  # a device's many messages each
    messages, reports = view(copy)
    assert len(messages) == before["in commits"] and len(reports) > 400
    assert view(closed) == (messages, reports)
    assert exports(closed) == exports(copy)
    # Smaller on disk: the bundles' bytes (what a pack saves before SQLite's pages).
    with sqlite3.connect(copy) as a, sqlite3.connect(closed) as b:
        query = "SELECT sum(length(data)) FROM bundles"
        assert b.execute(query).fetchone()[0] < 0.6 * a.execute(query).fetchone()[0]


def _stop_after(instructions: int) -> Callable[[], bool]:
    """A progress handler that interrupts the statement running after so many calls."""
    calls = iter(range(instructions))
    return lambda: next(calls, None) is None


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    window=st.integers(16, 400),
    pack_messages=st.integers(4, 80),
    pack_bytes=st.sampled_from([1, 2_000, 50_000, 1 << 20]),
    interrupt_after=st.integers(50, 20_000),
    interrupt_step=st.integers(0, 40),
)
def test_packing_step_by_step_or_interrupted_loses_nothing(  # noqa: PLR0917 - hypothesis
    unpacked: tuple[Path, Path],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    window: int,
    pack_messages: int,
    pack_bytes: int,
    interrupt_after: int,
    interrupt_step: int,
) -> None:
    """Every state a step commits is what a crash would leave: each one reads back as the
    journal did before packing; a step interrupted inside its transaction (SQLite's
    progress handler stops it, as a killed process would) rolls back to the last one."""
    copy, _ = unpacked
    path = tmp_path_factory.mktemp("step") / "j.sqlite"
    path.write_bytes(copy.read_bytes())
    expected = view(copy)
    monkeypatch.setattr(packer, "WINDOW", window)
    monkeypatch.setattr(packer, "PACK_MESSAGES", pack_messages)
    monkeypatch.setattr(packer, "PACK_BYTES", pack_bytes)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        (last,) = conn.execute("SELECT max(id) FROM messages").fetchone()
        packing = packer.Packer()
        steps = 0
        while packing.pending(last, final=True):
            if steps == interrupt_step:
                conn.set_progress_handler(_stop_after(interrupt_after), 1)
            try:
                packing.step(conn, last, final=True)
            except sqlite3.OperationalError as exc:  # "interrupted"
                assert "interrupt" in str(exc)
                conn.set_progress_handler(None, 1)
                if conn.in_transaction:
                    conn.execute("ROLLBACK")  # what the writer does; a crash does the same
            conn.set_progress_handler(None, 1)
            steps += 1
            if steps % 100 == 0 or steps == interrupt_step + 1:
                assert view(path) == expected  # a reader, at this committed state
            assert steps < 10_000
        (through,) = conn.execute(
            "SELECT value FROM journal_state WHERE name = 'packed_through'"
        ).fetchone()
    finally:
        conn.close()
    assert through == last
    found = layouts(path)
    assert found["in commits"] == found["commit bundles"] == 0
    assert view(path) == expected


def test_a_reader_while_the_writer_packs_sees_every_message(
    unpacked: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection reading over and over (in WAL mode, as export or a rebuild does)
    while the packing goes on always finds the whole journal, never half a pack."""
    copy, _ = unpacked
    path = tmp_path / "j.sqlite"
    path.write_bytes(copy.read_bytes())
    expected = view(copy)
    monkeypatch.setattr(packer, "WINDOW", 64)
    monkeypatch.setattr(packer, "PACK_MESSAGES", 8)
    done = threading.Event()
    seen: list[bool] = []

    def read_on() -> None:
        while not done.is_set():
            seen.append(view(path) == expected)

    reading = threading.Thread(target=read_on)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    reading.start()
    try:
        (last,) = conn.execute("SELECT max(id) FROM messages").fetchone()
        packing = packer.Packer()
        while packing.pending(last, final=True):
            packing.step(conn, last, final=True)
    finally:
        done.set()
        reading.join()
        conn.close()
    assert seen and all(seen)
    assert layouts(path)["in commits"] == 0
    assert view(path) == expected


async def test_retention_keeps_a_pack_until_its_last_message_goes(
    unpacked: tuple[Path, Path], tmp_path: Path
) -> None:
    _, closed = unpacked
    path = tmp_path / "j.sqlite"
    path.write_bytes(closed.read_bytes())
    with JournalReader(path) as reader:
        stored = list(reader.messages())
    cut = stored[len(stored) // 2]  # the first message to keep
    async with Journal(path) as journal:
        removed = 0
        while (step := await journal.prune(cut.receive_time_ns)) > 0:
            removed += step
    with JournalReader(path) as reader:
        left = list(reader.messages())
    kept = [m for m in stored if m.receive_time_ns >= cut.receive_time_ns]
    assert [m.raw for m in left] == [m.raw for m in kept]
    assert removed == len(stored) - len(left)
    with sqlite3.connect(path) as conn:
        (oldest,) = conn.execute("SELECT min(last_message) FROM bundles").fetchone()
        (first,) = conn.execute("SELECT min(id) FROM messages").fetchone()
    assert oldest >= first  # the packs of pruned messages alone are gone


def test_too_few_messages_for_a_window_are_not_looked_for_again_at_every_batch(
    unpacked: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids spanning a window but fewer messages (some deleted): one look, then none until
    as many messages as were missing have come; closing packs them all the same."""
    copy, _ = unpacked
    path = tmp_path / "j.sqlite"
    path.write_bytes(copy.read_bytes())
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        (last,) = conn.execute("SELECT max(id) FROM messages").fetchone()
        conn.execute("DELETE FROM messages WHERE id > 100 AND id <= 120")
        monkeypatch.setattr(packer, "WINDOW", last - 10)
        packing = packer.Packer()
        assert packing.pending(last)
        assert packing.step(conn, last) is False  # 20 missing: nothing to pack yet
        assert not packing.pending(last) and not packing.pending(last + 10)
        assert packing.pending(last, final=True)
        while packing.pending(last, final=True):
            assert packing.step(conn, last, final=True)
    finally:
        conn.close()
    assert layouts(path)["in commits"] == 0

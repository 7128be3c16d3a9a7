"""Storage failures: devices get a negative ACK (they keep their data and resend), the screen
says RECORDING FAILED while the ward stays live, and recording resumes by itself."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from environment import unavailable
from journal_support import oru, running_gateway

from gateway.clock import ManualClock
from gateway.domain import BedId
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from tui.widgets import header_line

HR = 147842


def stored_ids(path: Path) -> list[str]:
    with JournalReader(path) as reader:
        return [m.control_id for m in reader.messages()]


@pytest.fixture
def immutable() -> Iterator[list[Path]]:
    """Files made read-only even for root (chattr +i); always made writable again."""
    if shutil.which("chattr") is None:
        unavailable("chattr is not installed (Debian package e2fsprogs)")
    files: list[Path] = []
    yield files
    for path in files:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def chattr(flag: str, path: Path) -> None:
    result = subprocess.run(
        ["chattr", flag, str(path)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        unavailable(f"this filesystem cannot make a file immutable: {result.stderr.strip()}")


async def test_a_read_only_journal_naks_shows_recording_failed_and_recovers(
    tmp_path: Path, immutable: list[Path]
) -> None:
    path = tmp_path / "j.sqlite"
    async with Journal(path):
        pass  # an existing journal …
    immutable.append(path)
    chattr("+i", path)  # … made read-only (root included)
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(oru("ro1", hr=91)) == ("CE", "ro1")
        snapshot = gateway.hub.snapshot()
        assert snapshot.recording_failed is not None
        assert "read-only" in snapshot.recording_failed
        assert "RECORDING FAILED" in header_line("ICU", (), snapshot).plain
        # Not stored, but the screen is not blinded: the value is shown live.
        (bed,) = snapshot.beds
        assert bed.readings[HR].value == 91
        assert not bed.readings[HR].stale
        assert any("RECORDING FAILED" in f.text for f in snapshot.faults)

        chattr("-i", path)  # storage is back: the device's resend is stored and ACKed
        assert await monitor.send(oru("ro1", hr=91)) == ("CA", "ro1")
        assert await monitor.send(oru("ro2", hr=92)) == ("CA", "ro2")
        snapshot = gateway.hub.snapshot()
        assert snapshot.recording_failed is None
        assert "RECORDING FAILED" not in header_line("ICU", (), snapshot).plain
        assert "recording resumed" in snapshot.faults[-1].text
        await monitor.close()
    assert stored_ids(path) == ["ro1", "ro2"]


async def test_a_full_disk_naks_and_ingest_resumes_when_space_is_freed(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    # A journal allowed 96 kB stands in for a full disk: SQLite fails the write the same way.
    async with running_gateway(path, clock=clock, max_size_bytes=96 * 1024) as gateway:
        monitor = await gateway.monitor()
        acked: list[str] = []
        for n in range(2000):
            code, control_id = await monitor.send(oru(f"f{n}", hr=60 + n % 50, bed=n % 4))
            if code != "CA":
                break
            acked.append(control_id)
            clock.advance(1)
        assert (code, control_id) == ("CE", f"f{len(acked)}")
        assert len(acked) > 10
        failure = gateway.hub.snapshot().recording_failed
        assert failure is not None and "disk full" in failure
        # Still refused while full: nothing is ACKed that is not stored.
        assert (await monitor.send(oru("late", hr=70)))[0] == "CE"

        # Retention frees space (here: everything older than now), and ingest resumes.
        removed = await gateway.journal.prune_before(clock.now_ns())
        assert removed == len(acked)
        assert await monitor.send(oru("late", hr=70)) == ("CA", "late")
        assert gateway.hub.snapshot().recording_failed is None
        await monitor.close()
    assert stored_ids(path) == ["late"]


async def test_a_locked_database_naks_until_the_lock_is_released(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    async with running_gateway(path, busy_timeout_s=0.1) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(oru("k1")) == ("CA", "k1")
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        try:
            assert await monitor.send(oru("k2")) == ("CE", "k2")
            failure = gateway.hub.snapshot().recording_failed
            assert failure is not None and "locked" in failure
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await monitor.send(oru("k2")) == ("CA", "k2")
        assert gateway.hub.snapshot().recording_failed is None
        await monitor.close()
    assert stored_ids(path) == ["k1", "k2"]


async def test_a_journal_that_cannot_be_created_does_not_stop_the_ward(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the journal's folder should be")
    async with running_gateway(blocker / "j.sqlite") as gateway:
        assert gateway.hub.snapshot().recording_failed is not None
        monitor = await gateway.monitor()
        assert await monitor.send(oru("n1", hr=77)) == ("CE", "n1")
        (bed,) = gateway.hub.snapshot().beds
        assert bed.bed == BedId("ICU^1^1")
        assert bed.readings[HR].value == 77
        await monitor.close()

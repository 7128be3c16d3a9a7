"""The journal's writer is a process of its own: when it dies, what waited on it fails (the
devices get a negative ACK and resend), what it acknowledged is on disk, and the next job
starts a new writer that knows the resends. Real processes, real signals, real files."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest
from journal_support import oru, received
from waiting import eventually

import gateway.journal as journal_module
from gateway.clock import ManualClock
from gateway.domain import BedId
from gateway.errors import JournalError
from gateway.journal import Journal, JournalReader, RoutedReport


def routed_message(control_id: str, clock: ManualClock) -> tuple[object, list[RoutedReport]]:
    message, reports = received(oru(control_id), clock)
    return message, [RoutedReport(report, BedId("B1"), "Bed 1") for report in reports]


def wal_left(path: Path) -> bool:
    return Path(f"{path}-wal").exists()


def stored_ids(path: Path) -> list[str]:
    with JournalReader(path) as reader:
        return [m.control_id for m in reader.messages()]


async def test_a_writer_that_dies_fails_what_waits_and_the_next_job_starts_a_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, clock = tmp_path / "j.sqlite", ManualClock()
    async with Journal(path, clock=clock) as journal:
        assert await journal.record(*routed_message("m0", clock)) is True  # type: ignore[arg-type]
        killed = journal.writer_pid
        assert killed is not None
        sent = [f"m{n}" for n in range(1, 201)]
        pending = [journal.record(*routed_message(c, clock)) for c in sent]  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the frame goes out at the end of this turn …
        await asyncio.sleep(0)
        os.kill(killed, signal.SIGKILL)  # … and the writer dies with it in hand
        outcomes = await asyncio.gather(*pending, return_exceptions=True)
        for outcome in outcomes:
            assert outcome is True or (
                isinstance(outcome, JournalError) and "writer process ended" in str(outcome)
            ), outcome
        acked = [c for c, outcome in zip(sent, outcomes, strict=True) if outcome is True]
        failed = [c for c, outcome in zip(sent, outcomes, strict=True) if outcome is not True]
        assert failed, "the writer was killed before it answered everything"
        assert set(acked) <= set(stored_ids(path)), "acknowledged but not on disk"
        await eventually(lambda: journal.writer_pid is None, "the parent to see the writer end")
        assert journal.failure is not None and "writer process ended" in journal.failure

        # Not more often than once per RESPAWN_INTERVAL_S: a writer that dies at once must
        # not be started in a loop. Refused meanwhile, with why.
        monkeypatch.setattr(journal_module, "RESPAWN_INTERVAL_S", 3600.0)
        with pytest.raises(JournalError, match="writer process ended"):
            await journal.record(*routed_message("too-soon", clock))  # type: ignore[arg-type]

        monkeypatch.setattr(journal_module, "RESPAWN_INTERVAL_S", 0.0)
        # The devices resend what was not acknowledged: a new writer stores each once,
        # and knows the ones the dead writer had committed but not answered.
        resent = await asyncio.gather(
            *(journal.record(*routed_message(c, clock)) for c in failed)  # type: ignore[arg-type]
        )
        assert journal.writer_pid not in (None, killed)
        assert journal.failure is None
        assert all(outcome in (True, False) for outcome in resent)
    stored = stored_ids(path)
    assert sorted(stored) == sorted(["m0", *sent]), "lost or stored twice"


async def test_the_writer_ignores_ctrl_c_and_terminate(tmp_path: Path) -> None:
    """A Ctrl-C in the terminal, or a service manager's SIGTERM to the process group, reaches
    the writer too: the gateway decides when it stops, and stops it cleanly."""
    path, clock = tmp_path / "j.sqlite", ManualClock()
    async with Journal(path, clock=clock) as journal:
        pid = journal.writer_pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        assert await journal.record(*routed_message("after", clock)) is True  # type: ignore[arg-type]
        assert journal.writer_pid == pid
    assert not wal_left(path)  # closed cleanly: the WAL copied into the file and removed
    assert stored_ids(path) == ["after"]

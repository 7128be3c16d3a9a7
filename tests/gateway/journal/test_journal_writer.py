"""The journal's writer is a process of its own: when it dies, what waited on it fails (the
devices get a negative ACK and resend), what it acknowledged is on disk, and the next job
starts a new writer that knows the resends. Real processes, real signals, real files."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from journal_support import oru, received
from waiting import eventually

import gateway.journal.client as journal_module
from gateway.clock import ManualClock
from gateway.domain import BedId, ReceivedMessage, WaveformChunk
from gateway.errors import JournalError
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport


def routed_message(
    control_id: str, clock: ManualClock
) -> tuple[ReceivedMessage, list[RoutedReport]]:
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
        faults: list[tuple[str, str]] = []
        journal.on_fault = lambda source, text: faults.append((source, text))
        assert await journal.record(*routed_message("m0", clock)) is True
        killed = journal.writer_pid
        assert killed is not None
        sent = [f"m{n}" for n in range(1, 201)]
        pending = [journal.record(*routed_message(c, clock)) for c in sent]
        os.kill(killed, signal.SIGKILL)  # the jobs are sent: the writer dies with them in hand
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
        failure = journal.counters.failure
        assert failure is not None and "writer process ended" in failure
        assert faults == [("journal", f"{failure}; the next message starts a new writer")]

        # Not more often than once per RESPAWN_INTERVAL_S: a writer that dies at once must
        # not be started in a loop. Refused meanwhile, with why.
        monkeypatch.setattr(journal_module, "RESPAWN_INTERVAL_S", 3600.0)
        with pytest.raises(JournalError, match="writer process ended"):
            await journal.record(*routed_message("too-soon", clock))

        monkeypatch.setattr(journal_module, "RESPAWN_INTERVAL_S", 0.0)
        # The devices resend what was not acknowledged: a new writer stores each once,
        # and knows the ones the dead writer had committed but not answered.
        resent = await asyncio.gather(*(journal.record(*routed_message(c, clock)) for c in failed))
        assert journal.writer_pid not in (None, killed)
        assert journal.counters.failure is None
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
        assert await journal.record(*routed_message("after", clock)) is True
        assert journal.writer_pid == pid
    assert not wal_left(path)  # closed cleanly: the WAL copied into the file and removed
    assert stored_ids(path) == ["after"]


async def test_a_burst_bigger_than_the_pipe_goes_as_the_writer_reads_it(tmp_path: Path) -> None:
    """Waveforms from many monitors at once: more bytes than the pipe to the writer holds
    (1 MiB at most). The event loop never blocks on it; the rest goes when it drains."""
    path, clock = tmp_path / "j.sqlite", ManualClock()
    sent = []
    for n in range(120):
        message, reports = received(oru(f"w{n}"), clock)
        samples = np.arange(20_000, dtype=np.float32) + n  # 80 kB of samples each
        chunk = WaveformChunk(reports[0].device, 131330, "ECG", 250.0, clock.now_ns(), samples)
        report = dataclasses.replace(reports[0], waveforms=(chunk,))
        sent.append((message, [RoutedReport(report, BedId("B1"), "Bed 1")]))
    async with Journal(path, clock=clock) as journal:
        pending = [journal.record(m, r) for m, r in sent]
        assert journal.waiting_to_send > 0  # the pipe is full: the loop did not wait
        assert all(await asyncio.gather(*pending))
        assert journal.waiting_to_send == 0
    with JournalReader(path) as reader:
        stored = {s.routed.report.message_id: s.routed.report for s in reader.reports()}
    assert sorted(stored) == sorted(f"w{n}" for n in range(120))
    assert stored["w77"].waveforms[0].samples[5] == 82.0


async def test_a_writer_that_cannot_be_started_is_a_journal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory or of process ids: the gateway goes on in RECORDING FAILED (the
    service catches JournalError), it does not stop on an OSError."""

    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_process)
    journal = Journal(tmp_path / "j.sqlite")
    with pytest.raises(JournalError, match="cannot start the journal writer"):
        await journal.start()
    await journal.close()

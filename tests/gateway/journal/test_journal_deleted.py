"""A journal deleted, replaced or moved while the gateway runs is never silent: the writer
sees that the path no longer names the file it has open (one stat before each write), the
batch gets negative ACKs (devices resend), RECORDING FAILED is raised as a high technical
alarm, the log says how many messages were lost with the old file, and recording resumes
in a new file at the path — everything acknowledged after that is in it.

Real parts: a real ``icu-gateway run --headless`` subprocess, and the real listener and
journal on loopback; the files are deleted and moved as a person or a cleaner would."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from gateway_process import connect_when_listening, free_port, start_gateway
from journal_support import Monitor, oru, running_gateway

from gateway.domain import AlarmKind, AlarmPriority
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome


def accepted(path: Path) -> list[str]:
    with JournalReader(path) as reader:
        return [m.control_id for m in reader.messages() if m.outcome is Outcome.ACCEPTED]


def delete_journal(path: Path) -> None:
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)


async def send_until_acked(monitor: Monitor, control_id: str, codes: list[str]) -> None:
    """As a monitor does: resend the same message until it is acknowledged."""
    for _ in range(20):
        code, echoed = await monitor.send(oru(control_id, bed=3))
        assert echoed == control_id
        codes.append(code)
        if code == "CA":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{control_id} never acknowledged: {codes}")


async def test_a_deleted_journal_naks_raises_recording_failed_and_resumes_in_a_new_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        for n in range(5):
            assert await monitor.send(oru(f"old-{n}")) == ("CA", f"old-{n}")
        delete_journal(path)
        assert await monitor.send(oru("after-1")) == ("CE", "after-1")
        snapshot = gateway.hub.snapshot()
        assert snapshot.recording_failed is not None
        assert "deleted or moved" in snapshot.recording_failed
        assert "5 messages stored in it (ids 1–5) are lost" in snapshot.recording_failed
        assert snapshot.alarms is not None
        (alarm,) = [a for a in snapshot.alarms.alarms if "RECORDING FAILED" in a.text]
        assert alarm.priority is AlarmPriority.HIGH
        assert alarm.kind is AlarmKind.TECHNICAL
        # The device resends: stored in a new file at the path, recording resumed.
        assert await monitor.send(oru("after-1")) == ("CA", "after-1")
        assert await monitor.send(oru("after-2")) == ("CA", "after-2")
        assert gateway.hub.recording_failed is None
        faults = [f.text for f in gateway.hub.faults if f.source == "journal"]
        assert len([f for f in faults if "deleted or moved" in f]) == 1, faults  # once
        assert "recording resumed" in faults[-1]
        await monitor.close()
    assert accepted(path) == ["after-1", "after-2"]


async def test_a_journal_replaced_by_another_file_is_let_go_and_counted(tmp_path: Path) -> None:
    """Moved aside and another file put in its place: the writer stops writing to the one it
    had open (now under another name), and writes to the file the path names."""
    path = tmp_path / "j.sqlite"
    async with running_gateway(path) as gateway:
        monitor = await gateway.monitor()
        assert await monitor.send(oru("first")) == ("CA", "first")
        path.rename(tmp_path / "moved.sqlite")
        path.write_bytes(b"")  # an empty file: SQLite makes a new journal of it
        assert await monitor.send(oru("second")) == ("CE", "second")
        assert "replaced by another file" in (gateway.hub.recording_failed or "")
        assert await monitor.send(oru("second")) == ("CA", "second")
        await monitor.close()
    assert accepted(path) == ["second"]


@pytest.mark.timeout(60)
async def test_a_running_gateway_whose_journal_is_deleted_loses_nothing_acknowledged_after(
    tmp_path: Path,
) -> None:
    """Two monitors stream to a real headless gateway; the journal and its -wal and -shm
    are deleted mid-stream. Every message acknowledged after the deletion is in the new
    file at the next start, the monitors' ACKs keep coming, and the log says once what
    was lost."""
    port, path, log = free_port(), tmp_path / "j.sqlite", tmp_path / "gateway.log"
    process = await start_gateway(port, path, log)
    acked_after: list[str] = []
    codes: list[str] = []
    try:
        monitors = [await connect_when_listening(port, process) for _ in range(2)]
        for n in range(10):
            await send_until_acked(monitors[n % 2], f"before-{n}", codes)
        delete_journal(path)
        deleted_at = len(codes)

        async def stream(monitor: Monitor, name: str) -> None:
            for n in range(15):
                await send_until_acked(monitor, f"{name}-{n}", codes)
                acked_after.append(f"{name}-{n}")

        await asyncio.gather(*(stream(m, f"m{i}") for i, m in enumerate(monitors)))
        for monitor in monitors:
            await monitor.close()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "CE" in codes[deleted_at:], "the deletion was not noticed"
    assert len(acked_after) == 30
    assert set(acked_after) <= set(accepted(path))
    text = log.read_text()
    lost = [line for line in text.splitlines() if "deleted or moved while open" in line]
    assert lost and "10 messages stored in it" in lost[0]
    assert "RECORDING FAILED" in text
    # The messages of the deleted file are gone with it: reported above, never silently.
    assert not {f"before-{n}" for n in range(10)} & set(accepted(path))

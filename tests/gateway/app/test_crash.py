"""Acknowledged means stored: monitors stream to a real ``icu-gateway run --headless`` over
MLLP, the process is killed with SIGKILL mid-stream and restarted; every message a monitor
saw acknowledged is in the journal, once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import pytest
from gateway_process import connect_when_listening, free_port, start_gateway, writers_of
from journal_support import Monitor, oru
from waiting import eventually

from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome

CONNECTIONS = 4
KILL_AFTER_ACKS = 400


async def stream(
    monitor: Monitor, name: str, sent: list[str], acked: list[str], stop: asyncio.Event
) -> None:
    """Send, wait for the ACK, repeat — like a monitor — until the gateway dies."""
    n = 0
    with contextlib.suppress(ConnectionError, OSError, AssertionError, TimeoutError):
        while not stop.is_set():
            control_id = f"{name}-{n}"
            sent.append(control_id)
            code, echoed = await monitor.send(oru(control_id, hr=60 + n % 60, bed=n % 8))
            if code == "CA":
                assert echoed == control_id
                acked.append(control_id)
            n += 1


@pytest.mark.timeout(90)
async def test_every_acknowledged_message_survives_a_sigkill(tmp_path: Path) -> None:
    port, journal, log = free_port(), tmp_path / "j.sqlite", tmp_path / "gateway.log"
    process = await start_gateway(port, journal, log)
    sent: list[str] = []
    acked: list[str] = []
    stop = asyncio.Event()
    try:
        monitors = [await connect_when_listening(port, process) for _ in range(CONNECTIONS)]
        streams = [
            asyncio.create_task(stream(m, f"c{i}", sent, acked, stop))
            for i, m in enumerate(monitors)
        ]
        await eventually(lambda: len(acked) >= KILL_AFTER_ACKS, "acknowledgements", 60)
        assert writers_of(journal), "the gateway writes its journal from a process of its own"
        process.send_signal(signal.SIGKILL)  # mid-stream: every connection has one in flight
        await process.wait()
        # Its writer sees the end of its job pipe, finishes and exits: nothing is left
        # holding the journal.
        await eventually(lambda: not writers_of(journal), "the writer to exit after its gateway")
        await asyncio.gather(*streams)
        for monitor in monitors:
            await monitor.close()
    finally:
        stop.set()
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == -signal.SIGKILL

    # Restarted on the same journal: it opens, rebuilds, and takes messages again.
    process = await start_gateway(port, journal, log)
    try:
        monitor = await connect_when_listening(port, process)
        assert await monitor.send(oru("after-restart")) == ("CA", "after-restart")
        await monitor.close()
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert "rebuilt the ward from" in log.read_text()

    with JournalReader(journal) as reader:
        stored = [m.control_id for m in reader.messages() if m.outcome is Outcome.ACCEPTED]
    assert len(stored) == len(set(stored)), "a message was stored twice"
    missing = set(acked) - set(stored)
    assert not missing, f"{len(missing)} acknowledged messages lost: {sorted(missing)[:5]}"
    assert set(stored) <= {*sent, "after-restart"}
    # Besides the acknowledged ones, at most the one in flight on each connection.
    assert len(acked) + 1 <= len(stored) <= len(acked) + 1 + CONNECTIONS

"""The journal's background work in a real ``icu-gateway run --headless``: retention pruning
while monitors keep sending and getting their ACKs, and the trend back-fill after a restart
while the listener already answers."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

from journal_support import Monitor, oru, received
from waiting import eventually

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import BedId
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def gateway(
    journal: Path, log: Path, *options: str
) -> AsyncIterator[tuple[Monitor, asyncio.subprocess.Process]]:
    """``icu-gateway run --headless`` on ``journal``, logging to ``log``, and a monitor
    connected to it once it listens; stopped with SIGTERM."""
    port = free_port()
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.app.cli", "run", "--headless",
            "--listen", f"127.0.0.1:{port}", "--journal", str(journal), *options,
            cwd=journal.parent, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        async with asyncio.timeout(30):
            while True:
                assert process.returncode is None, logged(log)
                try:
                    monitor = await Monitor.connect(port)
                    break
                except OSError:
                    await asyncio.sleep(0.05)
        try:
            yield monitor, process
        finally:
            await monitor.close()
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(30):
            await process.wait()


def logged(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")


def stored_ids(journal: Path) -> list[str]:
    with JournalReader(journal) as reader:
        return [message.control_id for message in reader.messages()]


async def test_retention_prunes_the_old_while_monitors_keep_getting_acks(tmp_path: Path) -> None:
    journal, log = tmp_path / "journal.sqlite", tmp_path / "gateway.log"
    config = tmp_path / "ward.toml"
    config.write_text("[gateway]\nretention_h = 0.001\n")  # 3.6 s: pruned every 0.36 s
    sent: list[str] = []
    async with gateway(journal, log, "--config", str(config)) as (monitor, _):

        async def send(count: int) -> None:
            for _ in range(count):
                control_id = f"r{len(sent)}"
                assert await monitor.send(oru(control_id, hr=60 + len(sent) % 40)) == (
                    "CA",
                    control_id,
                )
                sent.append(control_id)
                await asyncio.sleep(0.05)

        await send(20)
        assert stored_ids(journal) == sent  # nothing is older than 3.6 s yet
        # Keep sending until the first messages have gone past the retention and been pruned.
        async with asyncio.timeout(60):
            while "r0" in stored_ids(journal):
                await send(10)
        await send(5)  # and ingest goes on
        kept = stored_ids(journal)
    assert kept, "everything was pruned, the new with the old"
    # What went is the oldest; what stayed is every message after it, none missing.
    assert kept == sent[sent.index(kept[0]) :]
    assert kept[-5:] == sent[-5:]
    assert "journal: pruned" in logged(log)


async def test_a_restarted_gateway_answers_at_once_and_back_fills_its_trends(
    tmp_path: Path,
) -> None:
    """A journal of the last three hours (two beds, one message a minute); the gateway
    restarted on it acknowledges a monitor while it reads the trends back, and says so."""
    journal, log = tmp_path / "journal.sqlite", tmp_path / "gateway.log"
    now = time.time_ns()
    first = now - 3 * 3600 * NS_PER_S
    async with Journal(journal, clock=ManualClock(first)) as writer:
        items = []
        for minute in range(180):
            for bed in (1, 2):
                clock = ManualClock(first + minute * 60 * NS_PER_S)
                message, reports = received(oru(f"old{minute}-{bed}", bed=bed), clock)
                items.append((message, RoutedReport(reports[0], BedId(f"ICU^{bed}^1"), "")))
        await asyncio.gather(*(writer.record(m, [r]) for m, r in items))
    async with gateway(journal, log) as (monitor, _):
        assert await monitor.send(oru("live-1", bed=1, hr=99)) == ("CA", "live-1")
        await eventually(lambda: "all the journal holds" in logged(log), "the back-fill's end", 60)
        assert await monitor.send(oru("live-2", bed=2, hr=98)) == ("CA", "live-2")
    text = logged(log)
    assert "journal: rebuilding trends from the journal: 0 h of 24" in text
    assert "journal: trends rebuilt: 1 h of 24" in text
    assert "journal: trends rebuilt: 3.0 h of 24, all the journal holds (" in text
    assert stored_ids(journal)[-2:] == ["live-1", "live-2"]

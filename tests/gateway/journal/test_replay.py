"""Replay: the record played into the dashboard at its own pace and on its own clock — never
the wall clock — marked REPLAY, values going stale as they did; and ``icu-gateway replay``
as a user runs it, in a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from journal_support import oru, received
from waiting import eventually

from gateway.app.replay import REPLAY_MARKER, replay_app
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import AlarmTransition, BedId, Connectivity
from gateway.journal.client import Journal
from gateway.journal.records import RoutedReport
from gateway.journal.replay import TICK_S, Replay
from tui import vitals
from tui.widgets import WardHeader

HR = 147842
START = ManualClock().now_ns()  # November 2023: far from the wall clock
ROOT = Path(__file__).resolve().parents[3]


async def record(path: Path) -> None:
    """Bed 1 sends every second for 20 s; bed 2 only for the first 5 s."""
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        for second in range(20):
            for bed in (1, 2) if second < 5 else (1,):
                message, reports = received(oru(f"{bed}-{second}", bed=bed, hr=60 + second), clock)
                routed = RoutedReport(reports[0], BedId(f"ICU^{bed}^1"), f"Bed {bed}")
                await journal.record(message, [routed])
            clock.advance(1)


@contextlib.asynccontextmanager
async def playing(player: Replay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(player.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_record_plays_at_its_pace_on_its_own_clock(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await record(path)
    player = Replay(path, speed=40, stale_timeout_s=3, lost_after_s=6)
    async with playing(player):
        await eventually(lambda: player.fed >= 10, "the first seconds played")
        snapshot = player.hub.snapshot()
        # The screen's time is the record's: 2023, a few seconds in — not today.
        assert START <= snapshot.time_ns <= START + 20 * NS_PER_S
        assert not player.finished  # 20 s of record take 0.5 s at x40: not all at once
        await eventually(lambda: player.finished, "the end of the record", timeout_s=20)
        assert player.fed == 25
        end = player.hub.snapshot()
        bed_1, bed_2 = end.beds
        assert bed_1.readings[HR].value == 79
        assert bed_2.readings[HR].value == 64
        # Bed 2 fell silent at 5 s of the record: it is lost on the record's clock.
        assert bed_2.connectivity is Connectivity.LOST
        assert bed_2.readings[HR].stale
        assert "end of the record (25 reports)" in end.faults[-1].text
        # The record stops at its end: its clock frozen at the last report, bed 1 as live
        # as it was then, and REPLAY ENDED said — never a silence that did not happen.
        last = START + 19 * NS_PER_S  # the last report (within one tick of the replay)
        assert last <= end.time_ns <= last + TICK_S * 40 * NS_PER_S
        await asyncio.sleep(10 * TICK_S)
        later = player.snapshot()
        assert later.time_ns == end.time_ns
        assert later.beds[0].connectivity is Connectivity.CONNECTED
        assert later.alarms is not None
        assert [a.text.split(" at ")[0] for a in later.alarms.alarms] == ["REPLAY ENDED"]


async def test_a_replay_of_one_bed_from_a_time_shows_only_that(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await record(path)
    player = Replay(path, speed=100, bed=BedId("ICU^1^1"), since_ns=START + 15 * NS_PER_S)
    async with playing(player):
        await eventually(lambda: player.finished, "the end of the record")
    (bed,) = player.hub.snapshot().beds
    assert bed.bed == BedId("ICU^1^1")
    assert player.fed == 5


@pytest.mark.timeout(30)
async def test_the_dashboard_says_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    await record(path)
    player = Replay(path, speed=20)
    app = replay_app(player, title="ICU 3", refresh_hz=20)
    async with app.run_test(size=(120, 30)) as pilot, playing(player):
        await eventually(lambda: player.fed >= 2, "the replay started")

        def header() -> str:
            return app.screen.query_one(WardHeader).line.plain

        await eventually(lambda: "live 2" in header(), "both beds live on screen")
        assert f" {REPLAY_MARKER}   x20 " in header()
        # The header's clock is the record's (November 2023), not the terminal's.
        record_clock = time.strftime("%H:%M", time.localtime(START // NS_PER_S))
        assert f"  {record_clock}:" in header()
        await pilot.press("q")


async def test_a_replay_shows_the_alarms_the_record_holds_and_raises_none_of_its_own(
    tmp_path: Path,
) -> None:
    from gateway.app.service import build_hub, flush_alarm_log
    from gateway.config.load import parse_config

    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    hub = build_hub(parse_config("[alarms]\ncondition_delay_s = 0\n"), clock)
    engine = hub.alarms
    async with Journal(path, clock=clock) as journal:
        hub.journal = journal
        engine.sign_in("Nurse Lee")
        for second in range(12):  # bed 1: HR 130 from 3 s (HR HIGH), acknowledged at 6 s
            hr = 130 if second >= 3 else 70
            message, reports = received(oru(f"1-{second}", bed=1, hr=hr), clock)
            await hub.submit(message, reports)
            if second == 6:
                engine.acknowledge(BedId("ICU^1^1"))
            engine.tick()
            clock.advance(1)
        assert await flush_alarm_log(hub, journal)
    recorded = {(t.change.value, t.text) for t in journal_log(path)}
    assert ("raised", "HR HIGH 130") in recorded and ("acknowledged", "HR HIGH 130") in recorded

    player = Replay(path, speed=50, stale_timeout_s=3, lost_after_s=6)
    async with playing(player):
        await eventually(lambda: player.fed >= 2, "started")
        assert player.snapshot().alarms.alarms == ()  # type: ignore[union-attr]  # none yet
        await eventually(lambda: player.finished, "the end of the record", timeout_s=20)
        await asyncio.sleep(10 * TICK_S)
        shown = player.snapshot().alarms
        assert shown is not None
        texts = {(a.text.split(" at ")[0], a.acknowledged) for a in shown.alarms}
        # the record's HR HIGH, acknowledged as it was; no DEVICE LOST although the record
        # ends (the engine fed the same values would raise it on its clock)
        assert texts == {("HR HIGH 130", True), ("REPLAY ENDED", True)}


def journal_log(path: Path) -> list[AlarmTransition]:
    from gateway.journal.reader import JournalReader

    with JournalReader(path) as reader:
        return list(reader.alarm_log(ward=True))


def test_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        Replay(tmp_path / "j.sqlite", speed=0)


async def test_the_record_never_runs_ahead_of_its_speed(tmp_path: Path) -> None:
    """At x40 the record's clock moves at most 40 s per second of wall time (the pace is
    kept, not dumped at once), and much faster than the wall clock."""
    path = tmp_path / "j.sqlite"
    await record(path)
    player = Replay(path, speed=40)
    started = time.monotonic()
    async with playing(player):
        positions: list[tuple[float, int]] = []

        def sample() -> bool:
            positions.append((time.monotonic() - started, player.clock.now_ns() - START))
            return player.finished

        await eventually(sample, "the end of the record", timeout_s=15)
    for wall_s, record_ns in positions:
        assert record_ns <= (wall_s * 40 + TICK_S * 40) * NS_PER_S, (wall_s, record_ns)
    wall_s, record_ns = positions[-1]
    assert record_ns >= 19 * NS_PER_S  # the whole record played …
    assert wall_s < 19  # … in less than its own length


def terminal(
    command: list[str], *, columns: int = 120, lines: int = 30
) -> tuple[int, subprocess.Popen[bytes]]:
    """``command`` on a pseudo-terminal of the given size, as a user's terminal runs it."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    process = subprocess.Popen(
        command, cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(slave)
    return master, process


_ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=]*[A-Za-z~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)|\x1b[()][A-Z0-9]|\x1b[=>78]"
)


class Screen:
    """What a terminal has been sent so far, escape sequences removed."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.data = b""

    def read(self) -> str:
        while select.select([self.master], [], [], 0.05)[0]:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # the program ended: its side of the terminal is closed
                break
            if not chunk:
                break
            self.data += chunk
        return _ESCAPES.sub(b"", self.data).decode("utf-8", "replace")


@pytest.mark.timeout(60)
def test_icu_gateway_replay_in_a_terminal_shows_the_record_marked_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    asyncio.run(record(path))
    command = [sys.executable, "-m", "gateway.app.cli", "replay", "--journal", str(path)]
    master, process = terminal([*command, "--speed", "50"])
    screen = Screen(master)
    try:
        deadline = time.monotonic() + 30
        while "end of the record (25 reports)" not in (text := screen.read()):
            assert process.poll() is None, text[-2000:]
            assert time.monotonic() < deadline, text[-2000:]
        assert " REPLAY   x50 " in text
        # labels, patients' names (PID-5, as sent) and ids, as recorded
        assert "Bed 1 · DOE, JOHN · P1" in text and "Bed 2 · DOE, JOHN · P2" in text
        # The header's clock is the record's (November 2023), never the terminal's.
        record_clock = time.strftime("%H:%M", time.localtime(START // NS_PER_S))
        assert f" x50   {record_clock}:" in text
        # The last heart rates of the record, in the tiles' big digits: 79 and 64.
        # (a column apart where the tile has room, run together where it has not)
        for value in ("79", "64"):
            drawn = [vitals.big_text(value, gap) for gap in (1, 0)]
            assert any(d is not None and all(row in text for row in d) for d in drawn), value
        os.write(master, b"q")
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)

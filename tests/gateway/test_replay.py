"""Replay: the record played into the dashboard at its own pace and on its own clock — never
the wall clock — marked REPLAY, values going stale as they did."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from journal_support import oru, received
from waiting import eventually

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import BedId, Connectivity
from gateway.journal import Journal, RoutedReport
from gateway.replay import REPLAY_MARKER, Replay, replay_app
from tui.widgets import WardHeader

HR = 147842
START = ManualClock().now_ns()  # November 2023: far from the wall clock


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
        # After the end, the record's clock keeps running: bed 1 goes stale too.
        await eventually(
            lambda: player.hub.snapshot().beds[0].readings[HR].stale, "bed 1 stale after the end"
        )
        assert player.hub.snapshot().time_ns < START + 10 * 60 * NS_PER_S


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


def test_speed_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="speed"):
        Replay(tmp_path / "j.sqlite", speed=0)

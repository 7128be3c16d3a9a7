"""A journal played back on the dashboard (``icu-gateway replay``): the core's
:class:`~gateway.journal.replay.Replay` fills a ward, the dashboard shows it, marked
REPLAY and its speed, until the user quits.

Here, and not in the journal, because it wires a view: the core does not import one.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.domain import BedId
from gateway.errors import JournalError
from gateway.journal.replay import Replay
from gateway.ward.state import DEFAULT_LOST_AFTER_S, DEFAULT_STALE_TIMEOUT_S
from tui.app import WardApp

REPLAY_MARKER = "REPLAY"


def replay_app(player: Replay, *, title: str, refresh_hz: float = 4.0, columns: int = 0) -> WardApp:
    """The dashboard on a replay: the ward it fills, marked REPLAY and its speed."""
    return WardApp(
        player.snapshot,
        traces=player.hub.ward,
        title=title,
        markers=(REPLAY_MARKER, f"x{player.speed:g}"),
        refresh_hz=refresh_hz,
        columns=columns,
    )


async def replay(
    path: Path,
    *,
    speed: float,
    bed: BedId | None,
    since_ns: int | None,
    until_ns: int | None,
    title: str,
    stale_timeout_s: float = DEFAULT_STALE_TIMEOUT_S,
    lost_after_s: float = DEFAULT_LOST_AFTER_S,
    refresh_hz: float = 4.0,
    columns: int = 0,
) -> None:
    """The replay on the dashboard, until the user quits (``q``)."""
    if not await asyncio.to_thread(path.is_file):
        raise JournalError(f"no journal at {path}")
    player = Replay(
        path,
        speed=speed,
        bed=bed,
        since_ns=since_ns,
        until_ns=until_ns,
        stale_timeout_s=stale_timeout_s,
        lost_after_s=lost_after_s,
    )
    app = replay_app(player, title=title, refresh_hz=refresh_hz, columns=columns)
    playing = asyncio.create_task(player.run())

    def stopped(task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (error := task.exception()) is not None:
            player.hub.fault("replay", f"replay stopped: {error}")  # on screen, never silent

    playing.add_done_callback(stopped)
    try:
        await app.run_async()
    finally:
        playing.cancel()
        await asyncio.wait([playing])
    if not playing.cancelled() and (error := playing.exception()) is not None:
        raise error

"""Waiting on a condition in async tests, instead of sleeping for a guessed time."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def eventually(
    predicate: Callable[[], bool], what: str = "", timeout_s: float = 10.0
) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout_s`` naming ``what``.

    Polling, because what tests watch (counters, ward snapshots, sockets) raises no event.
    """
    try:
        async with asyncio.timeout(timeout_s):
            while not predicate():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}") from None

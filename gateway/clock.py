"""The one clock of the gateway.

Every age, timeout and receive time is read from a :class:`Clock`, so tests and replays can
drive time by hand. Times are integers of nanoseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, UTC, in nanoseconds since the epoch."""
        ...


class SystemClock:
    """The real wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()


class ManualClock:
    """A clock that moves only when told to (tests, deterministic snapshots)."""

    def __init__(self, start_ns: int = 1_700_000_000 * 1_000_000_000) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += round(seconds * 1e9)


NS_PER_S = 1_000_000_000

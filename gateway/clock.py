"""The one clock of the gateway: wall time for display and records, monotonic time for ages.

Every age, timeout and receive time is read from a :class:`Clock`, so tests and replays can
drive time by hand. Times are integers of nanoseconds. A clock gives two readings:

* :meth:`Clock.now_ns` — the wall clock (UTC, since the Unix epoch): what is shown and
  recorded (a reading's receive time, a journal row, an alarm transition, the header's
  clock). It can step: NTP after an outage, a wrong BIOS clock set right by hand.
* :meth:`Clock.monotonic_ns` — never steps: every age, timeout, delay and pause is measured
  on it, so a wall clock stepped an hour either way never makes a live value stale, a
  stale one live, or raises or ends an alarm. It is on the epoch's scale (equal to the
  wall clock when the clock was made), so the two readings differ only by the steps since.

:func:`monotonic_of` places a wall time — a value read back from the journal, which knows
only wall time — on the monotonic scale; :class:`ClockSteps` notices the wall clock
stepping (the hub reports it once as a fault). This module must not log, report or sleep.
"""

from __future__ import annotations

import time
from typing import Protocol

NS_PER_S = 1_000_000_000

STEP_THRESHOLD_S = 2.0
"""A change of the wall clock against the monotonic one larger than this between two looks
is a step (NTP slews smaller corrections gradually; a step is reported)."""


class Clock(Protocol):
    def now_ns(self) -> int:
        """Wall-clock time, UTC, in nanoseconds since the epoch: display and records."""
        ...

    def monotonic_ns(self) -> int:
        """Monotonic time on the epoch's scale: ages, timeouts, delays. Never steps."""
        ...


class SystemClock:
    """The real clocks: ``time.time_ns`` and ``time.monotonic_ns``."""

    def __init__(self) -> None:
        self._origin_ns = time.time_ns() - time.monotonic_ns()

    def now_ns(self) -> int:
        return time.time_ns()

    def monotonic_ns(self) -> int:
        return time.monotonic_ns() + self._origin_ns


class ManualClock:
    """A clock that moves only when told to (tests, deterministic snapshots, replay).

    :meth:`advance` moves both readings (time passes); :meth:`step_wall` moves the wall
    clock alone (a system clock set an hour forward or back)."""

    def __init__(self, start_ns: int = 1_700_000_000 * 1_000_000_000) -> None:
        self._monotonic = start_ns
        self._wall_offset = 0

    def now_ns(self) -> int:
        return self._monotonic + self._wall_offset

    def monotonic_ns(self) -> int:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._monotonic += round(seconds * 1e9)

    def step_wall(self, seconds: float) -> None:
        self._wall_offset += round(seconds * 1e9)


def wall_offset_ns(clock: Clock) -> int:
    """How far the wall clock is ahead of the monotonic one now (the sum of its steps)."""
    return clock.now_ns() - clock.monotonic_ns()


def monotonic_of(clock: Clock, wall_ns: int) -> int:
    """Where a past wall time (a journal's receive time) lies on the monotonic scale, by
    today's offset. Never later than now: a time ahead of the clock (recorded before the
    wall clock stepped back) must not make a value look younger than one just received."""
    now = clock.monotonic_ns()
    return min(now, wall_ns - (clock.now_ns() - now))


class ClockSteps:
    """Notices the wall clock stepping against the monotonic one, between two looks.

    :meth:`look` returns the step in nanoseconds (0 when the clocks kept together within
    :data:`STEP_THRESHOLD_S`); each step is returned once. Slow drift is followed quietly."""

    def __init__(self, clock: Clock, threshold_s: float = STEP_THRESHOLD_S) -> None:
        self.clock = clock
        self._threshold_ns = round(threshold_s * NS_PER_S)
        self._offset = wall_offset_ns(clock)

    def look(self) -> int:
        offset = wall_offset_ns(self.clock)
        step = offset - self._offset
        self._offset = offset
        return step if abs(step) > self._threshold_ns else 0

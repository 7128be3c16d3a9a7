"""Replay: a journal played back into a fresh ward as if live — handover, incident review,
training.

The stored reports are fed, in arrival order and at their recorded pace (times ``speed``),
through the hub's normal apply path into a fresh ward state, so the screen shows exactly
what it showed then: values, their freshness, devices going silent, trends. Time on screen
is the record's time: a :class:`~gateway.clock.ManualClock` moved by the replay, never the
wall clock, so every age is an age *in the record*. On the dashboard
(:mod:`gateway.app.replay`) the screen says REPLAY.

The alarms shown are the record's own (:mod:`gateway.journal.recorded_alarms`: its alarm log
played forward), never worked out again from the values. At the end of the record (or of
``until``) the replay stops: the clock is frozen there — values keep the ages they had, no
device falls silent that did not — and a low-priority advisory says REPLAY ENDED.

This module must not open a listener, write the journal, or touch a device: a replay is
read-only from end to end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from pathlib import Path

from gateway.alarms.snapshot import ActiveAlarm
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, BedId
from gateway.hub import Hub
from gateway.journal.reader import JournalReader, read_reports
from gateway.journal.recorded_alarms import RecordedAlarms
from gateway.ward.routing import Router
from gateway.ward.snapshot import WardSnapshot
from gateway.ward.state import DEFAULT_LOST_AFTER_S, DEFAULT_STALE_TIMEOUT_S, WardState

log = logging.getLogger("gateway.replay")  # the name its log lines have always carried

TICK_S = 0.05
"""How often the record's clock moves while nothing is due (the screen's ages advance)."""


class Replay:
    """``await Replay(path, speed=8).run()`` plays the record into ``replay.hub``."""

    def __init__(
        self,
        path: str | Path,
        *,
        speed: float = 1.0,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        stale_timeout_s: float = DEFAULT_STALE_TIMEOUT_S,
        lost_after_s: float = DEFAULT_LOST_AFTER_S,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be a positive number, not {speed!r}")
        self.path = Path(path)
        self.speed = speed
        self.bed = bed
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.clock = ManualClock(0)
        self.hub = Hub(WardState(stale_timeout_s, lost_after_s), Router(), self.clock)
        self.alarms = RecordedAlarms(())
        self.fed = 0
        """Reports played so far."""
        self.finished = False
        self._start_ns = 0
        self._wall_start = 0.0
        self._end_ns: int | None = None

    def position_ns(self) -> int:
        """Where in the record the replay is now: the start plus wall time × speed."""
        elapsed = time.monotonic() - self._wall_start
        return self._start_ns + round(elapsed * self.speed * NS_PER_S)

    def _move_clock(self, to_ns: int) -> None:
        ahead = to_ns - self.clock.now_ns()
        if ahead > 0:
            self.clock.advance(ahead / NS_PER_S)

    def snapshot(self) -> WardSnapshot:
        """The ward as the record showed it now, with the record's alarms."""
        ward = self.hub.snapshot()
        clock = self.clock
        return dataclasses.replace(
            ward, alarms=self.alarms.snapshot(clock.now_ns(), clock.monotonic_ns())
        )

    async def run(self) -> None:
        """Play the record to its end, then stop there: the record's clock frozen at its
        end, REPLAY ENDED shown, until cancelled."""
        first = await asyncio.to_thread(self._first_time)
        if first is None:
            self.hub.fault("replay", f"nothing to replay in {self.path}")
            self.finished = True
            return
        self._start_ns = first
        self._wall_start = time.monotonic()
        self.alarms = await asyncio.to_thread(self._recorded_alarms)
        self._move_clock(first)
        self.alarms.advance(first)
        await self._play()
        end = self._end_ns
        if end is not None:  # the last report, or --until: never past the record
            self._move_clock(end)
            self.alarms.advance(end)
        self.finished = True
        at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.clock.now_ns() // NS_PER_S))
        self.hub.fault("replay", f"end of the record ({self.fed} reports) at {at}")
        self.alarms.extra = (
            ActiveAlarm(
                key="replay-ended",
                bed=None,
                bed_label="",
                priority=AlarmPriority.LOW,
                kind=AlarmKind.ADVISORY,
                source=AlarmSource.GATEWAY,
                text=f"REPLAY ENDED at {at}: the record stops here (clock frozen)",
                onset_ns=self.clock.now_ns(),
                latched=False,
                acknowledged=True,
                silenced=True,
            ),
        )

    def _recorded_alarms(self) -> RecordedAlarms:
        with JournalReader(self.path) as reader:
            log = reader.alarm_log(ward=True, until_ns=self.until_ns)
        return RecordedAlarms(log, self.bed)

    def _first_time(self) -> int | None:
        with JournalReader(self.path) as reader:
            span = reader.time_range()
        if span is None:
            return None
        start, end = span
        if self.since_ns is not None:
            start = max(start, self.since_ns)
        if self.until_ns is not None and self.until_ns <= start:
            return None
        return start if start <= end else None

    async def _play(self) -> None:
        async for batch in read_reports(
            self.path, bed=self.bed, since_ns=self.since_ns, until_ns=self.until_ns
        ):
            for stored in batch:
                due = stored.routed.report.receive_time_ns
                while (position := self.position_ns()) < due:
                    self._move_clock(position)
                    await asyncio.sleep(min(TICK_S, (due - position) / NS_PER_S / self.speed))
                self._move_clock(max(due, self.position_ns()))
                self.alarms.advance(self.clock.now_ns())
                self.hub.apply([stored.routed])
                self.fed += 1
                self._end_ns = due

"""The hand-off between the hub's snapshots and the broker: bounded, and never waits.

What streams (numerics, waves) goes into :class:`Outbox`, two bounded queues that drop
their oldest — waves before numerics — when the broker cannot keep up, and that never
hand on anything older than :data:`MAX_AGE_S` or made for an earlier connection: a value
sent late would only be shown stale, or worse, as new. Offering is a few appends; nothing
here awaits the network, so a dead, frozen or slow broker costs ingest, the journal and
the local dashboard nothing.

Alarms never queue and are never dropped: :class:`AlarmBoard` is a state map, uid → the
alarm as last shown with the gateway's alarm sequence number of its latest change. The
publisher sends what changed, and the whole map again on every connection and rebirth.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.alarms.snapshot import ActiveAlarm
from gateway.clock import NS_PER_S
from gateway.mqtt.topics import alarm_uid

CAPACITY = 1024
"""Streaming messages held at most: 3 s of a 64-bed ward (320 a second)."""
MAX_AGE_S = 2.0
"""A streaming message older than this when the broker could take it is dropped."""


class Session:
    """The current broker connection's session number and message sequence; ``connected``
    False: nothing is made for the broker at all."""

    def __init__(self, first: int) -> None:
        self.sess = first
        self._seq = 0
        self.connected = False

    def begin(self) -> int:
        """A new connection: a new session number, sequence from 0."""
        self.sess += 1
        self._seq = 0
        return self.sess

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    sess: int
    made_ns: int
    """Monotonic time it was made (its age counts from here)."""
    expiry_s: int
    content_type: str = "application/json"


class Outbox:
    def __init__(self, capacity: int = CAPACITY, max_age_s: float = MAX_AGE_S) -> None:
        self.capacity = capacity
        self.max_age_ns = round(max_age_s * NS_PER_S)
        self._numerics: deque[Outgoing] = deque()
        self._waves: deque[Outgoing] = deque()
        self.offered = 0
        self.dropped_waves = 0
        self.dropped_numerics = 0
        self.expired = 0
        """Dropped at :meth:`take`: too old, or made for an earlier connection."""
        self.ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._numerics) + len(self._waves)

    def offer(self, item: Outgoing, *, wave: bool) -> None:
        """Queue ``item``; when full, the oldest wave goes (the oldest numerics if no wave
        is queued). Never blocks, never raises."""
        self.offered += 1
        if len(self) >= self.capacity:
            if self._waves:
                self._waves.popleft()
                self.dropped_waves += 1
            else:
                self._numerics.popleft()
                self.dropped_numerics += 1
        (self._waves if wave else self._numerics).append(item)
        self.ready.set()

    def take(self, now_ns: int, sess: int, limit: int) -> list[Outgoing]:
        """Up to ``limit`` messages to send now, numerics first, each of session ``sess``
        and younger than the age limit; the rest of what is too old is dropped."""
        out: list[Outgoing] = []
        oldest = now_ns - self.max_age_ns
        for queue in (self._numerics, self._waves):
            while queue and len(out) < limit:
                item = queue.popleft()
                if item.sess != sess or item.made_ns < oldest:
                    self.expired += 1
                    continue
                out.append(item)
        if not self:
            self.ready.clear()
        return out

    def clear(self) -> None:
        self.expired += len(self)
        self._numerics.clear()
        self._waves.clear()
        self.ready.clear()


@dataclass(frozen=True, slots=True)
class AlarmEntry:
    uid: str
    alarm: ActiveAlarm
    aseq: int
    active: bool
    """False: the alarm is no longer shown at the gateway; sent once as ``ended``."""


class AlarmBoard:
    """The alarm set as published, and what changed since the publisher last looked."""

    def __init__(self) -> None:
        self.aseq = 0
        """The last alarm sequence number given: one per change, per gateway."""
        self.current: dict[str, AlarmEntry] = {}
        self._changed: dict[str, AlarmEntry] = {}
        self.ready = asyncio.Event()

    def update(self, alarms: Sequence[ActiveAlarm]) -> None:
        """Take the alarms the engine shows now: a new or changed one gets the next
        sequence number, one no longer shown is ended."""
        seen = set()
        for alarm in alarms:
            uid = alarm_uid(alarm.key)
            seen.add(uid)
            known = self.current.get(uid)
            if known is not None and known.alarm == alarm:
                continue
            self.aseq += 1
            entry = self.current[uid] = AlarmEntry(uid, alarm, self.aseq, True)
            self._changed[uid] = entry
        for uid in [uid for uid in self.current if uid not in seen]:
            gone = self.current.pop(uid)
            self.aseq += 1
            self._changed[uid] = AlarmEntry(uid, gone.alarm, self.aseq, False)
        if self._changed:
            self.ready.set()

    def take_changes(self) -> list[AlarmEntry]:
        changed = list(self._changed.values())
        self._changed.clear()
        self.ready.clear()
        return changed

    def everything(self) -> list[AlarmEntry]:
        """Every alarm shown now, and those ended since last looked at (what a new
        connection or a rebirth sends): nothing is pending afterwards."""
        ended = [entry for entry in self._changed.values() if not entry.active]
        self._changed.clear()
        self.ready.clear()
        return [*self.current.values(), *ended]

    def versions(self) -> dict[str, int]:
        return {uid: entry.aseq for uid, entry in self.current.items()}

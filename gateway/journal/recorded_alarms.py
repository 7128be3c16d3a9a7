"""The alarms a record showed, at any point of its time: the journal's alarm log played
forward, for a replay — never alarms worked out again from the values (an engine fed a
record raises what the gateway may not have raised then, and DEVICE LOST for every device
when the record ends).

:meth:`RecordedAlarms.advance` takes the transitions up to a time of the record;
:meth:`RecordedAlarms.snapshot` shows what was on screen then: each alarm raised and not yet
ended or cleared, with its priority, text, acknowledgement and latch as they were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gateway.alarms.snapshot import ActiveAlarm, AlarmSnapshot
from gateway.domain import AlarmChange, AlarmTransition, BedId

_GONE = frozenset((AlarmChange.ENDED, AlarmChange.CLEARED))
_NOTES = frozenset(
    (
        AlarmChange.AUDIO_PAUSED,
        AlarmChange.AUDIO_RESUMED,
        AlarmChange.BROKE_THROUGH,
        AlarmChange.OPERATOR,
        AlarmChange.CONFIGURATION,  # an admission has a key and a bed, never an alarm
    )
)


class RecordedAlarms:
    """``transitions`` oldest first (:meth:`JournalReader.alarm_log`); with ``bed``, only
    that bed's."""

    def __init__(self, transitions: Iterable[AlarmTransition], bed: BedId | None = None) -> None:
        self._log = sorted(
            (t for t in transitions if t.alarm and (bed is None or t.bed == bed)),
            key=lambda t: t.time_ns,
        )
        self._next = 0
        self._shown: dict[str, ActiveAlarm] = {}
        self.extra: tuple[ActiveAlarm, ...] = ()
        """Shown besides the record's own (the replay's REPLAY ENDED)."""

    def advance(self, to_ns: int) -> None:
        """Take every transition at or before ``to_ns`` (a wall time of the record)."""
        log, shown = self._log, self._shown
        while self._next < len(log) and log[self._next].time_ns <= to_ns:
            t = log[self._next]
            self._next += 1
            if t.change in _NOTES:
                continue
            held = shown.get(t.alarm)
            if t.change in _GONE:
                shown.pop(t.alarm, None)
            elif held is None or t.change is AlarmChange.RAISED:
                shown[t.alarm] = ActiveAlarm(
                    key=t.alarm,
                    bed=t.bed,
                    bed_label=t.bed_label,
                    priority=t.priority,
                    kind=t.kind,
                    source=t.source,
                    text=t.text,
                    onset_ns=t.time_ns,
                    latched=t.change is AlarmChange.LATCHED,
                    acknowledged=t.change is AlarmChange.ACKNOWLEDGED,
                    silenced=False,
                    device=t.device,
                )
            elif t.change is AlarmChange.ACKNOWLEDGED:
                shown[t.alarm] = dataclasses.replace(held, acknowledged=True)
            elif t.change is AlarmChange.LATCHED:
                shown[t.alarm] = dataclasses.replace(held, latched=True)
            elif t.change in (AlarmChange.ESCALATED, AlarmChange.DEESCALATED):
                shown[t.alarm] = dataclasses.replace(
                    held, priority=t.priority, text=t.text, acknowledged=False
                )

    def snapshot(self, now_wall_ns: int, now_mono_ns: int) -> AlarmSnapshot:
        """What was shown at the record's ``now``, on the alarm snapshot's monotonic scale,
        by priority then age as the engine orders them; no sound (``off``, muted)."""
        offset = now_wall_ns - now_mono_ns
        alarms = [
            dataclasses.replace(a, onset_ns=a.onset_ns - offset)
            for a in (*self._shown.values(), *self.extra)
        ]
        alarms.sort(key=lambda a: (-a.priority, a.onset_ns))
        return AlarmSnapshot(now_mono_ns, tuple(alarms), audio="off", muted=True)

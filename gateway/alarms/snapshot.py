"""What views see of the alarms: every alarm shown (:class:`ActiveAlarm`) in an
:class:`AlarmSnapshot`, and what should sound (:class:`Audible`).

Small frozen records the engine (:mod:`gateway.alarms.engine`) makes; the dashboard, the
sound and the ward's snapshot hold these, never the engine's state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway.clock import NS_PER_S
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, BedId, DeviceId

UNKNOWN_OPERATOR = "unknown"
MARKERS: Mapping[AlarmPriority, str] = MappingProxyType(
    {AlarmPriority.HIGH: "!!!", AlarmPriority.MEDIUM: "!!", AlarmPriority.LOW: "!"}
)
"""The text priority marker shown with every alarm, so colour is never the only cue."""


@dataclass(frozen=True, slots=True)
class ActiveAlarm:
    """An alarm shown on the dashboard: active, or latched until acknowledged."""

    key: str
    bed: BedId | None
    """None for a ward-wide alarm (recording failure, unassigned device)."""
    bed_label: str
    priority: AlarmPriority
    kind: AlarmKind
    source: AlarmSource
    text: str
    onset_ns: int
    """When the gateway raised it (its age counts from here)."""
    latched: bool
    """The condition has ended; shown until acknowledged."""
    acknowledged: bool
    silenced: bool
    """Silent at the gateway because the device says its audio is paused or off."""
    device: DeviceId | None = None
    parameter_code: int | None = None
    members: tuple[str, ...] = ()
    """The keys of the engine's alarms this one shows (as the journal names them): more
    than one when a device's alarm and the gateway's are one condition
    (:mod:`gateway.alarms.conditions`)."""

    @property
    def marker(self) -> str:
        return MARKERS.get(self.priority, "")


@dataclass(frozen=True, slots=True)
class AlarmSnapshot:
    """Every alarm shown, by priority (highest first) then age (oldest first), and the
    state of the sound, at ``time_ns``. Its times (``time_ns``, ``paused_until_ns``, each
    alarm's ``onset_ns``) are on the engine's monotonic scale: compare them with each
    other (an alarm's age is ``time_ns - onset_ns``), never with a wall time."""

    time_ns: int
    alarms: tuple[ActiveAlarm, ...] = ()
    paused_until_ns: int | None = None
    audio: str = "bell"
    """The configured sound: ``bell``, ``command`` or ``off``."""
    muted: bool = False
    operator: str = UNKNOWN_OPERATOR

    @property
    def paused_remaining_s(self) -> float | None:
        """Seconds of audio pause left; None when the sound is not paused."""
        if self.paused_until_ns is None or self.paused_until_ns <= self.time_ns:
            return None
        return (self.paused_until_ns - self.time_ns) / NS_PER_S

    def of_bed(self, bed: BedId | None) -> tuple[ActiveAlarm, ...]:
        """A bed's alarms (None: the ward-wide ones), in the snapshot's order."""
        return tuple(alarm for alarm in self.alarms if alarm.bed == bed)

    def top(self, bed: BedId | None) -> ActiveAlarm | None:
        """The alarm a bed's tile takes its colour from: its highest, unacknowledged first."""
        best: ActiveAlarm | None = None
        for alarm in self.alarms:
            if alarm.bed != bed:
                continue
            if best is None or (alarm.priority, not alarm.acknowledged) > (
                best.priority,
                not best.acknowledged,
            ):
                best = alarm
        return best


@dataclass(frozen=True, slots=True)
class Audible:
    """What should sound now: the highest audible priority, and whether a low-priority
    alarm is new (low alarms sound once)."""

    priority: AlarmPriority | None
    new_low: bool = False

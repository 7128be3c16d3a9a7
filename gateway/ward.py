"""Ward state: the latest value of every parameter of every bed, and each sender's link.

The hub writes here as reports arrive; views never hold a reference into it, they take a
:class:`WardSnapshot` at their own refresh rate. A snapshot is computed against one clock
reading, and it is here — in one place — that a value is judged live or stale: a view
must never decide freshness on its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.clock import NS_PER_S
from gateway.domain import (
    BedId,
    Connectivity,
    DeviceId,
    DeviceReport,
    DeviceStatus,
    Fault,
    Location,
    ObservationStatus,
)

DEFAULT_STALE_TIMEOUT_S = 10.0
DEFAULT_LOST_AFTER_S = 60.0


@dataclass(frozen=True, slots=True)
class Reading:
    """A parameter's latest value as a view shows it, aged at snapshot time.

    ``age_s`` counts from when the gateway last *received* the value: past the stale timeout
    it is ``stale`` and must be shown greyed with its age. ``measured_age_s`` counts from
    the device's own measurement time (an NIBP taken 12 minutes ago and re-sent every
    second is live, and 12 minutes old).
    """

    code: int
    label: str
    value: float | str
    unit: str
    status: ObservationStatus
    age_s: float
    measured_age_s: float
    stale: bool


@dataclass(frozen=True, slots=True)
class BedSnapshot:
    bed: BedId
    label: str
    patient_id: str
    readings: Mapping[int, Reading]
    devices: tuple[DeviceStatus, ...]
    connectivity: Connectivity
    """CONNECTED while some device of the bed spoke within the stale timeout, STALE past
    it, LOST past ``lost_after_s`` or when no device ever spoke."""
    silent_s: float | None
    """Seconds since any device of this bed last spoke; None if none ever has."""


@dataclass(frozen=True, slots=True)
class UnassignedDevice:
    """A sender that matched no bed: shown so an engineer can bind it, never dropped."""

    device: DeviceId
    transport: str
    peer: str
    location: Location | None
    last_seen_ns: int
    reports: int


@dataclass(frozen=True, slots=True)
class WardSnapshot:
    time_ns: int
    stale_timeout_s: float
    beds: tuple[BedSnapshot, ...]
    unassigned: tuple[UnassignedDevice, ...]
    faults: tuple[Fault, ...] = ()
    """The most recent faults (bad messages, refused peers, lost links), oldest first."""
    fault_count: int = 0
    """Every fault since start, including those no longer in ``faults``."""

    @property
    def beds_live(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.CONNECTED)

    @property
    def beds_stale(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.STALE)

    @property
    def beds_lost(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.LOST)


@dataclass(slots=True)
class _Latest:
    code: int
    label: str
    value: float | str
    unit: str
    status: ObservationStatus
    measured_ns: int
    received_ns: int


@dataclass(slots=True)
class _Link:
    device: DeviceId
    transport: str
    peer: str
    last_seen_ns: int


@dataclass(slots=True)
class _Bed:
    bed: BedId
    label: str
    order: int
    patient_id: str = ""
    latest: dict[int, _Latest] = field(default_factory=dict)
    links: dict[DeviceId, _Link] = field(default_factory=dict)


@dataclass(slots=True)
class _Stray:
    device: DeviceId
    transport: str
    peer: str
    location: Location | None
    last_seen_ns: int
    reports: int = 0


class WardState:
    """Beds, their latest readings and device links; unassigned senders."""

    def __init__(
        self,
        stale_timeout_s: float = DEFAULT_STALE_TIMEOUT_S,
        lost_after_s: float = DEFAULT_LOST_AFTER_S,
    ) -> None:
        self.stale_timeout_s = stale_timeout_s
        self.lost_after_s = max(lost_after_s, stale_timeout_s)
        self._beds: dict[BedId, _Bed] = {}
        self._strays: dict[DeviceId, _Stray] = {}

    def add_bed(self, bed: BedId, label: str) -> None:
        """Make a bed known (configured beds appear, as LOST, before any device speaks)."""
        if bed not in self._beds:
            self._beds[bed] = _Bed(bed, label, len(self._beds))

    def has_bed(self, bed: BedId) -> bool:
        return bed in self._beds

    def apply(self, bed: BedId, report: DeviceReport) -> None:
        """Record what a routed report says about ``bed`` (which must be known)."""
        state = self._beds[bed]
        now = report.receive_time_ns
        link = state.links.get(report.device)
        if link is None:
            state.links[report.device] = _Link(report.device, report.transport, report.peer, now)
        else:
            link.transport, link.peer, link.last_seen_ns = report.transport, report.peer, now
        if report.patient_id:
            state.patient_id = report.patient_id
        latest = state.latest
        for obs in report.observations:
            if obs.code == 0:
                continue  # a local code: journaled with the report, not a tile parameter
            entry = latest.get(obs.code)
            if entry is None:
                latest[obs.code] = _Latest(
                    obs.code, obs.label, obs.value, obs.unit, obs.status, obs.time_ns, now
                )
            else:
                entry.value, entry.unit, entry.status = obs.value, obs.unit, obs.status
                entry.measured_ns, entry.received_ns = obs.time_ns, now

    def note_unassigned(self, report: DeviceReport) -> None:
        stray = self._strays.get(report.device)
        if stray is None:
            stray = self._strays[report.device] = _Stray(
                report.device, report.transport, report.peer, report.location, 0
            )
        stray.transport, stray.peer = report.transport, report.peer
        stray.location = report.location or stray.location
        stray.last_seen_ns = report.receive_time_ns
        stray.reports += 1

    def snapshot(
        self, now_ns: int, *, faults: tuple[Fault, ...] = (), fault_count: int = 0
    ) -> WardSnapshot:
        timeout, lost_after = self.stale_timeout_s, self.lost_after_s
        beds = []
        for state in sorted(self._beds.values(), key=lambda b: b.order):
            readings = {}
            for entry in state.latest.values():
                age = (now_ns - entry.received_ns) / NS_PER_S
                readings[entry.code] = Reading(
                    entry.code,
                    entry.label,
                    entry.value,
                    entry.unit,
                    entry.status,
                    age,
                    (now_ns - entry.measured_ns) / NS_PER_S,
                    age > timeout,
                )
            devices = tuple(
                DeviceStatus(
                    link.device,
                    _connectivity((now_ns - link.last_seen_ns) / NS_PER_S, timeout, lost_after),
                    link.last_seen_ns,
                    link.transport,
                    link.peer,
                )
                for link in state.links.values()
            )
            last_seen = max((link.last_seen_ns for link in state.links.values()), default=None)
            silent = None if last_seen is None else (now_ns - last_seen) / NS_PER_S
            beds.append(
                BedSnapshot(
                    state.bed,
                    state.label,
                    state.patient_id,
                    MappingProxyType(readings),
                    devices,
                    (
                        Connectivity.LOST
                        if silent is None
                        else _connectivity(silent, timeout, lost_after)
                    ),
                    silent,
                )
            )
        strays = tuple(
            UnassignedDevice(s.device, s.transport, s.peer, s.location, s.last_seen_ns, s.reports)
            for s in self._strays.values()
        )
        return WardSnapshot(now_ns, timeout, tuple(beds), strays, faults, fault_count)


def _connectivity(silent_s: float, timeout_s: float, lost_after_s: float) -> Connectivity:
    if silent_s <= timeout_s:
        return Connectivity.CONNECTED
    return Connectivity.STALE if silent_s <= lost_after_s else Connectivity.LOST

"""One bed, one patient: which live device holds a bed, and where a second patient goes.

Routing (:mod:`gateway.ward.routing`) says which bed a report's location, device id or address
names. Two monitors may name the same one — two patients, or a monitor moved without its
bed being changed — and a tile that took both would flip between two patient ids and
interleave, trend and alarm two patients as one. This module stands between routing and
the ward: every routed report is *placed* (:meth:`BedConflicts.place`) on the bed routing
chose or, when that bed is held by a live device of another patient, on a conflict bed of
its own (``ICU 12-1 (2)``), so two patients' values never meet in one tile, trend, alarm
rule, journal row or export.

Rules (docs/dashboard.md, "BED CONFLICT"):

* A device is *live* at a bed while its last report there is at most the stale timeout
  old — the rule that marks a value stale. Two devices are at a bed *at the same time*
  when both are live there at that moment: a device that replaced one gone silent, or a
  monitor whose patient id changes (an admission), is no conflict.
* Two devices may share a bed when both are bound to it by configuration (a ``[[beds]]``
  device id or peer, a serial port's ``bed``: the engineer put them there on purpose), or
  when both send the same non-empty patient id (PID-3: a monitor and its ventilator).
  Anything else is not known to be one patient — different patient ids, or no patient id
  on one side — and the later device goes to a bed of its own, until an engineer binds it.
* A device keeps the bed it was placed on while it stays live and shares it only with
  devices it may share with; a bound device always takes the bed it is bound to, and a
  live device there it may not share with is *displaced* at once (:attr:`displaced`: the
  hub takes its link and values off the bed before the bound device's values go on, so
  the tile never shows both patients), and placed afresh — on a conflict bed — with its
  next report. A location can hold :data:`MAX_BEDS` beds;
  a device beyond them is unassigned (journaled and listed, never dropped).
* While devices are live on more than one bed of a location, that location is in
  conflict: :meth:`BedConflicts.active` lists it with every live source (the tiles show
  BED CONFLICT, the alarm engine raises its technical alarm).

This module keeps no values and must not touch the ward, the alarms or the journal: it
only decides beds. It runs on the ingest path: a report costs two dictionary lookups and
a comparison with the few other devices of its bed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from gateway.clock import NS_PER_S
from gateway.domain import BedId, DeviceId, DeviceReport
from gateway.ward.routing import Route

MAX_BEDS: Final = 4
"""Beds one location can be split into (its own and three conflict beds)."""
MAX_HOLDERS: Final = 16
"""Devices remembered per location; past it, the silent ones are forgotten."""


@dataclass(frozen=True, slots=True)
class ConflictSource:
    """One live device of a location in conflict, and the bed its values go to."""

    device: DeviceId
    patient_id: str
    bed: BedId
    bed_label: str

    @property
    def text(self) -> str:
        """``MON-A patient P1 on ICU 12-1 (2)``."""
        patient = f"patient {self.patient_id}" if self.patient_id else "no patient id"
        return f"{self.device} {patient} on {self.bed_label}"


@dataclass(frozen=True, slots=True)
class BedConflict:
    """A location that live devices of (possibly) different patients send at once."""

    bed: BedId
    """The bed the location routes to (the conflict beds are named after it)."""
    label: str
    sources: tuple[ConflictSource, ...]
    """Every live device of the location, the bed's own first."""

    @property
    def text(self) -> str:
        """``BED CONFLICT ICU 12-1: MON-A patient P1 on ICU 12-1 · MON-B …``."""
        return f"BED CONFLICT {self.label}: " + " · ".join(s.text for s in self.sources)


@dataclass(slots=True)
class _Holder:
    device: DeviceId
    patient_id: str
    slot: int
    last_ns: int
    bound: bool


@dataclass(slots=True)
class _Location:
    route: Route
    holders: dict[str, _Holder] = field(default_factory=dict)
    """By device key."""
    routes: list[Route] = field(default_factory=list)
    """The beds of this location by slot: its own (slot 0), then the conflict beds."""


class BedConflicts:
    """Places routed reports on beds so that one bed shows one patient."""

    def __init__(self, stale_timeout_s: float) -> None:
        self._live_ns = round(stale_timeout_s * NS_PER_S)
        self._locations: dict[str, _Location] = {}
        """By the key of the bed routing chose."""
        self._split: dict[str, _Location] = {}
        """The locations that have placed a device off their own bed (the only ones that
        can be in conflict: :meth:`active` looks at these alone)."""
        self.moves = 0
        """How many times a device was placed on another bed than before: when it has not
        changed, no conflict can have begun."""
        self.displaced: list[tuple[BedId, DeviceId]] = []
        """Devices a bound device took the bed of (bed, device), for the hub to take off
        that bed; it empties the list."""

    def place(self, route: Route, report: DeviceReport, seen_ns: int) -> Route | None:
        """The bed ``report``, taken in at monotonic time ``seen_ns``, goes to: ``route``'s,
        or a conflict bed of it; None when the location has no bed left for it (it is then
        unassigned)."""
        now = seen_ns
        location = self._location(route)
        holder = location.holders.get(report.device.key)
        if holder is None:
            holder = self._new_holder(location, report, -1, now, route.bound)
        else:
            if report.patient_id:
                holder.patient_id = report.patient_id
            if now - holder.last_ns > self._live_ns:
                holder.slot = -1  # silent past the stale timeout: placed afresh
            holder.last_ns = now
            holder.bound = route.bound
        slot = holder.slot
        if holder.bound:
            slot = 0
            if holder.slot != 0:
                self._displace(location, holder, now)
        elif slot < 0 or not self._fits(location, holder, slot, now):
            slot = next((s for s in range(MAX_BEDS) if self._fits(location, holder, s, now)), -1)
        if slot != holder.slot:
            holder.slot = slot
            self.moves += 1
            if slot > 0:
                self._split[route.bed.key] = location
        if slot < 0:
            return None
        return self._route(location, slot)

    def restore(self, route: Route, bed: BedId, report: DeviceReport, seen_ns: int) -> None:
        """A report placed before (read back from the journal after a restart, or
        replayed) on ``bed``, which routing names ``route``: its device is remembered on
        that bed, so a source of a conflict keeps its own bed across a restart. ``seen_ns``:
        its receive time on the monotonic scale. A bed that is not one of ``route``'s (the
        configuration changed since) is ignored."""
        if bed == route.bed:
            slot = 0
        else:
            prefix = f"{route.bed.key} ("
            number = bed.key[len(prefix) : -1] if bed.key.startswith(prefix) else ""
            if not number.isdigit() or not 2 <= int(number) <= MAX_BEDS:
                return
            slot = int(number) - 1
        location = self._location(route)
        holder = location.holders.get(report.device.key)
        if holder is None:
            holder = self._new_holder(location, report, slot, seen_ns, route.bound)
        elif seen_ns >= holder.last_ns:
            holder.slot, holder.last_ns = slot, seen_ns
            holder.patient_id = report.patient_id or holder.patient_id
        self._route(location, slot)
        if slot > 0:
            self._split[route.bed.key] = location
        self.moves += 1

    def forget(self, device_key: str, placed_ns: int) -> None:
        """A device moved to another bed by a change of the bindings, placed there at
        ``placed_ns``: it no longer holds the beds it held before."""
        for location in self._locations.values():
            holder = location.holders.get(device_key)
            if holder is not None and holder.last_ns != placed_ns:
                del location.holders[device_key]
                self.moves += 1

    def relabel(self, routes: list[Route]) -> None:
        """Configured beds renamed while running: their conflict beds follow the name."""
        for route in routes:
            location = self._locations.get(route.bed.key)
            if location is None or location.route.label == route.label:
                continue
            location.route = Route(route.bed, route.label, location.route.bound)
            count = len(location.routes)
            location.routes = [location.route]
            self._route(location, count - 1)

    def _location(self, route: Route) -> _Location:
        location = self._locations.get(route.bed.key)
        if location is None:
            location = self._locations[route.bed.key] = _Location(route, routes=[route])
        return location

    def _new_holder(
        self, location: _Location, report: DeviceReport, slot: int, now: int, bound: bool
    ) -> _Holder:
        """A device first heard at ``location`` (the silent longest forgotten for it when
        the location holds :data:`MAX_HOLDERS` already)."""
        if len(location.holders) >= MAX_HOLDERS:
            self._forget_silent(location, now)
        holder = location.holders[report.device.key] = _Holder(
            report.device, report.patient_id, slot, now, bound
        )
        return holder

    def active(self, now_ns: int) -> Mapping[str, BedConflict]:
        """Every location in conflict at monotonic time ``now_ns``, by the key of each of
        its beds."""
        found: dict[str, BedConflict] = {}
        for key, location in list(self._split.items()):
            live = sorted(
                (h for h in location.holders.values() if h.slot >= 0 and self._live(h, now_ns)),
                key=lambda h: h.slot,
            )
            if not any(h.slot > 0 for h in live):
                del self._split[key]  # nobody live off the bed's own: nothing to watch
                continue
            slots = {h.slot for h in live}
            if len(slots) < 2:
                continue
            route = location.route
            conflict = BedConflict(
                route.bed,
                route.label,
                tuple(
                    ConflictSource(
                        h.device,
                        h.patient_id,
                        location.routes[h.slot].bed,
                        location.routes[h.slot].label,
                    )
                    for h in live
                ),
            )
            for slot in slots:
                found[location.routes[slot].bed.key] = conflict
        return MappingProxyType(found)

    def _fits(self, location: _Location, holder: _Holder, slot: int, now: int) -> bool:
        """Whether ``holder`` may share bed ``slot`` with every other live device on it."""
        for other in location.holders.values():
            if other is holder or other.slot != slot or not self._live(other, now):
                continue
            if not _one_patient(holder, other):
                return False
        return True

    def _displace(self, location: _Location, holder: _Holder, now: int) -> None:
        """``holder``, bound, takes its bed's own slot: the live devices there it may not
        share with leave it (placed afresh with their next report)."""
        for other in location.holders.values():
            if other is holder or other.slot != 0 or not self._live(other, now):
                continue
            if other.bound or _one_patient(holder, other):
                continue
            other.slot = -1
            self.displaced.append((location.route.bed, other.device))
            self.moves += 1

    def _live(self, holder: _Holder, now: int) -> bool:
        return now - holder.last_ns <= self._live_ns

    def _route(self, location: _Location, slot: int) -> Route:
        routes = location.routes
        while len(routes) <= slot:
            own = location.route
            number = len(routes) + 1
            routes.append(Route(BedId(f"{own.bed.key} ({number})"), f"{own.label} ({number})"))
        return routes[slot]

    def _forget_silent(self, location: _Location, now: int) -> None:
        for key in [k for k, h in location.holders.items() if not self._live(h, now)]:
            del location.holders[key]
        while len(location.holders) >= MAX_HOLDERS:  # all live: the one heard longest ago
            oldest = min(location.holders, key=lambda k: location.holders[k].last_ns)
            del location.holders[oldest]


def _one_patient(one: _Holder, other: _Holder) -> bool:
    """Whether two devices are known to be at one patient."""
    if one.bound and other.bound:
        return True
    return bool(one.patient_id) and one.patient_id == other.patient_id

"""Routing: which bed a device's report belongs to.

A bed claims devices by configuration — the location the device sends (PV1-3), its device
id, its source address. With ``auto_beds`` (the zero-config default, for an emergency) a
report that matches no configured bed creates a bed named after its location, or after the
device when it sends none — or sends a blank one (``^^``, spaces: :func:`sent_location`).
Otherwise it is unassigned: the caller keeps and lists it,
never drops it. The configured beds can be replaced while running (:meth:`Router.rebind`:
a device bound from the devices screen, a configuration reloaded); the next report of
every sender is routed by the new ones. Routing goes by what each report says, never by
connection: one vendor gateway connection carries many beds.

Routing runs for every report on the ingest path, and a device says the same thing every
second: each decision is remembered by what it was made from (device, location as sent,
and the peer when beds are bound by address), and forgotten whenever a bed is created.

What senders may create is bounded (:mod:`gateway.admission`): a device not heard before
and an automatic bed are admitted first, and a report past a limit is routed to
:data:`REFUSED` — no bed, journaled as unassigned, none of its alarms raised. A refusal is
not remembered: the next report of that identity asks again (a bucket refills).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from gateway.admission import Admission, AdmissionLimits
from gateway.clock import Clock
from gateway.domain import BedId, DeviceReport, Location

MAX_REMEMBERED: Final = 4096
"""Routing decisions remembered; past it they are forgotten and made again (a device
reconnecting from ever new ports, when beds are bound by address, must not grow memory)."""


@dataclass(frozen=True, slots=True)
class BedBinding:
    """How one configured bed claims its devices."""

    bed: BedId
    label: str
    locations: tuple[str, ...] = ()
    devices: tuple[str, ...] = ()
    peers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    bed: BedId
    label: str
    bound: bool = False
    """Chosen by a configured device id, serial port or peer: the engineer named this
    sender for this bed (never in conflict with another so bound:
    :mod:`gateway.ward.bed_conflicts`)."""


_UNDECIDED = Route(BedId(""), "")
"""What a decision not made yet looks like (None is a decision: unassigned)."""

REFUSED: Final = Route(BedId(""), "refused by the admission limits")
"""The route of a report whose new device or automatic bed the admission limits refused:
no bed (compare with ``is``); it is journaled as unassigned and raises no alarm."""


def location_key(raw: str) -> str:
    """PV1-3 as compared: trailing empty components and case do not matter."""
    return raw.strip().rstrip("^&~ ").upper()


def sent_location(report: DeviceReport) -> Location | None:
    """The report's location, or None when it names no place (a PV1-3 of blanks and
    separators, ``^^``, ``   ``): such a location must never become a bed without a name."""
    location = report.location
    if (
        location is None
        or not location_key(location.raw).strip("^&~ ")
        or not (location.label.strip("^&~ "))
    ):
        return None
    return location


def peer_host(peer: str) -> str:
    """``10.0.0.5:4001`` → ``10.0.0.5``; ``[::1]:4001`` → ``::1``; anything else as is."""
    if peer.startswith("["):
        return peer[1 : peer.find("]")] if "]" in peer else peer
    if peer.count(":") == 1:
        return peer.split(":", 1)[0]
    return peer


class Router:
    def __init__(
        self,
        bindings: Iterable[BedBinding] = (),
        *,
        auto_beds: bool = True,
        admission: AdmissionLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.auto_beds = auto_beds
        self.admission = Admission(admission, clock)
        """What senders may create; its rates count on ``clock``'s monotonic time (a hub
        sets its own clock here)."""
        """What senders may create, and what they were refused (the hub tells it)."""
        self._by_location: dict[str, Route] = {}
        self._by_device: dict[str, Route] = {}
        self._by_peer: dict[str, Route] = {}
        self._auto_locations: dict[str, Route] = {}
        self._auto_devices: dict[str, Route] = {}
        """The automatic beds made so far, by location key and by device key: kept across
        :meth:`rebind`, under the configured ones."""
        self.configured: list[Route] = []
        self._decided: dict[tuple[str, str | None, str], Route | None] = {}
        self.rebind(bindings)

    def rebind(self, bindings: Iterable[BedBinding]) -> None:
        """Take a new set of configured beds while running: every report from now on is
        routed by them (no decision made before is kept). An automatic bed stays for the
        senders it was made for unless a configured bed now claims its location or device."""
        by_location: dict[str, Route] = {}
        by_device: dict[str, Route] = {}
        by_peer: dict[str, Route] = {}
        configured: list[Route] = []
        for binding in bindings:
            route = Route(binding.bed, binding.label)
            named = Route(binding.bed, binding.label, bound=True)
            configured.append(route)
            for loc in binding.locations:
                by_location[location_key(loc)] = route
            for dev in binding.devices:
                by_device[dev.upper()] = named
            for peer in binding.peers:
                by_peer[str(ipaddress.ip_address(peer))] = named
        for key in [k for k in self._auto_locations if k in by_location]:
            del self._auto_locations[key]
        for key in [k for k in self._auto_devices if k in by_device]:
            del self._auto_devices[key]
        self._by_location = {**self._auto_locations, **by_location}
        self._by_device = {**self._auto_devices, **by_device}
        self._by_peer = by_peer
        self.configured = configured
        self._decided.clear()

    def bound_bed(self, device_key: str) -> str | None:
        """The bed ``device_key`` is bound to by configuration (its id in a bed's
        ``devices``), None when it is not: a query, nothing decided or counted."""
        route = self._by_device.get(device_key.upper())
        return route.bed.key if route is not None and route.bound else None

    def route(self, report: DeviceReport) -> Route | None:
        """The bed for a report, None when it must be listed as unassigned, or
        :data:`REFUSED` when it asked for a device or bed past the admission limits.

        Precedence: the device's own id (a bed binding of the device survives a monitor
        that moves with its patient and sends a stale location), then the location, then
        the source address.
        """
        location = report.location
        key = (
            report.device.key,
            None if location is None else location.raw,
            report.peer if self._by_peer else "",
        )
        decided = self._decided
        found = decided.get(key, _UNDECIDED)
        if found is not _UNDECIDED:
            return found
        route = self._decide(report)
        if route is REFUSED:
            return route  # not remembered: asked again with the next report
        if len(decided) >= MAX_REMEMBERED:
            decided.clear()
        decided[key] = route
        return route

    def _decide(self, report: DeviceReport) -> Route | None:
        device = report.device.key
        route = self._by_device.get(device.upper())
        if route is not None:
            return route  # a device bound by configuration, or known with a bed of its own
        admission = self.admission
        new_device = None if admission.knows(device) else device
        location = sent_location(report)
        if location is not None:
            route = self._by_location.get(location_key(location.raw))
        if route is None and self._by_peer:
            route = self._by_peer.get(peer_host(report.peer))
        if route is not None or not self.auto_beds:
            if new_device is None or admission.admit(
                peer_host(report.peer), new_device, None, admission.clock.monotonic_ns()
            ):
                return route
            return REFUSED
        key = location_key(location.raw) if location is not None else device.upper()
        now = admission.clock.monotonic_ns()
        if not admission.admit(peer_host(report.peer), new_device, key, now):
            return REFUSED
        # A new bed may change earlier decisions (a device's own bed outranks a location).
        self._decided.clear()
        if location is not None:
            route = self._by_location[key] = Route(BedId(key), location.label)
            self._auto_locations[key] = route
            return route
        route = self._by_device[key] = Route(BedId(device), report.device.label)
        self._auto_devices[key] = route
        return route

"""What the devices screen lists, as plain records: pure functions of a snapshot.

For each device bound to a bed, each unassigned sender, and each address that only ever
sent rejected messages: how it is connected, how much it says, and what went wrong last —
a refused message, a fault on its link, or a value no patient can have (``value out of
range (count): …``, the technical note of :mod:`gateway.plausibility`).
For an unassigned sender, a ``[[beds]]`` snippet that binds it to a new bed — valid as
written (:func:`gateway.config.parse_config` accepts it) and ready to paste into the
configuration file.
"""

from __future__ import annotations

import re
from collections.abc import Set
from dataclasses import dataclass

from gateway.clock import NS_PER_S
from gateway.config.overlay import toml_string
from gateway.domain import Connectivity, Fault
from gateway.plausibility import RejectedValues
from gateway.ward.snapshot import DeviceLink, PeerRejects, UnassignedDevice, WardSnapshot
from tui.vitals import format_age

UNASSIGNED = "UNASSIGNED"


@dataclass(frozen=True, slots=True)
class DeviceRow:
    device: str
    """The device key (what binds it), or ``?`` for an address with no decodable message."""
    label: str
    bed: str
    """The bed's label, :data:`UNASSIGNED`, or ``-``."""
    bed_key: str
    """The bed's id ('' when not bound), to open its bed screen."""
    link: str
    """``connected`` / ``stale`` / ``lost`` (bound devices), ``unassigned``, ``rejected``."""
    transport: str
    peer: str
    last_message: str
    """How long ago it last sent an accepted message: ``3s``, ``12m``; ``-`` if never."""
    rate: str
    """Messages per second, one decimal."""
    messages: int
    rejected: int
    """Messages from its address answered with a reject (AR/CR)."""
    last_error: str
    out_of_range: int = 0
    connection: str = ""
    """``closed`` (its connection closed since its last report), ``open``, or '' where the
    transport has no connection of its own to judge (UDP, MQTT)."""
    """Values it sent that no patient can have (shown ``***``): the technical note's count."""


def _age(now_ns: int, then_ns: int) -> str:
    return format_age((now_ns - then_ns) / NS_PER_S)


def _last_error(
    transport: str,
    peer: str,
    rejects: PeerRejects | None,
    faults: tuple[Fault, ...],
    values: RejectedValues | None = None,
) -> str:
    """The newest of: the last reject from its address, a fault reported on its link, the
    last value it sent that no patient can have (with how many so far)."""
    source = f"{transport} {peer}"
    fault = next((f for f in reversed(faults) if f.source == source), None)
    candidates = []
    if fault is not None:
        candidates.append((fault.time_ns, fault.text))
    if rejects is not None and rejects.rejected:
        candidates.append((rejects.last_time_ns, f"rejected: {rejects.last_reason}"))
    if values is not None:
        # At the same time as its first fault, the count says more: it wins the tie.
        candidates.append((values.last_time_ns + 1, out_of_range_note(values)))
    return max(candidates)[1] if candidates else ""


def out_of_range_note(values: RejectedValues) -> str:
    """``value out of range (12): SpO2 -999: no-value marker -999``."""
    return f"value out of range ({values.count}): {values.last_text}"


def device_rows(ward: WardSnapshot) -> list[DeviceRow]:
    """Every device of every bed (in bed order), then unassigned senders, then addresses
    whose messages were all rejected."""
    now = ward.time_ns
    by_device = {(r.transport, r.device): r for r in ward.rejects if r.device}
    by_connection = {(r.transport, r.last_peer): r for r in ward.rejects if not r.device}
    values = {v.device.key: v for v in ward.rejected_values}
    shown: set[int] = set()

    def rejects_of(transport: str, device: str, peer: str) -> PeerRejects | None:
        """The sender's own rejects: by the device it is, else by its connection."""
        found = by_device.get((transport, device)) or by_connection.get((transport, peer))
        if found is not None:
            shown.add(id(found))
        return found

    rows = []
    for bed in ward.beds:
        for link in bed.devices:
            found = rejects_of(link.transport, link.device.key, link.peer)
            impossible = values.get(link.device.key)
            rows.append(
                DeviceRow(
                    link.device.key,
                    link.device.label,
                    bed.label,
                    bed.bed.key,
                    link.connectivity.value,
                    link.transport,
                    link.peer,
                    _age(now, link.last_seen_ns),
                    f"{link.rate_per_s:.1f}",
                    link.messages,
                    found.rejected if found else 0,
                    _last_error(link.transport, link.peer, found, ward.faults, impossible),
                    impossible.count if impossible else 0,
                    connection_of(link),
                )
            )
    for stray in ward.unassigned:
        found = rejects_of(stray.transport, stray.device.key, stray.peer)
        impossible = values.get(stray.device.key)
        rows.append(
            DeviceRow(
                stray.device.key,
                stray.device.label,
                UNASSIGNED,
                "",
                "unassigned",
                stray.transport,
                stray.peer,
                _age(now, stray.last_seen_ns),
                f"{stray.rate_per_s:.1f}",
                stray.reports,
                found.rejected if found else 0,
                _last_error(stray.transport, stray.peer, found, ward.faults, impossible),
                impossible.count if impossible else 0,
            )
        )
    for found in ward.rejects:
        if id(found) in shown:
            continue
        transport = found.transport
        rows.append(
            DeviceRow(
                found.device or "?",
                "(rejected)" if found.device else "(undecodable)",
                "-",
                "",
                "rejected",
                transport,
                found.last_peer,
                "-",
                "0.0",
                0,
                found.rejected,
                _last_error(transport, found.last_peer, found, ward.faults),
            )
        )
    return rows


CONNECTION_TRANSPORTS = frozenset(("mllp", "serial", "udp"))
"""Transports whose closing link the gateway sees and reports (``link_closed``): an MLLP
connection, a serial port (a cable, a USB adapter pulled), an IntelliVue association (over
UDP or its serial MIB port)."""


def connection_of(link: DeviceLink) -> str:
    """``closed``: its connection closed since it last spoke — a cable, a restarted monitor
    or vendor gateway, the gateway's restart —, not a device silent on an open link."""
    if link.closed:
        return "closed"
    return "open" if link.transport in CONNECTION_TRANSPORTS else ""


def link_word(link: str) -> str:
    """What a link state reads as on screen: the header's words (``no data`` for stale)."""
    return "no data" if link == Connectivity.STALE.value else link


def link_style(link: str) -> str:
    return {
        Connectivity.CONNECTED.value: "bold #5fff5f",
        Connectivity.STALE.value: "bold black on yellow",
        Connectivity.LOST.value: "bold white on red3",
        "unassigned": "bold black on yellow",
        "rejected": "bold white on red3",
    }.get(link, "")


def suggested_bed_id(stray: UnassignedDevice, taken: Set[str]) -> str:
    """A bed id from the device's location (``ICU^12^1`` → ``icu-12-1``) or its key,
    made unique among ``taken``."""
    source = stray.location.label if stray.location is not None else stray.device.key
    return suggested_id(source, taken)


def suggested_id(source: str, taken: Set[str]) -> str:
    """A bed id made from ``source`` (a label, a key: ``ICU 12-1`` → ``icu-12-1``),
    unique among ``taken``."""
    base = re.sub(r"[^a-z0-9_.-]+", "-", source.lower()).strip("-.") or "bed"
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def bed_snippet(stray: UnassignedDevice, taken: Set[str] = frozenset()) -> str:
    """A ``[[beds]]`` table binding ``stray`` to a new bed: its device key, and the
    location it sends when it sends one."""
    bed_id = suggested_bed_id(stray, taken)
    if stray.location is not None:
        label = stray.location.label
    else:
        label = stray.device.label or stray.device.key
    lines = [
        "[[beds]]",
        f"id = {toml_string(bed_id)}",
        f"label = {toml_string(label.strip() or bed_id)}",
        f"devices = [{toml_string(stray.device.key)}]",
    ]
    if stray.location is not None and stray.location.raw.strip("^&~ "):
        lines.append(f"locations = [{toml_string(stray.location.raw)}]")
    return "\n".join(lines) + "\n"


def identify(stray: UnassignedDevice, now_ns: int) -> list[tuple[str, str]]:
    """The fields that tell an unassigned sender apart, as (name, value) pairs."""
    fields = [
        ("device", stray.device.key),
        ("name", stray.device.label or "-"),
        ("via", f"{stray.transport} {stray.peer}"),
        ("location", stray.location.raw if stray.location is not None else "none sent"),
        ("patient", stray.patient_id or "none sent"),
        ("last seen", f"{_age(now_ns, stray.last_seen_ns)} ago"),
        ("reports", f"{stray.reports} ({stray.rate_per_s:.1f}/s)"),
    ]
    return fields

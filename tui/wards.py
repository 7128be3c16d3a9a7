"""The crisis unit's view: every gateway a remote screen hears, and every bed of each, with
its worst alarm — pure functions from a :class:`~gateway.ward.WardSnapshot` to rows.

Like :mod:`tui.devices`: no Textual, no state, no clock. Gateways keep the screen's order
(site, ward, gateway), so a row never moves while someone reads it; what is worst is said
in each row and counted in the summary line, never by reordering.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.alarms.snapshot import ActiveAlarm
from gateway.domain import AlarmPriority, BedId, Connectivity
from gateway.ward.snapshot import GatewaySource, WardSnapshot
from gateway.wording import plural

NO_DATA = "NO DATA"
LIVE = "live"


@dataclass(frozen=True, slots=True)
class BedLine:
    bed: BedId
    label: str
    state: str
    """``connected``, ``stale``, ``lost`` (as the gateway judges it), or NO DATA."""
    worst: ActiveAlarm | None
    alarms: int


@dataclass(frozen=True, slots=True)
class GatewayLine:
    source: GatewaySource
    beds: tuple[BedLine, ...]
    worst: ActiveAlarm | None
    """Its worst alarm, its beds' and its own (recording failed …) alike; NO DATA (and
    why) while it is dark."""
    counts: dict[AlarmPriority, int]
    """Alarms per priority, not yet acknowledged."""

    @property
    def state(self) -> str:
        return LIVE if self.source.dark is None else NO_DATA

    @property
    def beds_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for bed in self.beds:
            counts[bed.state] = counts.get(bed.state, 0) + 1
        return counts


def severity(alarm: ActiveAlarm) -> tuple[int, bool, bool, int]:
    """Sort key, worst first: priority, then not acknowledged, still active, oldest."""
    return (-alarm.priority, alarm.acknowledged, alarm.latched, alarm.onset_ns)


def worst(alarms: list[ActiveAlarm]) -> ActiveAlarm | None:
    return min(alarms, key=severity) if alarms else None


def ward_lines(ward: WardSnapshot) -> list[GatewayLine]:
    """One line per gateway the snapshot names, with a line per bed under it."""
    alarms = ward.alarms.alarms if ward.alarms is not None else ()
    by_bed: dict[BedId, list[ActiveAlarm]] = {}
    for alarm in alarms:
        if alarm.bed is not None:
            by_bed.setdefault(alarm.bed, []).append(alarm)
    beds = {bed.bed: bed for bed in ward.beds}
    lines = []
    for source in ward.sources:
        mine = [a for a in alarms if a.key.startswith(source.key + "/")]
        bed_lines = []
        for bed_id in source.beds:
            bed = beds.get(bed_id)
            held = by_bed.get(bed_id, [])
            state = (
                NO_DATA
                if source.dark is not None
                else (bed.connectivity.value if bed is not None else Connectivity.LOST.value)
            )
            label = bed.label if bed is not None else bed_id.key.rsplit("/", 1)[-1]
            label = label.removeprefix(f"{source.ward} ")  # the ward has its own column
            bed_lines.append(BedLine(bed_id, label, state, worst(held), len(held)))
        counts = {p: 0 for p in (AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW)}
        for alarm in mine:
            if not alarm.acknowledged and alarm.priority in counts:
                counts[alarm.priority] += 1
        # A dark gateway's worst is first of all that it is dark (and why): its other
        # alarms are only last known.
        dark = [a for a in mine if a.bed is None and a.key == f"{source.key}/no-data"]
        top = dark[0] if source.dark is not None and dark else worst(mine)
        lines.append(GatewayLine(source, tuple(bed_lines), top, counts))
    return lines


def gateway_name(source: GatewaySource) -> str:
    """``ICU 3 North (gw-icu3n)``: its name, and its topic level when that differs."""
    if source.name == source.gateway:
        return source.name
    return f"{source.name} ({source.gateway})"


def summary(lines: list[GatewayLine]) -> str:
    dark = sum(1 for line in lines if line.source.dark is not None)
    beds = sum(len(line.beds) for line in lines)
    high = sum(1 for line in lines for bed in line.beds if _high(bed.worst))
    wards = len({(line.source.site, line.source.ward) for line in lines})
    parts = [plural(wards, "ward"), plural(len(lines), "gateway"), plural(beds, "bed")]
    parts.append(f"{dark} NO DATA" if dark else "all gateways live")
    parts.append(f"{plural(high, 'bed')} with a high-priority alarm" if high else "no high alarm")
    return " · ".join(parts)


def _high(alarm: ActiveAlarm | None) -> bool:
    return alarm is not None and alarm.priority is AlarmPriority.HIGH and not alarm.acknowledged

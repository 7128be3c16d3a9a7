"""Ward state: every bed's latest values, 24 h trends and last minute of waves; device links.

The hub writes here as reports arrive (:meth:`WardState.apply`, on the ingest path: it
must stay cheap — a report's values go to the bed's trends in one call, staged in a
:class:`gateway.ward.trends.TrendStage` that is flushed before any trend is read); views never
hold a reference into it. They take a :class:`WardSnapshot`
at their own refresh rate — small records, no array data — and read trends and waves on
demand for the one bed they show (:meth:`WardState.trend`, :meth:`WardState.waveform`),
which return copies. Every read is computed against one clock reading given by the caller,
and it is here — in one place — that a value or a wave is judged live or stale: a view must
never decide freshness on its own.

Freshness is judged on the monotonic clock (:mod:`gateway.clock`), never on wall time: the
hub gives each report the monotonic time it was taken in (``seen_ns``) beside its wall
receive time, and a snapshot the monotonic time and the wall time it is taken at. A wall
clock stepped an hour either way moves what the screen's clock says, never an age. The
times a snapshot carries (a device's last message, the snapshot's own) are on the wall
scale of that snapshot, so a view subtracting them gets the monotonic age. Trends are
placed by wall receive time (:mod:`gateway.ward.trends`); measured ages add how old the device
said a value was when it arrived.

Memory is bounded per bed: at most :data:`MAX_TRENDS_PER_BED` trended parameters
(:data:`gateway.ward.trends.BYTES_PER_TREND` each, 40 kB, allocated at the first value
folded in) and :data:`MAX_WAVES_PER_BED` waves (64 s at their own rate, at most 1 kHz:
256 kB each), and the values staged for the trends
(:data:`gateway.ward.trends.STAGE_PER_TREND` a trend, at most 8 kB) — under 4.5 MB of
arrays in the worst case, about 0.7 MB for a monitor with a dozen values and three waves.
What does not fit is not dropped silently: it is logged once and listed in the bed's
``notes``, which the bed screen shows. The unassigned senders listed are bounded too
(:data:`MAX_UNASSIGNED`); the reports of those past it are counted
(``unassigned_unlisted``), and the hub tells it.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.clock import NS_PER_S
from gateway.domain import (
    BedId,
    Connectivity,
    DeviceId,
    DeviceReport,
    Fault,
    Location,
    ObservationStatus,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.ward.routing import peer_host
from gateway.ward.snapshot import (
    BedSnapshot,
    DeviceLink,
    PeerRejects,
    Reading,
    UnassignedDevice,
    WardSnapshot,
    WaveInfo,
    WaveKey,
    WaveWindow,
)
from gateway.ward.trends import TrendBuffer, TrendEnvelope, TrendStage
from gateway.ward.waveforms import WaveBuffer

log = logging.getLogger("gateway.ward")  # the name its log lines have always carried

DEFAULT_STALE_TIMEOUT_S = 10.0
DEFAULT_LOST_AFTER_S = 60.0
WAVE_STALE_S = 3.0
"""A wave whose last chunk came longer ago than this (or than the stale timeout, if
shorter) is stale: a still trace must not pass for a live one for ten seconds."""
MAX_TRENDS_PER_BED = 48
MAX_WAVES_PER_BED = 8
RATE_WINDOW_S = 10
MAX_UNASSIGNED = 256
"""Unassigned senders listed; past it a new one is counted, not listed (its reports are
journaled all the same): a sender inventing device ids must not grow the list for ever."""
"""Message rates are counted over a sliding window of this many seconds."""


class _Rate:
    """Messages per second over a sliding window, from two fixed windows' counts (cheap to
    update: one comparison per message, a division once per window)."""

    __slots__ = ("current", "next_ns", "previous", "total", "window")

    def __init__(self) -> None:
        self.window = -1
        self.next_ns = 0
        """When the window after ``window`` begins."""
        self.current = 0
        self.previous = 0
        self.total = 0

    def tick(self, now_ns: int) -> None:
        if now_ns >= self.next_ns:
            window = now_ns // _RATE_WINDOW_NS
            self.previous = self.current if window == self.window + 1 else 0
            self.current = 0
            self.window = window
            self.next_ns = (window + 1) * _RATE_WINDOW_NS
        self.current += 1
        self.total += 1

    def per_s(self, now_ns: int) -> float:
        width = _RATE_WINDOW_NS
        window, into = divmod(now_ns, width)
        remaining = 1.0 - into / width
        if window == self.window:
            return (self.previous * remaining + self.current) / RATE_WINDOW_S
        if window == self.window + 1:
            return self.current * remaining / RATE_WINDOW_S
        return 0.0 if window > self.window else self.current / RATE_WINDOW_S


_RATE_WINDOW_NS = RATE_WINDOW_S * NS_PER_S


@dataclass(slots=True)
class _Latest:
    code: int
    label: str
    value: float | str
    unit: str
    status: ObservationStatus
    measured_ns: int
    """The device's measurement time (wall, its own clock), else the receive time."""
    received_ns: int
    """Wall time it was received (what the journal has)."""
    seen_ns: int
    """Monotonic time it was taken in: what its age counts from."""
    demo: bool = False
    trend: TrendBuffer | None = None
    """The parameter's trend, once it has one (also in the bed's ``trends``): one lookup a
    value on the ingest path instead of two."""
    slot: int = -1
    """What the trend's values are staged under in the bed's ``stage`` (-1: not yet)."""


@dataclass(slots=True)
class _Link:
    device: DeviceId
    transport: str
    peer: str
    seen_ns: int
    """Monotonic time of its last report."""
    rate: _Rate = field(default_factory=_Rate)
    closed: bool = False
    """Its connection closed since its last report (or it was rebuilt after a restart)."""


@dataclass(slots=True)
class _Bed:
    bed: BedId
    label: str
    order: int
    patient_id: str = ""
    patient_name: str = ""
    latest: dict[int, _Latest] = field(default_factory=dict)
    links: dict[str, _Link] = field(default_factory=dict)
    """By device key (a device is its key: cheaper to hash than the record)."""
    trends: dict[int, TrendBuffer] = field(default_factory=dict)
    stage: TrendStage = field(default_factory=TrendStage)
    """The live values on their way to ``trends``: flushed before any trend is read."""
    waves: dict[WaveKey, WaveBuffer] = field(default_factory=dict)
    notes: dict[str, None] = field(default_factory=dict)
    configured: bool = False
    """Made by :meth:`WardState.add_bed` (a configured bed): kept when its devices leave."""


@dataclass(slots=True)
class _Stray:
    device: DeviceId
    transport: str
    peer: str
    location: Location | None
    seen_ns: int
    """Monotonic time of its last report."""
    reports: int = 0
    patient_id: str = ""
    rate: _Rate = field(default_factory=_Rate)


MAX_REJECT_SENDERS = 256
"""Senders whose rejects are counted apart; past it, the oldest one's count joins its
address's row of other connections (its total is never lost)."""
OTHER_CONNECTIONS = "other connections"
EVERY_OTHER = "every other address"


@dataclass(slots=True)
class _Rejects:
    transport: str
    host: str
    device: str = ""
    rejected: int = 0
    last_reason: str = ""
    last_time_ns: int = 0
    last_peer: str = ""


_INVALID = ObservationStatus.INVALID


class WardState:
    """Beds, their latest readings, trends and waves, device links; unassigned senders."""

    def __init__(
        self,
        stale_timeout_s: float = DEFAULT_STALE_TIMEOUT_S,
        lost_after_s: float = DEFAULT_LOST_AFTER_S,
    ) -> None:
        self.stale_timeout_s = stale_timeout_s
        self.lost_after_s = max(lost_after_s, stale_timeout_s)
        self.wave_stale_s = min(stale_timeout_s, WAVE_STALE_S)
        self._beds: dict[str, _Bed] = {}
        """By bed key (a bed is its key: cheaper to hash than the record)."""
        self._strays: dict[DeviceId, _Stray] = {}
        self._rejects: dict[tuple[str, str], _Rejects] = {}
        self._wall_offset_ns = 0
        """Wall minus monotonic time at the latest snapshot: a view's time (a snapshot's
        ``time_ns``) back on the monotonic scale, for :meth:`waveform`."""
        self.unassigned_unlisted = 0
        """Reports of unassigned senders not listed: :data:`MAX_UNASSIGNED` were already."""
        self._admitted: dict[str, tuple[str, str]] = {}
        """By bed key: the patient (id, name) admitted at the gateway. Kept apart from the
        beds, so an automatic bed that goes and comes back is still admitted."""

    def admit(self, bed_key: str, patient_id: str, patient_name: str = "") -> None:
        """The patient admitted to bed ``bed_key`` at the gateway (the devices screen): the
        bed shows them while its devices send no patient id. A device that sends one wins
        — it is the monitor's own admission — and a different one is a mismatch, said on
        the bed (``patient_mismatch``), never mixed with the entered name."""
        self._admitted[bed_key] = (patient_id, patient_name)

    def discharge(self, bed_key: str) -> None:
        """The patient admitted at the gateway left bed ``bed_key``: what its devices send
        (if anything) is what shows."""
        self._admitted.pop(bed_key, None)

    def add_bed(self, bed: BedId, label: str) -> None:
        """Make a configured bed known (it appears, as LOST, before any device speaks), or
        give a known one a new label."""
        state = self._beds.get(bed.key)
        if state is None:
            state = self._beds[bed.key] = _Bed(bed, label, self._next_order())
        state.label = label
        state.configured = True

    def bed_count(self) -> int:
        return len(self._beds)

    def order_by_label(self, known: int) -> None:
        """The beds made after the first ``known`` (those a restart read back from the
        journal) put in the order of their labels (``ICU 2-1`` before ``ICU 10-1``), behind
        the others: the grid shows a rebuilt ward in an order staff can predict — not in the
        order the journal happened to give each sender's last report. Beds heard later are
        added behind, as before."""
        beds = sorted(self._beds.values(), key=lambda b: b.order)
        made = sorted(beds[known:], key=lambda b: _natural(b.label or b.bed.key))
        for order, state in enumerate([*beds[:known], *made]):
            state.order = order

    def unconfigure(self, bed: BedId) -> None:
        """A bed no longer configured: gone at once if no device is on it, else when its
        last device leaves (:meth:`leave`)."""
        state = self._beds.get(bed.key)
        if state is None:
            return
        state.configured = False
        if not state.links:
            del self._beds[bed.key]

    def homes(self) -> dict[str, str]:
        """Where each device is now: device key → bed key ('' for an unassigned sender)."""
        homes = {stray.device.key: "" for stray in self._strays.values()}
        for state in self._beds.values():
            for key in state.links:
                homes[key] = state.bed.key
        return homes

    def leave(self, bed_key: str, device: DeviceId) -> None:
        """``device`` was moved off bed ``bed_key`` ('': the unassigned list) by a change of
        the bindings, and now reports elsewhere. Its link goes; the bed's latest values and
        waves go too (which of them were this device's is not kept, and none may stay on
        screen as live here), and the devices left refill them with their next report. An
        automatic bed left without a device goes away; a configured one stays, with no
        value (LOST, as before any device spoke). Its trends stay: they are history."""
        if not bed_key:
            for stray in [s for s in self._strays if s.key == device.key]:
                del self._strays[stray]
            return
        state = self._beds.get(bed_key)
        if state is None or state.links.pop(device.key, None) is None:
            return
        state.latest.clear()
        state.waves.clear()
        if not state.links:
            state.patient_id = state.patient_name = ""
            if not state.configured:
                del self._beds[bed_key]

    def _next_order(self) -> int:
        return max((b.order for b in self._beds.values()), default=-1) + 1

    def has_bed(self, bed: BedId) -> bool:
        return bed.key in self._beds

    def apply(
        self, bed: BedId, report: DeviceReport, *, seen_ns: int, label: str | None = None
    ) -> None:
        """Record what a routed report says about ``bed``, taken in at monotonic time
        ``seen_ns``: a bed not known yet is added with ``label`` (None: it must be known, a
        KeyError otherwise)."""
        state = self._beds.get(bed.key)
        if state is None:
            if label is None:
                raise KeyError(bed)
            state = self._beds[bed.key] = _Bed(bed, label, self._next_order())
        now = report.receive_time_ns
        seen = seen_ns
        device = report.device
        link = state.links.get(device.key)
        if link is None:
            link = state.links[device.key] = _Link(device, report.transport, report.peer, seen)
            stray = self._strays.get(device)
            if stray is not None and stray.seen_ns <= seen:
                # bound since it was an unassigned sender (the rebuild after a restart
                # replays both): it is unassigned no longer
                del self._strays[device]
        else:
            link.transport, link.peer, link.seen_ns = report.transport, report.peer, seen
            link.closed = False
        rate = link.rate
        if seen < rate.next_ns:  # within the rate's current window: what tick() would do
            rate.current += 1
            rate.total += 1
        else:
            rate.tick(seen)
        if report.patient_id:
            if report.patient_id != state.patient_id:
                state.patient_name = ""  # another patient: never the last one's name
            state.patient_id = report.patient_id
        if report.patient_name:
            state.patient_name = report.patient_name
        latest = state.latest
        isfinite = math.isfinite
        invalid = _INVALID
        slots: list[int] = []
        values: list[float] = []
        for obs in report.observations:
            code = obs.code
            if code == 0:
                continue  # a local code: journaled with the report, not a tile parameter
            value = obs.value
            status = obs.status
            measured = obs.device_time_ns
            if measured is None:
                measured = obs.receive_time_ns
            entry = latest.get(code)
            demo = obs.demo
            if entry is None:
                entry = latest[code] = _Latest(
                    code, obs.label, value, obs.unit, status, measured, now, seen, demo
                )
            elif measured == entry.measured_ns:
                # A value re-sent with the same measurement time (NIBP between cuff cycles)
                # is one measurement: it goes into the trend once.
                entry.value, entry.unit, entry.status, entry.received_ns, entry.seen_ns = (
                    value, obs.unit, status, now, seen
                )  # fmt: skip
                entry.demo = demo
                continue
            else:
                entry.value, entry.unit, entry.status = value, obs.unit, status
                entry.measured_ns, entry.received_ns, entry.seen_ns = measured, now, seen
                entry.demo = demo
            if status is invalid or demo or isinstance(value, str):
                continue  # not a trend point: invalid, demo data, or text
            slot = entry.slot
            if slot < 0:
                trend = entry.trend
                if trend is None:
                    trend = entry.trend = self._new_trend(state, code, obs.label)
                    if trend is None:
                        continue
                slot = entry.slot = state.stage.slot(trend)
            if isfinite(value):
                slots.append(slot)
                values.append(value)
        if values:  # the report's values go to the trends in one call
            state.stage.add(now, slots, values)
        if report.waveforms:
            for chunk in report.waveforms:
                self._apply_wave(state, chunk, seen)

    def backfill(self, bed: BedId, label: str, report: DeviceReport, *, seen_ns: int) -> None:
        """A report from before a restart, read back from the journal while live reports
        arrive (the trend back-fill, :mod:`gateway.journal.backfill`): it makes the bed, a device
        link, the patient id and a parameter's latest value known only where the ward
        holds nothing newer — a back-filled value never replaces a newer one, so a live
        value never looks older than it is. Its values reach the trends through
        :meth:`add_trend_history`; its waves are older than any wave kept; message rates
        count what arrives live. ``seen_ns``: its receive time on the monotonic scale
        (:func:`gateway.clock.monotonic_of`), what "newer" is judged by."""
        state = self._beds.get(bed.key)
        if state is None:
            state = self._beds[bed.key] = _Bed(bed, label, self._next_order())
        now = report.receive_time_ns
        seen = seen_ns
        device = report.device
        link = state.links.get(device.key)
        stray = self._strays.get(device)
        if stray is not None and stray.seen_ns <= seen:
            # bound to this bed since it was an unassigned sender: it is one no longer
            del self._strays[device]
        # Rebuilt from the journal: whatever connection it came on is gone with the restart.
        if link is None:
            state.links[device.key] = _Link(
                device, report.transport, report.peer, seen, closed=True
            )
        elif link.seen_ns < seen:
            link.transport, link.peer, link.seen_ns = report.transport, report.peer, seen
        if report.patient_id and not state.patient_id:
            state.patient_id = report.patient_id
        latest = state.latest
        for obs in report.observations:
            code = obs.code
            if code == 0:
                continue
            entry = latest.get(code)
            if entry is None:
                latest[code] = _Latest(
                    code, obs.label, obs.value, obs.unit, obs.status, obs.time_ns, now, seen,
                    obs.demo, state.trends.get(code),
                )  # fmt: skip
            elif entry.seen_ns < seen:
                entry.value, entry.unit, entry.status = obs.value, obs.unit, obs.status
                entry.measured_ns, entry.received_ns, entry.seen_ns = obs.time_ns, now, seen
                entry.demo = obs.demo

    def add_trend_history(
        self, bed: BedId, code: int, label: str, times_ns: Sequence[int], values: Sequence[float]
    ) -> None:
        """Values of one parameter of ``bed`` (known: see :meth:`backfill`) received before
        a restart, each into the trend at its own receive time, behind any newer values."""
        state = self._beds[bed.key]
        trend = self._new_trend(state, code, label)
        if trend is None:
            return
        entry = state.latest.get(code)
        if entry is not None and entry.trend is None:
            entry.trend = trend
        state.stage.flush()  # live values first, as if they had been folded on arrival
        trend.add_history(times_ns, values)

    def note_unassigned(self, report: DeviceReport, *, seen_ns: int) -> bool:
        """List (or update) the unassigned sender of ``report``, taken in at monotonic
        ``seen_ns``; False when it is not listed, :data:`MAX_UNASSIGNED` senders being
        listed already (it is counted)."""
        stray = self._strays.get(report.device)
        if stray is None:
            if len(self._strays) >= MAX_UNASSIGNED:
                self.unassigned_unlisted += 1
                return False
            stray = self._strays[report.device] = _Stray(
                report.device, report.transport, report.peer, report.location, 0
            )
        stray.transport, stray.peer = report.transport, report.peer
        stray.location = report.location or stray.location
        stray.patient_id = report.patient_id or stray.patient_id
        stray.seen_ns = seen_ns
        stray.reports += 1
        stray.rate.tick(seen_ns)
        return True

    def note_link_closed(self, transport: str, peer: str) -> None:
        """The connection ``peer`` came on closed: its devices' links say so until they
        report again (a closed link and a silent device are not the same fault)."""
        for state in self._beds.values():
            for link in state.links.values():
                if link.peer == peer and link.transport == transport:
                    link.closed = True

    def note_rejected(self, message: ReceivedMessage, reason: str) -> None:
        """Count a message refused from its sender: the device it named, or else its
        connection (see :class:`~gateway.ward.snapshot.PeerRejects`)."""
        host = peer_host(message.peer)
        device = message.device.key if message.device is not None else ""
        key = (message.transport, f"device {device}" if device else message.peer)
        entry = self._rejects.get(key)
        if entry is None:
            while len(self._rejects) >= MAX_REJECT_SENDERS:
                self._fold_oldest_reject()
            entry = self._rejects[key] = _Rejects(message.transport, host, device)
        entry.rejected += 1
        entry.last_reason = reason
        entry.last_time_ns = message.receive_time_ns
        entry.last_peer = message.peer

    def _fold_oldest_reject(self) -> None:
        """Make room: the oldest sender's count joins its address's row of other
        connections; the oldest such row (when only those are left) joins one row for
        every other address. Totals are never lost."""
        candidates = [item for item in self._rejects.items() if item[0][1] != EVERY_OTHER]
        senders = [item for item in candidates if OTHER_CONNECTIONS not in item[0][1]]
        key, oldest = min(senders or candidates, key=lambda item: item[1].last_time_ns)
        del self._rejects[key]
        host = oldest.host if senders else EVERY_OTHER
        folded = (oldest.transport, f"{host} ({OTHER_CONNECTIONS})" if senders else EVERY_OTHER)
        entry = self._rejects.pop(folded, None)
        if entry is None:
            entry = _Rejects(oldest.transport, host)
            entry.last_peer = folded[1]
        entry.rejected += oldest.rejected
        if oldest.last_time_ns >= entry.last_time_ns:
            entry.last_reason, entry.last_time_ns = oldest.last_reason, oldest.last_time_ns
        self._rejects[folded] = entry

    def snapshot(
        self,
        now_ns: int,
        *,
        wall_ns: int | None = None,
        faults: tuple[Fault, ...] = (),
        fault_count: int = 0,
    ) -> WardSnapshot:
        """Every bed judged at monotonic time ``now_ns``; ``wall_ns`` is the wall time it
        is shown at (None: the same as ``now_ns``, a ward that never saw a clock step)."""
        wall = now_ns if wall_ns is None else wall_ns
        offset = self._wall_offset_ns = wall - now_ns  # monotonic stamps → this wall scale
        timeout, lost_after = self.stale_timeout_s, self.lost_after_s
        wave_timeout = self.wave_stale_s
        beds = []
        for state in sorted(self._beds.values(), key=lambda b: b.order):
            readings = {}
            for entry in state.latest.values():
                age = (now_ns - entry.seen_ns) / NS_PER_S
                readings[entry.code] = Reading(
                    entry.code,
                    entry.label,
                    entry.value,
                    entry.unit,
                    entry.status,
                    age,
                    age + (entry.received_ns - entry.measured_ns) / NS_PER_S,
                    age > timeout,
                    entry.demo,
                )
            devices = tuple(
                DeviceLink(
                    link.device,
                    _connectivity((now_ns - link.seen_ns) / NS_PER_S, timeout, lost_after),
                    link.seen_ns + offset,
                    link.transport,
                    link.peer,
                    link.rate.total,
                    link.rate.per_s(now_ns),
                    link.closed,
                )
                for link in state.links.values()
            )
            last_seen = max((link.seen_ns for link in state.links.values()), default=None)
            silent = None if last_seen is None else (now_ns - last_seen) / NS_PER_S
            waves = []
            for key, wave in state.waves.items():
                age = (now_ns - wave.received_ns) / NS_PER_S
                waves.append(
                    WaveInfo(
                        key, wave.label, wave.unit, wave.sample_rate_hz, age, age > wave_timeout
                    )
                )
            patient_id, patient_name = state.patient_id, state.patient_name
            entered, mismatch = False, ""
            admitted = self._admitted.get(state.bed.key) if self._admitted else None
            if admitted is not None:
                if not patient_id:
                    patient_id, patient_name = admitted
                    entered = True
                elif patient_id != admitted[0]:
                    mismatch = (
                        f"patient id mismatch: entered {admitted[0]}, device sends {patient_id}"
                    )
                elif not patient_name:
                    patient_name = admitted[1]  # the same patient: the name entered
            beds.append(
                BedSnapshot(
                    state.bed,
                    state.label,
                    patient_id,
                    MappingProxyType(readings),
                    devices,
                    (
                        Connectivity.LOST
                        if silent is None
                        else _connectivity(silent, timeout, lost_after)
                    ),
                    silent,
                    tuple(waves),
                    tuple(state.notes),
                    patient_name=patient_name,
                    patient_entered=entered,
                    patient_mismatch=mismatch,
                )
            )
        strays = tuple(
            UnassignedDevice(
                s.device,
                s.transport,
                s.peer,
                s.location,
                s.seen_ns + offset,
                s.reports,
                s.patient_id,
                s.rate.per_s(now_ns),
            )
            for s in self._strays.values()
        )
        rejects = tuple(
            PeerRejects(
                r.transport,
                r.host,
                r.rejected,
                r.last_reason,
                r.last_time_ns,
                r.last_peer,
                r.device,
            )
            for r in self._rejects.values()
        )
        return WardSnapshot(wall, timeout, tuple(beds), strays, faults, fault_count, rejects)

    def trend(
        self, bed: BedId, code: int, span_s: float, columns: int, now_ns: int
    ) -> TrendEnvelope | None:
        """The low/high envelope of one parameter of ``bed`` over the ``span_s`` seconds up
        to ``now_ns``, one entry per column; None if the bed has no trend of it."""
        state = self._beds.get(bed.key)
        if state is None or (trend := state.trends.get(code)) is None:
            return None
        state.stage.flush()  # the values still on their way count
        return trend.envelope(span_s, columns, now_ns)

    def waveform(self, bed: BedId, key: WaveKey, seconds: float, now_ns: int) -> WaveWindow | None:
        """The newest ``seconds`` of one wave of ``bed``, judged fresh or stale at
        ``now_ns`` — a snapshot's ``time_ns``, the view's time; None if the bed has no
        such wave."""
        state = self._beds.get(bed.key)
        wave = None if state is None else state.waves.get(key)
        if wave is None or wave.end_ns is None:
            return None
        age = (now_ns - self._wall_offset_ns - wave.received_ns) / NS_PER_S
        return WaveWindow(
            key,
            wave.label,
            wave.unit,
            wave.sample_rate_hz,
            wave.window(seconds),
            wave.end_ns,
            age,
            age > self.wave_stale_s,
        )

    def memory_bytes(self, bed: BedId) -> int:
        """Bytes held in numpy buffers for ``bed`` (trends and waves)."""
        state = self._beds[bed.key]
        trends = sum(trend.nbytes for trend in state.trends.values())
        return trends + sum(wave.nbytes for wave in state.waves.values())

    def _new_trend(self, state: _Bed, code: int, label: str) -> TrendBuffer | None:
        if (known := state.trends.get(code)) is not None:
            return known  # made by the back-fill before the parameter's latest value
        if len(state.trends) >= MAX_TRENDS_PER_BED:
            self._note(state, f"no trend kept for {label or code}: {MAX_TRENDS_PER_BED} per bed")
            return None
        trend = state.trends[code] = TrendBuffer(code)
        return trend

    def _apply_wave(self, state: _Bed, chunk: WaveformChunk, seen: int) -> None:
        if chunk.code:
            key: WaveKey = (chunk.code, chunk.sub_id)
        elif chunk.source_code:
            key = (0, f"{chunk.source_code} {chunk.sub_id}".rstrip())
        else:
            self._note(state, f"wave {chunk.label or '?'} has no code: not shown")
            return
        wave = state.waves.get(key)
        if wave is None or wave.sample_rate_hz != chunk.sample_rate_hz:
            if wave is None and len(state.waves) >= MAX_WAVES_PER_BED:
                self._note(
                    state, f"wave {chunk.label or key} not kept: {MAX_WAVES_PER_BED} per bed"
                )
                return
            try:
                wave = WaveBuffer(chunk.code, chunk.label, chunk.unit, chunk.sample_rate_hz)
            except ValueError as error:
                self._note(state, f"wave {chunk.label or key} not kept: {error}")
                return
            state.waves[key] = wave
        wave.add(chunk, seen)

    def _note(self, state: _Bed, text: str) -> None:
        if text not in state.notes:
            state.notes[text] = None
            log.warning("bed %s: %s", state.label, text)


def _connectivity(silent_s: float, timeout_s: float, lost_after_s: float) -> Connectivity:
    if silent_s <= timeout_s:
        return Connectivity.CONNECTED
    return Connectivity.STALE if silent_s <= lost_after_s else Connectivity.LOST


def _natural(label: str) -> tuple[tuple[int, int | str], ...]:
    """A label's sort key, its numbers by value: ``ICU 2-1`` before ``ICU 10-1``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part.casefold())
        for part in re.split(r"(\d+)", label)
        if part
    )

"""The trend back-fill after a restart: the day before it, read back from the journal into the
ward's trends in the background, while live reports arrive.

A restart first restores the ward from the journal before any listener opens
(:func:`gateway.app.service.rebuild`: each sender's last reports of the 10 minutes before
the journal's last message, then its last :data:`RESTORED_S` whole, what of them falls in
the 10 minutes before the restart — latest values shown stale with their true age,
devices, waves, the alarm state) — quick, so monitors are answered again within seconds.
The rest of the trends' reach (:data:`gateway.ward.trends.TREND_SPAN_S`, 24 h) comes from
here: first the rest of the 10 minutes before the restart (a value a device stopped
sending in them comes back within seconds; after a longer stop, such values come with the
newest hour), then the journal newest hour first, in a worker thread
(``asyncio.to_thread``), applied on the event loop in slices of :data:`SLICE` reports,
yielding between them and pausing as long as it worked (:data:`PAUSE`), so live reports
and the screen keep their pace. Newest
first, because that is what the screen shows first: the 1 h graph is whole after the first
hour read back.

A back-filled value never makes a live one older: it goes into its trend at its own
receive time, and becomes a parameter's latest value only where the ward has none newer
(:meth:`~gateway.ward.WardState.backfill`). A value re-sent with an unchanged measurement
time (NIBP between cuff cycles) goes into the trend once, at its first receipt, as on the
live path — across the hours read back one after the other too.

Progress is shown, never implied: ``trends rebuilt: 8 h of 24`` in the fault line when a
trend graph's span is whole (1 h, 8 h) and at the end, every hour in the log; a journal
that cannot be read stops the back-fill with a fault saying how far it got.

This module must not write the journal, feed the alarm engine (alarms are restored, in
order, from the minutes rebuilt before listeners open) or touch waves (a wave buffer holds
64 s, all of it in those minutes). Reports of unassigned senders are not read back here:
their list is about who is sending now. Nor are the reports of a device bound to another
bed now than the one it reported to (bound on the devices screen or in the configuration
since): reading them back would bring its old bed back — an automatic bed that went when
the device moved — with its stale values and its link beside the live one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gateway.clock import NS_PER_S, monotonic_of
from gateway.domain import BedId, ObservationStatus
from gateway.errors import JournalError
from gateway.hub import Hub
from gateway.journal.reader import JournalReader, read_reports
from gateway.journal.records import StoredReport
from gateway.ward.waveforms import WAVE_SECONDS

log = logging.getLogger("gateway.backfill")  # the name its log lines have always carried

HOUR_NS = 3600 * NS_PER_S
RESTORED_S = 120.0
"""The journal's last minutes before the stop that a restart feeds back through the ward's
and the alarm engine's normal path before listeners open: longer than every delay the
engine counts (condition delays 5 s by default, apnoea 20 s, invalid 10 s, DEVICE LOST's
escalation 60 s). Before them, each sender's last reports are read (a device silent since
is known, and lost); the rest of those minutes is back-filled first, behind the listeners."""
WAVES_S = float(WAVE_SECONDS)
"""Of those, the seconds whose waves are read back: what a wave buffer holds."""
SLICE = 64
"""Reports applied on the event loop between two yields: a few milliseconds of work."""
READ_BATCH = 500
"""Reports read per trip to the worker thread."""
PAUSE = 0.5
"""Seconds the back-fill pauses for each second it worked. Reading runs in a thread, but
turning rows into records holds the GIL the event loop needs: unpaced, the loop's median
lateness went from 0.3 ms to ~20 ms on the loaded 2-core development machine; pausing half
as long as it worked brought it back to 0.2–0.4 ms for 73 % of the unpaced speed (a pause
as long as the work: 44 %). The rare long waits (p99 ~80 ms) are the same either way."""
SHOWN_AT_H = (1, 8)
"""Hours whose completion is shown in the fault line (the bed screen's 1 h and 8 h graphs;
24 h is the end)."""

_INVALID = ObservationStatus.INVALID
_Key = tuple[str, int]
"""A trended parameter of a bed: (bed key, MDC code)."""


@dataclass(slots=True)
class _First:
    """The oldest reading of a parameter in the hours read so far: whether it starts a new
    measurement is known only once the hour before it has been read."""

    bed: BedId
    label: str
    measured_ns: int
    received_ns: int
    value: float | None
    """None when it does not go into a trend (invalid, text, not finite)."""


@dataclass(slots=True)
class _Points:
    bed: BedId
    label: str
    times_ns: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


class TrendBackfill:
    """``await TrendBackfill(hub, path, since_ns=…, until_ns=…, now_ns=…).run()`` reads the
    journal's reports received from ``since`` to where the rebuild's whole reports began
    (:func:`restore_bounds`; ``until`` is where its last reports began) into ``hub.ward``'s
    trends: [until, that) first, then newest hour first. ``now_ns`` is the restart:
    progress counts hours back from it."""

    def __init__(self, hub: Hub, path: Path, *, since_ns: int, until_ns: int, now_ns: int) -> None:
        self.hub = hub
        self.path = path
        self.since_ns = since_ns
        self.until_ns = until_ns
        self.now_ns = now_ns
        self.hours_total = max(0, math.ceil((now_ns - since_ns) / HOUR_NS))
        self.hours_done = 0
        """Hours before the restart read back (when the journal holds less than
        ``hours_total``, the last of them is its oldest part)."""
        self.reports = 0
        """Reports read back so far."""
        self.finished = False
        self._held: dict[_Key, _First] = {}

    async def run(self) -> None:
        """Read the journal back, newest hour first. Never raises (but when cancelled): a
        journal that cannot be read, or a bug, stops the back-fill with a fault on the
        dashboard, and the trends stay as far as they got."""
        try:
            await self._run()
        except JournalError as exc:
            self._settle_held()
            self.hub.fault(
                "journal",
                f"trends rebuilt: {self.hours_done} h of {self.hours_total} only; the journal"
                f" could not be read further back: {exc}",
            )
        except Exception as exc:  # a corrupt row must not stop the gateway: shown, logged
            log.exception("the trend back-fill stopped")
            self._settle_held()
            self.hub.fault(
                "journal",
                f"trends rebuilt: {self.hours_done} h of {self.hours_total} only; the"
                f" back-fill stopped: {exc!r}",
            )

    async def _run(self) -> None:
        started = time.monotonic()
        total = self.hours_total
        if not await asyncio.to_thread(self.path.is_file):
            self.finished = True  # a first start: nothing to read back
            return
        span = await asyncio.to_thread(_time_range, self.path, self.now_ns)
        restored, _ = await asyncio.to_thread(restore_bounds, self.path, self.until_ns, self.now_ns)
        oldest = self.since_ns if span is None else max(self.since_ns, span[0])
        if span is None or oldest >= restored:
            self.finished = True  # the minutes rebuilt before listeners opened are all
            return
        self.hub.fault("journal", f"rebuilding trends from the journal: 0 h of {total}")
        # First the rest of the minutes whose last reports alone were read before the
        # listeners opened: the values a device stopped sending in them come back first.
        recent = max(oldest, self.until_ns)
        if recent < restored:
            await self._read(recent, restored)
        hour = 1
        until = min(self.until_ns, restored)
        while until > oldest:
            since = max(oldest, self.now_ns - hour * HOUR_NS)
            if since < until:
                await self._read(since, until)
                until = since
            self._progress(min(hour, total), total, whole=since > oldest)
            hour += 1
        self._settle_held()
        self.finished = True
        elapsed = time.monotonic() - started
        done = f"{self.reports} reports in {elapsed:.0f} s"
        if oldest > self.since_ns:
            reach = (self.now_ns - oldest) / HOUR_NS
            text = f"trends rebuilt: {reach:.1f} h of {total}, all the journal holds ({done})"
        else:
            text = f"trends rebuilt: {total} h of {total} ({done})"
        self.hub.fault("journal", text)

    def _progress(self, hour: int, total: int, *, whole: bool) -> None:
        self.hours_done = hour
        if not whole:
            return  # the journal's oldest hour: the end says how far it reached
        log.info("trends rebuilt: %d h of %d (%d reports)", hour, total, self.reports)
        if hour in SHOWN_AT_H:
            self.hub.fault("journal", f"trends rebuilt: {hour} h of {total}")

    async def _read(self, since_ns: int, until_ns: int) -> None:
        """One span of the journal, oldest report first (as stored), in slices."""
        last: dict[_Key, int] = {}
        first: dict[_Key, _First] = {}
        started = time.monotonic()
        async for batch in read_reports(
            self.path, since_ns=since_ns, until_ns=until_ns, chunk=READ_BATCH, values_only=True
        ):
            for start in range(0, len(batch), SLICE):
                self._apply(batch[start : start + SLICE], last, first)
                await asyncio.sleep(0)  # live reports and the screen go first
            await asyncio.sleep((time.monotonic() - started) * PAUSE)  # read and applied
            started = time.monotonic()
        # The readings held from the newer hours: each starts a new measurement unless the
        # last reading before it (now known) had the same measurement time.
        held = self._held
        points: dict[_Key, _Points] = {}
        for key in [key for key in held if key in last]:
            reading = held.pop(key)
            if last[key] != reading.measured_ns and reading.value is not None:
                _add(points, key, reading)
        held.update(first)
        self._store(points)

    def _apply(
        self,
        batch: Sequence[StoredReport],
        last: dict[_Key, int],
        first: dict[_Key, _First],
    ) -> None:
        """Latest values and devices (where the ward has nothing newer), and the trend
        points of one slice. ``last``: per parameter, the measurement time of its previous
        reading in this span; ``first``: its first reading in this span."""
        ward = self.hub.ward
        points: dict[_Key, _Points] = {}
        bound_bed = self.hub.router.bound_bed
        for stored in batch:
            routed = stored.routed
            bed = routed.bed
            if bed is None:
                continue
            report = routed.report
            bound = bound_bed(report.device.key)
            if bound is not None and bound != bed.key:
                continue  # bound elsewhere since: its old bed must not get it back
            seen = monotonic_of(self.hub.clock, report.receive_time_ns)
            ward.backfill(bed, routed.bed_label, report, seen_ns=seen)
            received = report.receive_time_ns
            for obs in report.observations:
                code = obs.code
                if code == 0:
                    continue
                key = (bed.key, code)
                value = obs.value
                number = None  # what goes into the trend, if anything
                if obs.status is not _INVALID and not isinstance(value, str):
                    number = value if math.isfinite(value) else None
                measured = obs.time_ns
                previous = last.get(key)
                if previous is None:
                    first[key] = _First(bed, obs.label, measured, received, number)
                elif previous != measured and number is not None:
                    entry = points.get(key)
                    if entry is None:
                        entry = points[key] = _Points(bed, obs.label)
                    entry.times_ns.append(received)
                    entry.values.append(number)
                last[key] = measured
        self.reports += len(batch)
        self._store(points)

    def _settle_held(self) -> None:
        """Nothing older was read: the oldest readings held start their measurements."""
        points: dict[_Key, _Points] = {}
        for key, reading in self._held.items():
            if reading.value is not None:
                _add(points, key, reading)
        self._held.clear()
        self._store(points)

    def _store(self, points: dict[_Key, _Points]) -> None:
        ward = self.hub.ward
        for (_, code), entry in points.items():
            ward.add_trend_history(entry.bed, code, entry.label, entry.times_ns, entry.values)


def _add(points: dict[_Key, _Points], key: _Key, reading: _First) -> None:
    entry = points.get(key)
    if entry is None:
        entry = points[key] = _Points(reading.bed, reading.label)
    assert reading.value is not None
    entry.times_ns.append(reading.received_ns)
    entry.values.append(reading.value)


def restore_bounds(path: Path, since_ns: int, now_ns: int) -> tuple[int, int]:
    """``(restored_ns, waves_ns)`` for a restart at ``now_ns`` whose rebuild reaches back to
    ``since_ns`` (never further): from when the reports are fed back whole before listeners
    open (:data:`RESTORED_S` before the last message received before the restart), and from
    when with their waves (:data:`WAVES_S`). Blocking. The same for the rebuild and the
    back-fill, which starts where it ended, whatever has arrived live since."""
    span = _time_range(path, now_ns)
    if span is None:
        return now_ns, now_ns
    last = span[1]
    restored = max(since_ns, last - round(RESTORED_S * NS_PER_S))
    return restored, max(restored, last - round(WAVES_S * NS_PER_S))


def _time_range(path: Path, until_ns: int | None = None) -> tuple[int, int] | None:
    with JournalReader(path) as reader:
        return reader.time_range(until_ns)

"""The hub: where adapters hand their messages to the core, and views take snapshots.

Adapters call :meth:`Hub.submit` with the message as received and the reports decoded
from it, and answer their device only after it returns. The hub routes each report to its
bed, writes the message and its reports to the journal first — so a return means *stored*
— and then updates the ward state. When the journal cannot store, ``submit`` raises
:class:`~gateway.errors.JournalError` (the device gets a negative ACK and keeps its copy),
the snapshot carries ``recording_failed`` (RECORDING FAILED on screen) until a write
succeeds again, and the ward is still updated: the screen must stay live while the disk is
full. A message that cannot be decoded goes to :meth:`Hub.reject`, journaled for
inspection; one the journal cannot store as decoded (a poison value) makes ``submit``
raise :class:`~gateway.errors.MessageRefused`: kept raw as rejected, a fault, a definitive
reject for its device, and recording is not failed.
Views call :meth:`Hub.snapshot` at their own pace. Faults reported by adapters
are kept (bounded) for the dashboard and logged, never swallowed; a fault repeated within a
minute is counted and summarised (:mod:`gateway.fault_summary`), so a storm of them shows
and logs its first and then one line a minute, never a line per event.

Before anything else, every report is screened for values no patient can have
(:func:`gateway.plausibility.screen`: vendor no-value markers, numbers outside a
parameter's physiological range): those become INVALID with their reason — journaled,
alarmed and shown as such — and are counted per device for the devices screen, the first
of each parameter of a device also as a fault.

Every report also goes to the alarm engine (``hub.alarms``) — before the journal's commit,
so an alarm never waits for the disk — which never raises:
a failing alarm rule is a fault, not a dead listener. The hub tells it when recording
fails or resumes (RECORDING FAILED is a high-priority alarm), and a snapshot first moves
its timed rules on to the snapshot's time, so a bed shown LOST has its alarm in the same
snapshot.

Time: a report's wall receive time (set by its adapter) is what is recorded; the monotonic
time the hub takes it in at is what its age and every alarm timer count from, so a wall
clock stepped either way changes no age and raises or ends no alarm. The hub looks for such
a step at every snapshot and alarm tick and reports each one once, as a fault
("system clock stepped +3600 s").

What one sender can create is bounded (:mod:`gateway.admission`, applied by the router): a
report refused a new bed or device is journaled as unassigned, raises none of its alarms,
and its peer is told of — one fault when first refused, then a summary with counts at most
once a minute while it goes on (:meth:`Hub.tick`), and one ADMISSION LIMIT alarm per peer,
which ends when the peer has been refused nothing for :data:`ADMISSION_QUIET_S`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Sequence

from gateway import plausibility
from gateway.admission import PeerRefusals
from gateway.alarms.engine import AlarmEngine
from gateway.clock import NS_PER_S, Clock, ClockSteps, SystemClock, monotonic_of
from gateway.domain import BedId, DeviceReport, Fault, Observation, ReceivedMessage
from gateway.errors import JournalError, MessageRefused
from gateway.fault_summary import FaultSummary
from gateway.journal.client import Journal
from gateway.journal.records import RoutedReport
from gateway.ward.bed_conflicts import BedConflicts
from gateway.ward.routing import REFUSED, BedBinding, Router
from gateway.ward.snapshot import BedSnapshot, WardSnapshot
from gateway.ward.state import MAX_UNASSIGNED, WardState
from gateway.wording import plural

log = logging.getLogger(__name__)

ADMISSION_SUMMARY_EVERY_S = 60.0
"""A peer refused again and again is told of at most this often, with counts."""
ADMISSION_QUIET_S = 60.0
"""A peer refused nothing for this long has its ADMISSION LIMIT alarm ended."""


class Hub:
    def __init__(
        self,
        ward: WardState,
        router: Router,
        clock: Clock | None = None,
        *,
        max_faults: int = 200,
        journal: Journal | None = None,
        alarms: AlarmEngine | None = None,
    ) -> None:
        self.ward = ward
        self.router = router
        self.clock = clock or SystemClock()
        self.faults: deque[Fault] = deque(maxlen=max_faults)
        self.fault_count = 0
        self.fault_summary = FaultSummary()
        """Which faults are shown and logged now, and the summaries of the repeats."""
        self.journal = journal
        """Where messages are stored before they are ACKed; None: not recorded (tests)."""
        if journal is not None:
            journal.on_fault = self.fault
        self.recording_failed: str | None = None
        """Why the journal last failed to store, until it stores again."""
        self._failed_since_ns = 0
        """Monotonic time recording failed at."""
        self._refused = 0
        self._clock_steps = ClockSteps(self.clock)
        self._unlisted_told = 0
        """Reports of unlisted unassigned senders the faults have told of so far."""
        self._unlisted_told_ns = 0
        self.alarms = alarms if alarms is not None else AlarmEngine(clock=self.clock)
        """The alarm engine: fed from :meth:`apply`; its failures are this hub's faults."""
        self.alarms.on_fault = self.fault
        router.admission.clock = self.clock
        self.rejected_values = plausibility.RejectedValueTally()
        """Values no patient can have, per device (the devices screen's note)."""
        self.conflicts = BedConflicts(ward.stale_timeout_s)
        """Which bed each routed report goes to, so that one bed shows one patient."""
        self.alarms.bed_conflicts = self.conflicts.active
        self._moves = 0
        self._moving: dict[str, str] = {}
        """After the bindings changed: where each device was (device key → bed key, ''
        unassigned) until its next report says where it is now (:meth:`rebind`)."""
        self._mismatches: set[str] = set()
        """The patient id mismatches told of (each once, while it lasts)."""
        for route in router.configured:
            ward.add_bed(route.bed, route.label)

    def rebind(self, bindings: Sequence[BedBinding]) -> None:
        """Take a new set of configured beds while running (a device bound from the devices
        screen, a configuration reloaded): no connection is touched. New beds appear, known
        ones take their new label, beds no longer configured go once no device is on them.
        Each device goes where the new bindings send it with its next report; a device that
        moves leaves its old bed then (:meth:`WardState.leave`: its values are not left
        there as live, an automatic bed left empty goes away) — never on two beds at once."""
        before = {route.bed.key: route for route in self.router.configured}
        self.router.rebind(bindings)
        routes = self.router.configured
        for route in routes:
            self.ward.add_bed(route.bed, route.label)
        kept = {route.bed.key for route in routes}
        for key, route in before.items():
            if key not in kept:
                self.ward.unconfigure(route.bed)
        self.conflicts.relabel(routes)
        self.watch_moves()

    def watch_moves(self) -> None:
        """Remember where every device is now, so that the first report of each that goes
        elsewhere takes it off its old bed (after :meth:`rebind`, and after the ward was
        rebuilt from the journal under bindings that may have changed since)."""
        self._moving = self.ward.homes()

    def _settle_moves(self, routed: Sequence[RoutedReport], seen_ns: int) -> None:
        moving = self._moving
        for item in routed:
            device = item.report.device
            was = moving.pop(device.key, None)
            if was is None:
                continue
            now = "" if item.bed is None else item.bed.key
            if was == now:
                continue
            self.ward.leave(was, device)
            self.alarms.leave(BedId(was) if was else None, device, seen_ns)
            self.conflicts.forget(device.key, seen_ns)
            log.info(
                "device %s moved from %s to %s by the new bindings",
                device.key,
                was or "the unassigned list",
                item.bed_label or now or "the unassigned list",
            )

    def _settle_displaced(self, seen_ns: int) -> None:
        displaced = self.conflicts.displaced
        for bed, device in displaced:
            self.ward.leave(bed.key, device)
            self.alarms.leave(bed, device, seen_ns)
            log.info("device %s left %s: a device bound to it took the bed", device.key, bed.key)
        displaced.clear()

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        """Take in one message and what it said. When this returns, the device may be ACKed.

        Raises :class:`~gateway.errors.JournalError` when the message could not be stored:
        the adapter must then answer negatively, so the device keeps it and resends.
        """
        seen = self.clock.monotonic_ns()  # taken in now: what its age counts from
        route_of = self.router.route
        screen = plausibility.screen
        place = self.conflicts.place
        routed = []
        refused: list[int] = []
        for sent in reports:
            report, rejected = screen(sent)
            if rejected:
                self._note_rejected_values(report, rejected)
            route = route_of(report)
            if route is not None and route is not REFUSED:
                route = place(route, report, seen)
            if route is None:
                routed.append(RoutedReport(report, None))
            elif route is REFUSED:  # journaled and listed as unassigned; no alarm of its own
                refused.append(len(routed))
                routed.append(RoutedReport(report, None))
            else:
                routed.append(RoutedReport(report, route.bed, route.label))
        if self._moving:  # the bindings changed: a device that moved leaves its old bed
            self._settle_moves(routed, seen)
        if self.conflicts.displaced:  # a bound device took a bed: who was there leaves it
            self._settle_displaced(seen)
        if self.conflicts.moves != self._moves:  # a device placed anew: BED CONFLICT now
            self._moves = self.conflicts.moves
            self.alarms.check_conflicts(seen)
        if refused:
            self._tell_refusals(seen)
        # Alarms first: an alarm must not wait for the disk (a commit's answer can wait
        # behind a screen refresh). Showing it before it is stored is the safe side; the
        # values still go on screen only once stored.
        self._observe(routed, seen, refused)
        if self.journal is None:
            self.apply(routed, alarms=False, seen_ns=seen, placed=True)
            return
        try:
            fresh = await self.journal.record(message, routed)
        except MessageRefused as exc:
            # Its own fault, not the journal's: kept raw as rejected, recording works.
            self.fault(
                f"{message.transport} {message.peer}",
                f"message rejected: {exc}",
                kind="message rejected: a value the journal cannot store",
            )
            self.ward.note_rejected(message, str(exc))
            self._recording_works()
            raise
        except JournalError as exc:
            self.note_recording_failed(str(exc))
            # not stored, but live: never blind the screen
            self.apply(routed, alarms=False, seen_ns=seen, placed=True)
            raise
        self._recording_works()
        if fresh:
            self.apply(routed, alarms=False, seen_ns=seen, placed=True)
        # else: a resend of a message already stored and shown: ACK it again

    def apply(
        self,
        routed: Sequence[RoutedReport],
        *,
        alarms: bool = True,
        seen_ns: int | None = None,
        placed: bool = False,
    ) -> None:
        """Put routed reports into the ward state and the alarm engine (unless ``alarms``
        is False: :meth:`submit` gave them to it already): the one path for live messages,
        the rebuild from the journal after a restart, and replay. ``seen_ns``: the
        monotonic time live reports were taken in at; None for reports read back (the
        journal's rebuild, replay), placed on the monotonic scale by their wall receive
        time (:func:`~gateway.clock.monotonic_of`), so they keep their true age. Unless
        ``placed`` (by :meth:`submit`), the beds the reports were placed on are remembered,
        so that the sources of a bed conflict keep their own beds."""
        clock = self.clock
        if not placed:
            self._restore_places(routed, seen_ns)
        ward = self.ward
        observe = self.alarms.observe if alarms else None  # never raises
        for item in routed:
            bed, report = item.bed, item.report
            seen = monotonic_of(clock, report.receive_time_ns) if seen_ns is None else seen_ns
            if observe is not None:  # first, as in submit: an alarm never waits
                observe(bed, item.bed_label, report, seen)
            if bed is None:
                if not ward.note_unassigned(report, seen_ns=seen):
                    self._unlisted(seen)
            else:
                ward.apply(bed, report, seen_ns=seen, label=item.bed_label)

    def recall(self, routed: Sequence[RoutedReport]) -> None:
        """Reports read back from before the minutes a restart rebuilds (each sender's last
        ones, oldest first, before any of those minutes): the alarm engine observes them as
        :meth:`apply` has it, so a device silent since is known and lost; the ward takes
        what they say only where it holds nothing newer (:meth:`WardState.backfill`), and
        none of their values goes into a trend — the trend back-fill brings those."""
        self._restore_places(routed, None)
        clock, ward, observe = self.clock, self.ward, self.alarms.observe
        for item in routed:
            bed, report = item.bed, item.report
            seen = monotonic_of(clock, report.receive_time_ns)
            observe(bed, item.bed_label, report, seen)
            if bed is None:
                if not ward.note_unassigned(report, seen_ns=seen):
                    self._unlisted(seen)
            else:
                ward.backfill(bed, item.bed_label, report, seen_ns=seen)

    def _restore_places(self, routed: Sequence[RoutedReport], seen_ns: int | None) -> None:
        """Remember the beds reports read back were placed on (sources of a bed conflict
        keep their own beds)."""
        clock = self.clock
        route_of, restore = self.router.route, self.conflicts.restore
        for item in routed:
            route = route_of(item.report) if item.bed is not None else None
            if route is not None and route is not REFUSED and item.bed is not None:
                seen = (
                    monotonic_of(clock, item.report.receive_time_ns) if seen_ns is None else seen_ns
                )
                restore(route, item.bed, item.report, seen)

    def _note_rejected_values(
        self, report: DeviceReport, rejected: tuple[Observation, ...]
    ) -> None:
        for text in self.rejected_values.note(report, rejected):
            self.fault(f"{report.transport} {report.peer}", text)

    def _observe(
        self, routed: Sequence[RoutedReport], seen_ns: int, refused: Sequence[int] = ()
    ) -> None:
        """Give the alarm engine each routed report, taken in at monotonic ``seen_ns``, but
        those at the indices ``refused`` (refused an identity: their peer's ADMISSION LIMIT
        alarm stands for them)."""
        observe = self.alarms.observe  # never raises: a bug in a rule is a fault
        if refused:
            skip = set(refused)
            routed = [item for i, item in enumerate(routed) if i not in skip]
        for item in routed:
            observe(item.bed, item.bed_label, item.report, seen_ns)

    def tick(self, now_ns: int | None = None) -> None:
        """Move time-driven work on to monotonic ``now_ns``: a step of the wall clock told
        (:meth:`watch_clock`), the alarm engine's rules, the counted summaries of refused
        identities and of unlisted unassigned senders, and the end of the ADMISSION LIMIT
        alarm of a peer gone quiet. Called by every snapshot and by the service's timer
        (headless, nobody takes snapshots)."""
        self.watch_clock()
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        self.alarms.tick(now)
        summary_ns = round(ADMISSION_SUMMARY_EVERY_S * NS_PER_S)
        quiet_ns = round(ADMISSION_QUIET_S * NS_PER_S)
        for entry in self.router.admission.refusals.values():
            if entry.reports != entry.told_reports and now - entry.told_ns >= summary_ns:
                self._tell_summary(entry, now)
            if entry.alarmed and now - entry.last_ns >= quiet_ns:
                entry.alarmed = False
                self.alarms.set_admission_limit(entry.host, False, now)
        unlisted = self.ward.unassigned_unlisted
        if unlisted != self._unlisted_told and now - self._unlisted_told_ns >= summary_ns:
            self._tell_unlisted(now)

    def _tell_refusals(self, now: int) -> None:
        for entry in self.router.admission.take_fresh():
            if not entry.told_reports:
                self.fault(
                    f"admission {entry.host}",
                    f"ADMISSION LIMIT: new beds/devices refused: {entry.reason}; its reports"
                    " are journaled as unassigned, its alarms not raised",
                )
                entry.told_identities, entry.told_reports = entry.identities, entry.reports
                entry.told_ns = now
            if not entry.alarmed:
                entry.alarmed = True
                self.alarms.set_admission_limit(entry.host, True, now)

    def _tell_summary(self, entry: PeerRefusals, now: int) -> None:
        seconds = (now - entry.told_ns) / NS_PER_S
        self.fault(
            f"admission {entry.host}",
            f"ADMISSION LIMIT: {entry.identities - entry.told_identities} more new beds/devices"
            f" refused ({entry.reports - entry.told_reports} reports) in {seconds:.0f} s;"
            f" {entry.identities} since the first ({entry.reports} reports): {entry.reason}",
        )
        entry.told_identities, entry.told_reports, entry.told_ns = (
            entry.identities, entry.reports, now
        )  # fmt: skip

    def _unlisted(self, now: int) -> None:
        if not self._unlisted_told:  # the first: at once; then counted, by tick()
            self._tell_unlisted(now)

    def _tell_unlisted(self, now: int) -> None:
        unlisted = self.ward.unassigned_unlisted
        self.fault(
            "unassigned",
            f"{MAX_UNASSIGNED} unassigned senders listed already: {unlisted} reports of"
            f" senders not listed ({unlisted - self._unlisted_told} new), journaled",
        )
        self._unlisted_told, self._unlisted_told_ns = unlisted, now

    async def reject(self, message: ReceivedMessage, reason: str) -> None:
        """A message that will not be taken in: reported as a fault and journaled for
        inspection. Never raises: the device gets its reject regardless."""
        self.fault(f"{message.transport} {message.peer}", f"bad message rejected: {reason}")
        self.ward.note_rejected(message, reason)  # the devices screen counts them per peer
        if self.journal is None:
            return
        try:
            await self.journal.record_rejected(message, reason)
        except JournalError as exc:
            self.note_recording_failed(str(exc))
        else:
            self._recording_works()

    def note_recording_failed(self, reason: str) -> None:
        """The journal cannot store: RECORDING FAILED until a write succeeds again."""
        self._refused += 1
        if self.recording_failed is None:
            self._failed_since_ns = self.clock.monotonic_ns()
            self.fault("journal", f"RECORDING FAILED: {reason}")
        elif self.recording_failed != reason:
            self.fault("journal", f"RECORDING FAILED: {reason}")
        self.recording_failed = reason
        self.alarms.set_recording_failed(reason)

    def _recording_works(self) -> None:
        if self.recording_failed is None:
            return
        seconds = (self.clock.monotonic_ns() - self._failed_since_ns) / NS_PER_S
        self.fault(
            "journal",
            f"recording resumed after {seconds:.0f} s;"
            f" {plural(self._refused, 'message')} refused (devices resend them)",
        )
        self.recording_failed = None
        self._refused = 0
        self.alarms.set_recording_failed(None)

    def link_closed(self, transport: str, peer: str) -> None:
        """A connection closed: its devices read *link closed* until they report again."""
        self.ward.note_link_closed(transport, peer)

    def fault(self, source: str, text: str, *, kind: str | None = None) -> None:
        """Record a fault: counted always; logged and listed on the dashboard when it is the
        first of its kind within the summary window, summarised when that window ends.

        ``kind`` names what is the same about faults whose ``text`` differs each time (a
        control id in it): they are then summarised together, per source address.
        """
        self.fault_count += 1
        now_s = time.monotonic()  # windows by the monotonic clock: a clock step moves none
        self.summarise_faults(now_s)
        if self.fault_summary.note(source, text, now_s, kind):
            self._show_fault(source, text)

    def summarise_faults(self, now_s: float | None = None, *, everything: bool = False) -> None:
        """Show and log the summaries of the repeats whose window ended (all: ``everything``,
        when the gateway stops). Called with each fault, each snapshot and by the service's
        timer, so a storm that stopped is still summarised."""
        when = time.monotonic() if now_s is None else now_s
        for summary in self.fault_summary.due(when, everything=everything):
            self._show_fault(summary.source, summary.text)

    def _show_fault(self, source: str, text: str) -> None:
        log.warning("%s: %s", source, text)
        self.faults.append(Fault(self.clock.now_ns(), source, text))

    def watch_clock(self) -> None:
        """Report a step of the wall clock (once per step) as a fault: times shown and
        recorded jump by it, ages and alarm timers do not."""
        step = self._clock_steps.look()
        if step:
            self.fault(
                "clock",
                f"system clock stepped {step / NS_PER_S:+.0f} s: times shown and recorded"
                " follow it; ages and alarm timers do not",
            )

    def _tell_mismatches(self, beds: Sequence[BedSnapshot]) -> None:
        """A bed whose device sends another patient id than the one admitted at the
        gateway: a fault, once while it lasts (again if it comes back)."""
        now = {f"bed {bed.label}: {bed.patient_mismatch}" for bed in beds if bed.patient_mismatch}
        for text in sorted(now - self._mismatches):
            self.fault(
                "patient",
                f"{text} — the device's id is shown; check the admission (devices screen)",
            )
        self._mismatches = now

    def snapshot(self) -> WardSnapshot:
        self.summarise_faults()
        now = self.clock.monotonic_ns()
        wall = self.clock.now_ns()
        self.tick(now)
        snapshot = self.ward.snapshot(
            now, wall_ns=wall, faults=tuple(self.faults), fault_count=self.fault_count
        )
        beds = snapshot.beds
        if self._mismatches or any(bed.patient_mismatch for bed in beds):
            self._tell_mismatches(beds)
        conflicts = self.conflicts.active(now)
        if conflicts:
            beds = tuple(
                dataclasses.replace(bed, conflict=conflict)
                if (conflict := conflicts.get(bed.bed.key)) is not None
                else bed
                for bed in beds
            )
        return dataclasses.replace(
            snapshot,
            beds=beds,
            recording_failed=self.recording_failed,
            alarms=self.alarms.snapshot(now),
            rejected_values=self.rejected_values.snapshot(),
        )

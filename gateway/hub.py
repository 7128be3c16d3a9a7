"""The hub: where adapters hand their messages to the core, and views take snapshots.

Adapters call :meth:`Hub.submit` with the message as received and the reports decoded
from it, and answer their device only after it returns. The hub routes each report to its
bed, writes the message and its reports to the journal first — so a return means *stored*
— and then updates the ward state. When the journal cannot store, ``submit`` raises
:class:`~gateway.errors.JournalError` (the device gets a negative ACK and keeps its copy),
the snapshot carries ``recording_failed`` (RECORDING FAILED on screen) until a write
succeeds again, and the ward is still updated: the screen must stay live while the disk is
full. A message that cannot be decoded goes to :meth:`Hub.reject`, journaled for
inspection. Views call :meth:`Hub.snapshot` at their own pace. Faults reported by adapters
are kept (bounded) for the dashboard and logged, never swallowed; a fault repeated within a
minute is counted and summarised (:mod:`gateway.fault_summary`), so a storm of them shows
and logs its first and then one line a minute, never a line per event.

Every report also goes to the alarm engine (``hub.alarms``) — before the journal's commit,
so an alarm never waits for the disk — which never raises:
a failing alarm rule is a fault, not a dead listener. The hub tells it when recording
fails or resumes (RECORDING FAILED is a high-priority alarm), and a snapshot first moves
its timed rules on to the snapshot's time, so a bed shown LOST has its alarm in the same
snapshot.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import deque
from collections.abc import Sequence

from gateway.alarms import AlarmEngine
from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.domain import DeviceReport, Fault, ReceivedMessage
from gateway.errors import JournalError
from gateway.fault_summary import FaultSummary
from gateway.journal import Journal, RoutedReport
from gateway.routing import Router
from gateway.ward import WardSnapshot, WardState

log = logging.getLogger(__name__)


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
        self._refused = 0
        self.alarms = alarms if alarms is not None else AlarmEngine(clock=self.clock)
        """The alarm engine: fed from :meth:`apply`; its failures are this hub's faults."""
        self.alarms.on_fault = self.fault
        for route in router.configured:
            ward.add_bed(route.bed, route.label)

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        """Take in one message and what it said. When this returns, the device may be ACKed.

        Raises :class:`~gateway.errors.JournalError` when the message could not be stored:
        the adapter must then answer negatively, so the device keeps it and resends.
        """
        route_of = self.router.route
        routed = []
        for report in reports:
            route = route_of(report)
            if route is None:
                routed.append(RoutedReport(report, None))
            else:
                routed.append(RoutedReport(report, route.bed, route.label))
        if self.journal is None:
            self.apply(routed)
            return
        # Alarms first: an alarm must not wait for the disk (a commit's answer can wait
        # behind a screen refresh). Showing it before it is stored is the safe side; the
        # values still go on screen only once stored.
        self._observe(routed)
        try:
            fresh = await self.journal.record(message, routed)
        except JournalError as exc:
            self.note_recording_failed(str(exc))
            self.apply(routed, alarms=False)  # not stored, but live: never blind the screen
            raise
        self._recording_works()
        if fresh:
            self.apply(routed, alarms=False)
        # else: a resend of a message already stored and shown: ACK it again

    def apply(self, routed: Sequence[RoutedReport], *, alarms: bool = True) -> None:
        """Put routed reports into the ward state and the alarm engine (unless ``alarms``
        is False: :meth:`submit` gave them to it already): the one path for live messages,
        the rebuild from the journal after a restart, and replay."""
        ward = self.ward
        observe = self.alarms.observe if alarms else None  # never raises
        for item in routed:
            bed, report = item.bed, item.report
            if observe is not None:  # first, as in submit: an alarm never waits
                observe(bed, item.bed_label, report)
            if bed is None:
                ward.note_unassigned(report)
            else:
                ward.apply(bed, report, label=item.bed_label)

    def _observe(self, routed: Sequence[RoutedReport]) -> None:
        observe = self.alarms.observe  # never raises: a bug in a rule is a fault
        for item in routed:
            observe(item.bed, item.bed_label, item.report)

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
            self._failed_since_ns = self.clock.now_ns()
            self.fault("journal", f"RECORDING FAILED: {reason}")
        elif self.recording_failed != reason:
            self.fault("journal", f"RECORDING FAILED: {reason}")
        self.recording_failed = reason
        self.alarms.set_recording_failed(reason)

    def _recording_works(self) -> None:
        if self.recording_failed is None:
            return
        seconds = (self.clock.now_ns() - self._failed_since_ns) / NS_PER_S
        self.fault(
            "journal",
            f"recording resumed after {seconds:.0f} s; {self._refused} messages were refused"
            " (devices resend them)",
        )
        self.recording_failed = None
        self._refused = 0
        self.alarms.set_recording_failed(None)

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

    def snapshot(self) -> WardSnapshot:
        self.summarise_faults()
        now = self.clock.now_ns()
        self.alarms.tick(now)
        snapshot = self.ward.snapshot(now, faults=tuple(self.faults), fault_count=self.fault_count)
        return dataclasses.replace(
            snapshot, recording_failed=self.recording_failed, alarms=self.alarms.snapshot(now)
        )

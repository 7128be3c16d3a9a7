"""The hub: where adapters hand their messages to the core, and views take snapshots.

Adapters call :meth:`Hub.submit` with the message as received and the reports decoded
from it, and answer their device only after it returns: when the journal lands it is
written here first, so an ACK will mean "stored". A message that cannot be decoded goes to
:meth:`Hub.reject`, to be kept for inspection. The hub routes each report to its bed and
updates the ward state; views call :meth:`Hub.snapshot` at their own pace. Faults reported
by adapters are kept (bounded) for the dashboard and logged, never swallowed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence

from gateway.clock import Clock, SystemClock
from gateway.domain import DeviceReport, Fault, ReceivedMessage
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
    ) -> None:
        self.ward = ward
        self.router = router
        self.clock = clock or SystemClock()
        self.faults: deque[Fault] = deque(maxlen=max_faults)
        self.fault_count = 0
        for route in router.configured:
            ward.add_bed(route.bed, route.label)

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        """Take in one message and what it said. When this returns, the device may be ACKed.

        Raises :class:`~gateway.errors.JournalError` when the message could not be stored:
        the adapter must then answer negatively, so the device keeps it and resends.
        """
        ward = self.ward
        for report in reports:
            route = self.router.route(report)
            if route is None:
                ward.note_unassigned(report)
                continue
            ward.add_bed(route.bed, route.label)
            ward.apply(route.bed, report)

    async def reject(self, message: ReceivedMessage, reason: str) -> None:
        """A message that will not be taken in: reported as a fault (and, with the journal,
        kept for inspection). Never raises: the device gets its reject regardless."""
        self.fault(f"{message.transport} {message.peer}", f"bad message rejected: {reason}")

    def fault(self, source: str, text: str) -> None:
        """Record a fault: logged now, listed on the dashboard."""
        log.warning("%s: %s", source, text)
        self.fault_count += 1
        self.faults.append(Fault(self.clock.now_ns(), source, text))

    def snapshot(self) -> WardSnapshot:
        return self.ward.snapshot(
            self.clock.now_ns(), faults=tuple(self.faults), fault_count=self.fault_count
        )

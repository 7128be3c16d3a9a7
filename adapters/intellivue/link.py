"""One monitor's conversation over any datagram channel, handed to the hub.

:func:`converse` runs a :class:`~adapters.intellivue.session.Session` over a
:class:`Channel` (a connected UDP socket, or MIB frames on a serial port): every datagram
received goes to the session, then to the hub — ``hub.submit`` with the reports it made
(every datagram is journaled, raw, so a capture can be replayed) or ``hub.reject`` when it
is not a Data Export message — and what the session says to send is sent. The session's
timers run every :data:`TICK_S`. Notes (the association refused, lost …) are faults. An
association that ends — the monitor released or aborted it, the gateway gave it up after
the monitor's silence, the channel was lost — is the hub's ``link_closed``: the devices
screen then says the link is closed, not that an associated monitor is silent.
Returns when the channel is lost (AdapterError) or the task is cancelled, after releasing
the association when it can.
"""

from __future__ import annotations

import logging
from typing import Protocol

from adapters.hl7.listener import ReportSink
from adapters.intellivue.session import Outcome, Session, State
from gateway.clock import Clock
from gateway.domain import ReceivedMessage
from gateway.errors import AdapterError, JournalError

log = logging.getLogger(__name__)

TICK_S = 0.25


class Channel(Protocol):
    """Datagrams to and from one monitor."""

    async def receive(self, timeout_s: float) -> bytes | None:
        """The next datagram, or None after ``timeout_s``; AdapterError when lost."""
        ...

    def send(self, data: bytes) -> None:
        """Send one datagram (never blocks); AdapterError when lost."""
        ...


async def converse(
    session: Session, channel: Channel, sink: ReportSink, clock: Clock, source: str
) -> None:
    """Run ``session`` over ``channel`` (see the module docstring)."""
    delivery = _Delivery(session, sink, source)
    for request in session.start(clock.monotonic_ns()):
        channel.send(request)
    next_tick = clock.monotonic_ns()
    linked = False
    try:
        while True:
            wait = max(0.0, (next_tick - clock.monotonic_ns()) / 1e9)
            data = await channel.receive(wait)
            if data is not None:
                receive_time = clock.now_ns()
                outcome = session.receive(data, clock.monotonic_ns(), receive_time)
                await delivery.hand_in(outcome, data, receive_time)
                for reply in outcome.send:
                    channel.send(reply)
            now = clock.monotonic_ns()
            if now >= next_tick:
                next_tick = now + round(TICK_S * 1e9)
                sends, notes = session.tick(now)
                for note in notes:
                    sink.fault(source, note)
                for request in sends:
                    channel.send(request)
            if session.state is State.ASSOCIATED:
                linked = True
            elif linked and session.state is State.ASSOCIATING:
                linked = False  # released, aborted or lost: the devices screen says closed
                sink.link_closed(session.transport, session.peer)
    finally:
        if linked:
            sink.link_closed(session.transport, session.peer)
        try:
            for request in session.release(clock.monotonic_ns()):
                channel.send(request)
        except AdapterError:
            pass  # the channel is gone: nothing to release on


class _Delivery:
    """Each datagram to the hub: stored with its reports, or rejected."""

    def __init__(self, session: Session, sink: ReportSink, source: str) -> None:
        self.session = session
        self.sink = sink
        self.source = source
        self.told_unstored = False

    async def hand_in(self, outcome: Outcome, data: bytes, receive_time: int) -> None:
        sink, session = self.sink, self.session
        for note in outcome.notes:
            sink.fault(self.source, note)
        device = outcome.reports[0].device if outcome.reports else session.device
        control_id = outcome.reports[0].message_id if outcome.reports else ""
        message = ReceivedMessage(
            data, session.transport, session.peer, receive_time, control_id, device
        )
        if outcome.rejected:
            await sink.reject(message, outcome.rejected)
            return
        try:
            await sink.submit(message, outcome.reports)
        except JournalError as exc:
            if not self.told_unstored:
                self.told_unstored = True
                sink.fault(
                    self.source, f"not recorded: {exc} (shown live; a monitor cannot resend)"
                )
            return
        self.told_unstored = False

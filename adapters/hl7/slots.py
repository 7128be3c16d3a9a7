"""Who holds a connection slot of a listener, and who must give one up for a newcomer.

The rules (see docs/security.md): an address holds at most ``max_per_peer`` connections, and
when it opens one more, its own connection idle longest (no whole frame for the longest) is
closed for it if that one is quiet — no whole frame for ``quiet_after_s``, or stuck in a
frame — so a monitor that reboots while its old connection lingers gets back in. One address
is often many monitors (a serial device server, a central station with a connection per
bed): a connection that delivers is never closed for a sibling, the newcomer is refused
instead, and retries. When
the listener is full, the newcomer takes the slot of the connection that delivers least: one
that never had a message taken in, or one stuck in a frame for ``slow_after_s``, whichever
has gone longest without a whole frame. When every slot holds a connection that delivers,
the newcomer is refused (the ward is at its configured size). A connection whose message
is being stored is never closed for anyone: the gateway keeps that message, and closing the
connection before its ACK would make the sender resend it or give up (under load a commit
takes longer than a churning attack needs to make a monitor's new connection the oldest that
"delivered nothing"). Nor is one whose large frame (past 64 KiB) is being read in a thread,
for the same reason. Nor is one whose first frame has come and waits to be taken in — read,
or still unread in its socket while the event loop accepts a burst of connections. A frame
that does not read as a message protects nothing after it. Refusals, evictions and
time-outs are counted per address (bounded).

This module decides and counts; it does not touch sockets or report faults (the listener
does both), and it knows nothing of HL7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from gateway.wording import plural

MAX_ADDRESSES = 4096
"""Addresses counted one by one; past it, the rest are counted together under ``OTHER``."""
OTHER = "(other addresses)"


class Holder(Protocol):
    """A connection as the slots see it."""

    host: str
    last_frame_s: float
    """When its last whole frame arrived (when it opened, before one); monotonic seconds."""
    frame_started_s: float | None
    """When the frame it is sending began; None between frames."""
    delivered: int
    """Messages taken in from it."""
    taking_in: bool
    """A frame of it is being taken in (read in a thread, or its message on its way to the
    journal), not yet answered."""

    def first_frame_coming(self) -> bool:
        """Whether its first frame has come and not been taken in yet (read or still in
        the socket): a connection about to deliver, not a slow one."""
        ...


C = TypeVar("C", bound=Holder)


@dataclass(slots=True)
class Decision(Generic[C]):
    admitted: bool
    evicted: list[tuple[C, str]] = field(default_factory=list)
    """Connections to close for the newcomer, each with why (for the fault)."""


@dataclass(slots=True)
class AddressCounts:
    refused: int = 0
    evicted: int = 0
    timed_out: int = 0
    """Closed past the frame deadline or the idle timeout."""


class PeerCounts:
    """Refusals, evictions and time-outs per address, bounded."""

    def __init__(self, max_addresses: int = MAX_ADDRESSES) -> None:
        self.max_addresses = max_addresses
        self.by_address: dict[str, AddressCounts] = {}

    def of(self, host: str) -> AddressCounts:
        """The counts of ``host`` (zeros if it never had any)."""
        return self.by_address.get(host) or AddressCounts()

    def _entry(self, host: str) -> AddressCounts:
        entry = self.by_address.get(host)
        if entry is None:
            if len(self.by_address) >= self.max_addresses:
                host = OTHER
            entry = self.by_address.setdefault(host, AddressCounts())
        return entry

    def refused(self, host: str) -> None:
        self._entry(host).refused += 1

    def evicted(self, host: str) -> None:
        self._entry(host).evicted += 1

    def timed_out(self, host: str) -> None:
        self._entry(host).timed_out += 1

    def total(self) -> AddressCounts:
        out = AddressCounts()
        for entry in self.by_address.values():
            out.refused += entry.refused
            out.evicted += entry.evicted
            out.timed_out += entry.timed_out
        return out


QUIET_AFTER_S = 10.0
"""A connection with no whole frame for this long is quiet: it may give its slot to a new
connection from its own address (a monitor sends every second or so; one that rebooted
takes longer than this to reconnect)."""


class Slots(Generic[C]):
    """The slots of one listener: ``max_connections`` in all, ``max_per_peer`` an address."""

    def __init__(
        self, max_connections: int, max_per_peer: int, quiet_after_s: float = QUIET_AFTER_S
    ) -> None:
        self.max_connections = max_connections
        self.max_per_peer = max_per_peer
        self.quiet_after_s = quiet_after_s
        self.counts = PeerCounts()
        self._holders: dict[C, None] = {}
        self._by_host: dict[str, dict[C, None]] = {}

    def __len__(self) -> int:
        return len(self._holders)

    def holders(self) -> list[C]:
        """Every connection holding a slot, oldest first."""
        return list(self._holders)

    def of(self, host: str) -> list[C]:
        return list(self._by_host.get(host, ()))

    def admit(self, newcomer: C, now_s: float, *, slow_after_s: float) -> Decision[C]:
        """Give ``newcomer`` a slot if the rules allow; the connections it replaces are
        released here (the caller closes them)."""
        decision: Decision[C] = Decision(True)
        host = newcomer.host
        mine = self._by_host.get(host)
        if mine is not None and len(mine) >= self.max_per_peer:
            idle = [c for c in mine if not (c.taking_in or c.first_frame_coming())]
            victim = min(idle, key=lambda c: c.last_frame_s) if idle else None  # idle longest
            started = victim.frame_started_s if victim is not None else None
            stuck = started is not None and now_s - started >= slow_after_s
            if victim is None or (not stuck and now_s - victim.last_frame_s < self.quiet_after_s):
                self.counts.refused(host)  # every one of them delivers: none gives way
                decision.admitted = False
                return decision
            self._evict(
                decision,
                victim,
                f"replaced by a new connection from the same address (at its cap of"
                f" {self.max_per_peer}); no whole frame for {now_s - victim.last_frame_s:.0f} s",
            )
        if len(self._holders) >= self.max_connections:
            slowest = self._slowest(now_s, slow_after_s)
            if slowest is None:
                self.counts.refused(host)
                decision.admitted = False
                return decision
            self._evict(
                decision,
                slowest,
                f"{self.max_connections} connections open; the slot went to a new connection"
                f" from {host}: this one delivered {plural(slowest.delivered, 'message')}"
                f" and had no whole frame for {now_s - slowest.last_frame_s:.0f} s",
            )
        self._holders[newcomer] = None
        self._by_host.setdefault(host, {})[newcomer] = None
        return decision

    def release(self, holder: C) -> None:
        """Free the slot of a connection that ended (idempotent)."""
        if self._holders.pop(holder, 0) is None:
            mine = self._by_host.get(holder.host)
            if mine is not None:
                mine.pop(holder, None)
                if not mine:
                    del self._by_host[holder.host]

    def _slowest(self, now_s: float, slow_after_s: float) -> C | None:
        """The connection delivering least, if one may be evicted: never took a message in,
        or stuck in a frame, and none of its frames being taken in; among them, the one
        longest without a whole frame."""
        candidates: list[C] = []
        for holder in self._holders:
            if holder.taking_in:
                continue
            started = holder.frame_started_s
            stuck = started is not None and now_s - started >= slow_after_s
            if holder.delivered == 0 or stuck:
                candidates.append(holder)
        candidates.sort(key=lambda c: c.last_frame_s)
        # The event loop accepts a burst of connections before it reads and takes in what
        # came on those accepted just before: a fresh connection whose first frame waits
        # (read, or unread in its socket) is about to deliver, not slow. Only its first:
        # a frame that turned out not to be a message protects nothing after.
        return next((c for c in candidates if not c.first_frame_coming()), None)

    def _evict(self, decision: Decision[C], victim: C, why: str) -> None:
        self.counts.evicted(victim.host)
        self.release(victim)
        decision.evicted.append((victim, why))

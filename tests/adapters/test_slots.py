"""Who gives up a slot to a newcomer (adapters/hl7/slots.py), decided on connections as the
slots see them: a connection about to deliver its first message — read and waiting, or still
unread in its socket while the event loop accepts a burst — is never the one closed."""

from __future__ import annotations

from dataclasses import dataclass

from adapters.hl7.slots import Slots


@dataclass(eq=False)
class Connection:
    host: str
    last_frame_s: float
    frame_started_s: float | None = None
    delivered: int = 0
    taking_in: bool = False
    coming: bool = False

    def first_frame_coming(self) -> bool:
        return self.coming


def test_a_full_listener_takes_the_oldest_silent_slot_but_not_one_whose_first_frame_waits() -> None:
    slots: Slots[Connection] = Slots(max_connections=3, max_per_peer=3)
    fresh = Connection("10.0.0.1", last_frame_s=1.0, coming=True)  # accepted first, unread
    silent = Connection("10.0.0.2", last_frame_s=2.0)
    storing = Connection("10.0.0.3", last_frame_s=0.5, taking_in=True)
    for connection in (fresh, silent, storing):
        assert slots.admit(connection, 3.0, slow_after_s=10).admitted
    newcomer = Connection("10.0.0.4", last_frame_s=3.0, coming=True)
    decision = slots.admit(newcomer, 3.0, slow_after_s=10)
    assert decision.admitted
    assert [victim for victim, _ in decision.evicted] == [silent]
    # Nobody left who may go: the next newcomer is refused, the fresh one keeps its slot.
    refused = slots.admit(Connection("10.0.0.5", last_frame_s=3.1), 3.1, slow_after_s=10)
    assert not refused.admitted and fresh in slots.holders()


def test_an_address_at_its_cap_keeps_a_sibling_whose_first_frame_waits() -> None:
    slots: Slots[Connection] = Slots(max_connections=8, max_per_peer=1, quiet_after_s=0.1)
    fresh = Connection("10.0.0.1", last_frame_s=0.0, coming=True)
    assert slots.admit(fresh, 0.0, slow_after_s=10).admitted
    later = slots.admit(Connection("10.0.0.1", last_frame_s=5.0), 5.0, slow_after_s=10)
    assert not later.admitted and slots.holders() == [fresh]
    fresh.coming = False  # taken in, and it said nothing more: quiet, it may give way now
    again = slots.admit(Connection("10.0.0.1", last_frame_s=6.0), 6.0, slow_after_s=10)
    assert again.admitted and [victim for victim, _ in again.evicted] == [fresh]

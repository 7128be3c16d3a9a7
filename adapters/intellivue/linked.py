"""A reply split over linked results (RORLS), put back together by its invoke id.

A monitor sends a large poll reply as several RORLS parts numbered 1, 2, … with state
first / middle / last; each part is a complete poll reply of its own objects. The whole is
the objects of every part in order. A part out of sequence (one was lost: UDP) ends the
reply there with what came, flagged, rather than waiting for a part that will not come.
What is held is bounded: at most :data:`MAX_PENDING` replies of :data:`MAX_OBJECTS` objects.
"""

from __future__ import annotations

import dataclasses

from adapters.intellivue import ids
from adapters.intellivue.pdu import ObservationPoll, PollReply

MAX_PENDING = 8
MAX_OBJECTS = 4096


@dataclasses.dataclass(slots=True)
class _Pending:
    first: PollReply
    objects: list[ObservationPoll]
    count: int


class LinkedResults:
    """Feed every poll reply; get back complete ones (and what went wrong)."""

    def __init__(self) -> None:
        self._pending: dict[int, _Pending] = {}
        self.broken = 0
        """Replies cut short by a lost or misordered part."""

    @property
    def pending(self) -> int:
        return len(self._pending)

    def take(self, reply: PollReply) -> tuple[PollReply | None, str]:
        """The complete reply this part finishes (or None), and a problem to report ('')."""
        if reply.linked is None:
            return reply, ""
        state, count = reply.linked
        key = reply.invoke_id
        held = self._pending.get(key)
        if state == ids.LINKED_FIRST:
            problem = ""
            if held is not None:
                self.broken += 1
                problem = f"linked reply {key} restarted before its last part"
            if len(self._pending) >= MAX_PENDING and key not in self._pending:
                oldest = next(iter(self._pending))
                del self._pending[oldest]
                self.broken += 1
                problem = f"linked reply {oldest} never finished; dropped"
            self._pending[key] = _Pending(reply, list(reply.objects[:MAX_OBJECTS]), count)
            return None, problem
        if held is None:
            self.broken += 1
            return reply, f"linked reply {key}: part {count} without its first part"
        problem = ""
        if count != held.count + 1:
            self.broken += 1
            problem = f"linked reply {key}: part {count} after part {held.count} (a part lost)"
        room = MAX_OBJECTS - len(held.objects)
        held.objects.extend(reply.objects[: max(room, 0)])
        held.count = count
        if state == ids.LINKED_LAST or problem:
            del self._pending[key]
            whole = dataclasses.replace(held.first, objects=tuple(held.objects), linked=None)
            return whole, problem
        return None, problem

    def clear(self) -> None:
        self._pending.clear()

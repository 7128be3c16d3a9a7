"""When the journal's writer takes its next batch: at once, or after a short linger that
lets a ward's messages share one commit.

At a ward's pace (64 beds, ≈ 250 messages a second, each monitor waiting for its ACK
before its next message) nearly every message arrived alone and was a commit of its own:
an fsync, a commit bundle, an answer and a wake-up each — ~480 µs of the writer's CPU a
message, where a batch of several costs a fraction of that per message. So the writer
takes a batch at most every :data:`COMMIT_INTERVAL_S`: a message that finds the writer
idle is committed at once; one that arrives within the interval after a commit waits for
the rest of it, with whatever else arrived.

It lingers only where that fills batches: while the messages of the current or the last
second are at least two an interval (100 a second at 20 ms, ~25 beds with waves). Below
that each commit is its own, as before, and a message waits for nothing.

The linger must never throttle a sender that waits on the writer. A connection sends its
next message only once its last one is ACKed, that is once it is on disk, so under the
linger one connection could send at most one message an interval (50 a second at 20 ms):
a monitor sending its stored backlog, a vendor gateway carrying a whole ward over one
connection, the bench's load clients, retention's prune steps. Hence:

- a connection that had more messages in the current second than half of what the
  linger lets one connection send (25 at 20 ms) turns the linger off until the end of
  the next second. So a sender below it is never held to less than twice its pace, and
  one held by the linger rises above it within a second and is let go;
- a batch with a job that is not a message (a prune step) is followed by no linger:
  whoever sent it waits for its answer to send the next step;
- every ingest path waits per connection (MLLP per connection, serial per port,
  IntelliVue per association, MQTT per topic), which the first rule sees. For what it
  cannot see — one task feeding several connections in turn — the linger is judged by
  its result: when ten lingers in a row were followed by batches of fewer than two
  messages on average, it shared nothing and is off for :data:`IDLE_OFF_S`.

A batch that took longer than the interval to write is followed by no linger either: the
writer is busy, batches form by themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

COMMIT_INTERVAL_S = 0.020
"""At most one commit this often while no sender is waiting on the writer: the longest a
message waits for the disk beyond its own write. Its values go on screen once stored, so
this is on the screen's delay too (alarms are shown before they are stored)."""

FILL = 2
"""Messages a linger must gather on average to be worth its wait."""

BUSY_SHARE = 0.5
"""The share of what the linger lets one connection send (one message an interval) above
which that connection turns the linger off."""

TRIAL = 10
"""Lingers judged together by the batches after them."""

IDLE_OFF_S = 10.0
"""How long a linger that shared nothing stays off."""

_SECOND_NS = 1_000_000_000


class CommitPacer:
    """``deadline = pacer.after(senders, others, taken_ns)``: the monotonic time before
    which the writer does not take its next batch (the past: at once).

    Messages are counted by the second, from the first batch of each. The interval must be
    well under a second: a connection held by the linger has to rise above the busy rate
    within the second it is counted in."""

    def __init__(self, interval_s: float = COMMIT_INTERVAL_S) -> None:
        self.interval_ns = round(interval_s * 1e9)
        on = interval_s > 0
        self.busy_rate = max(1, round(BUSY_SHARE / interval_s)) if on else 0
        """Messages in one second from one connection above which the linger is off."""
        self.ward_rate = round(FILL / interval_s) if on else 0
        """Messages in a second from which a linger fills its batches."""
        self._counts: Counter[object] = Counter()
        """Messages of the current second, by connection."""
        self._messages = 0
        """Messages of the current second."""
        self._last_second = 0
        """Messages of the second before the current one (0 if it was not the last)."""
        self._second_ends = 0
        self._off_until = 0
        """Monotonic time until which the linger is off."""
        self._lingered = False
        """Whether the batch now taken came after a linger."""
        self._trial_lingers = 0
        self._trial_messages = 0

    def after(self, senders: Sequence[object], others: bool, taken_ns: int) -> int:
        """The next batch's earliest time, for a batch taken at ``taken_ns`` (monotonic)
        with ``senders``, one a message it held (its connection), and ``others``: whether
        it held a job that is not a message."""
        if self.interval_ns <= 0:
            return taken_ns
        if taken_ns >= self._second_ends:  # a new second: the counts start again
            just_before = taken_ns < self._second_ends + _SECOND_NS
            self._last_second = self._messages if just_before else 0
            self._counts.clear()
            self._messages = 0
            self._second_ends = taken_ns + _SECOND_NS
        self._messages += len(senders)
        counts = self._counts
        for sender in senders:
            counts[sender] += 1
            if counts[sender] > self.busy_rate:
                self._off_until = max(self._off_until, self._second_ends + _SECOND_NS)
        if self._lingered:
            self._judge(len(senders), taken_ns)
        filling = max(self._messages, self._last_second) >= self.ward_rate
        self._lingered = filling and not others and taken_ns >= self._off_until
        return taken_ns + self.interval_ns if self._lingered else taken_ns

    def _judge(self, messages: int, taken_ns: int) -> None:
        """Count a batch that came after a linger; every :data:`TRIAL` of them, turn the
        linger off for a while if they held fewer than :data:`FILL` messages each."""
        self._trial_lingers += 1
        self._trial_messages += messages
        if self._trial_lingers == TRIAL:
            if self._trial_messages < FILL * TRIAL:
                self._off_until = max(self._off_until, taken_ns + round(IDLE_OFF_S * 1e9))
            self._trial_lingers = self._trial_messages = 0

"""The writer's commit pacing (gateway.journal.pacing): messages from many monitors that
arrive within the interval share one commit; a sender waiting on its ACKs, or on its prune
steps, is never held to one an interval."""

from __future__ import annotations

import asyncio
from pathlib import Path

from journal_support import oru, received

from gateway.clock import ManualClock
from gateway.domain import BedId
from gateway.journal.client import Journal
from gateway.journal.pacing import COMMIT_INTERVAL_S, CommitPacer
from gateway.journal.records import RoutedReport

S = 1_000_000_000
MLLP = "mllp"


def _ward(pacer: CommitPacer, t: int) -> None:
    """A batch of 100 messages from 100 connections: a ward that fills its batches."""
    assert pacer.after([(MLLP, f"ward{n}") for n in range(100)], False, t) > t


def test_a_quiet_journal_commits_each_batch_at_once() -> None:
    """Fewer than 100 messages a second (two an interval): nothing to share a commit with."""
    pacer = CommitPacer(0.020)
    for n in range(99):
        assert pacer.after([(MLLP, f"bed{n}")], False, S + n * 10_000_000) == S + n * 10_000_000


def test_a_message_after_a_commit_of_a_busy_ward_waits_for_the_interval() -> None:
    pacer = CommitPacer(0.020)
    _ward(pacer, S)
    assert pacer.after([(MLLP, "a")], False, 2 * S - 1) == 2 * S - 1 + 20_000_000
    # The next second goes by the last one's count until its own reaches 100.
    assert pacer.after([(MLLP, "a")], False, 2 * S) == 2 * S + 20_000_000


def test_a_ward_of_paced_monitors_keeps_the_linger() -> None:
    """64 connections at 4 messages a second each (a ward with waves), for five seconds:
    from the 100th message of the first second on, every batch waits."""
    pacer = CommitPacer(0.020)
    t = S
    for n in range(5 * 50):  # one batch an interval, 256 messages a second over them
        senders = [(MLLP, f"bed{(t // 20_000_000 + k) % 64}") for k in range(5)]
        due = pacer.after(senders, False, t)
        assert due == (t if n < 19 else t + 20_000_000), n
        t += 20_000_000


def test_a_connection_above_half_what_the_linger_lets_through_turns_it_off() -> None:
    """At 20 ms the linger lets one connection send 50 a second: the 26th in a second of
    one connection is answered at once, and so is everything until the end of the next
    second; then the linger is back."""
    pacer = CommitPacer(0.020)
    assert pacer.busy_rate == 25
    start = 10 * S
    _ward(pacer, start)
    for n in range(1, 26):
        t = start + n * 20_000_000
        assert pacer.after([(MLLP, "backlog"), (MLLP, f"bed{n}")], False, t) == t + 20_000_000
    t = start + 26 * 20_000_000
    assert pacer.after([(MLLP, "backlog")], False, t) == t
    assert pacer.after([(MLLP, "bed1")], False, t + 20_000_000) == t + 20_000_000
    assert pacer.after([(MLLP, "bed1")], False, start + 2 * S - 1) == start + 2 * S - 1
    later = start + 2 * S
    _ward(pacer, later)
    assert pacer.after([(MLLP, "bed1")], False, later + 1) == later + 1 + 20_000_000


def test_ten_lingers_that_shared_nothing_turn_it_off_for_ten_seconds() -> None:
    """One task feeding many connections in turn, each waiting for the last: the batches
    after the lingers hold one message each, so after ten of them the linger is off, for
    10 s."""
    pacer = CommitPacer(0.020)
    t = S
    _ward(pacer, t)  # its linger is the first of the ten
    for n in range(9):
        t += 20_000_000
        assert pacer.after([(MLLP, f"bed{n}")], False, t) == t + 20_000_000, n
    t += 20_000_000
    assert pacer.after([(MLLP, "bed9")], False, t) == t  # the tenth linger judged
    assert pacer.after([(MLLP, "bed0")], False, t + 10 * S - 1) == t + 10 * S - 1
    back = t + 10 * S + 20_000_000
    _ward(pacer, back)
    assert pacer.after([(MLLP, "bed1")], False, back + 1) == back + 1 + 20_000_000


def test_lingers_that_gather_messages_keep_it() -> None:
    pacer = CommitPacer(0.020)
    t = S
    _ward(pacer, t)
    for n in range(200):
        t += 20_000_000
        senders = [(MLLP, f"bed{(3 * n + k) % 64}") for k in range(3)]
        assert pacer.after(senders, False, t) == t + 20_000_000, n


def test_a_batch_holding_a_prune_step_is_followed_at_once() -> None:
    pacer = CommitPacer(0.020)
    assert pacer.after([], True, S) == S


def test_no_interval_no_linger() -> None:
    pacer = CommitPacer(0.0)
    assert pacer.after([(MLLP, "a")], False, S) == S


def test_the_default_interval_is_short_beside_a_second() -> None:
    """The counting window is a second: the interval must be well under it for a sender
    held by the linger to rise above the busy rate within one window."""
    assert 0 < COMMIT_INTERVAL_S <= 0.05


def _record(journal: Journal, clock: ManualClock, n: int, peer: str) -> asyncio.Future[bool]:
    message, reports = received(oru(f"m{n}", bed=n % 8), clock, peer=peer)
    return journal.record(message, [RoutedReport(r, BedId(f"B{n % 8}"), "") for r in reports])


async def test_messages_of_many_monitors_within_the_interval_share_one_commit(
    tmp_path: Path,
) -> None:
    """At 0.5 s a ward fills batches from 4 messages a second on: five monitors' messages
    make it one, and the next ten monitors' messages wait for the interval together."""
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock, commit_interval_s=0.5) as journal:
        ward = [_record(journal, clock, n, f"10.0.1.{n}:4000") for n in range(5)]
        assert all(await asyncio.gather(*ward))
        commits = journal.counters.commits
        # Ten other monitors' messages while the writer waits out the interval.
        waiting = [_record(journal, clock, n, f"10.0.0.{n}:4000") for n in range(10, 20)]
        assert all(await asyncio.gather(*waiting))
        assert journal.counters.commits == commits + 1
        assert journal.counters.lingered >= 1
        assert journal.counters.stored == 15


async def test_without_an_interval_each_lone_message_is_its_own_commit(tmp_path: Path) -> None:
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock, commit_interval_s=0) as journal:
        for n in range(5):
            assert await _record(journal, clock, n, f"10.0.0.{n + 1}:4000")
        assert journal.counters.lingered == 0
        assert journal.counters.stored == 5


async def test_a_connection_waiting_on_each_ack_is_not_held_to_one_an_interval(
    tmp_path: Path,
) -> None:
    """A ward's worth of messages (20 a second at 100 ms), then two connections each
    sending 40 messages, each after the ACK of its last (monitors' backlogs): the linger
    lets each send 10 a second, so they are let go after their 6th in a second —
    lingered for at most that many (twice, were a second to end among them), where being
    held would have meant 40 lingers."""
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock, commit_interval_s=0.1) as journal:
        ward = [_record(journal, clock, n, f"10.0.1.{n}:4000") for n in range(20)]
        assert all(await asyncio.gather(*ward))

        async def backlog(first: int, peer: str) -> None:
            for n in range(first, first + 40):
                assert await _record(journal, clock, n, peer)

        await asyncio.gather(backlog(100, "10.0.0.8:4000"), backlog(200, "10.0.0.9:4000"))
        await journal.prune(0)  # the last linger is counted in the next answer
        assert journal.counters.stored == 100
        assert 1 <= journal.counters.lingered <= 1 + 2 * 6, journal.counters.lingered


async def test_one_task_feeding_many_connections_in_turn_is_let_go_after_ten_lingers(
    tmp_path: Path,
) -> None:
    """300 messages over 150 connections in turn, each sent once the last is stored: no
    connection is busy (two messages each), but from the 100th message on the lingers
    share nothing: ten of them, then none for ten seconds."""
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock) as journal:
        for n in range(300):
            assert await _record(journal, clock, n, f"10.0.{n % 150 // 100}.{n % 100}:4000")
        await journal.prune(0)  # the last linger is counted in the next answer
        assert journal.counters.lingered == 10


async def test_prune_steps_are_not_lingered_over(tmp_path: Path) -> None:
    clock = ManualClock()
    async with Journal(tmp_path / "j.sqlite", clock=clock, commit_interval_s=0.5) as journal:
        assert all(
            await asyncio.gather(
                *(_record(journal, clock, n, f"10.0.0.{n + 1}:4000") for n in range(5))
            )
        )
        clock.advance(1.0)
        assert await journal.prune(clock.now_ns(), limit=1) == 1
        after_first = journal.counters.lingered  # may count the linger after the records
        for _ in range(4):
            assert await journal.prune(clock.now_ns(), limit=1) == 1
        assert journal.counters.lingered == after_first

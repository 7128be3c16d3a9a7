"""What the writer remembers of recent messages (resends.py): the same answers as a plain
dictionary and list would give, whatever the keys (colliding ones included), the window and
the limit; and memory that does not grow with the messages remembered."""

from __future__ import annotations

import tracemalloc

from hypothesis import given
from hypothesis import strategies as st

from gateway.journal.resends import RecentMessages, key_of


class _Model:
    """The duplicate memory as the writer had it: a dict by key and the order of commits."""

    def __init__(self, window_ns: int, limit: int) -> None:
        self.window_ns, self.limit = window_ns, limit
        self.latest: dict[int, tuple[int, int, int, int]] = {}  # key → time, crc, row, entry
        self.order: list[tuple[int, int, int]] = []  # (time, key, entry), in commit order
        self.entries = 0

    def add(self, entries: list[tuple[int, int, int, int]]) -> None:
        for key, time, crc, row in entries:
            if len(self.order) >= self.limit:
                self._forget_first()
            self.entries += 1
            self.latest[key] = (time, crc, row, self.entries)
            self.order.append((time, key, self.entries))
        if entries:
            horizon = entries[-1][1] - self.window_ns
            while self.order and self.order[0][0] < horizon:
                self._forget_first()

    def _forget_first(self) -> None:
        # A key is forgotten with its latest entry, not with an older one of the same time.
        _, key, entry = self.order.pop(0)
        if key in self.latest and self.latest[key][3] == entry:
            del self.latest[key]

    def resent_row(self, key: int, crc: int, time: int) -> int | None:
        found = self.latest.get(key)
        if found is None or found[1] != crc or time - found[0] > self.window_ns:
            return None
        return found[2]


# Keys from a small set, many of them alike in their low bits (one home cell in the
# table), so probing, collisions and deletion by backward shift all get exercised.
keys = st.sampled_from([k | (n << 40) for n in range(6) for k in (0, 1, 2, 3, 64, 65)])
entry = st.tuples(keys, st.integers(0, 50), st.integers(0, 3), st.integers(1, 10**12))


@given(
    window=st.integers(0, 30),
    limit=st.integers(1, 12),
    batches=st.lists(
        st.tuples(st.lists(entry, max_size=8), st.lists(st.tuples(keys, st.integers(0, 3)))),
        max_size=30,
    ),
)
def test_it_answers_as_a_dictionary_would(
    window: int,
    limit: int,
    batches: list[tuple[list[tuple[int, int, int, int]], list[tuple[int, int]]]],
) -> None:
    recent, model = RecentMessages(window, limit), _Model(window, limit)
    clock = 0
    for added, asked in batches:
        # Receive times never go back within the writer (the parent's clock, monotonic).
        timed = []
        for key, step, crc, row in added:
            clock += step
            timed.append((key, clock, crc, row))
        recent.add(timed)
        model.add(timed)
        assert len(recent) == len(model.latest)
        for key, crc in asked:
            for time in (clock, clock + window, clock + window + 1):
                assert recent.resent_row(key, crc, time) == model.resent_row(key, crc, time)
    recent.clear()
    assert len(recent) == 0
    every = [entry for added, _ in batches for entry in added]
    assert all(recent.resent_row(key, crc, clock) is None for key, _, crc, _ in every)


def test_a_key_added_twice_at_one_time_is_kept_until_its_latest_entry_goes() -> None:
    """Hypothesis's counter-example to the model that matched entries by time."""
    recent = RecentMessages(window_ns=0, limit=2)
    recent.add([(0, 0, 0, 1), (0, 0, 0, 1), (1, 0, 0, 1)])
    assert len(recent) == 2
    assert recent.resent_row(0, 0, 0) == 1


def test_a_resend_is_the_same_key_and_bytes_within_the_window() -> None:
    recent = RecentMessages(window_ns=100)
    key = key_of("EUI-64:00", "MSG1")
    recent.add([(key, 1_000, 0xABCD, 7)])
    assert recent.resent_row(key, 0xABCD, 1_100) == 7
    assert recent.resent_row(key, 0xABCE, 1_050) is None  # other bytes: not a resend
    assert recent.resent_row(key, 0xABCD, 1_101) is None  # past the window
    assert recent.resent_row(key_of("EUI-64:01", "MSG1"), 0xABCD, 1_050) is None
    recent.add([(key_of("EUI-64:00", "MSG2"), 1_101, 1, 8)])  # the first one goes
    assert len(recent) == 1


def test_memory_does_not_grow_with_what_it_remembers() -> None:
    tracemalloc.start()
    try:
        recent = RecentMessages(window_ns=10**15, limit=4096)
        made, _ = tracemalloc.get_traced_memory()
        for batch in range(0, 3 * 4096, 16):  # three times round the ring
            recent.add((key_of("dev", str(n)), n, n & 0xFFFF, n) for n in range(batch, batch + 16))
        assert len(recent) == 4096
        grown = tracemalloc.get_traced_memory()[0] - made
    finally:
        tracemalloc.stop()
    # A dict and a deque of integer objects took ~190 bytes an entry (~780 KB here).
    assert grown < 16_384

"""The messages a resend may repeat: what the journal writer remembers of each message it
committed in the duplicate window, in memory allocated once, of a fixed size.

A resend is the same device, the same MSH-10 and the same bytes within the window (ten
minutes by default). At 64 beds with waves that is ~150,000 messages (~260 msg/s). A dict
of them and a deque of their order, with an integer object or two per entry (~190 bytes
each), grew the writer by ~3 MB a minute for the window's first ten minutes (traced with
tracemalloc in ``python -m bench.memory``: these were the only lines that grew). Here every
entry is a slot of a ring of :data:`MAX_REMEMBERED` slots — the 64-bit hash of (device,
control id), receive time, row id and CRC-32 of its bytes, in flat arrays — and a key finds
its slot through an open-addressed table (linear probing, deletion by backward shift) of
twice as many cells. Both are allocated, and touched, when the writer starts: ~9 MB that
never grow, whatever the load. A flood forgets its oldest first: a resend older than the
ring holds is stored twice, which loses nothing.

A hash collision would make a message look like a resend only if its CRC-32 matched too
and it came within the window: with Python's keyed string hash, ~2^-96 per message.

This module must not touch the file: the writer loads it from the journal and tells it
what it committed.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

MAX_REMEMBERED = 262_144
"""Most messages remembered: the window at up to ~430 msg/s (28 bytes a slot and 8 for its
two cells of the table: ~9 MB, allocated at start)."""

_KEY_MASK = (1 << 64) - 1


def key_of(device: str, control_id: str) -> int:
    """The key a message is remembered by (non-negative, 64 bits)."""
    return hash((device, control_id)) & _KEY_MASK


def _zeros(typecode: str, count: int) -> array[int]:
    """An array of ``count`` zeros, its memory written (so it is resident from the start)."""
    found = array(typecode)
    found.frombytes(bytes(found.itemsize * count))
    return found


class RecentMessages:
    """Committed messages by key (:func:`key_of`), in the order they came in, at most
    ``limit`` of them; memory fixed when made."""

    def __init__(self, window_ns: int, limit: int = MAX_REMEMBERED) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.window_ns = window_ns
        self.limit = limit
        # The ring: slot (n % limit) holds the n-th message added.
        self._keys = _zeros("Q", limit)
        self._times = _zeros("q", limit)
        self._rows = _zeros("q", limit)
        self._crcs = _zeros("I", limit)
        self._first = 0
        """Number of the oldest message remembered (messages are numbered as added)."""
        self._next = 0
        """Number the next message added gets."""
        cells = 1 << (2 * limit - 1).bit_length()  # a power of two, ≥ 2 × limit
        self._mask = cells - 1
        self._table = _zeros("I", cells)
        """slot + 1 of a key's latest message, at or after the key's home cell; 0: empty."""
        self._size = 0
        """Keys in the table."""

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        table = memoryview(self._table).cast("B")
        table[:] = bytes(len(table))  # in place: no second table, even for a moment
        self._first = self._next = self._size = 0

    def _cell_of(self, key: int, slot: int) -> int | None:
        """The cell pointing at ``slot`` for ``key`` (None: the key points elsewhere)."""
        table, keys, mask = self._table, self._keys, self._mask
        cell = key & mask
        while True:
            held = table[cell]
            if not held:
                return None
            if keys[held - 1] == key:
                return cell if held - 1 == slot else None
            cell = (cell + 1) & mask

    def resent_row(self, key: int, crc: int, receive_ns: int) -> int | None:
        """The row of the message this one repeats, or None when it is not a resend."""
        table, keys, mask = self._table, self._keys, self._mask
        cell = key & mask
        while True:
            held = table[cell]
            if not held:
                return None
            slot = held - 1
            if keys[slot] == key:
                if self._crcs[slot] != crc or receive_ns - self._times[slot] > self.window_ns:
                    return None
                return self._rows[slot]
            cell = (cell + 1) & mask

    def add(self, entries: Iterable[tuple[int, int, int, int]]) -> None:
        """Remember committed messages — (key, receive time, crc, row) each — then forget
        those past the window; the oldest go first when the ring is full."""
        table, keys, mask, limit = self._table, self._keys, self._mask, self.limit
        newest = None
        for key, receive_ns, crc, row in entries:
            if self._next - self._first >= limit:
                self._forget_first()
            slot = self._next % limit
            self._next += 1
            keys[slot] = key
            self._times[slot] = receive_ns
            self._rows[slot] = row
            self._crcs[slot] = crc
            newest = receive_ns
            cell = key & mask
            while True:
                held = table[cell]
                if not held:
                    table[cell] = slot + 1
                    self._size += 1
                    break
                if keys[held - 1] == key:  # an MSH-10 reused: its latest message wins
                    table[cell] = slot + 1
                    break
                cell = (cell + 1) & mask
        if newest is not None:
            horizon = newest - self.window_ns
            times = self._times
            while self._first < self._next and times[self._first % limit] < horizon:
                self._forget_first()

    def _forget_first(self) -> None:
        slot = self._first % self.limit
        self._first += 1
        cell = self._cell_of(self._keys[slot], slot)
        if cell is not None:  # only if this is its key's latest message
            self._delete(cell)

    def _delete(self, hole: int) -> None:
        """Empty ``hole``, moving back the entries after it that would be cut off from
        their home cell (linear probing's deletion: no tombstones, so probes stay short)."""
        table, keys, mask = self._table, self._keys, self._mask
        cell = hole
        while True:
            cell = (cell + 1) & mask
            held = table[cell]
            if not held:
                break
            home = keys[held - 1] & mask
            # Stays if its home is cyclically in (hole, cell].
            if (hole < cell and hole < home <= cell) or (
                hole > cell and (home > hole or home <= cell)
            ):
                continue
            table[hole] = held
            hole = cell
        table[hole] = 0
        self._size -= 1

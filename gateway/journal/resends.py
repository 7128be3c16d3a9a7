"""The messages a resend may repeat: what the journal writer remembers of each message it
committed in the duplicate window, in little memory and never more than a bound.

A resend is the same device, the same MSH-10 and the same bytes within the window (ten
minutes by default). At 64 beds with waves that is ~150,000 messages, and a (device,
control id) tuple of two strings with an object per entry and its place in the order
cost ~450 bytes each: the writer grew 42 → 111 MB over the window's first ten minutes.
Here an entry is the 64-bit hash of (device, control id) → one integer packing its
receive time, its row id and the CRC-32 of its bytes (~140 bytes all told), and there are
at most :data:`MAX_REMEMBERED` of them (a flood forgets its oldest first: a resend older
than that is stored twice, which loses nothing).

A hash collision would make a message look like a resend only if its CRC-32 matched too
and it came within the window: with Python's keyed string hash, ~2^-96 per message.

This module must not touch the file: the writer loads it from the journal and tells it
what it committed.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

MAX_REMEMBERED = 262_144
"""Most messages remembered (~37 MB at most): the window at up to ~430 msg/s."""

_CRC_BITS = 32
_ROW_BITS = 64
_KEY_BITS = 64
_TIME_SHIFT = _CRC_BITS + _ROW_BITS
_CRC_MASK = (1 << _CRC_BITS) - 1
_ROW_MASK = (1 << _ROW_BITS) - 1
_KEY_MASK = (1 << _KEY_BITS) - 1


def key_of(device: str, control_id: str) -> int:
    """The key a message is remembered by (non-negative, 64 bits)."""
    return hash((device, control_id)) & _KEY_MASK


class RecentMessages:
    """Committed messages by key (:func:`key_of`), with the order they came in."""

    def __init__(self, window_ns: int, limit: int = MAX_REMEMBERED) -> None:
        self.window_ns = window_ns
        self.limit = limit
        self._entries: dict[int, int] = {}
        """key → receive time, row and CRC-32, packed in one integer."""
        self._order: collections.deque[int] = collections.deque()
        """Receive time and key of each message remembered, packed, in commit order (a
        key committed twice — an MSH-10 reused for other content — is in it twice)."""

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self._order.clear()

    def resent_row(self, key: int, crc: int, receive_ns: int) -> int | None:
        """The row of the message this one repeats, or None when it is not a resend."""
        packed = self._entries.get(key)
        if packed is None or packed & _CRC_MASK != crc:
            return None
        if receive_ns - (packed >> _TIME_SHIFT) > self.window_ns:
            return None
        return (packed >> _CRC_BITS) & _ROW_MASK

    def add(self, entries: Iterable[tuple[int, int, int, int]]) -> None:
        """Remember committed messages — (key, receive time, crc, row) each — then forget
        those past the window, and the oldest past the limit."""
        store, order = self._entries, self._order
        newest = None
        for key, receive_ns, crc, row in entries:
            store[key] = (receive_ns << _TIME_SHIFT) | (row << _CRC_BITS) | crc
            order.append((receive_ns << _KEY_BITS) | key)
            newest = receive_ns
        if newest is not None:
            self._forget(newest - self.window_ns)

    def _forget(self, horizon_ns: int) -> None:
        store, order, limit = self._entries, self._order, self.limit
        while order:
            first = order[0]
            received = first >> _KEY_BITS
            if received >= horizon_ns and len(order) <= limit:
                return
            order.popleft()
            key = first & _KEY_MASK
            packed = store.get(key)
            # Only if this is its latest commit (the key may have come again since).
            if packed is not None and packed >> _TIME_SHIFT == received:
                del store[key]

"""Packing: the writer process moves committed messages' parts out of their commit's small
bundle into large *packs*, one device's messages each, between ingest batches.

Why: a commit's bundle (a few messages of several beds, ~2 KiB compressed) compresses each
part against little of its like, and takes a 4 KiB page of the ``messages`` table nearly to
itself. A device's consecutive messages are alike (the same segments, the same waves going
on), so the same parts in one zlib stream of a device's dozens of messages take a fraction
of the bytes, and a pack large enough goes to overflow pages that SQLite fills whole.

Commits are untouched: a message is committed, fsynced and acknowledged in its commit's
bundle exactly as before; packing only ever moves parts that are durable already, and does
so after the batch's answers went out.

How, in one window of :data:`WINDOW` messages (plus the rest of the last commit bundle it
cuts, so that no commit bundle straddles two windows) after ``journal_state.packed_through``:
the window's messages are grouped by device; each :meth:`Packer.step` packs one group (at
most :data:`PACK_MESSAGES` messages, :data:`PACK_BYTES` of parts) in one transaction —
insert the pack into ``bundles`` (its id: minus its first message's, never used twice),
point its messages at it (``bundle_row``, ``bundle_offset`` its offset in the pack, layout
4) and drop every commit bundle none of the window's messages points at any more. The parts are
the same bytes, copied, so a packed message reads back bit for bit as before. The last
step of the window moves ``packed_through`` on. A crash between two steps leaves each
message pointing at a bundle that is there (SQLite's transaction); the window is found
again from the file when it is opened next, the messages packed already skipped.

It must not hold the writer: a step is bounded (one pack), and the writer runs steps only
while no job is waiting — and one after every batch once :data:`PACK_BACKLOG` messages
wait, so that a writer that is never idle still packs — as fast as ingest only while its
batches are small: a step packs one device's messages (~32 at 64 beds), so batches of
hundreds of messages, at saturation, outrun it and the backlog grows until the load eases
(measured by ``bench.restart``'s build without its wait). Schema 2 rows
(``layout`` NULL) are left as they are.
"""

from __future__ import annotations

import sqlite3
import zlib
from dataclasses import dataclass, field

from gateway.journal.parts import part_size
from gateway.journal.schema import (
    LAYOUT,
    MESSAGES_PER_INSERT,
    PACK_ZLIB_LEVEL,
    compress,
    read_bundle,
)

WINDOW = 2048
"""Messages grouped by device at a time: at 64 beds a device has ~32 of them in a window
(16 s of the bench's waves); the window's commit bundles are held decompressed meanwhile
(~3 MB)."""
PACK_MESSAGES = 256
"""Most messages in one pack (what a reader decompresses to read one of them)."""
PACK_BACKLOG = 8 * WINDOW
"""Messages waiting to be packed past which the writer packs one step after every batch
even while jobs wait (below it, only while none does): ingest first; see the module's
docstring for when that does not keep up."""
PACK_BYTES = 256 * 1024
"""Most bytes of parts in one pack: bounds a step's zlib call (a few ms at level 6)."""


@dataclass(slots=True)
class _Member:
    row: int
    holder: int
    offset: int


@dataclass(slots=True)
class _Window:
    high: int
    """The last message of the window."""
    groups: list[list[_Member]]
    """The window's messages still in commit bundles, by device."""
    left: dict[int, int]
    """Commit bundle (its holder's id) → how many of its messages are not packed yet."""
    layouts: dict[int, int]
    """Commit bundle → the layout of its messages (3: kept on a message; 4: in ``bundles``)."""
    bundles: dict[int, bytes] = field(default_factory=dict)
    """The commit bundles read so far, decompressed."""

    def bundle(self, conn: sqlite3.Connection, holder: int) -> bytes:
        data = self.bundles.get(holder)
        if data is None:
            blob = read_bundle(conn, holder, self.layouts[holder])
            if blob is None:
                raise sqlite3.DatabaseError(f"the bundle of message {holder} is missing")
            data = self.bundles[holder] = zlib.decompress(blob)
        return data


class Packer:
    """The packing state of the writer's connection (a new connection: :meth:`reset`)."""

    def __init__(self) -> None:
        self.packed_through = 0
        """Every message up to this id is in a pack (or a schema 2 row, left as it is)."""
        self._window: _Window | None = None
        self._not_before = 0
        """No window is looked for before the last message id reaches this (one was
        looked for and the file held too few messages for it)."""

    def reset(self, packed_through: int) -> None:
        """Forget the window (a new connection, or retention deleted messages under it)."""
        self.packed_through = packed_through
        self._window = None
        self._not_before = 0

    def pending(self, last_id: int, *, final: bool = False) -> bool:
        """Whether there may be work: a window open, or a whole one waiting (any message at
        all with ``final``, when the file is closed)."""
        if self._window is not None:
            return True
        if final:
            return last_id > self.packed_through
        return last_id - self.packed_through >= WINDOW and last_id >= self._not_before

    def step(self, conn: sqlite3.Connection, last_id: int, *, final: bool = False) -> bool:
        """Pack one group of the window (opening it first if needed), in one transaction;
        False when there was nothing to do after all. Raises sqlite3.Error (the transaction
        rolled back by the caller); the window is then forgotten and found again from the
        file."""
        try:
            return self._step(conn, last_id, final=final)
        except BaseException:
            self._window = None
            raise

    def _step(self, conn: sqlite3.Connection, last_id: int, *, final: bool) -> bool:
        window = self._window
        if window is None:
            window = self._window = self._open(conn, last_id, final=final)
            if window is None:
                return False
        if not window.groups:  # nothing to pack in it (schema 2 rows, packed already)
            conn.execute("BEGIN IMMEDIATE")
            self._finish(conn, window)
            conn.execute("COMMIT")
            return True
        group = window.groups[-1]
        members: list[_Member] = []
        parts: list[bytes] = []
        moves: list[tuple[int, int, int]] = []
        size = 0
        pack_id = -group[0].row
        while group and len(members) < PACK_MESSAGES and size < PACK_BYTES:
            member = group.pop(0)
            data = window.bundle(conn, member.holder)
            end = member.offset + part_size(data, member.offset)
            if end > len(data):
                raise sqlite3.DatabaseError(
                    f"message {member.row}: its part runs past the end of its bundle"
                )
            members.append(member)
            parts.append(data[member.offset : end])
            moves.append((pack_id, size, member.row))
            size += end - member.offset
        blob = compress(b"".join(parts), PACK_ZLIB_LEVEL)
        freed = []
        for member in members:
            window.left[member.holder] -= 1
            if not window.left[member.holder]:
                freed.append(member.holder)
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO bundles (id, last_message, data) VALUES (?, ?, ?)",
            (pack_id, members[-1].row, blob),
        )
        conn.executemany(
            f"UPDATE messages SET bundle_row = ?, bundle_offset = ?, layout = {LAYOUT}"
            " WHERE id = ?",
            moves,
        )
        conn.executemany(
            "DELETE FROM bundles WHERE id = ?",
            [(h,) for h in freed if window.layouts[h] == LAYOUT],
        )
        conn.executemany(  # a bundle of layout 3, on one of its messages
            "UPDATE messages SET bundle = NULL WHERE id = ?",
            [(h,) for h in freed if window.layouts[h] != LAYOUT],
        )
        if not group:
            window.groups.pop()
        if not window.groups:
            self._finish(conn, window)
        conn.execute("COMMIT")
        for holder in freed:
            del window.left[holder]
            window.bundles.pop(holder, None)
        return True

    def _finish(self, conn: sqlite3.Connection, window: _Window) -> None:
        conn.execute(
            "UPDATE journal_state SET value = max(value, ?) WHERE name = 'packed_through'",
            (window.high,),
        )
        self.packed_through = window.high
        self._window = None

    def _open(self, conn: sqlite3.Connection, last_id: int, *, final: bool) -> _Window | None:
        if not self.pending(last_id, final=final):
            return None
        rows = conn.execute(
            "SELECT id, device, bundle_row, bundle_offset, layout FROM messages"
            " WHERE id > ? ORDER BY id LIMIT ?",
            (self.packed_through, WINDOW + MESSAGES_PER_INSERT),
        ).fetchall()
        if len(rows) <= WINDOW and not final:
            # Retention took some of the ids: wait for as many messages as are missing.
            self._not_before = last_id + WINDOW + 1 - len(rows)
            return None
        if not rows:
            return None
        if len(rows) > WINDOW:
            # Up to a commit bundle's end: the messages after it that point at a bundle
            # held in the window are in the window too.
            cut = rows[WINDOW - 1][0]
            rows = [row for row in rows if row[0] <= cut or 0 < row[2] <= cut]
        by_device: dict[str, list[_Member]] = {}
        left: dict[int, int] = {}
        layouts: dict[int, int] = {}
        for row, device, holder, offset, layout in rows:
            if layout is None or holder < 0:
                continue  # schema 2's, or packed already (before a crash)
            by_device.setdefault(device or "", []).append(_Member(row, holder, offset))
            left[holder] = left.get(holder, 0) + 1
            layouts[holder] = layout
        return _Window(rows[-1][0], list(by_device.values()), left, layouts)

"""The journal's writer process: ``python -m gateway.journal.writer`` (started by
:class:`gateway.journal.Journal`, never by hand).

Why a process and not a thread: the event loop parses, decodes and ACKs with the GIL held
nearly all the time under load, and a writer thread needs the GIL between SQLite's calls.
It got it when the loop ran out of work — after the loop had taken in every monitor's next
message — so each commit waited for the loop and the loop then waited for the commit: the
two took turns instead of overlapping: 7,500–8,500 msg/s with a thread, 9,700–10,800 with
this process, in alternated runs of `python -m bench journal` on the same machine.

The process owns the only writing connection. It reads jobs from a pipe — frames of
``(now_ns, jobs)``, each job numbered by the parent — takes everything that is waiting as
one batch (appends, alarm-log rows, prune steps, stop), writes the appends in one
transaction and commits: one fsync of the WAL (``synchronous=FULL``) for the whole batch.
Only then does it answer, on the other pipe, with a frame of ``(settled, counters, logs)``:
each job's outcome, its counters and what it logged (the parent logs it; this process has
no terminal). A failed write fails the jobs of its batch with a JournalError and drops the
connection; the next batch opens a fresh one, so recording resumes when storage returns.
While a ward's messages fill batches and no sender waits on it, it takes a batch at most
every 20 ms, so that they share their commits (:mod:`gateway.journal.pacing`).

SIGINT and SIGTERM are ignored: a Ctrl-C in the terminal or a service manager signals the
whole process group, and the parent decides when the writer stops — with a stop job, or
by going away (end of the job pipe), after which the writer closes the file cleanly.

A second thread copies the WAL into the file meanwhile (:mod:`gateway.journal.checkpointer`).
The rest is one thing and stays in one module: the life of the one writing connection —
opening it (and noticing the file deleted under it), a batch's inserts, resends, the bed
index, retention and their failures all share that connection's state and its
drop-and-reopen rule, and splitting them would spread one invariant over several files.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import select
import signal
import sqlite3
import sys
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from gateway.errors import JournalError
from gateway.journal.checkpointer import Checkpointer
from gateway.journal.pacing import CommitPacer
from gateway.journal.packer import PACK_BACKLOG, PACK_MESSAGES, WINDOW, Packer
from gateway.journal.parts import decode_part, encode_part
from gateway.journal.protocol import (
    PIPE_READ_SIZE,
    JournalCounters,
    _AlarmLog,
    _Append,
    _BedEntry,
    _Frames,
    _Job,
    _job,
    _Prune,
    _Stop,
    describe_failure,
    encode_frame,
    refusal,
    refused,
)
from gateway.journal.resends import RecentMessages, key_of
from gateway.journal.schema import (
    _MESSAGE_COLUMNS,
    _MESSAGE_WIDTH,
    _SCHEMA,
    BED_INDEX_LAG,
    LAYOUT,
    MAX_BATCH,
    MESSAGES_PER_INSERT,
    SCHEMA_VERSION,
    UPGRADE_FROM_2,
    UPGRADE_FROM_3,
    WAL_WRITER_CHECKPOINT_PAGES,
    _encode_json,
    compress,
    read_bundle,
)

log = logging.getLogger("gateway.journal")


_Fresh = dict[int, tuple[int, int, int]]
"""Messages of a batch a resend may repeat: key → (receive time, crc, row)."""


class _Writer:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.path = Path(settings["path"])
        self.duplicate_window_ns: int = settings["duplicate_window_ns"]
        self.busy_timeout_s: float = settings["busy_timeout_s"]
        self.max_size_bytes: int | None = settings["max_size_bytes"]
        self.now_ns = 0
        """The parent's clock, as of the last frame (what the duplicate window is kept by)."""
        self._conn: sqlite3.Connection | None = None
        self._next_id = 1
        self._seen = RecentMessages(self.duplicate_window_ns)
        self._indexed_through = 0
        """Messages up to this id are in the bed index (``journal_state``)."""
        self._unindexed: list[_BedEntry] = []
        """The bed index entries of the committed messages after ``_indexed_through``."""
        self._index_failure: str | None = None
        self._identity: tuple[int, int] | None = None
        """(device, inode) of the file the connection has open: a path that names another
        file, or none, means the journal was deleted, replaced or moved under it."""
        self._checkpointer = Checkpointer(
            self.path, self.busy_timeout_s, settings["checkpoint_interval_s"]
        )
        self.counters = JournalCounters()
        self._packer = Packer()
        self._pacer = CommitPacer(settings["commit_interval_s"])
        self._pack_failure: str | None = None

    # -- the job loop

    def serve(self, jobs_in: int, results_out: int, relay: _LogRelay) -> None:
        frames = _Frames()
        waiting = select.poll()  # not select(): the fd may be past 1024 in a busy gateway
        waiting.register(jobs_in, select.POLLIN)
        try:
            while True:
                batch = self._next_batch(jobs_in, frames, waiting)
                if batch is None:
                    return  # the parent went away: close the file cleanly (below)
                taken_ns = time.monotonic_ns()
                settled, stop = self._run_batch(batch)
                # After a batch opened the file: it never creates the file itself (and is
                # stopped while a deleted file is let go, see _check_file).
                if self._conn is not None and not self._checkpointer.running:
                    self._checkpointer.start()
                _write_all(results_out, encode_frame((settled, self.counters, relay.take())))
                if stop:
                    return
                # Housekeeping after the answers of the batch went out, not before.
                if self._next_id - 1 - self._indexed_through >= BED_INDEX_LAG:
                    self._index_beds()
                if self._checkpointer.restart_wanted:
                    self._checkpoint()
                next_ns = self._pacer.after(_senders(batch), _others(batch), taken_ns)
                # Packing steps while no job is waiting, or while the next batch is not
                # due anyway: ingest first. A writer that is never idle still packs one
                # step a batch once the backlog is long.
                forced = self._next_id - 1 - self._packer.packed_through > PACK_BACKLOG
                while (
                    forced or time.monotonic_ns() < next_ns or not waiting.poll(0)
                ) and self._pack():
                    forced = False
                linger_ns = next_ns - time.monotonic_ns()
                if linger_ns > 0:
                    self.counters.lingered += 1
                    time.sleep(linger_ns / 1e9)  # not poll(): each job would wake it
        except BrokenPipeError:
            return  # the parent went away while we answered
        finally:
            self._close()

    def _next_batch(self, fd: int, frames: _Frames, waiting: select.poll) -> list[_Job] | None:
        """Every job waiting (at least one; at most about MAX_BATCH); None at end of stream."""
        jobs: list[_Job] = []
        while True:
            for now_ns, items in frames.complete():
                self.now_ns = now_ns
                jobs += map(_job, items)
            if jobs and (len(jobs) >= MAX_BATCH or not waiting.poll(0)):
                return jobs
            data = os.read(fd, PIPE_READ_SIZE)
            if not data:
                return jobs or None
            frames.feed(data)

    def _run_batch(self, batch: list[_Job]) -> tuple[list[tuple[int, object]], bool]:
        appends = [job for job in batch if isinstance(job, _Append)]
        settled: list[tuple[int, object]] = []
        if appends:
            settled += self._write_batch(appends)
        logs = [job for job in batch if isinstance(job, _AlarmLog)]
        if logs:
            settled += self._write_alarm_log(logs)
        stop = False
        for job in batch:
            if isinstance(job, _Prune):
                settled.append((job.seq, self._prune(job)))
            elif isinstance(job, _Stop):
                self._close()
                settled.append((job.seq, None))
                stop = True
        return settled, stop

    def _close(self) -> None:
        # The checkpointer first: this connection, the last one to close, then copies
        # what is left of the WAL into the file and removes the WAL.
        self._checkpointer.stop()
        self._index_beds()  # a journal closed cleanly has its whole bed index
        # ... and its messages packed (a bounded amount: a backlog waits for the next open).
        for _ in range(4 * WINDOW // PACK_MESSAGES + 64):
            if not self._pack(final=True):
                break
        self._disconnect()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        else:
            self._check_file()
        return self._conn

    def _check_file(self) -> None:
        """Before every write: is the file at the path still the one open? A journal deleted
        (with its -wal and -shm), replaced or moved while open takes every commit into a
        file no one will read again — ACKed, then gone at the next stop. One stat a batch.
        Raises JournalError (the batch is refused: devices resend) after letting go of the
        old file, saying how many messages were lost with it; the next write opens a new
        file at the path."""
        identity = _identity(self.path)
        if identity == self._identity:
            return
        conn = self._conn
        assert conn is not None
        try:
            count, first, last = conn.execute(
                "SELECT count(*), min(id), max(id) FROM messages"
            ).fetchone()
            lost = f"{count} messages stored in it (ids {first}–{last}) are lost with it"
        except sqlite3.Error as exc:
            lost = f"the messages stored in it are lost with it (cannot count them: {exc})"
        what = "deleted or moved" if identity is None else "replaced by another file"
        text = (
            f"journal file {what} while open: {self.path}: {lost}; recording starts again"
            " in a new file at the path"
        )
        # Logged once, by whoever fails on it. The checkpointer's connection goes first:
        # the last one to close a WAL database removes "<path>-wal" by name, which must
        # not be the new file's.
        self._checkpointer.stop()
        self._disconnect()
        self._identity = None
        raise JournalError(text)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=self.busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(f"{self.path}: cannot use WAL mode (got {mode!r})")
            # FULL: the WAL is fsynced at every commit; an ACK must survive a power cut.
            conn.execute("PRAGMA synchronous=FULL")
            # The checkpointer thread copies the WAL into the file; the writer only does
            # it itself if the WAL grew past this (the checkpointer cannot work).
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_WRITER_CHECKPOINT_PAGES}")
            if self.max_size_bytes is not None:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={max(1, self.max_size_bytes // page)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, 2, 3, SCHEMA_VERSION):
                raise JournalError(
                    f"{self.path}: journal schema {version}, this gateway writes"
                    f" {SCHEMA_VERSION} (and upgrades 2 and 3); start with another --journal file"
                )
            if version != SCHEMA_VERSION:  # new; schema 2: a column and a table; 3: a table
                create = _SCHEMA if version == 0 else ""
                column = UPGRADE_FROM_2 if version in (0, 2) else ""
                conn.executescript(
                    f"BEGIN IMMEDIATE;{create}{column}{UPGRADE_FROM_3}"
                    f"PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
                )
                if version:
                    log.info(
                        "journal %s: schema %d upgraded to %d", self.path, version, SCHEMA_VERSION
                    )
            last = conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0
            self._indexed_through = _state(conn, "beds_indexed_through")
            # Never an id again that was used once (all may have been pruned).
            self._next_id = max(last, self._indexed_through, _state(conn, "pruned_through")) + 1
            self._unindexed = list(_bed_entries(conn, self._indexed_through))
            self._packer.reset(_state(conn, "packed_through"))
            self._load_seen(conn)
            self._identity = _identity(self.path)
        except BaseException:
            conn.close()
            raise
        log.info("journal open: %s", self.path)
        return conn

    def _load_seen(self, conn: sqlite3.Connection) -> None:
        """Recent messages a device may still resend (after a restart too)."""
        self._seen.clear()
        since = self.now_ns - self.duplicate_window_ns
        rows = conn.execute(
            "SELECT id, receive_ns, device, control_id, raw_crc FROM messages"
            " WHERE receive_ns >= ? AND outcome = 'accepted' AND control_id != ''"
            " ORDER BY receive_ns",
            (since,),
        )
        self._seen.add(
            (key_of(device or "", control_id), receive_ns, crc, row)
            for row, receive_ns, device, control_id, crc in rows
        )

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("journal: closing %s: %s", self.path, exc)

    def _rollback(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as rollback:  # the connection is dropped next
                log.warning("journal: rollback failed: %s", rollback)

    def _write_batch(self, jobs: list[_Append]) -> list[tuple[int, object]]:
        first_id = self._next_id
        try:
            conn = self._connection()
            first_id = self._next_id
            results, fresh, beds = self._insert(conn, jobs)
        except _POISON as exc:
            # A value of one message no column takes (it got past the loop's checks): the
            # others must not pay for it. One by one, so only the guilty one is refused.
            self._next_id = first_id
            self._rollback()
            if len(jobs) > 1:
                return [answer for job in jobs for answer in self._write_batch([job])]
            return self._write_refused(jobs[0], exc)
        except (sqlite3.Error, OSError, JournalError) as exc:
            return self._fail(jobs, exc, first_id)
        except Exception as exc:  # a bug must cost this batch its ACKs, never the writer
            log.exception("journal writer: unexpected error")
            return self._fail(jobs, exc, first_id)
        self._seen.add((key, *seen) for key, seen in fresh.items())
        self._unindexed.extend(beds)
        self.counters.commits += 1
        self.counters.stored += results.count(True)
        self.counters.resends += results.count(False)
        if self.counters.failure is not None:
            log.warning("journal: recording resumed (%s)", self.path)
            self.counters.failure = None
        return [
            (job.seq, stored if job.refused is None else refused(job.refused))
            for job, stored in zip(jobs, results, strict=True)
        ]

    def _write_refused(self, job: _Append, exc: BaseException) -> list[tuple[int, object]]:
        """Keep a message whose decoded values cannot be stored raw, as rejected; it is
        answered MessageRefused (a definitive reject), or a JournalError when even its raw
        bytes could not be stored (a negative ACK: its device resends it)."""
        columns = job.columns
        if job.refused is not None:  # already its raw form: nothing left to take away
            return self._fail([job], exc, self._next_id)
        text = refusal(str(columns[5]), str(columns[2]), exc)
        return self._write_batch([_as_rejected(job, text)])

    def _fail(
        self, jobs: list[_Append], exc: BaseException, first_id: int
    ) -> list[tuple[int, object]]:
        self._next_id = first_id
        self._rollback()
        # A fresh connection next time: a file made writable again, or a database whose
        # lock is gone, is only seen by reopening it.
        self._disconnect()
        self.counters.failed_batches += 1
        text = describe_failure(self.path, exc)
        if self.counters.failure != text:
            log.error("journal: %s", text)
        self.counters.failure = text
        return [(job.seq, JournalError(text)) for job in jobs]

    def _insert(
        self, conn: sqlite3.Connection, jobs: list[_Append]
    ) -> tuple[list[bool | JournalError], _Fresh, list[_BedEntry]]:
        """Write one batch; return per job whether it was stored (False: a resend; an error:
        it alone could not be), the messages a resend may now repeat, and the batch's bed
        index entries."""
        values: list[object] = []
        alarms: list[tuple[object, ...]] = []
        beds: list[_BedEntry] = []
        resent: list[int] = []
        results: list[bool | JournalError] = []
        fresh: _Fresh = {}
        seen_before = self._seen
        window = self.duplicate_window_ns
        first_id = next_id = self._next_id
        bundles: list[list[bytes]] = []  # the bytes of each statement's messages
        parts: list[bytes] = []
        holder = offset = 0
        for job in jobs:
            key = None if job.key is None else key_of(*job.key)
            if key is not None:
                seen = fresh.get(key)
                if seen is None:
                    row = seen_before.resent_row(key, job.crc, job.receive_ns)
                elif seen[1] == job.crc and job.receive_ns - seen[0] <= window:
                    row = seen[2]
                else:
                    row = None
                if row is not None:
                    resent.append(row)
                    results.append(False)
                    continue
            columns = job.columns
            reports = columns[-1]
            text = None
            if reports is not None:
                try:
                    text = _encode_json(reports).encode()
                except (TypeError, ValueError, OverflowError) as exc:
                    job = _as_rejected(job, refusal(str(columns[5]), str(columns[2]), exc))  # noqa: PLW2901 - kept raw instead
                    key, columns = None, job.columns
            part = encode_part(job.parts[0], job.parts[1:], text)
            if key is not None:
                fresh[key] = (job.receive_ns, job.crc, next_id)
            if (next_id - first_id) % MESSAGES_PER_INSERT == 0:  # a statement's first row
                holder, parts, offset = next_id, [], 0
                bundles.append(parts)
            parts.append(part)
            values.append(next_id)
            values += columns[:-1]
            # The bundle is a row of its own; '': the reports are in the part.
            values += (None if text is None else "", holder, offset, LAYOUT, None)
            offset += len(part)
            for bed, label in job.beds:
                beds.append((bed, next_id, label))
            if job.alarms:
                alarms.extend((next_id, *row) for row in job.alarms)
            next_id += 1
            results.append(True)
        count = next_id - first_id
        blobs: list[object] = []  # one zlib call (one release of the GIL) each
        for n, bundle in enumerate(bundles):
            start = first_id + n * MESSAGES_PER_INSERT
            last = min(start + MESSAGES_PER_INSERT, next_id) - 1
            blobs += (start, last, compress(b"".join(bundle)))
        if count or resent:
            conn.execute("BEGIN IMMEDIATE")
            if blobs:
                conn.execute(_bundles_sql(len(bundles)), blobs)
            for start in range(0, count, MESSAGES_PER_INSERT):
                rows = min(MESSAGES_PER_INSERT, count - start)
                chunk = values[start * _MESSAGE_WIDTH : (start + rows) * _MESSAGE_WIDTH]
                conn.execute(_messages_sql(rows), chunk)
            _insert_rows(conn, "alarms", alarms)
            if resent:
                conn.executemany(
                    "UPDATE messages SET resends = resends + 1 WHERE id = ?", [(r,) for r in resent]
                )
            conn.execute("COMMIT")
        self._next_id = next_id
        return results, fresh, beds

    def _index_beds(self) -> None:
        """Write the bed index entries of the messages since the last time, in one
        transaction. A failure leaves them to the next try (and to the next open, which
        rebuilds them from the messages); readers scan what is not indexed meanwhile."""
        conn = self._conn
        through = self._next_id - 1
        if conn is None or through <= self._indexed_through:
            return
        entries = self._unindexed
        latest = {bed: (label, row) for bed, row, label in entries}  # in id order: last wins
        try:
            conn.execute("BEGIN IMMEDIATE")
            # OR IGNORE: an entry is a fact; writing it twice must not fail the index.
            pairs = list(dict.fromkeys((bed, row) for bed, row, _ in entries))
            _insert_rows(conn, "bed_messages", pairs, "INSERT OR IGNORE")
            conn.executemany(
                "INSERT INTO beds VALUES (?, ?, ?) ON CONFLICT (bed) DO UPDATE"
                " SET label = excluded.label, last_message_id = excluded.last_message_id",
                [(bed, label, row) for bed, (label, row) in latest.items()],
            )
            conn.execute(
                "UPDATE journal_state SET value = ? WHERE name = 'beds_indexed_through'",
                (through,),
            )
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._rollback()
            self._disconnect()
            text = describe_failure(self.path, exc)
            if self._index_failure != text:
                log.error("journal: bed index: %s", text)
            self._index_failure = text
            return
        self._indexed_through = through
        self._unindexed = []
        self._index_failure = None

    def _pack(self, *, final: bool = False) -> bool:
        """One packing step if there is work (:mod:`gateway.journal.packer`); whether
        there may be more. A failure costs nothing stored: the step rolled back, it is
        logged once and tried again after the next batch."""
        conn = self._conn
        last = self._next_id - 1
        if conn is None or not self._packer.pending(last, final=final):
            return False
        try:
            worked = self._packer.step(conn, last, final=final)
        except (sqlite3.Error, OSError, zlib.error) as exc:
            self._rollback()
            text = describe_failure(self.path, exc)
            if self._pack_failure != text:
                log.error("journal: packing: %s", text)
            self._pack_failure = text
            return False
        self._pack_failure = None
        return worked

    def _checkpoint(self) -> None:
        """Copy the rest of the WAL into the file, so that the next commit starts it over."""
        self._checkpointer.restart_wanted = False
        if self._conn is None:
            return
        try:
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error as exc:  # the WAL only grows longer meanwhile
            log.warning("journal: checkpoint: %s", describe_failure(self.path, exc))

    def _write_alarm_log(self, jobs: list[_AlarmLog]) -> list[tuple[int, object]]:
        rows = [row for job in jobs for row in job.rows]
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            _insert_rows(conn, "alarm_log", rows)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, JournalError) as exc:
            self._rollback()
            self._disconnect()
            text = describe_failure(self.path, exc)
            log.error("journal: alarm log: %s", text)
            return [(job.seq, JournalError(text)) for job in jobs]
        return [(job.seq, None) for job in jobs]

    def _prune(self, job: _Prune) -> int | JournalError:
        try:
            conn = self._connection()
            rows = conn.execute(
                "SELECT id, receive_ns FROM messages ORDER BY id LIMIT ?", (job.limit,)
            ).fetchall()
            last = None
            count = 0
            for row, receive_ns in rows:
                if receive_ns >= job.before_ns:
                    break
                last, count = row, count + 1
            if job.before_ns:
                conn.execute("DELETE FROM alarm_log WHERE time_ns < ?", (job.before_ns,))
            if last is None:
                return 0
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM alarms WHERE message_id <= ?", (last,))
            # Bed by bed: the index is keyed by bed first, and a ward has tens of beds.
            beds = [bed for (bed,) in conn.execute("SELECT bed FROM beds")]
            for bed in beds:
                conn.execute(
                    "DELETE FROM bed_messages WHERE bed = ? AND message_id <= ?", (bed, last)
                )
            conn.execute("DELETE FROM beds WHERE last_message_id <= ?", (last,))
            _keep_bundle(conn, last)
            conn.execute("DELETE FROM messages WHERE id <= ?", (last,))
            conn.execute("DELETE FROM bundles WHERE last_message <= ?", (last,))
            conn.execute(
                "UPDATE journal_state SET value = max(value, ?) WHERE name = 'pruned_through'",
                (last,),
            )
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, JournalError) as exc:
            self._rollback()
            self._disconnect()
            text = describe_failure(self.path, exc)
            if job.before_ns:  # a real prune, not the opening probe of start()
                log.error("journal: retention: %s", text)
            self.counters.failure = self.counters.failure or text
            return JournalError(text)
        self._unindexed = [entry for entry in self._unindexed if entry[1] > last]
        if last > self._packer.packed_through:  # its window may have lost messages
            self._packer.reset(self._packer.packed_through)
        self.counters.pruned += count
        return count


def _keep_bundle(conn: sqlite3.Connection, last: int) -> None:
    """Before the messages up to ``last`` go: if some messages after it still point at a
    bundle of layout 3 held up to ``last`` (one statement's, so at most one such bundle, its
    messages within :data:`MESSAGES_PER_INSERT` ids), the first of them takes the bundle
    (their offsets into it do not change). A row of ``bundles`` (layout 4: a commit's or a
    pack) stays until its last message goes."""
    found = conn.execute(
        "SELECT min(id), bundle_row FROM messages WHERE id > ? AND id <= ?"
        " AND bundle_row > 0 AND bundle_row <= ? AND layout IS NOT 4",
        (last, last + MESSAGES_PER_INSERT, last),
    ).fetchone()
    if found is None or found[0] is None:
        return  # its bundle goes with it (or stays: it is held after ``last``)
    heir, holder = found
    conn.execute(
        "UPDATE messages SET bundle = (SELECT bundle FROM messages WHERE id = ?) WHERE id = ?",
        (holder, heir),
    )
    conn.execute(
        "UPDATE messages SET bundle_row = ? WHERE id >= ? AND id < ? AND bundle_row = ?",
        (heir, heir, holder + MESSAGES_PER_INSERT, holder),
    )


_POISON = (
    OverflowError,  # an integer beyond SQLite's 64 bits
    TypeError,
    ValueError,  # 4,300 digits; text UTF-8 cannot carry (UnicodeEncodeError)
    sqlite3.InterfaceError,  # a value of a type SQLite cannot bind
    sqlite3.IntegrityError,  # NULL in a NOT NULL column
    sqlite3.DataError,
)
"""What a value of one message raises, as opposed to storage failing for every message."""


def _senders(batch: Sequence[_Job]) -> list[object]:
    """The connection (transport, peer) each message of a batch came over."""
    return [(job.columns[1], job.columns[2]) for job in batch if isinstance(job, _Append)]


def _others(batch: Sequence[_Job]) -> bool:
    """Whether a batch held a job whose sender waits for it to send the next (a prune
    step): anything but messages and alarm-log rows."""
    return not all(isinstance(job, (_Append, _AlarmLog)) for job in batch)


def _as_rejected(job: _Append, reason: str) -> _Append:
    """A message as its bytes alone, rejected with ``reason``: no decoded values, no alarm
    rows, no bed — what is left to keep of a message whose values cannot be stored."""
    raw = job.parts[0]
    (receive_ns, transport, peer, device, label, control_id, _, _, size, crc, _) = job.columns
    columns = (receive_ns, transport, peer, device, label, control_id, "rejected", reason)
    return job._replace(
        key=None,
        columns=(*columns, size, crc, None),
        parts=[raw],
        size=len(raw),
        beds=[],
        alarms=[],
        refused=reason,
    )


def _identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``; None when there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _state(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM journal_state WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _bed_entries(conn: sqlite3.Connection, after: int) -> Iterator[_BedEntry]:
    """The bed index entries of the messages after id ``after`` (not indexed yet)."""
    rows = conn.execute(
        "SELECT id, reports, layout, bundle_row, bundle_offset FROM messages"
        " WHERE id > ? AND reports IS NOT NULL ORDER BY id",
        (after,),
    ).fetchall()
    bundles: dict[int, bytes] = {}
    for row, inline, layout, holder, offset in rows:
        text = inline
        if layout is not None:  # the reports are in its part
            if holder not in bundles:
                if len(bundles) >= 64:  # packs interleave: keep a ward's worth
                    bundles.clear()
                blob = read_bundle(conn, holder, layout)
                if blob is None:
                    raise JournalError(f"the bundle of message {row} is missing")
                bundles[holder] = zlib.decompress(blob)
            text = decode_part(bundles[holder], offset, samples=False, raw=False)[2] or b"[]"
        for report in json.loads(text):
            if report[0] is not None:
                yield str(report[0]), int(row), str(report[1])


@functools.lru_cache(maxsize=MESSAGES_PER_INSERT)
def _bundles_sql(rows: int) -> str:
    return "INSERT INTO bundles (id, last_message, data) VALUES " + ",".join(["(?,?,?)"] * rows)


@functools.lru_cache(maxsize=MESSAGES_PER_INSERT)
def _messages_sql(rows: int) -> str:
    one = "(" + ",".join("?" * _MESSAGE_WIDTH) + ")"
    return f"INSERT INTO messages ({_MESSAGE_COLUMNS}) VALUES " + ",".join([one] * rows)


_ROWS_PER_INSERT = (256, 64, 16, 4, 1)
"""Multi-row INSERTs for the other tables, largest first: one statement step for many rows
(sqlite3 lets go of the GIL at every step, and takes it back after the event loop)."""


def _insert_rows(
    conn: sqlite3.Connection,
    table: str,
    rows: Sequence[tuple[object, ...]],
    verb: str = "INSERT",
) -> None:
    if not rows:
        return
    width = len(rows[0])
    start = 0
    for size in _ROWS_PER_INSERT:
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            conn.execute(_insert_sql(verb, table, width, size), [v for row in chunk for v in row])
            start += size


@functools.lru_cache(maxsize=64)
def _insert_sql(verb: str, table: str, width: int, rows: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"{verb} INTO {table} VALUES " + ",".join([one] * rows)


class _LogRelay(logging.Handler):
    """What this process logs (from any of its threads), kept for the next answer."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._lock_records = threading.Lock()
        self._records: list[tuple[int, str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
        except Exception:  # a bad log call must not stop the writer
            text = str(record.msg)
        with self._lock_records:
            self._records.append((record.levelno, record.name, text))

    def take(self) -> list[tuple[int, str, str]]:
        with self._lock_records:
            records, self._records = self._records, []
        return records


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main(argv: list[str] | None = None) -> int:
    """``python -m gateway.journal.writer JOBS_FD RESULTS_FD SETTINGS_JSON``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    args = sys.argv[1:] if argv is None else argv
    jobs_in, results_out, settings = int(args[0]), int(args[1]), json.loads(args[2])
    relay = _LogRelay()
    root = logging.getLogger()
    root.addHandler(relay)
    root.setLevel(logging.INFO)
    try:
        _Writer(settings).serve(jobs_in, results_out, relay)
    except Exception:
        # Last words for the parent, which logs them and fails what it waits for.
        log.exception("journal writer failed")
        with contextlib.suppress(OSError):
            _write_all(results_out, encode_frame(([], None, relay.take())))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

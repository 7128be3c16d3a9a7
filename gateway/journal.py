"""The durable journal: every message received, and what it said, on disk before any ACK.

One SQLite file in WAL mode holds each message as received (raw bytes, zlib-compressed;
receive time, peer, transport, device, MSH-10, accepted or rejected and why) and what was
decoded from it — observations, waveform chunks (float32 samples, compressed), alarm
transitions — with the bed routing gave each report. Everything is keyed by the message's
row id, which grows in arrival order, so a time range is a range of ids and retention is a
cheap delete of the oldest ids.

Writing (:class:`Journal`): one writer thread owns the connection (sqlite3 blocks; the event
loop must not). Submitters put their message on a queue and await a future; the writer
takes everything queued, writes it in one transaction and commits — one fsync of the WAL
(``synchronous=FULL``) for the whole batch — then resolves every future of the batch. So an
awaited :meth:`Journal.record` that returns means *on disk*, and that is when the device
may be acknowledged. A failed write (disk full, read-only file, locked database, I/O error)
fails every message of its batch with :class:`~gateway.errors.JournalError`; the writer
drops its connection and opens a fresh one for the next batch, so recording resumes by
itself when storage comes back. A resend (same device, same MSH-10, same bytes, within the
duplicate window) is stored once and reported as such.

Reading (:class:`JournalReader`): its own read-only connection, blocking — call it from a
thread (``asyncio.to_thread``) or from a command-line tool, never on the event loop. It
serves the restart rebuild, export and replay, paging through ids so a long export never
holds one read transaction open.

This module must not route, decode wire formats or touch the ward state: it stores and
returns records as it was given them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import functools
import itertools
import logging
import queue
import sqlite3
import threading
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.domain import (
    AlarmChange,
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    AlarmTransition,
    BedId,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.errors import JournalError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_RETENTION_H = 72.0
DEFAULT_DUPLICATE_WINDOW_S = 600.0
"""A resend of the same message within this long is stored once (devices resend within
seconds; ten minutes covers a monitor that reconnects after a switch reboot)."""
DEFAULT_BUSY_TIMEOUT_S = 1.0
"""How long a write waits on a database locked by another process before failing: long
enough for a stray reader's checkpoint, short enough that devices get their NAK in time."""
MAX_BATCH = 4096
"""Most messages one commit covers (bounds the time one commit holds the writer)."""
PRUNE_BATCH = 256
"""Messages deleted per retention step: small, so ingest waits at most a few ms for one."""
_RAW_COMPRESSION = 1
"""zlib level for raw messages: level 1 is ~3x faster than the default, for ~10 % more."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY,          -- arrival order; everything below is keyed by it
    receive_ns INTEGER NOT NULL,     -- UTC ns, the gateway's clock
    transport TEXT NOT NULL,
    peer TEXT NOT NULL,
    device TEXT,                     -- DeviceId.key of the sender, when known
    device_label TEXT,
    control_id TEXT NOT NULL,        -- MSH-10
    outcome TEXT NOT NULL,           -- 'accepted' | 'rejected'
    reason TEXT,                     -- why rejected
    raw BLOB NOT NULL,               -- zlib(raw bytes as received)
    raw_size INTEGER NOT NULL,
    raw_crc INTEGER NOT NULL,        -- crc32 of the raw bytes: resends are recognised by it
    resends INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_time ON messages (receive_ns);

CREATE TABLE IF NOT EXISTS reports (
    message_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,            -- position of the report in its message
    bed TEXT,                        -- after routing; NULL: unassigned
    bed_label TEXT NOT NULL,
    device TEXT NOT NULL,
    device_label TEXT NOT NULL,
    receive_ns INTEGER NOT NULL,
    location TEXT,                   -- PV1-3 as sent (NULL: none)
    loc_point_of_care TEXT, loc_room TEXT, loc_bed TEXT, loc_facility TEXT,
    patient_id TEXT NOT NULL,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reports_bed ON reports (bed, message_id);

CREATE TABLE IF NOT EXISTS observations (
    message_id INTEGER NOT NULL,
    report_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    code INTEGER NOT NULL,           -- MDC code; 0 with source_code for a local code
    label TEXT NOT NULL,
    num REAL,                        -- a numeric value …
    txt TEXT,                        -- … or a text value
    unit TEXT NOT NULL,
    status TEXT NOT NULL,            -- 'valid' | 'invalid' | 'questionable'
    device_ns INTEGER,               -- device time, UTC ns (NULL: none given)
    sub_id TEXT NOT NULL,
    source_code TEXT,
    PRIMARY KEY (message_id, report_seq, seq)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS waveforms (
    message_id INTEGER NOT NULL,
    report_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    code INTEGER NOT NULL,
    label TEXT NOT NULL,
    unit TEXT NOT NULL,
    sample_rate_hz REAL NOT NULL,
    start_ns INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    samples BLOB NOT NULL,           -- zlib(float32 little-endian)
    sub_id TEXT NOT NULL,
    source_code TEXT
);
CREATE INDEX IF NOT EXISTS waveforms_message ON waveforms (message_id);

CREATE TABLE IF NOT EXISTS alarms (
    message_id INTEGER NOT NULL,
    report_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    bed TEXT,
    time_ns INTEGER NOT NULL,
    device TEXT NOT NULL,
    code INTEGER NOT NULL,
    text TEXT NOT NULL,
    priority INTEGER NOT NULL,       -- 0 none … 3 high
    kind TEXT NOT NULL,
    phase TEXT NOT NULL,
    state TEXT NOT NULL,
    inactivation TEXT NOT NULL,
    source TEXT NOT NULL,
    alarm_id TEXT NOT NULL,
    parameter_code INTEGER,
    parameter_label TEXT NOT NULL,
    num REAL,                        -- the value that raised it …
    txt TEXT,                        -- … or its text
    unit TEXT NOT NULL,
    limits TEXT NOT NULL,
    source_code TEXT,
    sub_id TEXT NOT NULL,
    PRIMARY KEY (message_id, report_seq, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS alarms_bed_time ON alarms (bed, time_ns);
"""

# The alarm engine's transitions (raised, acknowledged, audio paused …) with the operator:
# not decoded from a message, so not keyed by one. Created on every open, so a journal
# written before it existed gains it.
_ALARM_LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS alarm_log (
    time_ns INTEGER NOT NULL,
    bed TEXT,                        -- NULL: ward-wide (recording, unassigned, audio, operator)
    bed_label TEXT NOT NULL,
    alarm TEXT NOT NULL,             -- the alarm's key, the same in all its transitions
    change TEXT NOT NULL,            -- raised | escalated | latched | acknowledged | …
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    text TEXT NOT NULL,
    operator TEXT NOT NULL,
    device TEXT,
    device_label TEXT
);
CREATE INDEX IF NOT EXISTS alarm_log_bed_time ON alarm_log (bed, time_ns);
"""


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RoutedReport:
    """A report with the bed routing gave it (``bed`` None: unassigned, kept all the same)."""

    report: DeviceReport
    bed: BedId | None
    bed_label: str = ""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the journal holds it (raw bytes decompressed)."""

    row: int
    receive_time_ns: int
    transport: str
    peer: str
    device: str | None
    control_id: str
    outcome: Outcome
    reason: str | None
    raw: bytes
    resends: int


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A report as stored, with its routing: what rebuild and replay feed to the ward."""

    message_row: int
    report_seq: int
    """Position of the report in its message (a message may carry several patients)."""
    routed: RoutedReport


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """One observation row with where it belongs (for CSV / JSON lines export)."""

    bed: BedId | None
    bed_label: str
    observation: Observation


@dataclass(frozen=True, slots=True)
class HourlySummary:
    """The valid numeric readings of one parameter of one bed in one hour (flowsheet)."""

    hour_start_ns: int
    code: int
    source_code: str | None
    label: str
    unit: str
    sub_id: str
    count: int
    mean: float
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class StoredAlarm:
    bed: BedId | None
    event: AlarmEvent


# --------------------------------------------------------------------------- writing


@dataclass(slots=True)
class _Append:
    message: ReceivedMessage
    routed: Sequence[RoutedReport]
    outcome: Outcome
    reason: str | None
    future: asyncio.Future[bool]


@dataclass(slots=True)
class _Prune:
    before_ns: int
    limit: int
    future: asyncio.Future[int]


@dataclass(slots=True)
class _Stop:
    future: asyncio.Future[None]


@dataclass(slots=True)
class _AlarmLog:
    transitions: Sequence[AlarmTransition]
    future: asyncio.Future[None]


_Job = _Append | _Prune | _Stop | _AlarmLog


@dataclass(slots=True)
class _Seen:
    """A committed message a resend may repeat."""

    receive_ns: int
    crc: int
    row: int


class Journal:
    """The writing side: ``async with Journal(path) as journal: await journal.record(...)``.

    ``max_size_bytes`` caps the file (SQLite ``max_page_count``): past it a write fails as
    on a full disk, so a journal can be kept from filling the disk the system needs.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        duplicate_window_s: float = DEFAULT_DUPLICATE_WINDOW_S,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        max_size_bytes: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.duplicate_window_ns = round(duplicate_window_s * NS_PER_S)
        self.busy_timeout_s = busy_timeout_s
        self.max_size_bytes = max_size_bytes
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Owned by the writer thread once started.
        self._conn: sqlite3.Connection | None = None
        self._next_id = 1
        self._seen: dict[tuple[str, str], _Seen] = {}
        self._seen_order: collections.deque[tuple[int, tuple[str, str]]] = collections.deque()
        # Counters, written by the writer thread, read by anyone.
        self.stored = 0
        """Messages committed since start."""
        self.resends = 0
        """Resends recognised (ACKed again, not stored again)."""
        self.commits = 0
        self.failed_batches = 0
        self.pruned = 0
        self.failure: str | None = None
        """Why the last write failed, until one succeeds again; None while writing works."""

    # -- lifecycle

    async def start(self) -> None:
        """Start the writer and open the file (creating it and its folder if needed).

        Raises JournalError if the file cannot be opened for writing now; the writer keeps
        running regardless and tries again with the next message, so a caller that chooses
        to go on (the ward must stay watchable) gets recording back when storage returns.
        """
        if self._thread is not None:
            raise JournalError("journal already started")
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self._thread.start()
        await self.prune(0)  # a no-op write job: opens the file in the writer thread
        if self.failure is not None:
            raise JournalError(self.failure)

    async def close(self) -> None:
        """Write what is queued, then close the file and stop the writer."""
        if self._thread is None or self._loop is None:
            return
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(_Stop(future))
        await future
        await asyncio.to_thread(self._thread.join)
        self._thread = None

    async def __aenter__(self) -> Journal:
        try:
            await self.start()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- the API of the hub and the service

    async def record(self, message: ReceivedMessage, routed: Sequence[RoutedReport]) -> bool:
        """Store an accepted message and its reports; return when they are on disk.

        True when stored now; False when it is a resend of a message already stored (the
        device may be ACKed again, and the ward must not take it twice). Raises
        JournalError when it could not be stored.
        """
        return await self._submit(_Append(message, routed, Outcome.ACCEPTED, None, self._future()))

    async def record_rejected(self, message: ReceivedMessage, reason: str) -> None:
        """Keep a message that was not accepted, with why, for inspection."""
        await self._submit(_Append(message, (), Outcome.REJECTED, reason, self._future()))

    async def record_alarm_log(self, transitions: Sequence[AlarmTransition]) -> None:
        """Store the alarm engine's transitions; return when they are on disk. Raises
        JournalError when they could not be stored (the caller keeps them for a retry)."""
        if self._thread is None or self._loop is None:
            raise JournalError("journal is not running")
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put(_AlarmLog(transitions, future))
        await future

    async def prune(self, before_ns: int, *, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` of the oldest messages received before ``before_ns``, with
        everything decoded from them; return how many went. Call it again until it returns
        less than ``limit``: each call is one small transaction between ingest batches."""
        assert self._loop is not None, "journal not started"
        future: asyncio.Future[int] = self._loop.create_future()
        self._queue.put(_Prune(before_ns, limit, future))
        return await future

    async def prune_before(self, before_ns: int) -> int:
        """Delete everything received before ``before_ns``, in small steps that let ingest
        batches through in between (the writer takes jobs in order); return how many
        messages went."""
        total = 0
        while True:
            removed = await self.prune(before_ns)
            total += removed
            if removed < PRUNE_BATCH:
                return total

    def _future(self) -> asyncio.Future[bool]:
        assert self._loop is not None, "journal not started"
        return self._loop.create_future()

    async def _submit(self, job: _Append) -> bool:
        if self._thread is None:
            raise JournalError("journal is not running")
        self._queue.put(job)
        return await job.future

    # -- the writer thread

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < MAX_BATCH:
                    batch.append(self._queue.get_nowait())
            appends = [job for job in batch if isinstance(job, _Append)]
            settled: list[tuple[asyncio.Future[object], object]] = []
            if appends:
                settled.extend(self._write_batch(appends))  # type: ignore[arg-type]
            logs = [job for job in batch if isinstance(job, _AlarmLog)]
            if logs:
                settled.extend(self._write_alarm_log(logs))  # type: ignore[arg-type]
            stop: _Stop | None = None
            for job in batch:
                if isinstance(job, _Prune):
                    settled.append((job.future, self._prune(job)))  # type: ignore[arg-type]
                elif isinstance(job, _Stop):
                    stop = job
            if stop is not None:
                self._disconnect()
                settled.append((stop.future, None))  # type: ignore[arg-type]
            self._settle(settled)
            if stop is not None:
                return

    def _settle(self, settled: list[tuple[asyncio.Future[object], object]]) -> None:
        if not settled or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self._loop.call_soon_threadsafe(_resolve, settled)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

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
            if self.max_size_bytes is not None:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={max(1, self.max_size_bytes // page)}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise JournalError(
                    f"{self.path}: journal schema {version}, this gateway writes"
                    f" {SCHEMA_VERSION}; start with another --journal file"
                )
            if version == 0:
                conn.executescript(
                    f"BEGIN IMMEDIATE;{_SCHEMA}PRAGMA user_version={SCHEMA_VERSION};COMMIT;"
                )
            conn.executescript(f"BEGIN IMMEDIATE;{_ALARM_LOG_SCHEMA}COMMIT;")
            self._next_id = (conn.execute("SELECT max(id) FROM messages").fetchone()[0] or 0) + 1
            self._load_seen(conn)
        except BaseException:
            conn.close()
            raise
        log.info("journal open: %s", self.path)
        return conn

    def _load_seen(self, conn: sqlite3.Connection) -> None:
        """Recent messages a device may still resend (after a restart too)."""
        self._seen.clear()
        self._seen_order.clear()
        since = self.clock.now_ns() - self.duplicate_window_ns
        rows = conn.execute(
            "SELECT id, receive_ns, device, control_id, raw_crc FROM messages"
            " WHERE receive_ns >= ? AND outcome = 'accepted' AND control_id != ''"
            " ORDER BY receive_ns",
            (since,),
        )
        for row, receive_ns, device, control_id, crc in rows:
            key = (device or "", control_id)
            self._seen[key] = _Seen(receive_ns, crc, row)
            self._seen_order.append((receive_ns, key))

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error as exc:
                log.warning("journal: closing %s: %s", self.path, exc)

    def _write_batch(self, jobs: list[_Append]) -> list[tuple[asyncio.Future[bool], object]]:
        first_id = self._next_id
        try:
            conn = self._connection()
            first_id = self._next_id
            results, fresh = self._insert(conn, jobs)
        except (sqlite3.Error, OSError, JournalError) as exc:
            return self._fail(jobs, exc, first_id)
        except Exception as exc:  # a bug must cost this batch its ACKs, never the writer
            log.exception("journal writer: unexpected error")
            return self._fail(jobs, exc, first_id)
        for key, seen in fresh.items():
            self._seen[key] = seen
            self._seen_order.append((seen.receive_ns, key))
        self._forget_old()
        self.commits += 1
        self.stored += sum(1 for stored in results if stored)
        self.resends += sum(1 for stored in results if not stored)
        if self.failure is not None:
            log.warning("journal: recording resumed (%s)", self.path)
            self.failure = None
        return [(job.future, stored) for job, stored in zip(jobs, results, strict=True)]

    def _fail(
        self, jobs: list[_Append], exc: BaseException, first_id: int
    ) -> list[tuple[asyncio.Future[bool], object]]:
        self._next_id = first_id
        if self._conn is not None and self._conn.in_transaction:
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error as rollback:
                log.warning("journal: rollback failed: %s", rollback)
        # A fresh connection next time: a file made writable again, or a database whose
        # lock is gone, is only seen by reopening it.
        self._disconnect()
        self.failed_batches += 1
        text = describe_failure(self.path, exc)
        if self.failure != text:
            log.error("journal: %s", text)
        self.failure = text
        return [(job.future, JournalError(text)) for job in jobs]

    def _insert(
        self, conn: sqlite3.Connection, jobs: list[_Append]
    ) -> tuple[list[bool], dict[tuple[str, str], _Seen]]:
        messages: list[tuple[object, ...]] = []
        batch = _BatchRows()
        resent: list[int] = []
        results: list[bool] = []
        fresh: dict[tuple[str, str], _Seen] = {}
        next_id = self._next_id
        for job in jobs:
            message = job.message
            raw = message.raw
            crc = zlib.crc32(raw)
            device = message.device
            if device is None and job.routed:
                device = job.routed[0].report.device
            key = (device.key if device else "", message.control_id)
            if job.outcome is Outcome.ACCEPTED and message.control_id:
                seen = fresh.get(key) or self._seen.get(key)
                if (
                    seen is not None
                    and seen.crc == crc
                    and message.receive_time_ns - seen.receive_ns <= self.duplicate_window_ns
                ):
                    resent.append(seen.row)
                    results.append(False)
                    continue
            row = next_id
            next_id += 1
            messages.append(
                (
                    row,
                    message.receive_time_ns,
                    message.transport,
                    message.peer,
                    device.key if device else None,
                    device.label if device else None,
                    message.control_id,
                    job.outcome.value,
                    job.reason,
                    zlib.compress(raw, _RAW_COMPRESSION),
                    len(raw),
                    crc,
                    0,  # resends
                )
            )
            if job.outcome is Outcome.ACCEPTED and message.control_id:
                fresh[key] = _Seen(message.receive_time_ns, crc, row)
            for report_seq, routed in enumerate(job.routed):
                batch.add(row, report_seq, routed)
            results.append(True)
        conn.execute("BEGIN IMMEDIATE")
        _insert_rows(conn, "messages", messages)
        _insert_rows(conn, "reports", batch.reports)
        _insert_rows(conn, "observations", batch.observations)
        _insert_rows(conn, "waveforms", batch.waveforms)
        _insert_rows(conn, "alarms", batch.alarms)
        if resent:
            conn.executemany(
                "UPDATE messages SET resends = resends + 1 WHERE id = ?", [(r,) for r in resent]
            )
        conn.execute("COMMIT")
        self._next_id = next_id
        return results, fresh

    def _write_alarm_log(self, jobs: list[_AlarmLog]) -> list[tuple[asyncio.Future[None], object]]:
        rows: list[tuple[object, ...]] = [
            (
                t.time_ns,
                t.bed.key if t.bed is not None else None,
                t.bed_label,
                t.alarm,
                t.change.value,
                int(t.priority),
                t.kind.value,
                t.source.value,
                t.text,
                t.operator,
                t.device.key if t.device is not None else None,
                t.device.label if t.device is not None else None,
            )
            for job in jobs
            for t in job.transitions
        ]
        try:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            _insert_rows(conn, "alarm_log", rows)
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, JournalError) as exc:
            if self._conn is not None and self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the connection is dropped next
                    self._conn.execute("ROLLBACK")
            self._disconnect()
            text = describe_failure(self.path, exc)
            log.error("journal: alarm log: %s", text)
            return [(job.future, JournalError(text)) for job in jobs]
        return [(job.future, None) for job in jobs]

    def _forget_old(self) -> None:
        if not self._seen_order:
            return
        horizon = self._seen_order[-1][0] - self.duplicate_window_ns
        while self._seen_order and self._seen_order[0][0] < horizon:
            _, key = self._seen_order.popleft()
            seen = self._seen.get(key)
            if seen is not None and seen.receive_ns < horizon:
                del self._seen[key]

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
            for table in ("observations", "waveforms", "alarms", "reports"):
                conn.execute(f"DELETE FROM {table} WHERE message_id <= ?", (last,))
            conn.execute("DELETE FROM messages WHERE id <= ?", (last,))
            conn.execute("COMMIT")
        except (sqlite3.Error, OSError, JournalError) as exc:
            if self._conn is not None and self._conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):  # the connection is dropped next
                    self._conn.execute("ROLLBACK")
            self._disconnect()
            text = describe_failure(self.path, exc)
            if job.before_ns:  # a real prune, not the opening probe of start()
                log.error("journal: retention: %s", text)
            self.failure = self.failure or text
            return JournalError(text)
        self.pruned += count
        return count


_ROWS_PER_INSERT = (256, 64, 16, 4, 1)
"""Multi-row INSERTs, largest first: one statement step for many rows. sqlite3 lets go of
the GIL at every step, and each time it takes it back it may wait for the event loop; a
batch of 16 messages is ~200 rows, which as single-row steps would be ~200 such waits."""


def _insert_rows(conn: sqlite3.Connection, table: str, rows: list[tuple[object, ...]]) -> None:
    if not rows:
        return
    width = len(rows[0])
    start = 0
    for size in _ROWS_PER_INSERT:
        while len(rows) - start >= size:
            chunk = rows[start : start + size]
            conn.execute(_insert_sql(table, width, size), [v for row in chunk for v in row])
            start += size


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, width: int, rows: int) -> str:
    one = "(" + ",".join("?" * width) + ")"
    return f"INSERT INTO {table} VALUES " + ",".join([one] * rows)


def _resolve(settled: list[tuple[asyncio.Future[object], object]]) -> None:
    for future, outcome in settled:
        if future.done():
            continue  # its waiter was cancelled (the connection went away)
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def describe_failure(path: Path, exc: BaseException) -> str:
    """A line for staff and engineers: what failed, in words they act on."""
    text = str(exc)
    lowered = text.lower()
    if "disk is full" in lowered or "disk full" in lowered:
        what = "disk full"
    elif "readonly" in lowered or "read-only" in lowered or "permission" in lowered:
        what = "file is read-only"
    elif "locked" in lowered or "busy" in lowered:
        what = "database locked by another program"
    elif isinstance(exc, sqlite3.Error | OSError):
        what = "storage error"
    elif isinstance(exc, JournalError):
        return text
    else:
        what = "internal error"
    return f"{what}: {path}: {text}"


_STATUS_TEXT = {status: status.value for status in ObservationStatus}


@dataclass(slots=True)
class _BatchRows:
    """The rows of one batch, table by table, for one executemany each."""

    reports: list[tuple[object, ...]] = field(default_factory=list)
    observations: list[tuple[object, ...]] = field(default_factory=list)
    waveforms: list[tuple[object, ...]] = field(default_factory=list)
    alarms: list[tuple[object, ...]] = field(default_factory=list)

    def add(self, row: int, report_seq: int, routed: RoutedReport) -> None:
        _report_rows(row, report_seq, routed, self)


def _report_rows(row: int, report_seq: int, routed: RoutedReport, rows: _BatchRows) -> None:
    reports, observations = rows.reports, rows.observations
    waveforms, alarms = rows.waveforms, rows.alarms
    report = routed.report
    bed = routed.bed.key if routed.bed is not None else None
    loc = report.location
    reports.append(
        (
            row,
            report_seq,
            bed,
            routed.bed_label,
            report.device.key,
            report.device.label,
            report.receive_time_ns,
            loc.raw if loc else None,
            loc.point_of_care if loc else None,
            loc.room if loc else None,
            loc.bed if loc else None,
            loc.facility if loc else None,
            report.patient_id,
        )
    )
    status_text = _STATUS_TEXT
    for seq, obs in enumerate(report.observations):
        value = obs.value
        is_text = isinstance(value, str)
        observations.append(
            (
                row,
                report_seq,
                seq,
                obs.code,
                obs.label,
                None if is_text else value,
                value if is_text else None,
                obs.unit,
                status_text[obs.status],
                obs.device_time_ns,
                obs.sub_id,
                obs.source_code,
            )
        )
    for seq, chunk in enumerate(report.waveforms):
        samples = np.ascontiguousarray(chunk.samples, dtype="<f4")
        waveforms.append(
            (
                row,
                report_seq,
                seq,
                chunk.code,
                chunk.label,
                chunk.unit,
                chunk.sample_rate_hz,
                chunk.start_time_ns,
                int(samples.size),
                zlib.compress(samples.tobytes(), _RAW_COMPRESSION),
                chunk.sub_id,
                chunk.source_code,
            )
        )
    for seq, alarm in enumerate(report.alarms):
        alarms.append(
            (
                row,
                report_seq,
                seq,
                bed,
                alarm.time_ns,
                alarm.device.key,
                alarm.code,
                alarm.text,
                int(alarm.priority),
                alarm.kind.value,
                alarm.phase,
                alarm.state,
                alarm.inactivation,
                alarm.source.value,
                alarm.alarm_id,
                alarm.parameter_code,
                alarm.parameter_label,
                None if isinstance(alarm.value, str) else alarm.value,
                alarm.value if isinstance(alarm.value, str) else None,
                alarm.unit,
                alarm.limits,
                alarm.source_code,
                alarm.sub_id,
            )
        )


# --------------------------------------------------------------------------- reading

Row = tuple[Any, ...]
PAGE = 500
"""Reports read per query: bounds memory and the length of each read transaction."""


class JournalReader:
    """Read-only access to a journal (rebuild, export, replay, inspection). Blocking."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise JournalError(f"no journal at {self.path}")
        try:
            self._conn = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False
            )
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc
        if version != SCHEMA_VERSION:
            self._conn.close()
            raise JournalError(
                f"{self.path} is not an icu-gateway journal (schema {version},"
                f" expected {SCHEMA_VERSION})"
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> JournalReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _query(self, sql: str, args: Sequence[object] = ()) -> list[Any]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"cannot read the journal {self.path}: {exc}") from exc

    # -- ranges

    def id_range(self, since_ns: int | None = None, until_ns: int | None = None) -> tuple[int, int]:
        """The message ids received in [since, until) (an empty range is (1, 0))."""
        if since_ns is None:
            low = self._query("SELECT min(id) FROM messages")[0][0]
        else:
            found = self._query("SELECT min(id) FROM messages WHERE receive_ns >= ?", (since_ns,))
            low = found[0][0]
        if until_ns is None:
            high = self._query("SELECT max(id) FROM messages")[0][0]
        else:
            high = self._query("SELECT max(id) FROM messages WHERE receive_ns < ?", (until_ns,))[0][
                0
            ]
        if low is None or high is None:
            return 1, 0
        return int(low), int(high)

    def time_range(self) -> tuple[int, int] | None:
        """Receive times of the first and last message, or None for an empty journal."""
        low, high = self._query("SELECT min(receive_ns), max(receive_ns) FROM messages")[0]
        if low is None or high is None:
            return None
        return int(low), int(high)

    def beds(self) -> list[tuple[BedId, str]]:
        """Every bed with a report in the journal, with its latest label, by bed id."""
        rows = self._query(
            "SELECT bed, bed_label FROM reports r WHERE bed IS NOT NULL"
            " AND message_id = (SELECT max(message_id) FROM reports WHERE bed = r.bed)"
            " GROUP BY bed ORDER BY bed"
        )
        return [(BedId(str(bed)), str(label)) for bed, label in rows]

    # -- messages

    def messages(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> Iterator[StoredMessage]:
        low, high = self.id_range(since_ns, until_ns)
        while low <= high:
            rows = self._query(
                "SELECT id, receive_ns, transport, peer, device, control_id, outcome, reason,"
                " raw, resends FROM messages WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
                (low, high, PAGE),
            )
            if not rows:
                return
            for row in rows:
                ident, receive, transport, peer, device, control, outcome, reason, raw, res = row
                assert isinstance(raw, bytes)
                yield StoredMessage(
                    int(ident),
                    int(receive),
                    str(transport),
                    str(peer),
                    None if device is None else str(device),
                    str(control),
                    Outcome(outcome),
                    None if reason is None else str(reason),
                    zlib.decompress(raw),
                    int(res),
                )
            low = int(rows[-1][0]) + 1

    def raw(self, message_row: int) -> bytes:
        """The raw bytes of one stored message (empty if it was pruned)."""
        rows = self._query("SELECT raw FROM messages WHERE id = ?", (message_row,))
        return zlib.decompress(rows[0][0]) if rows else b""

    # -- reports, with everything decoded from them

    def reports(
        self,
        *,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> Iterator[StoredReport]:
        """Stored reports in arrival order, each whole (observations, waveforms, alarms)."""
        low, high = self.id_range(since_ns, until_ns)
        bed_clause = "" if bed is None else " AND r.bed = ?"
        bed_args: tuple[object, ...] = () if bed is None else (bed.key,)
        while low <= high:
            rows = self._query(
                "SELECT r.message_id, r.seq, r.bed, r.bed_label, r.device, r.device_label,"
                " r.receive_ns, r.location, r.loc_point_of_care, r.loc_room, r.loc_bed,"
                " r.loc_facility, r.patient_id, m.transport, m.peer, m.control_id"
                " FROM reports r JOIN messages m ON m.id = r.message_id"
                f" WHERE r.message_id >= ? AND r.message_id <= ?{bed_clause}"
                " ORDER BY r.message_id, r.seq LIMIT ?",
                (low, high, *bed_args, PAGE),
            )
            if not rows:
                return
            last = int(rows[-1][0])
            if len(rows) == PAGE:
                # The page may have cut a message's reports: leave its last message whole
                # for the next page (one message never holds PAGE reports).
                kept = [row for row in rows if int(row[0]) != last]
                if kept:
                    rows, last = kept, int(kept[-1][0])
            window = (int(rows[0][0]), last, *bed_args)
            obs = self._children(
                "o",
                "observations",
                "o.code, o.label, o.num, o.txt, o.unit, o.status, o.device_ns, o.sub_id,"
                " o.source_code",
                bed is not None,
                window,
            )
            waves = self._children(
                "w",
                "waveforms",
                "w.code, w.label, w.unit, w.sample_rate_hz, w.start_ns, w.sample_count,"
                " w.samples, w.sub_id, w.source_code",
                bed is not None,
                window,
            )
            alarm_rows = self._children(
                "a",
                "alarms",
                "a.time_ns, a.device, a.code, a.text, a.priority, a.kind, a.phase, a.state,"
                " a.inactivation, a.source, a.alarm_id, a.parameter_code, a.parameter_label,"
                " a.num, a.txt, a.unit, a.limits, a.source_code, a.sub_id",
                bed is not None,
                window,
            )
            for row in rows:
                if int(row[0]) > last:
                    break
                yield _stored_report(row, obs, waves, alarm_rows)
            low = last + 1

    def _children(
        self, alias: str, table: str, columns: str, by_bed: bool, window: Sequence[object]
    ) -> dict[tuple[int, int], list[Row]]:
        """Rows of a child table for the reports of ``window`` (first id, last id[, bed]),
        keyed by (message id, report seq), each list in order."""
        join = (
            f" JOIN reports r ON r.message_id = {alias}.message_id AND r.seq = {alias}.report_seq"
            if by_bed
            else ""
        )
        rows = self._query(
            f"SELECT {alias}.message_id, {alias}.report_seq, {columns} FROM {table} {alias}{join}"
            f" WHERE {alias}.message_id >= ? AND {alias}.message_id <= ?"
            + (" AND r.bed = ?" if by_bed else "")
            + f" ORDER BY {alias}.message_id, {alias}.report_seq, {alias}.seq",
            window,
        )
        children: dict[tuple[int, int], list[Row]] = {}
        for row in rows:
            children.setdefault((row[0], row[1]), []).append(row)
        return children

    def observations(
        self,
        *,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> Iterator[StoredObservation]:
        """Every observation, in arrival order, with its bed (for CSV / JSON lines)."""
        for stored in self.reports(bed=bed, since_ns=since_ns, until_ns=until_ns):
            routed = stored.routed
            for obs in routed.report.observations:
                yield StoredObservation(routed.bed, routed.bed_label, obs)

    def hourly(
        self, bed: BedId, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[HourlySummary]:
        """Valid numeric readings of a bed summarised per measurement hour (UTC hours)."""
        low, high = self.id_range(since_ns, until_ns)
        hour = 3600 * NS_PER_S
        rows = self._query(
            "SELECT (coalesce(o.device_ns, r.receive_ns) / ?) AS hour, o.code, o.source_code,"
            " o.sub_id, o.unit, max(o.label), count(o.num), avg(o.num), min(o.num), max(o.num)"
            " FROM reports r JOIN observations o"
            " ON o.message_id = r.message_id AND o.report_seq = r.seq"
            " WHERE r.bed = ? AND r.message_id >= ? AND r.message_id <= ?"
            " AND o.status = 'valid' AND o.num IS NOT NULL"
            " GROUP BY hour, o.code, o.source_code, o.sub_id, o.unit ORDER BY hour",
            (hour, bed.key, low, high),
        )
        return [
            HourlySummary(
                int(h) * hour,
                int(code),
                None if source is None else str(source),
                str(label),
                str(unit),
                str(sub),
                int(count),
                float(mean),
                float(low_v),
                float(high_v),
            )
            for h, code, source, sub, unit, label, count, mean, low_v, high_v in rows
        ]

    def alarms(
        self, bed: BedId, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> list[StoredAlarm]:
        """A bed's alarm transitions in [since, until) by the alarm's own time."""
        rows = self._query(
            "SELECT message_id, report_seq, time_ns, device, code, text, priority, kind, phase,"
            " state, inactivation, source, alarm_id, parameter_code, parameter_label, num, txt,"
            " unit, limits, source_code, sub_id FROM alarms"
            " WHERE bed = ? AND time_ns >= ? AND time_ns < ? ORDER BY time_ns",
            (
                bed.key,
                -(1 << 63) if since_ns is None else since_ns,
                (1 << 63) - 1 if until_ns is None else until_ns,
            ),
        )
        return [StoredAlarm(bed, _alarm(row, None, "")) for row in rows]

    def alarm_log(
        self,
        bed: BedId | None = None,
        *,
        ward: bool = False,
        since_ns: int | None = None,
        until_ns: int | None = None,
    ) -> list[AlarmTransition]:
        """The alarm engine's transitions in [since, until), oldest first: of one bed, of
        the ward-wide entries (``bed`` None), or all (``ward``). Empty for a journal
        written before the alarm log existed."""
        where = "time_ns >= ? AND time_ns < ?"
        args: list[object] = [
            -(1 << 63) if since_ns is None else since_ns,
            (1 << 63) - 1 if until_ns is None else until_ns,
        ]
        if not ward:
            where += " AND bed IS ?"
            args.append(None if bed is None else bed.key)
        exists = self._query("SELECT 1 FROM sqlite_master WHERE name = 'alarm_log'")
        if not exists:
            return []
        rows = self._query(
            "SELECT time_ns, bed, bed_label, alarm, change, priority, kind, source, text,"
            f" operator, device, device_label FROM alarm_log WHERE {where} ORDER BY time_ns",
            args,
        )
        return [_transition(row) for row in rows]


def _transition(row: Row) -> AlarmTransition:
    time_ns, bed, label, alarm, change, priority, kind, source, text, operator = row[:10]
    device, device_label = row[10:]
    return AlarmTransition(
        time_ns,
        None if bed is None else BedId(bed),
        label,
        alarm,
        AlarmChange(change),
        AlarmPriority(priority),
        AlarmKind(kind),
        AlarmSource(source),
        text,
        operator,
        None if device is None else DeviceId(device, device_label or ""),
    )


async def read_reports(
    path: str | Path,
    *,
    bed: BedId | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
    chunk: int = 4 * PAGE,
) -> AsyncIterator[list[StoredReport]]:
    """Stored reports in arrival order, ``chunk`` at a time, read in a worker thread so the
    event loop never waits on the disk (the restart rebuild and replay use this)."""
    reader = await asyncio.to_thread(JournalReader, path)
    try:
        reports = reader.reports(bed=bed, since_ns=since_ns, until_ns=until_ns)
        while True:
            batch = await asyncio.to_thread(_take, reports, chunk)
            if not batch:
                return
            yield batch
    finally:
        reader.close()


def _take(reports: Iterator[StoredReport], count: int) -> list[StoredReport]:
    return list(itertools.islice(reports, count))


def _stored_report(
    row: Row,
    observations: dict[tuple[int, int], list[Row]],
    waveforms: dict[tuple[int, int], list[Row]],
    alarms: dict[tuple[int, int], list[Row]],
) -> StoredReport:
    (
        message_id,
        seq,
        bed,
        bed_label,
        device_key,
        device_label,
        receive_ns,
        location,
        point_of_care,
        room,
        loc_bed,
        facility,
        patient_id,
        transport,
        peer,
        control_id,
    ) = row
    key = (int(message_id), int(seq))
    device = DeviceId(str(device_key), str(device_label))
    receive = int(receive_ns)
    control = str(control_id)
    return StoredReport(
        key[0],
        key[1],
        RoutedReport(
            DeviceReport(
                device=device,
                transport=str(transport),
                peer=str(peer),
                receive_time_ns=receive,
                message_id=control,
                location=(
                    None
                    if location is None
                    else Location(
                        str(location),
                        str(point_of_care or ""),
                        str(room or ""),
                        str(loc_bed or ""),
                        str(facility or ""),
                    )
                ),
                patient_id=str(patient_id),
                observations=tuple(
                    _observation(o, device, receive, control) for o in observations.get(key, ())
                ),
                waveforms=tuple(_waveform(w, device, control) for w in waveforms.get(key, ())),
                alarms=tuple(_alarm(a, device, control) for a in alarms.get(key, ())),
            ),
            None if bed is None else BedId(str(bed)),
            str(bed_label),
        ),
    )


def _observation(row: Row, device: DeviceId, receive_ns: int, control_id: str) -> Observation:
    _, _, code, label, num, txt, unit, status, device_ns, sub_id, source_code = row
    value: float | str = str(txt) if num is None else float(num)
    return Observation(
        device=device,
        code=int(code),
        label=str(label),
        value=value,
        unit=str(unit),
        status=ObservationStatus(status),
        receive_time_ns=receive_ns,
        device_time_ns=None if device_ns is None else int(device_ns),
        sub_id=str(sub_id),
        source_code=None if source_code is None else str(source_code),
        message_id=control_id,
    )


def _waveform(row: Row, device: DeviceId, control_id: str) -> WaveformChunk:
    _, _, code, label, unit, rate, start_ns, count, blob, sub_id, source_code = row
    samples = np.frombuffer(zlib.decompress(blob), dtype="<f4").astype(np.float32)
    if samples.size != count:
        raise JournalError(f"waveform of message {row[0]}: {samples.size} samples, not {count}")
    return WaveformChunk(
        device=device,
        code=code,
        label=label,
        sample_rate_hz=rate,
        start_time_ns=start_ns,
        samples=samples,
        unit=unit,
        message_id=control_id,
        sub_id=sub_id,
        source_code=source_code,
    )


def _alarm(row: Row, device: DeviceId | None = None, control_id: str = "") -> AlarmEvent:
    (
        *_,
        time_ns,
        device_key,
        code,
        text,
        priority,
        kind,
        phase,
        state,
        inactivation,
        source,
        alarm_id,
        parameter_code,
        parameter_label,
        num,
        txt,
        unit,
        limits,
        source_code,
        sub_id,
    ) = row
    return AlarmEvent(
        device=device if device is not None and device.key == device_key else DeviceId(device_key),
        code=code,
        text=text,
        priority=AlarmPriority(priority),
        kind=AlarmKind(kind),
        phase=phase,
        state=state,
        inactivation=inactivation,
        source=AlarmSource(source),
        time_ns=time_ns,
        alarm_id=alarm_id,
        parameter_code=parameter_code,
        parameter_label=parameter_label,
        value=txt if num is None else num,
        unit=unit,
        limits=limits,
        source_code=source_code,
        sub_id=sub_id,
        message_id=control_id,
    )

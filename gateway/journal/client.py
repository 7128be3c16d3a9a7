"""The durable journal: every message received, and what it said, on disk before any ACK.

One SQLite file in WAL mode. Each message received is **one row** of ``messages``: receive
time, peer, transport, device, MSH-10, accepted or rejected and why — and what was decoded
from it: its reports, each with the bed routing gave it, their observations and the
description of their waveform chunks, as one JSON text. Its bytes as received, and its
waveform samples (float32), are in a *bundle*: the bytes of the messages one statement
wrote, zlib-compressed together and kept on the first of them. Alarm transitions, which
are looked up by bed and by time, also get rows of their own. Ids grow in arrival order,
so a time range is a range of ids and retention is a cheap delete of the oldest ids.

Why so: what a message costs the writer is SQLite's work, and a row per observation cost a
row to bind and a B-tree to touch each; a commit that touches fewer pages writes less to
the WAL. One row per message makes a batch one ``INSERT`` statement run in autocommit mode:
a single step of SQLite — BEGIN, insert, COMMIT and its fsync. One zlib call per bundle
instead of one per message, and messages from monitors alike compress far better together
(~60 bytes each for a numerics ORU in a bundle of 9, against ~370 alone).

A bed's messages are found through ``bed_messages`` (bed, message id), written in bulk every
:data:`BED_INDEX_LAG` messages rather than at every commit: an index keyed by bed puts each
bed in its own leaf page, so a commit of one message from each of 16 beds would rewrite 16
pages of it. The messages after ``journal_state.beds_indexed_through`` are not in it yet;
readers scan those few directly. The index is derived data, rebuilt from the messages
themselves when the file is opened, so a crash costs it nothing.

Writing (:class:`Journal`): a writer *process* owns the connection
(:mod:`gateway.journal.writer`, which says why not a thread). The event loop encodes each
message (its row, its bundle part, its alarm rows), sends it down a pipe at once and awaits
a future; the writer takes everything waiting, writes it in one transaction and commits —
one fsync of the WAL (``synchronous=FULL``) for the whole batch — and only then answers,
which resolves every future of the batch. So an awaited :meth:`Journal.record` that
returns means *on disk*, and that is when the device may be acknowledged. A failed write
(disk full, read-only file, locked database, I/O error) fails every message of its batch
with :class:`~gateway.errors.JournalError`; the writer drops its connection and opens a
fresh one for the next batch, so recording resumes by itself when storage comes back. A
writer process that dies fails whatever waited on it, and the next message starts a new
one. A resend (same device, same MSH-10, same bytes, within the duplicate window) is
stored once and reported as such.

Reading (:class:`JournalReader`): its own read-only connection, blocking — call it from a
thread (``asyncio.to_thread``) or from a command-line tool, never on the event loop. It
serves the restart rebuild, export and replay, paging through ids so a long export never
holds one read transaction open.

This module must not route, decode wire formats or touch the ward state: it stores and
returns records as it was given them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import fcntl
import itertools
import json
import logging
import math
import numbers
import os
import pickle
import sqlite3
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

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
from gateway.errors import JournalError, MessageRefused
from gateway.journal import values

log = logging.getLogger("gateway.journal")  # the name its log lines have always carried
_PROJECT = Path(__file__).resolve().parents[2]
"""The folder holding the ``gateway`` package (gateway/journal/client.py is two below)."""

SCHEMA_VERSION = 2
"""1: a row per report, per observation and per waveform chunk; 2: a row per message. A file
of another version is refused with a clear error, never rewritten."""
DEFAULT_RETENTION_H = 72.0
DEFAULT_DUPLICATE_WINDOW_S = 600.0
"""A resend of the same message within this long is stored once (devices resend within
seconds; ten minutes covers a monitor that reconnects after a switch reboot)."""
DEFAULT_BUSY_TIMEOUT_S = 1.0
"""How long a write waits on a database locked by another process before failing: long
enough for a stray reader's checkpoint, short enough that devices get their NAK in time."""
MAX_BATCH = 4096
"""Most messages one commit covers (bounds the time one commit holds the writer)."""
MESSAGES_PER_INSERT = 64
"""Most message rows one ``INSERT`` statement carries, and one bundle holds the bytes of. A
batch up to this size (16 monitors waiting for their ACK make batches of at most 16) is one
statement in autocommit mode; a bundle this size decompresses in well under a millisecond
when a reader wants one message of it."""
BED_INDEX_LAG = 1024
"""Messages written before their beds are indexed, in one transaction of their own: each
bed's leaf page of the index is rewritten once per this many messages instead of at every
commit, and a reader scans at most this many (plus one batch) unindexed messages."""
CHECKPOINT_INTERVAL_S = 0.2
"""How often the checkpointer copies the WAL into the database file."""
WAL_RESTART_PAGES = 4000
"""A WAL this long (16 MiB of 4 KiB pages) is made to start over (see _Checkpointer)."""
WAL_WRITER_CHECKPOINT_PAGES = 20000
"""The writer checkpoints itself only past this, when the checkpointer cannot."""
PRUNE_BATCH = 256
"""Messages deleted per retention step: small, so ingest waits at most a few ms for one."""
_ZLIB_LEVEL = 1
"""zlib level of the bundles: level 1 is ~2x faster than the default, for ~5 % more bytes."""
PIPE_SIZE = 1 << 20
"""The capacity asked for the pipe to the writer (Linux gives at most 1 MiB unprivileged)."""
PIPE_READ_SIZE = 1 << 16
"""Bytes read from a pipe at once: under glibc's threshold for allocating by mmap, which
cost an mmap, an mremap and a munmap per read (traced: 3 system calls per commit)."""
_F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity
RESPAWN_INTERVAL_S = 1.0
"""A writer process that ended is started again by the next job, at most this often."""

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
    raw_size INTEGER NOT NULL,       -- bytes as received
    raw_crc INTEGER NOT NULL,        -- crc32 of the raw bytes: resends are recognised by it
    resends INTEGER NOT NULL DEFAULT 0,
    reports TEXT,                    -- JSON: what was decoded (see REPORT_FIELDS); NULL: none
    bundle_row INTEGER NOT NULL,     -- the message whose bundle holds this one's bytes …
    bundle_offset INTEGER NOT NULL,  -- … from here (decompressed): raw bytes, then samples
    bundle BLOB                      -- zlib of the bytes of the messages that point here
);
CREATE INDEX IF NOT EXISTS messages_time ON messages (receive_ns);

CREATE TABLE IF NOT EXISTS bed_messages (
    bed TEXT NOT NULL,               -- a bed with a report in the message
    message_id INTEGER NOT NULL,
    PRIMARY KEY (bed, message_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS beds (
    bed TEXT PRIMARY KEY,
    label TEXT NOT NULL,             -- the label of its latest indexed report
    last_message_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS journal_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO journal_state VALUES ('beds_indexed_through', 0), ('pruned_through', 0);

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

-- The alarm engine's transitions (raised, acknowledged, audio paused …) with the operator:
-- not decoded from a message, so not keyed by one.
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

REPORT_FIELDS = (
    "bed",  # BedId.key after routing; null: unassigned
    "bed_label",
    "device",  # DeviceId.key
    "device_label",
    "receive_ns",
    "location",  # null, or [PV1-3 as sent, point of care, room, bed, facility]
    "patient_id",
    # [[code, label, value, unit, status, device_ns, sub_id, source_code, reason, demo], …]
    "observations",
    "waveforms",  # [[code, label, unit, rate_hz, start_ns, count, sub_id, source_code], …]
    "alarms",  # how many rows of the alarms table the report has
)
"""What ``messages.reports`` holds: a JSON array with one array per report, in the message's
order, of these fields (an observation's value is a number or a string; its status
'valid' | 'invalid' | 'questionable'; a time is UTC ns or null). The samples of every
waveform chunk, ``count`` each, follow the message's raw bytes in its bundle."""

_MESSAGE_COLUMNS = (
    "id, receive_ns, transport, peer, device, device_label, control_id, outcome, reason,"
    " raw_size, raw_crc, reports, bundle_row, bundle_offset, bundle"
)
_MESSAGE_WIDTH = _MESSAGE_COLUMNS.count(",") + 1


def _plain_number(value: object) -> int | float:
    """numpy's scalars (an adapter's arithmetic) as JSON numbers; nothing else is stored."""
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"a {type(value).__name__} is not a value the journal stores")


_encode_json = json.JSONEncoder(
    separators=(",", ":"), check_circular=False, default=_plain_number
).encode
"""ASCII-only JSON (a device's odd character is escaped, never a failed write)."""


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
    patient_id: str = ""
    device: str = ""
    """The patient (PID-3) and device key the readings came from: two patients' or two
    devices' readings are never summarised as one."""


@dataclass(frozen=True, slots=True)
class StoredAlarm:
    bed: BedId | None
    event: AlarmEvent


# --------------------------------------------------------------------------- writing


# What the writer process is sent: plain tuples (cheapest to pickle), the kind first, then
# the fields of the job's type below, ``seq`` first: the number its answer comes back with.
_APPEND, _PRUNE, _STOP, _ALARM_LOG = range(4)


class _Append(NamedTuple):
    """A message made ready to write on the event loop (encoded there, so the writer's own
    work per message is small): the writer numbers it, checks for a resend and binds."""

    seq: int
    key: tuple[str, str] | None
    """(device, MSH-10) of an accepted message with a control id: what a resend repeats."""
    crc: int
    receive_ns: int
    columns: tuple[object, ...]
    """The ``messages`` columns from ``receive_ns`` to ``reports``; ``reports`` as the
    document the writer makes JSON (None for a message without reports)."""
    parts: list[bytes]
    """The raw bytes, then each waveform chunk's samples: the message's part of a bundle."""
    size: int
    beds: list[tuple[str, str]]
    """(bed, label then) of each of its reports that has a bed: its bed index entries."""
    alarms: list[tuple[object, ...]]
    """Its ``alarms`` rows, but for the message id."""
    refused: str | None
    """Why it is kept raw as rejected instead of as decoded (a value no column holds):
    answered with :class:`~gateway.errors.MessageRefused` once stored; None: as given."""


class _Prune(NamedTuple):
    seq: int
    before_ns: int
    limit: int


class _Stop(NamedTuple):
    seq: int


class _AlarmLog(NamedTuple):
    seq: int
    rows: list[tuple[object, ...]]
    """``alarm_log`` rows."""


_Job = _Append | _Prune | _Stop | _AlarmLog
_JOB_TYPES: dict[object, Callable[[Iterable[Any]], _Job]] = {
    _APPEND: _Append._make,
    _PRUNE: _Prune._make,
    _STOP: _Stop._make,
    _ALARM_LOG: _AlarmLog._make,
}


def _job(item: tuple[Any, ...]) -> _Job:
    """A job as sent, as its type."""
    return _JOB_TYPES[item[0]](item[1:])


_BedEntry = tuple[str, int, str]
"""A report's bed, its message's id, and the bed's label then: a bed index entry to write."""


def _prepare(
    seq: int,
    message: ReceivedMessage,
    routed: Sequence[RoutedReport],
    outcome: Outcome,
    reason: str | None,
    *,
    refused: str | None = None,
) -> tuple[object, ...]:
    """An :class:`_Append` as sent, every value made storable (:mod:`journal_values`).
    Raises TypeError, ValueError or OverflowError for a report it cannot take apart
    (waveform samples that are not numbers)."""
    raw = message.raw
    crc = zlib.crc32(raw)
    device = message.device
    if device is None and routed:
        device = routed[0].report.device
    device_key = None if device is None else values.text(device.key)
    control_id = values.text(message.control_id)
    key = None
    if control_id and outcome is Outcome.ACCEPTED:
        key = (device_key or "", control_id)
    parts = [raw]
    beds: list[tuple[str, str]] = []
    alarms: list[tuple[object, ...]] = []
    reports = _report_documents(routed, alarms, beds, parts) if routed else None
    receive_ns = values.int_or(message.receive_time_ns, 0)
    columns = (
        receive_ns,
        values.text(message.transport),
        values.text(message.peer),
        device_key,
        None if device is None else values.text(device.label),
        control_id,
        outcome._value_,
        values.optional_text(reason),
        len(raw),
        crc,
        reports,
    )
    size = len(raw) if len(parts) == 1 else sum(map(len, parts))
    return (_APPEND, seq, key, crc, receive_ns, columns, parts, size, beds, alarms, refused)


def _alarm_log_rows(transitions: Sequence[AlarmTransition]) -> list[tuple[object, ...]]:
    return [
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
        for t in transitions
    ]


_FRAME_HEADER = struct.Struct("<Q")


def encode_frame(item: object) -> bytes:
    """One message on a pipe between the gateway and its writer process: length, pickle."""
    data = pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    return _FRAME_HEADER.pack(len(data)) + data


class _Frames:
    """The frames of a byte stream, as they complete."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def complete(self) -> Iterator[Any]:
        buffer, start, header = self._buffer, 0, _FRAME_HEADER.size
        while len(buffer) - start >= header:
            (size,) = _FRAME_HEADER.unpack_from(buffer, start)
            if len(buffer) - start - header < size:
                break
            item = pickle.loads(buffer[start + header : start + header + size])
            start += header + size
            yield item
        del buffer[:start]


@dataclass(slots=True)
class JournalCounters:
    """What the writer has done since the journal started (it sends them with each answer)."""

    stored: int = 0
    """Messages committed."""
    resends: int = 0
    """Resends recognised (ACKed again, not stored again)."""
    commits: int = 0
    failed_batches: int = 0
    pruned: int = 0
    failure: str | None = None
    """Why the last write failed, until one succeeds again; None while writing works."""


class Journal:
    """The writing side: ``async with Journal(path) as journal: await journal.record(...)``.

    The writing itself is done by a process of its own (:mod:`gateway.journal.writer`);
    this object, on the event loop, encodes each message, sends it and resolves the
    caller's future when the writer answers that the commit covering it returned.

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
        checkpoint_interval_s: float = CHECKPOINT_INTERVAL_S,
    ) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.duplicate_window_ns = round(duplicate_window_s * NS_PER_S)
        self.busy_timeout_s = busy_timeout_s
        self.max_size_bytes = max_size_bytes
        self.checkpoint_interval_s = checkpoint_interval_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._spawned_at = -math.inf
        self._jobs_fd = -1
        self._results_fd = -1
        self._unsent = bytearray()
        """Bytes the pipe did not take yet (sent when it is writable again)."""
        self._waiting_to_write = False
        self._answers = _Frames()
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._seq = 0
        self._closing = False
        self._reaping: set[asyncio.Future[int]] = set()
        self.on_fault: Callable[[str, str], None] | None = None
        """Told (source, text) when the writer process ended unexpectedly: the hub lists it
        with the faults on the dashboard (its log line alone would go unseen)."""
        self.counters = JournalCounters()
        """As the writer last reported them."""

    # -- lifecycle

    async def start(self) -> None:
        """Start the writer and open the file (creating it and its folder if needed).

        Raises JournalError if the file cannot be opened for writing now; the writer keeps
        running regardless and tries again with the next message, so a caller that chooses
        to go on (the ward must stay watchable) gets recording back when storage returns.
        """
        if self._loop is not None:
            raise JournalError("journal already started")
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._spawn()
        await self.prune(0)  # a no-op write job: opens the file in the writer
        if self.counters.failure is not None:
            raise JournalError(self.counters.failure)

    async def close(self) -> None:
        """Write what is queued, then close the file and stop the writer."""
        if self._loop is None or self._closing:
            return
        process = self._process
        if process is not None:
            stopped = self._send(lambda seq: (_STOP, seq))
            self._closing = True
            with contextlib.suppress(JournalError):
                await stopped
            await asyncio.to_thread(process.wait)
            if self._process is process:  # its answers' pipe has not ended yet
                self._lost()
        self._closing = True
        self._loop = None

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

    @property
    def waiting_to_send(self) -> int:
        """Bytes for the writer that its pipe did not take yet (sent as it drains)."""
        return len(self._unsent)

    @property
    def writer_pid(self) -> int | None:
        """The writer process's id while one runs (for monitoring, and for tests that kill it)."""
        return None if self._process is None else self._process.pid

    # -- the API of the hub and the service

    def record(
        self, message: ReceivedMessage, routed: Sequence[RoutedReport]
    ) -> asyncio.Future[bool]:
        """Store an accepted message and its reports: await the result, which comes when
        they are on disk.

        True when stored now; False when it is a resend of a message already stored (the
        device may be ACKed again, and the ward must not take it twice). Raises
        JournalError when it could not be stored. (A future, not a coroutine: one frame
        less per message on the event loop.)
        """
        return self._submit(message, routed, Outcome.ACCEPTED, None)

    async def record_rejected(self, message: ReceivedMessage, reason: str) -> None:
        """Keep a message that was not accepted, with why, for inspection."""
        await self._submit(message, (), Outcome.REJECTED, reason)

    async def record_alarm_log(self, transitions: Sequence[AlarmTransition]) -> None:
        """Store the alarm engine's transitions; return when they are on disk. Raises
        JournalError when they could not be stored (the caller keeps them for a retry)."""
        rows = _alarm_log_rows(transitions)
        await self._send(lambda seq: (_ALARM_LOG, seq, rows))

    async def prune(self, before_ns: int, *, limit: int = PRUNE_BATCH) -> int:
        """Delete up to ``limit`` of the oldest messages received before ``before_ns``, with
        everything decoded from them; return how many went. Call it again until it returns
        less than ``limit``: each call is one small transaction between ingest batches."""
        removed: int = await self._send(lambda seq: (_PRUNE, seq, before_ns, limit))
        return removed

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

    def _submit(
        self,
        message: ReceivedMessage,
        routed: Sequence[RoutedReport],
        outcome: Outcome,
        reason: str | None,
    ) -> asyncio.Future[bool]:
        """Send a message to the writer; the future resolves once it is on disk."""
        self._check_running()
        seq = self._seq + 1
        try:
            job = _prepare(seq, message, routed, outcome, reason)
        except (TypeError, ValueError, OverflowError) as exc:
            # Kept raw as rejected, and refused once: its device is told not to resend.
            text = refusal(message.control_id, message.peer, exc)
            job = _prepare(seq, message, (), Outcome.REJECTED, text, refused=text)
        return self._queue(job)

    # -- talking to the writer process

    def _send(self, job: Callable[[int], tuple[object, ...]]) -> asyncio.Future[Any]:
        """Number a job and queue it; the future gets the writer's answer. Raises
        JournalError when there is no writer to send it to."""
        self._check_running()
        return self._queue(job(self._seq + 1))

    def _check_running(self) -> None:
        if self._loop is None or self._closing:
            raise JournalError("journal is not running")
        if self._process is None:
            self._respawn()

    def _queue(self, item: tuple[object, ...]) -> asyncio.Future[Any]:
        """Send job number ``_seq + 1`` to the writer now.

        Each job goes at once, in a frame of its own: the writer takes every frame waiting
        as one batch when its commit is done, so this costs no fsyncs, and a job that
        waited for the end of the event loop's turn to go with others waited ~0.2 ms
        (measured: ingest 2–6 % faster). Holding jobs until the writer answered was worse
        still: the loop sees an answer only after its turn, so the writer waited for it."""
        loop = self._loop
        assert loop is not None
        seq = self._seq = self._seq + 1
        future: asyncio.Future[Any] = loop.create_future()
        try:
            frame = encode_frame((self.clock.now_ns(), (item,)))
        except Exception as exc:  # a value pickle cannot carry (an adapter's bug): refused
            if item[0] == _APPEND:
                columns: Any = item[5]
                future.set_exception(_refuse(str(columns[5]), str(columns[2]), exc))
            else:
                future.set_exception(JournalError(f"cannot store: {exc}"))
            return future
        self._pending[seq] = future
        if self._unsent:  # the pipe is full: after what waits, when it drains
            self._unsent += frame
            return future
        try:
            written = os.write(self._jobs_fd, frame)
        except BlockingIOError:
            written = 0
        except OSError:  # the writer is gone: its answers' pipe ends too, and says so
            self._lost()
            return future
        if written < len(frame):
            self._unsent += frame[written:]
            self._write_unsent()
        return future

    def _write_unsent(self) -> None:
        assert self._loop is not None
        try:
            written = os.write(self._jobs_fd, self._unsent)
        except BlockingIOError:
            written = 0
        except OSError:  # the writer is gone: its answers' pipe ends too, and says so
            self._lost()
            return
        del self._unsent[:written]
        if self._unsent and not self._waiting_to_write:
            self._loop.add_writer(self._jobs_fd, self._write_unsent)
            self._waiting_to_write = True
        elif not self._unsent and self._waiting_to_write:
            self._loop.remove_writer(self._jobs_fd)
            self._waiting_to_write = False

    def _on_answers(self) -> None:
        try:
            data = os.read(self._results_fd, PIPE_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._lost()
            return
        self._answers.feed(data)
        for settled, counters, records in self._answers.complete():
            for level, name, text in records:
                logging.getLogger(name).log(level, "%s", text)
            if counters is not None:
                self.counters = counters
            pending = self._pending
            for seq, outcome in settled:
                future = pending.pop(seq, None)
                if future is None or future.done():
                    continue  # its waiter was cancelled (the connection went away)
                if isinstance(outcome, BaseException):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _spawn(self) -> None:
        assert self._loop is not None
        settings = {
            "path": str(self.path),
            "duplicate_window_ns": self.duplicate_window_ns,
            "busy_timeout_s": self.busy_timeout_s,
            "max_size_bytes": self.max_size_bytes,
            "checkpoint_interval_s": self.checkpoint_interval_s,
        }
        # The writer imports this package from where this process found it.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT), env.get("PYTHONPATH")) if p)
        jobs_in, jobs_out = os.pipe()
        answers_in, answers_out = os.pipe()
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gateway.journal.writer",
                    str(jobs_in),
                    str(answers_out),
                    json.dumps(settings),
                ],
                pass_fds=(jobs_in, answers_out),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # it logs through its answers; never on the screen
                env=env,
            )
        except BaseException as exc:
            os.close(jobs_out)
            os.close(answers_in)
            if isinstance(exc, OSError):  # no process to be had (out of memory, pids)
                raise JournalError(f"cannot start the journal writer: {exc}") from exc
            raise
        finally:
            os.close(jobs_in)
            os.close(answers_out)
        self._spawned_at = time.monotonic()
        self._jobs_fd, self._results_fd = jobs_out, answers_in
        os.set_blocking(jobs_out, False)
        os.set_blocking(answers_in, False)
        if sys.platform == "linux":  # a big waveform batch in one write, if allowed
            with contextlib.suppress(OSError):
                fcntl.fcntl(jobs_out, _F_SETPIPE_SZ, PIPE_SIZE)
        self._loop.add_reader(answers_in, self._on_answers)

    def _respawn(self) -> None:
        """A new writer after the last one ended, at most once per RESPAWN_INTERVAL_S."""
        if time.monotonic() - self._spawned_at < RESPAWN_INTERVAL_S:
            failure = self.counters.failure or f"journal writer not running: {self.path}"
            raise JournalError(failure)
        log.warning("journal: starting a new writer process (%s)", self.path)
        self._spawn()

    def _lost(self) -> None:
        """The writer's answers ended: after a stop, or because it died. Whatever waits for
        an answer fails (the devices get a negative ACK and resend); the next job starts a
        new writer."""
        process, self._process = self._process, None
        if process is None:
            return
        assert self._loop is not None
        self._loop.remove_reader(self._results_fd)
        self._loop.remove_writer(self._jobs_fd)
        self._waiting_to_write = False
        os.close(self._results_fd)
        os.close(self._jobs_fd)
        self._unsent.clear()
        self._answers = _Frames()
        if process.poll() is None:  # reap it when it is done
            reaping = self._loop.run_in_executor(None, process.wait)
            self._reaping.add(reaping)
            reaping.add_done_callback(self._reaping.discard)
        pending, self._pending = self._pending, {}
        if self._closing and not pending:
            return
        status = process.poll()
        ended = "" if status is None else f" (exit status {status})"
        text = f"journal writer process ended{ended}: {self.path}"
        log.error("journal: %s", text)
        self.counters.failure = text
        if self.on_fault is not None:
            self.on_fault("journal", f"{text}; the next message starts a new writer")
        for future in pending.values():
            if not future.done():
                future.set_exception(JournalError(text))


def _refuse(control_id: str, peer: str, exc: Exception) -> JournalError:
    """A message that cannot be stored at all, not even raw: it alone fails, never its
    batch (its device gets a negative ACK and resends)."""
    return JournalError(refusal(control_id, peer, exc))


def refusal(control_id: str, peer: str, exc: BaseException) -> str:
    """Why a message is not stored as decoded (logged here, once per message)."""
    text = values.text(
        f"cannot store message {control_id[:64]!r} from {peer[:64]} as decoded:"
        f" {type(exc).__name__}: {str(exc)[:200]}"
    )
    log.error("journal: %s", text)
    return text


def refused(text: str) -> MessageRefused:
    """The answer for a message kept raw as rejected: stored, but not taken in."""
    return MessageRefused(f"{text}; kept raw as rejected")


def _report_documents(
    routed: Sequence[RoutedReport],
    alarms: list[tuple[object, ...]],
    beds: list[tuple[str, str]],
    samples: list[bytes],
) -> list[tuple[object, ...]]:
    """A message's reports as the document ``messages.reports`` holds (the writer makes it
    JSON: its process, not the event loop, spends the time); adds their waveform samples to
    ``samples``, their alarm rows (but for the message id) to ``alarms`` and (bed, label)
    of those with a bed to ``beds``."""
    text = values.text
    documents: list[tuple[object, ...]] = []
    for seq, item in enumerate(routed):
        report = item.report
        bed = None if item.bed is None else text(item.bed.key)
        bed_label = text(item.bed_label)
        if bed is not None:
            beds.append((bed, bed_label))
        loc = report.location
        waveforms = report.waveforms
        documents.append(
            (
                bed,
                bed_label,
                text(report.device.key),
                text(report.device.label),
                values.int_or(report.receive_time_ns, 0),
                None
                if loc is None
                else tuple(
                    map(
                        values.optional_text,
                        (loc.raw, loc.point_of_care, loc.room, loc.bed, loc.facility),
                    )
                ),
                values.optional_text(report.patient_id),
                [_observation_document(o) for o in report.observations],
                [_waveform_document(chunk, samples) for chunk in waveforms] if waveforms else (),
                len(report.alarms),
            )
        )
        if report.alarms:
            alarms.extend(_alarm_rows(seq, bed, report.alarms))
    return documents


_I64_MIN, _I64_MAX = values.INT64_MIN, values.INT64_MAX


def _observation_document(o: Observation) -> tuple[object, ...]:
    """An observation as ``messages.reports`` holds it, every value storable. The checks
    of the common case (an int code, a finite float, short ASCII texts) are inline: this
    runs for every value of every message on the event loop."""
    code, device_ns = o.code, o.device_time_ns
    value: float | str | None = o.value
    label, unit, sub_id, source_code, reason = o.label, o.unit, o.sub_id, o.source_code, o.reason
    if code.__class__ is not int or not _I64_MIN <= code <= _I64_MAX:
        code = values.int_or(code, 0)
    if value.__class__ is float:
        if value - value != 0.0:  # NaN or ±inf: JSON null (SQLite's JSON refuses NaN)
            value = None
    else:
        value = values.value(value)
    if device_ns is not None and (
        device_ns.__class__ is not int or not _I64_MIN <= device_ns <= _I64_MAX
    ):
        device_ns = values.bounded_int(device_ns)
    if not values.plain(label, unit, sub_id, reason, source_code or ""):
        label, unit, sub_id, reason = map(values.text, (label, unit, sub_id, reason))
        source_code = values.optional_text(source_code)
    return (
        code,
        label,
        value,
        unit,
        o.status._value_,  # not .value: a descriptor call each
        device_ns,
        sub_id,
        source_code,
        reason,
        o.demo,
    )


def _waveform_document(chunk: WaveformChunk, samples: list[bytes]) -> tuple[object, ...]:
    data = np.ascontiguousarray(chunk.samples, dtype="<f4")
    samples.append(data.tobytes())
    return (
        values.int_or(chunk.code, 0),
        values.text(chunk.label),
        values.text(chunk.unit),
        values.finite(chunk.sample_rate_hz) or 0.0,
        values.int_or(chunk.start_time_ns, 0),
        int(data.size),
        values.text(chunk.sub_id),
        values.optional_text(chunk.source_code),
    )


def _alarm_rows(
    report_seq: int, bed: str | None, alarms: Sequence[AlarmEvent]
) -> Iterator[tuple[object, ...]]:
    text = values.text
    for seq, alarm in enumerate(alarms):
        value = values.value(alarm.value)
        yield (
            report_seq,
            seq,
            bed,
            values.int_or(alarm.time_ns, 0),
            text(alarm.device.key),
            values.int_or(alarm.code, 0),
            text(alarm.text),
            values.int_or(int(alarm.priority), 0),
            alarm.kind.value,
            text(alarm.phase),
            text(alarm.state),
            text(alarm.inactivation),
            alarm.source.value,
            text(alarm.alarm_id),
            values.bounded_int(alarm.parameter_code),
            text(alarm.parameter_label),
            None if isinstance(value, str) else value,
            value if isinstance(value, str) else None,
            text(alarm.unit),
            text(alarm.limits),
            values.optional_text(alarm.source_code),
            text(alarm.sub_id),
        )


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


# --------------------------------------------------------------------------- reading

Row = tuple[Any, ...]
PAGE = 500
"""Messages read per query: bounds memory and the length of each read transaction."""
_NO_ID = (1 << 63) - 1
_REPORT_COLUMNS = (
    "m.id, m.receive_ns, m.transport, m.peer, m.control_id, m.reports, m.raw_size, m.bundle_row,"
    " m.bundle_offset, m.bundle"
)
_BED_PAGE = (
    f"SELECT {_REPORT_COLUMNS} FROM bed_messages b CROSS JOIN messages m ON m.id = b.message_id"
    " WHERE b.bed = ? AND b.message_id >= ? AND b.message_id <= ? ORDER BY b.message_id LIMIT ?"
)
_PAGE = (
    f"SELECT {_REPORT_COLUMNS} FROM messages m WHERE m.id >= ? AND m.id <= ?"
    " AND m.reports IS NOT NULL ORDER BY m.id LIMIT ?"
)
BUNDLES_CACHED = 8
"""Decompressed bundles a reader keeps: reading in order decompresses each one once."""


@dataclass(slots=True)
class _Page:
    """Messages read in one snapshot, with what their reports need from elsewhere."""

    rows: list[Row]
    reports: list[list[Any]]
    """Each row's ``reports``, decoded."""
    alarms: dict[tuple[int, int], list[Row]]
    """Alarm rows by (message id, report seq)."""
    bundles: dict[int, bytes]
    """Decompressed bundles by the id of the message holding them."""


_STATUS = {status.value: status for status in ObservationStatus}


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
            if 0 < version < SCHEMA_VERSION:
                raise JournalError(
                    f"{self.path} was written by an older icu-gateway (journal schema"
                    f" {version}); this one reads schema {SCHEMA_VERSION}"
                )
            raise JournalError(
                f"{self.path} is not an icu-gateway journal (schema {version},"
                f" expected {SCHEMA_VERSION})"
            )
        self._bundles: dict[int, bytes] = {}

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

    @contextlib.contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction: the queries in it see one state of the file (a message and
        the bundle holding its bytes, though retention may run meanwhile)."""
        self._query("BEGIN")
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):  # a read transaction: nothing to lose
                self._conn.execute("COMMIT")

    def _unbundle(self, holders: Iterable[int], known: dict[int, bytes]) -> dict[int, bytes]:
        """The decompressed bundles held by the messages ``holders`` (in a snapshot);
        ``known``: bundles already read, by holder."""
        found: dict[int, bytes] = {}
        for holder in holders:
            data = self._bundles.get(holder)
            if data is None:
                blob = known.get(holder)
                if blob is None:
                    rows = self._query("SELECT bundle FROM messages WHERE id = ?", (holder,))
                    blob = rows[0][0] if rows else None
                if blob is None:
                    raise JournalError(f"{self.path}: the bundle of message {holder} is missing")
                try:
                    data = zlib.decompress(blob)
                except zlib.error as exc:
                    raise JournalError(f"{self.path}: bundle of message {holder}: {exc}") from exc
                if len(self._bundles) >= BUNDLES_CACHED:
                    del self._bundles[next(iter(self._bundles))]
                self._bundles[holder] = data
            found[holder] = data
        return found

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
        labels = {str(bed): str(label) for bed, label in self._query("SELECT bed, label FROM beds")}
        low = self._indexed_through() + 1  # newer: not indexed yet
        while (page := self._page(_PAGE, (low, _NO_ID, PAGE), None, whole=False)) is not None:
            for reports in page.reports:
                for report in reports:
                    if report[0] is not None:
                        labels[str(report[0])] = str(report[1])
            low = int(page.rows[-1][0]) + 1
        return [(BedId(bed), labels[bed]) for bed in sorted(labels)]

    def _indexed_through(self) -> int:
        rows = self._query("SELECT value FROM journal_state WHERE name = 'beds_indexed_through'")
        return int(rows[0][0]) if rows else 0

    # -- messages

    def messages(
        self, *, since_ns: int | None = None, until_ns: int | None = None
    ) -> Iterator[StoredMessage]:
        low, high = self.id_range(since_ns, until_ns)
        while low <= high:
            with self._snapshot():
                rows = self._query(
                    "SELECT id, receive_ns, transport, peer, device, control_id, outcome,"
                    " reason, resends, raw_size, bundle_row, bundle_offset, bundle FROM messages"
                    " WHERE id >= ? AND id <= ? ORDER BY id LIMIT ?",
                    (low, high, PAGE),
                )
                bundles = self._unbundle(
                    {row[10] for row in rows}, {row[0]: row[12] for row in rows if row[12]}
                )
            if not rows:
                return
            for row in rows:
                ident, receive, transport, peer, device, control, outcome, reason = row[:8]
                resends, size, holder, offset, _ = row[8:]
                yield StoredMessage(
                    int(ident),
                    int(receive),
                    str(transport),
                    str(peer),
                    None if device is None else str(device),
                    str(control),
                    Outcome(outcome),
                    None if reason is None else str(reason),
                    _cut(bundles[holder], offset, size, ident),
                    int(resends),
                )
            low = int(rows[-1][0]) + 1

    def raw(self, message_row: int) -> bytes:
        """The raw bytes of one stored message (empty if it was pruned)."""
        with self._snapshot():
            rows = self._query(
                "SELECT raw_size, bundle_row, bundle_offset, bundle FROM messages WHERE id = ?",
                (message_row,),
            )
            if not rows:
                return b""
            size, holder, offset, blob = rows[0]
            bundles = self._unbundle((holder,), {message_row: blob} if blob else {})
        return _cut(bundles[holder], offset, size, message_row)

    # -- reports, with everything decoded from them

    def reports(
        self,
        *,
        bed: BedId | None = None,
        since_ns: int | None = None,
        until_ns: int | None = None,
        values_only: bool = False,
    ) -> Iterator[StoredReport]:
        """Stored reports in arrival order, each whole (observations, waveforms, alarms) —
        or, ``values_only``, with their observations alone: no bundle is decompressed and
        no alarm row read (what the trend back-fill needs, at ~2x the pace with waves)."""
        key = None if bed is None else bed.key
        whole = not values_only
        for page in self._report_pages(key, since_ns, until_ns, whole=whole):
            for row, reports in zip(page.rows, page.reports, strict=True):
                yield from _stored_reports(
                    row, reports, key, page.alarms, page.bundles, waves=whole
                )

    def _report_pages(
        self, bed: str | None, since_ns: int | None, until_ns: int | None, *, whole: bool
    ) -> Iterator[_Page]:
        """Pages of the messages with reports in the time range — of one bed: those the bed
        index names, then the newest ones, not indexed yet, that may hold the bed. With
        ``whole``, each page comes with the alarm rows and bundles its reports need."""
        low, high = self.id_range(since_ns, until_ns)
        if bed is not None:
            through = self._indexed_through()  # may move on meanwhile: what it covered stays
            indexed_high = min(high, through)
            while low <= indexed_high:
                page = self._page(_BED_PAGE, (bed, low, indexed_high, PAGE), bed, whole)
                if page is None:
                    break
                yield page
                low = int(page.rows[-1][0]) + 1
            low = max(low, through + 1)
        while low <= high:
            page = self._page(_PAGE, (low, high, PAGE), bed, whole)
            if page is None:
                return
            yield page
            low = int(page.rows[-1][0]) + 1

    def _page(self, sql: str, args: Sequence[object], bed: str | None, whole: bool) -> _Page | None:
        with self._snapshot():
            rows = self._query(sql, args)
            if not rows:
                return None
            reports = [json.loads(row[5]) for row in rows]
            page = _Page(rows, reports, {}, {})
            if not whole:
                return page
            mine = [
                (row, report)
                for row, documents in zip(rows, reports, strict=True)
                for report in documents
                if bed is None or report[0] == bed
            ]
            if any(report[9] for _, report in mine):
                page.alarms = self._alarm_rows(int(rows[0][0]), int(rows[-1][0]))
            holders = {row[7] for row, report in mine if report[8]}
            if holders:
                page.bundles = self._unbundle(holders, {row[0]: row[9] for row in rows if row[9]})
            return page

    def _alarm_rows(self, first: int, last: int) -> dict[tuple[int, int], list[Row]]:
        """The alarm rows of the messages first…last, keyed by (message id, report seq)."""
        rows = self._query(
            "SELECT message_id, report_seq, time_ns, device, code, text, priority, kind, phase,"
            " state, inactivation, source, alarm_id, parameter_code, parameter_label, num, txt,"
            " unit, limits, source_code, sub_id FROM alarms"
            " WHERE message_id >= ? AND message_id <= ? ORDER BY message_id, report_seq, seq",
            (first, last),
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
        """Valid numeric readings of a bed summarised per measurement hour (UTC hours), by
        hour, then code, source code (none first), sub-id and unit."""
        groups: dict[_HourKey, _Hour] = {}
        for page in self._report_pages(bed.key, since_ns, until_ns, whole=False):
            for reports in page.reports:
                for report in reports:
                    if report[0] == bed.key:
                        _add_hourly(groups, report)
        return [
            HourlySummary(
                key[0] * _HOUR_NS,
                key[1],
                key[2],
                hour.label,
                key[4],
                key[3],
                hour.count,
                hour.total / hour.count,
                hour.low,
                hour.high,
                key[5],
                key[6],
            )
            for key, hour in sorted(groups.items(), key=_hourly_order)
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
        the ward-wide entries (``bed`` None), or all (``ward``)."""
        where = "time_ns >= ? AND time_ns < ?"
        args: list[object] = [
            -(1 << 63) if since_ns is None else since_ns,
            (1 << 63) - 1 if until_ns is None else until_ns,
        ]
        if not ward:
            where += " AND bed IS ?"
            args.append(None if bed is None else bed.key)
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
    values_only: bool = False,
) -> AsyncIterator[list[StoredReport]]:
    """Stored reports in arrival order, ``chunk`` at a time, read in a worker thread so the
    event loop never waits on the disk (the restart rebuild and replay use this);
    ``values_only`` as in :meth:`JournalReader.reports`."""
    reader = await asyncio.to_thread(JournalReader, path)
    try:
        reports = reader.reports(
            bed=bed, since_ns=since_ns, until_ns=until_ns, values_only=values_only
        )
        while True:
            batch = await asyncio.to_thread(_take, reports, chunk)
            if not batch:
                return
            yield batch
    finally:
        reader.close()


def _take(reports: Iterator[StoredReport], count: int) -> list[StoredReport]:
    return list(itertools.islice(reports, count))


def _cut(bundle: bytes, offset: int, size: int, message_id: int) -> bytes:
    """A message's raw bytes out of its bundle."""
    if offset + size > len(bundle):
        raise JournalError(f"message {message_id}: its bytes run past the end of its bundle")
    return bundle[offset : offset + size]


_HOUR_NS = 3600 * NS_PER_S


@dataclass(slots=True)
class _Hour:
    """One parameter's valid numeric readings of one hour, summed up as they come."""

    count: int
    total: float
    low: float
    high: float
    label: str


_HourKey = tuple[int, int, str | None, str, str, str, str]
"""Hour, code, source code, sub-id, unit, patient id, device key."""


def _add_hourly(groups: dict[_HourKey, _Hour], report: Row) -> None:
    """Add a stored report's valid numeric observations to their hour's summary (per
    patient and device: one hour of two patients is two summaries)."""
    receive, device, patient = report[4], str(report[2]), str(report[6] or "")
    for item in report[7]:
        code, label, value, unit, status, device_ns, sub_id, source = item[:8]
        if status != "valid" or value is None or isinstance(value, str) or math.isnan(value):
            continue
        if len(item) > 9 and item[9]:
            continue  # demo or test data: never in a patient's hourly summary
        at = receive if device_ns is None else device_ns
        hour = at // _HOUR_NS if at >= 0 else -(-at // _HOUR_NS)  # SQL's: towards zero
        key = (hour, code, source, sub_id, unit, patient, device)
        found = groups.get(key)
        if found is None:
            number = float(value)
            groups[key] = _Hour(1, number, number, number, label)
            continue
        found.count += 1
        found.total += value
        if value < found.low:
            found.low = float(value)
        elif value > found.high:
            found.high = float(value)
        found.label = max(found.label, label)


def _hourly_order(item: tuple[_HourKey, _Hour]) -> tuple[object, ...]:
    hour, code, source, sub_id, unit, patient, device = item[0]
    return hour, code, source is not None, source or "", sub_id, unit, patient, device


def _stored_reports(
    row: Row,
    reports: list[list[Any]],
    bed: str | None,
    alarms: dict[tuple[int, int], list[Row]],
    bundles: dict[int, bytes],
    *,
    waves: bool = True,
) -> Iterator[StoredReport]:
    """The reports of one message row (those of ``bed`` only, unless it is None); without
    their waveforms unless ``waves``."""
    message_id, _, transport, peer, control_id = row[:5]
    samples: npt.NDArray[np.float32] | None = None
    offset = 0  # into the message's samples: every report's chunks, in order
    for seq, document in enumerate(reports):
        (
            bed_key,
            bed_label,
            device_key,
            device_label,
            receive,
            location,
            patient_id,
            observations,
            waveforms,
            _,
        ) = document
        if bed is not None and bed_key != bed:
            offset += sum(int(w[5]) for w in waveforms)
            continue
        device = DeviceId(str(device_key), str(device_label))
        chunks = []
        for wave in waveforms if waves else ():
            if samples is None:
                samples = _samples(row, reports, bundles)
            count = int(wave[5])
            if offset + count > samples.size:
                raise JournalError(
                    f"waveform of message {message_id}: {samples.size - offset} samples,"
                    f" not {count}"
                )
            chunks.append(_waveform(wave, samples[offset : offset + count], device, control_id))
            offset += count
        yield StoredReport(
            message_id,
            seq,
            RoutedReport(
                DeviceReport(
                    device=device,
                    transport=transport,
                    peer=peer,
                    receive_time_ns=receive,
                    message_id=control_id,
                    location=None if location is None else Location(*location),
                    patient_id=patient_id,
                    observations=tuple(
                        _observation(o, device, receive, control_id) for o in observations
                    ),
                    waveforms=tuple(chunks),
                    alarms=tuple(
                        _alarm(a, device, control_id) for a in alarms.get((message_id, seq), ())
                    ),
                ),
                None if bed_key is None else BedId(bed_key),
                bed_label,
            ),
        )


def _samples(
    row: Row, reports: list[list[Any]], bundles: dict[int, bytes]
) -> npt.NDArray[np.float32]:
    """Every waveform sample of a message: in its bundle, right after its raw bytes."""
    message_id, size, holder, offset = row[0], row[6], row[7], row[8]
    count = sum(int(wave[5]) for report in reports for wave in report[8])
    bundle = bundles[holder]
    start = offset + size
    if start + 4 * count > len(bundle):
        raise JournalError(f"message {message_id}: its samples run past the end of its bundle")
    return np.frombuffer(bundle, dtype="<f4", count=count, offset=start)


def _observation(
    item: list[Any], device: DeviceId, receive_ns: int, control_id: str
) -> Observation:
    code, label, value, unit, status, device_ns, sub_id, source_code = item[:8]
    # reason and demo came with the vendor-forms work; older rows have neither
    reason, demo = (item[8], item[9]) if len(item) > 8 else ("", False)
    return Observation(
        device=device,
        code=code,
        label=label,
        # null: a value that was not a finite number (NaN, ±inf) when it was stored
        value=value if isinstance(value, str) else math.nan if value is None else float(value),
        unit=unit,
        status=_STATUS[status],
        receive_time_ns=receive_ns,
        device_time_ns=device_ns,
        sub_id=sub_id,
        source_code=source_code,
        message_id=control_id,
        reason=reason,
        demo=bool(demo),
    )


def _waveform(
    item: list[Any], samples: npt.NDArray[np.float32], device: DeviceId, control_id: str
) -> WaveformChunk:
    code, label, unit, rate, start_ns, _, sub_id, source_code = item
    return WaveformChunk(
        device=device,
        code=code,
        label=label,
        sample_rate_hz=float(rate),
        start_time_ns=start_ns,
        samples=samples.astype(np.float32),  # a copy of its own, native order, writable
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

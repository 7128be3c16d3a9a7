"""The journal's writing side, on the event loop: :class:`Journal`.

A writer *process* owns the connection (:mod:`gateway.journal.writer`, which says why not a
thread). The event loop encodes each message (its row, its bundle part, its alarm rows:
:mod:`gateway.journal.encode`), sends it down a pipe at once and awaits a future; the
writer takes everything waiting, writes it in one transaction and commits — one fsync of
the WAL (``synchronous=FULL``) for the whole batch — and only then answers, which resolves
every future of the batch. So an awaited :meth:`Journal.record` that returns means *on
disk*, and that is when the device may be acknowledged. A failed write (disk full,
read-only file, locked database, I/O error) fails every message of its batch with
:class:`~gateway.errors.JournalError`; the writer drops its connection and opens a fresh
one for the next batch, so recording resumes by itself when storage comes back. A writer
process that dies fails whatever waited on it, and the next message starts a new one. A
resend (same device, same MSH-10, same bytes, within the duplicate window) is stored once
and reported as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.domain import AlarmTransition, ReceivedMessage
from gateway.errors import JournalError
from gateway.journal.encode import _alarm_log_rows, _prepare
from gateway.journal.pacing import COMMIT_INTERVAL_S
from gateway.journal.protocol import (
    _ALARM_LOG,
    _APPEND,
    _F_SETPIPE_SZ,
    _PRUNE,
    _STOP,
    PIPE_READ_SIZE,
    PIPE_SIZE,
    JournalCounters,
    _Frames,
    _refuse,
    encode_frame,
    refusal,
)
from gateway.journal.records import Outcome, RoutedReport
from gateway.journal.schema import (
    CHECKPOINT_INTERVAL_S,
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_DUPLICATE_WINDOW_S,
    PRUNE_BATCH,
)

log = logging.getLogger("gateway.journal")  # the name its log lines have always carried
_PROJECT = Path(__file__).resolve().parents[2]
"""The folder holding the ``gateway`` package (gateway/journal/client.py is two below)."""


RESPAWN_INTERVAL_S = 1.0
"""A writer process that ended is started again by the next job, at most this often."""


class Journal:
    """The writing side: ``async with Journal(path) as journal: await journal.record(...)``.

    The writing itself is done by a process of its own (:mod:`gateway.journal.writer`);
    this object, on the event loop, encodes each message, sends it and resolves the
    caller's future when the writer answers that the commit covering it returned.

    ``max_size_bytes`` caps the file (SQLite ``max_page_count``): past it a write fails as
    on a full disk, so a journal can be kept from filling the disk the system needs.
    ``commit_interval_s``: at most one commit this often while a ward's messages fill
    batches and no sender waits on the writer (:mod:`gateway.journal.pacing`); 0 commits
    every batch as it comes.
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
        commit_interval_s: float = COMMIT_INTERVAL_S,
    ) -> None:
        self.path = Path(path)
        self.clock = clock or SystemClock()
        self.duplicate_window_ns = round(duplicate_window_s * NS_PER_S)
        self.busy_timeout_s = busy_timeout_s
        self.max_size_bytes = max_size_bytes
        self.checkpoint_interval_s = checkpoint_interval_s
        self.commit_interval_s = commit_interval_s
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
            "commit_interval_s": self.commit_interval_s,
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

"""What the event loop and the writer process (:mod:`gateway.journal.writer`) tell each other.

Jobs go to the writer as pickled frames (length, pickle) of plain tuples — the kind first,
then the fields of its type below, ``seq`` first: the number its answer comes back with.
Answers come back the same way, with the writer's :class:`JournalCounters`. Also here: how
a failure is put in words for staff and engineers, the same on both sides of the pipe.
"""

from __future__ import annotations

import logging
import pickle
import sqlite3
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from gateway.errors import JournalError, MessageRefused
from gateway.journal import values

log = logging.getLogger("gateway.journal")  # the name its log lines have always carried


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
    lingered: int = 0
    """Batches taken only after the writer waited for more to share their commit
    (:mod:`gateway.journal.pacing`)."""
    failed_batches: int = 0
    pruned: int = 0
    failure: str | None = None
    """Why the last write failed, until one succeeds again; None while writing works."""


PIPE_SIZE = 1 << 20
"""The capacity asked for the pipe to the writer (Linux gives at most 1 MiB unprivileged)."""
PIPE_READ_SIZE = 1 << 16
"""Bytes read from a pipe at once: under glibc's threshold for allocating by mmap, which
cost an mmap, an mremap and a munmap per read (traced: 3 system calls per commit)."""
_F_SETPIPE_SZ = 1031  # Linux fcntl: set a pipe's capacity


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

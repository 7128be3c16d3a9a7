"""MLLP framing: ``0x0B`` + message + ``0x1C 0x0D``.

Tolerant on input (several frames per read, frames split over reads, stray bytes such as
CR/LF or ``0x0C`` between frames, a missing final CR), strict on output. A frame larger
than the cap is never buffered: its bytes are dropped as they arrive and one
:class:`OversizeFrame` is reported when its end is seen, so the listener can reject it
and carry on with the next frame. This module knows bytes only — not HL7.
"""

from __future__ import annotations

from dataclasses import dataclass

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"
DEFAULT_MAX_FRAME_BYTES = 1 << 20
_END = END_BLOCK + CARRIAGE_RETURN


def frame(message: bytes) -> bytes:
    """Wrap one message for sending."""
    return START_BLOCK + message + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True, slots=True)
class OversizeFrame:
    """A frame that exceeded the cap; ``size`` is how many bytes it had."""

    size: int


class MllpFramer:
    """Incremental MLLP decoder: feed it what the socket read, get whole frames back."""

    __slots__ = (
        "_buffer",
        "_cr_due",
        "_in_frame",
        "_max",
        "_skipped",
        "_skipping",
        "discarded",
    )

    def __init__(self, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buffer = bytearray()
        self._in_frame = False
        self._skipping = False
        self._skipped = 0
        self._cr_due = False  # a frame ended the last read: its CR may open this one
        self.discarded = 0
        """Bytes seen outside any frame (noise between frames), for the device screen."""

    @property
    def pending(self) -> int:
        """Bytes of an unfinished frame held in memory (never more than the cap)."""
        return len(self._buffer)

    @property
    def in_frame(self) -> bool:
        """A frame's start block was seen and its end not yet (the frame deadline runs)."""
        return self._in_frame

    def feed(self, data: bytes) -> list[bytes | OversizeFrame]:
        if self._cr_due:
            self._cr_due = False
            if data[:1] == CARRIAGE_RETURN:
                data = data[1:]  # the end of the last frame, not noise
        if not self._in_frame and data[:1] == START_BLOCK and data[-2:] == _END:
            # What a monitor waiting for each ACK sends: one whole frame per read.
            end = len(data) - 2
            if (
                end - 1 <= self._max
                and data.find(END_BLOCK, 1, end) < 0
                and data.find(START_BLOCK, 1, end) < 0
            ):
                return [data[1:end]]
        out: list[bytes | OversizeFrame] = []
        pos, end = 0, len(data)
        while pos < end:
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    self.discarded += end - pos
                    break
                self.discarded += start - pos
                pos = start + 1
                self._in_frame = True
                continue
            stop = data.find(END_BLOCK, pos)
            chunk_end = end if stop < 0 else stop
            restart = data.find(START_BLOCK, pos, chunk_end)
            if restart >= 0:
                # A new frame began before this one ended: the sender gave up on it.
                # Drop the partial frame rather than glue two messages together.
                self.discarded += len(self._buffer) + self._skipped + (restart - pos)
                self._reset()
                pos = restart
                continue
            if not self._skipping:
                self._buffer += data[pos:chunk_end]
                if len(self._buffer) > self._max:
                    self._skipping = True
                    self._skipped = len(self._buffer)
                    self._buffer.clear()
            else:
                self._skipped += chunk_end - pos
            if stop < 0:
                break
            if self._skipping:
                out.append(OversizeFrame(self._skipped))
            else:
                out.append(bytes(self._buffer))
            self._reset()
            pos = stop + 1
            # The trailing CR is optional on input: eat it only when it is there.
            if pos < end and data[pos] == 0x0D:
                pos += 1
            elif pos == end:
                self._cr_due = True
        return out

    def _reset(self) -> None:
        self._buffer.clear()
        self._in_frame = False
        self._skipping = False
        self._skipped = 0

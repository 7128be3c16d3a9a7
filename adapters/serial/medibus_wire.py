"""Dräger MEDIBUS on the wire: commands, responses, their checksum, and the stream cut into them.

A command is ``ESC code [argument] checksum CR``, a response ``SOH echoed-code data checksum
CR``; the checksum is the low 8 bits of the sum of every byte from ESC or SOH through the
last data byte, as two upper-case hex characters. Both partners send commands and must
answer the other's (Dräger RS 232 MEDIBUS Protocol Definition rev 4.03, in
shared/reference/bedside-protocols.md §3). The slow channel is 7-bit ASCII; bytes with bit 7
set belong to the realtime channel (not configured by the gateway) and DC1/DC3 are the
sender's flow control: neither is part of a message. CAN aborts the message being sent.
A device may interleave a command of its own inside a long response: the command is taken
whole and the response continues.

:class:`MessageSplitter` cuts a byte stream into messages (total over bytes, bounded);
:func:`parse` checks one and reads its code and data; :func:`command` and :func:`response`
build what the gateway sends. Nothing here knows what the codes mean.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import ParseError

ESC = 0x1B
SOH = 0x01
CR = 0x0D
ETX = 0x03
NAK = 0x15
DC1 = 0x11
DC3 = 0x13
CAN = 0x18
MAX_COMMAND_BYTES = 1 + 1 + 251 + 2 + 1
MAX_RESPONSE_BYTES = 3845
MAX_ARGUMENT_BYTES = 251
_HEX = frozenset(b"0123456789ABCDEF")

# Commands (the code byte).
NOP = 0x30
ICC = 0x51
DEVICE_ID = 0x52
STOP = 0x55
MEASURED_CP1 = 0x24
LOW_LIMITS_CP1 = 0x25
HIGH_LIMITS_CP1 = 0x26
ALARMS_CP1 = 0x27
DATE_TIME = 0x28
SETTINGS = 0x29
TEXT_MESSAGES = 0x2A
MEASURED_CP2 = 0x2B
ALARMS_CP2 = 0x2E
TIME_CHANGED = 0x49
CONFIGURE_RESPONSE = 0x4A
REALTIME_CONFIG = 0x53
CONFIGURE_REALTIME = 0x54
REALTIME_CHANGED = 0x56
CORRUPT = NAK
"""The response code of "your command was corrupt": ``SOH NAK 16 CR``."""


@dataclass(frozen=True, slots=True)
class Message:
    """One checked message: a command (ESC) or a response (SOH), its code and data."""

    command: bool
    code: int
    data: bytes


def checksum(data: bytes) -> bytes:
    """The two hex characters that end a message whose bytes before them are ``data``."""
    return b"%02X" % (sum(data) & 0xFF)


def command(code: int, argument: bytes = b"") -> bytes:
    """A command as the gateway sends it."""
    if len(argument) > MAX_ARGUMENT_BYTES:
        raise ValueError(f"a MEDIBUS argument has at most {MAX_ARGUMENT_BYTES} bytes")
    body = bytes((ESC, code)) + argument
    return body + checksum(body) + bytes((CR,))


def response(code: int, data: bytes = b"") -> bytes:
    """A response echoing ``code`` with ``data``."""
    body = bytes((SOH, code)) + data
    return body + checksum(body) + bytes((CR,))


def parse(raw: bytes) -> Message:
    """One message from its ESC or SOH to its CR. Raises ParseError for anything else."""
    if len(raw) < 5 or raw[0] not in (ESC, SOH) or raw[-1] != CR:
        raise ParseError(f"{len(raw)} bytes: not a MEDIBUS message (ESC/SOH code … sum CR)")
    body, sent = raw[:-3], raw[-3:-1]
    if not set(sent) <= _HEX:
        raise ParseError(f"checksum {sent!r} is not two upper-case hex digits")
    if checksum(body) != sent:
        raise ParseError(f"checksum {sent.decode()}, the message sums to {checksum(body).decode()}")
    data = body[2:]
    if any(byte >= 0x80 for byte in raw):
        raise ParseError("a byte with bit 7 set in the slow channel")
    return Message(raw[0] == ESC, body[1], data)


@dataclass(frozen=True, slots=True)
class Oversize:
    """A message cut off at the limit (its first bytes), then skipped to its CR."""

    head: bytes


class MessageSplitter:
    """A MEDIBUS byte stream cut into messages (see the module docstring), bounded.

    What comes before the first ESC or SOH after a (re)start is the tail of a message the
    reader joined mid-way, and realtime bytes and flow control are not messages: both are
    counted in :attr:`discarded`. A response cut by a new response, or aborted by CAN, is
    returned as it stood (``parse`` rejects it: no checksum, no CR).
    """

    __slots__ = ("_command", "_response", "_skipping", "discarded")

    def __init__(self) -> None:
        self._response: bytearray | None = None
        self._command: bytearray | None = None
        self._skipping = False
        self.discarded = 0

    @property
    def pending(self) -> int:
        return len(self._response or b"") + len(self._command or b"")

    def restart(self) -> None:
        self._response = self._command = None
        self._skipping = False

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        out: list[bytes | Oversize] = []
        for byte in data:
            if byte >= 0x80 or byte in (DC1, DC3):
                self.discarded += 1
                continue
            if byte == ESC:
                if self._command is not None:
                    out.append(bytes(self._command))  # a command cut by another
                self._command = bytearray((byte,))
                continue
            if byte == SOH:
                if self._command is not None:
                    out.append(bytes(self._command))
                    self._command = None
                if self._response is not None and not self._skipping:
                    out.append(bytes(self._response))  # a response cut by another
                self._response = bytearray((byte,))
                self._skipping = False
                continue
            current = self._command if self._command is not None else self._response
            if current is None:
                self.discarded += 1
                continue
            if byte == CAN:
                out.append(bytes(current) + b"\x18")
                self._close(current)
                continue
            if current is self._response and self._skipping:
                self.discarded += 1
                if byte == CR:
                    self._response = None
                    self._skipping = False
                continue
            current.append(byte)
            if byte == CR:
                out.append(bytes(current))
                self._close(current)
                continue
            limit = MAX_COMMAND_BYTES if current is self._command else MAX_RESPONSE_BYTES
            if len(current) >= limit:
                out.append(Oversize(bytes(current)))
                if current is self._command:
                    self._command = None  # a command has no room for more: dropped
                else:
                    current.clear()  # nothing held while skipping to its CR
                    self._skipping = True
        return out

    def _close(self, current: bytearray) -> None:
        if current is self._command:
            self._command = None
        else:
            self._response = None

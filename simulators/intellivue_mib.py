"""IntelliVue MIB/RS-232 framing: one Data Export datagram per frame on a serial line.

``C0 | escaped(hdr + user data + FCS) | C1`` with ``hdr = 11 01 <u16 length>``, the FCS the
PPP FCS-16 (RFC 1662) of hdr + user data sent as its ones' complement, low byte first, and
0xC0/0xC1/0x7D anywhere between the flags sent as ``7D, byte ^ 0x20`` — the header's
length bytes and the FCS included (VSCaptureMP escapes only the user data; a real monitor's
frames would be misread where those bytes happen to be special). ``7D C1`` aborts a frame.

This module only frames; it must not know what the datagrams say.
"""

from __future__ import annotations

import struct

BOF, EOF, ESCAPE = 0xC0, 0xC1, 0x7D
_SPECIAL = frozenset((BOF, EOF, ESCAPE))
HEADER = b"\x11\x01"
"""protocol_id 0x11 (Data Export), msg_type 0x01."""
GOOD_FCS = 0xF0B8
"""What the FCS of a frame with its (complemented) FCS appended always comes to."""
MAX_FRAME = 4096
"""A frame body longer than this is noise: dropped, and the reader resynchronises."""


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        value = byte
        for _ in range(8):
            value = (value >> 1) ^ 0x8408 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_FCS_TABLE = _table()


def fcs16(data: bytes, fcs: int = 0xFFFF) -> int:
    """PPP FCS-16 (reflected 0x8408, init 0xFFFF), not complemented."""
    for byte in data:
        fcs = (fcs >> 8) ^ _FCS_TABLE[(fcs ^ byte) & 0xFF]
    return fcs


def escape(data: bytes) -> bytes:
    out = bytearray()
    for byte in data:
        if byte in _SPECIAL:
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def frame(user_data: bytes) -> bytes:
    """One datagram as a MIB frame."""
    body = HEADER + struct.pack(">H", len(user_data)) + user_data
    check = fcs16(body) ^ 0xFFFF
    return bytes((BOF,)) + escape(body + struct.pack("<H", check)) + bytes((EOF,))


class MibDeframer:
    """Datagrams out of the bytes of a serial line, as they arrive in any pieces.

    Frames with a bad FCS, a wrong header or length, or an abort are dropped and counted;
    bytes outside a frame are skipped. What it buffers is bounded by :data:`MAX_FRAME`.
    """

    def __init__(self) -> None:
        self._body = bytearray()
        self._in_frame = False
        self._escaped = False
        self.rejected = 0

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for byte in data:
            if byte == BOF:
                self._start()
            elif not self._in_frame:
                continue
            elif byte == EOF:
                self._in_frame = False
                if self._escaped:
                    self.rejected += 1  # 7D C1: the sender aborted the frame
                else:
                    datagram = self._check(bytes(self._body))
                    if datagram is not None:
                        out.append(datagram)
            elif self._escaped:
                self._escaped = False
                self._add(byte ^ 0x20)
            elif byte == ESCAPE:
                self._escaped = True
            else:
                self._add(byte)
        return out

    def _start(self) -> None:
        if self._in_frame and self._body:
            self.rejected += 1  # a frame cut short by the next one
        self._body.clear()
        self._in_frame = True
        self._escaped = False

    def _add(self, byte: int) -> None:
        if len(self._body) >= MAX_FRAME:
            self.rejected += 1
            self._in_frame = False
            self._body.clear()
            return
        self._body.append(byte)

    def _check(self, body: bytes) -> bytes | None:
        if len(body) < 6 or fcs16(body) != GOOD_FCS or body[:2] != HEADER:
            self.rejected += 1
            return None
        (length,) = struct.unpack_from(">H", body, 2)
        if length != len(body) - 6:
            self.rejected += 1
            return None
        return body[4:-2]

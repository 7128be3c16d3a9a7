"""The MIB/RS-232 framing of Data Export (shared/reference/bedside-protocols.md §1.3).

A frame is ``C0 | hdr | user data | FCS | C1`` with everything between the flags made
transparent (0xC0, 0xC1 and 0x7D sent as ``7D, byte ^ 0x20``). The header is ``11 01`` and
the user data's length; the user data is exactly one UDP payload of the LAN protocol. The
FCS is PPP's FCS-16 (RFC 1662) over header and user data before escaping, sent as its
ones' complement, low byte first — so a receiver that runs the FCS over header, user data
and the two FCS bytes finds the "good" residue 0xF0B8.

:class:`Deframer` is total over bytes and bounded: bytes outside a frame, a frame that
overruns :data:`MAX_FRAME_BYTES`, a bad FCS, an abort (``7D C1``) are each counted and
dropped, and reading carries on at the next flag.
"""

from __future__ import annotations

from dataclasses import dataclass

BOF = 0xC0
EOF = 0xC1
ESCAPE = 0x7D
PROTOCOL_ID = 0x11
MESSAGE_TYPE = 0x01
MAX_FRAME_BYTES = 8192
"""Longer than any Data Export message (the MTU is 1456): more is noise."""
GOOD_FCS = 0xF0B8


def _table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        fcs = byte
        for _ in range(8):
            fcs = (fcs >> 1) ^ 0x8408 if fcs & 1 else fcs >> 1
        table.append(fcs)
    return tuple(table)


_FCS_TABLE = _table()


def fcs16(data: bytes, fcs: int = 0xFFFF) -> int:
    """PPP's FCS-16 of ``data`` (reflected polynomial 0x8408, starting at 0xFFFF)."""
    table = _FCS_TABLE
    for byte in data:
        fcs = (fcs >> 8) ^ table[(fcs ^ byte) & 0xFF]
    return fcs


def _escape(data: bytes) -> bytes:
    if not any(b in (BOF, EOF, ESCAPE) for b in data):
        return data
    out = bytearray()
    for byte in data:
        if byte in (BOF, EOF, ESCAPE):
            out += bytes((ESCAPE, byte ^ 0x20))
        else:
            out.append(byte)
    return bytes(out)


def frame(user_data: bytes) -> bytes:
    """One message as a MIB frame."""
    body = bytes((PROTOCOL_ID, MESSAGE_TYPE)) + len(user_data).to_bytes(2, "big") + user_data
    check = fcs16(body) ^ 0xFFFF
    return bytes((BOF,)) + _escape(body + check.to_bytes(2, "little")) + bytes((EOF,))


@dataclass(frozen=True, slots=True)
class BadFrame:
    """A frame that was dropped, with its bytes (journaled for inspection) and why."""

    raw: bytes
    reason: str


class Deframer:
    """Bytes from the port in, user data of good frames (or :class:`BadFrame`) out."""

    def __init__(self) -> None:
        self._body = bytearray()
        self._in_frame = False
        self._escaped = False
        self.discarded = 0
        """Bytes outside any frame (joined mid-frame, line noise)."""

    @property
    def pending(self) -> int:
        return len(self._body)

    def restart(self) -> None:
        self._body.clear()
        self._in_frame = False
        self._escaped = False

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        out: list[bytes | BadFrame] = []
        body = self._body
        for byte in data:
            if not self._in_frame:
                if byte == BOF:
                    self._in_frame = True
                    body.clear()
                else:
                    self.discarded += 1
                continue
            if self._escaped:
                self._escaped = False
                if byte == EOF:  # 7D C1: the sender aborted the frame
                    out.append(BadFrame(bytes(body), "frame aborted by the monitor (7D C1)"))
                    self._in_frame = False
                    continue
                body.append(byte ^ 0x20)
            elif byte == ESCAPE:
                self._escaped = True
                continue
            elif byte == EOF:
                self._in_frame = False
                out.append(_check(bytes(body)))
                continue
            elif byte == BOF:  # a new frame began: the one before was cut
                out.append(BadFrame(bytes(body), "frame cut short by the next frame's start"))
                body.clear()
                continue
            else:
                body.append(byte)
            if len(body) > MAX_FRAME_BYTES:
                out.append(BadFrame(bytes(body[:64]), f"frame longer than {MAX_FRAME_BYTES} bytes"))
                body.clear()
                self._in_frame = False
        return out


def _check(body: bytes) -> bytes | BadFrame:
    if len(body) < 6:
        return BadFrame(body, f"frame of {len(body)} bytes: shorter than header and FCS")
    if fcs16(body) != GOOD_FCS:
        return BadFrame(body, "FCS mismatch: the frame was damaged on the line")
    if body[0] != PROTOCOL_ID or body[1] != MESSAGE_TYPE:
        return BadFrame(body, f"header {body[:2].hex(' ')}: not a Data Export frame (11 01)")
    length = int.from_bytes(body[2:4], "big")
    if length != len(body) - 6:
        return BadFrame(body, f"header says {length} bytes of user data, {len(body) - 6} came")
    return body[4:-2]

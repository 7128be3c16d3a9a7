"""The primitive types of Data Export: big-endian integers, FLOAT, times and text.

:class:`Cursor` reads a bounded view and raises :class:`DecodeError` — the one exception of
the package — when a length points past the end, so a decoder built on it is total: any
bytes give a value or a DecodeError, never an IndexError or a struct.error.
"""

from __future__ import annotations

import datetime as dt
import math
import struct

from gateway.errors import AdapterError

NS_PER_TICK = 125_000
"""RelativeTime counts 1/8 ms (125 µs)."""

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U16x2 = struct.Struct(">HH")
_U16x3 = struct.Struct(">HHH")


class DecodeError(AdapterError):
    """A datagram that is not a Data Export message we can read, and why."""


class Cursor:
    """Reads ``data[start:end]`` front to back; every read checks the bound."""

    __slots__ = ("data", "end", "pos")

    def __init__(self, data: bytes | memoryview, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.pos = start
        self.end = len(data) if end is None else end

    @property
    def left(self) -> int:
        return self.end - self.pos

    def _need(self, n: int) -> int:
        at = self.pos
        if n < 0 or at + n > self.end:
            raise DecodeError(f"{n} bytes wanted at offset {at}, {self.end - at} left")
        self.pos = at + n
        return at

    def u8(self) -> int:
        return self.data[self._need(1)]

    def u16(self) -> int:
        return int(_U16.unpack_from(self.data, self._need(2))[0])

    def u32(self) -> int:
        return int(_U32.unpack_from(self.data, self._need(4))[0])

    def u16x2(self) -> tuple[int, int]:
        a, b = _U16x2.unpack_from(self.data, self._need(4))
        return int(a), int(b)

    def u16x3(self) -> tuple[int, int, int]:
        a, b, c = _U16x3.unpack_from(self.data, self._need(6))
        return int(a), int(b), int(c)

    def take(self, n: int) -> bytes:
        at = self._need(n)
        return bytes(self.data[at : at + n])

    def sub(self, n: int) -> Cursor:
        """A cursor over the next ``n`` bytes; this one moves past them."""
        at = self._need(n)
        return Cursor(self.data, at, at + n)

    def skip(self, n: int) -> None:
        self._need(n)


def float_value(raw: int) -> float:
    """An IntelliVue FLOAT (signed 8-bit exponent, signed 24-bit mantissa) as a float.

    The special mantissas are NaN (not a number, NRes: not at this resolution) and ±inf;
    all three are values no patient has, and the caller judges them by ``math.isfinite``.
    """
    mantissa = raw & 0xFFFFFF
    if mantissa in (0x7FFFFF, 0x800000):
        return math.nan
    if mantissa == 0x7FFFFE:
        return math.inf
    if mantissa == 0x800002:
        return -math.inf
    if mantissa & 0x800000:
        mantissa -= 0x1000000
    exponent = raw >> 24
    if exponent & 0x80:
        exponent -= 0x100
    if exponent >= 0:
        return float(mantissa * int(10**exponent))
    return mantissa / int(10**-exponent)


def _bcd(byte: int) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise DecodeError(f"0x{byte:02x} is not a BCD digit pair")
    return high * 10 + low


def absolute_time_ns(raw: bytes) -> int | None:
    """An AbsoluteTime (8 BCD bytes: century, year, month, day, h, min, s, 1/100 s) in
    UTC ns, or None when the monitor sent none (all 0xFF). The monitor's clock is local
    time with no zone; it is read as UTC, as the rest of the gateway reads device times."""
    if len(raw) != 8:
        raise DecodeError(f"an absolute time is 8 bytes, not {len(raw)}")
    if raw == b"\xff" * 8:
        return None
    century, year, month, day, hour, minute, second, hundredths = (_bcd(b) for b in raw)
    try:
        when = dt.datetime(century * 100 + year, month, day, hour, minute, second, tzinfo=dt.UTC)
    except ValueError as exc:
        raise DecodeError(f"absolute time {raw.hex(' ')}: {exc}") from None
    return int(when.timestamp()) * 1_000_000_000 + hundredths * 10_000_000


def text(raw: bytes) -> str:
    """A String attribute's bytes (UTF-16BE, NUL-terminated, maybe a byte-order mark)."""
    if len(raw) % 2:
        raw = raw[:-1]
    decoded = raw.decode("utf-16-be", errors="replace")
    return decoded.lstrip("\ufeff").split("\x00", 1)[0].strip()


def ascii_text(raw: bytes) -> str:
    """An octet-string attribute's text (ID_MODEL, PROD_SPECN): printable ASCII up to NUL."""
    decoded = raw.split(b"\x00", 1)[0].decode("ascii", errors="replace")
    return "".join(ch for ch in decoded if ch.isprintable()).strip()


def string_attribute(raw: bytes) -> str:
    """A String attribute's value (u16 length, then UTF-16BE): its text, '' when absent."""
    if len(raw) < 2:
        return ""
    cursor = Cursor(raw)
    return text(cursor.take(min(cursor.u16(), cursor.left)))

"""GE S/5 Computer Interface on the wire: frames, the Datex-Ohmeda record header, requests.

A frame is ``7E | escaped(record + checksum) | 7E``: inside it ``7E`` is sent as ``7D 5E``
and ``7D`` as ``7D 5D`` (the byte with bit 5 cleared, after a ``7D``); the checksum is the
8-bit sum of the record's bytes before escaping, and is escaped like them. A record is
little-endian and packed: a 40-byte header (``r_len`` — the whole record — ``r_nbr``,
``dri_level``, ``plug_id``, ``r_time``, three reserved fields, ``r_maintype``, and eight
subrecord descriptors ``{offset i16, type u8}``, the list ended by type ``FF``), then a data
area of at most 1450 bytes where the descriptors' offsets point (M1017617 §2, 8005313 §2.2,
in shared/reference/bedside-protocols.md §2).

:class:`FrameSplitter` cuts a byte stream into frames (total over bytes, bounded);
:func:`parse_record` reads one unescaped frame into a :class:`Record`; the ``*_request``
functions build the only records the gateway ever sends — requests to start or stop the
transmission of displayed values, waves and alarms. Nothing here knows what the data mean.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from gateway.errors import ParseError

FLAG = 0x7E
ESCAPE = 0x7D
FLIP = 0x20
HEADER = struct.Struct("<hBBHIBBHh")
DESCRIPTOR = struct.Struct("<hB")
HEADER_BYTES = HEADER.size + 8 * DESCRIPTOR.size
assert HEADER_BYTES == 40
MAX_DATA_BYTES = 1450
MAX_RECORD_BYTES = HEADER_BYTES + MAX_DATA_BYTES
MAX_FRAME_BYTES = 2 * (MAX_RECORD_BYTES + 1)
"""The longest escaped frame body: every byte of a full record and its checksum escaped."""
END_OF_LIST = 0xFF

# Main types (r_maintype).
PHDB = 0
WAVE = 1
ALARM = 4
NETWORK = 5

# Physiological data requests (DRI_MT_PHDB, subrecord 0: dri_phdb_req).
DISPLAYED = 1
TREND_10S = 2
TREND_60S = 3
CLASS_BASIC = 0x0000
CLASS_EXT1 = 0x0002
CLASS_EXT2 = 0x0004
CLASS_EXT3 = 0x0008
MIN_INTERVAL_S = 5
"""The monitor sends displayed values at most every 5 s."""

# Wave requests (DRI_MT_WAVE, subrecord 0: wf_req).
WAVE_START = 0
WAVE_STOP = 1
MAX_WAVES = 8
MAX_SAMPLES_PER_S = 600
"""What the monitor sends at most over a 19200-baud line, all waves together."""

# Alarm requests (DRI_MT_ALARM, subrecord 0: al_tx_cmd), CARESCAPE only.
ALARM_STATUS_ONCE = 0
ALARM_ENTER_DIFFMODE = 2
ALARM_EXIT_DIFFMODE = 3


@dataclass(frozen=True, slots=True)
class Record:
    """One Datex-Ohmeda record: its header fields and its subrecords, in order."""

    number: int
    dri_level: int
    plug_id: int
    time_s: int
    maintype: int
    subrecords: tuple[tuple[int, bytes], ...]
    """Each subrecord's type and bytes (from its offset to the next one's, or the end)."""


def checksum(record: bytes) -> int:
    """The 8-bit sum of the record's bytes (before escaping)."""
    return sum(record) & 0xFF


def escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e")


def unescape(body: bytes) -> bytes:
    """A frame body without its escapes. Raises ParseError for a lone or bad escape."""
    if ESCAPE not in body:
        return body
    out = bytearray()
    pending = False
    for byte in body:
        if pending:
            if byte not in (0x5D, 0x5E):
                raise ParseError(f"escape 7D followed by {byte:02X}: a damaged frame")
            out.append(byte | FLIP)
            pending = False
        elif byte == ESCAPE:
            pending = True
        else:
            out.append(byte)
    if pending:
        raise ParseError("frame ends in an escape: a damaged frame")
    return bytes(out)


def frame(record: bytes) -> bytes:
    """A record as it goes on the line: flags, escaped record and checksum."""
    return bytes((FLAG,)) + escape(record + bytes((checksum(record),))) + bytes((FLAG,))


def parse_record(body: bytes) -> Record:
    """One unescaped frame body (record + checksum). Raises ParseError for anything else."""
    if len(body) < HEADER_BYTES + 1:
        raise ParseError(f"{len(body)} bytes: shorter than a record header and its checksum")
    record, sent = body[:-1], body[-1]
    if checksum(record) != sent:
        raise ParseError(f"checksum {sent:02X}, the record sums to {checksum(record):02X}")
    length, number, level, plug, time_s, _, _, _, maintype = HEADER.unpack_from(record)
    if length != len(record):
        raise ParseError(f"r_len {length}, but the record has {len(record)} bytes")
    data = record[HEADER_BYTES:]
    listed: list[tuple[int, int]] = []
    for index in range(8):
        offset, kind = DESCRIPTOR.unpack_from(record, HEADER.size + index * DESCRIPTOR.size)
        if kind == END_OF_LIST:
            break
        if not 0 <= offset < len(data) or (listed and offset < listed[-1][0]):
            raise ParseError(f"subrecord {index} at offset {offset}: outside the data area")
        listed.append((offset, kind))
    ends = [offset for offset, _ in listed[1:]] + [len(data)]
    subrecords = tuple(
        (kind, data[offset:end]) for (offset, kind), end in zip(listed, ends, strict=True)
    )
    return Record(number, level, plug, time_s, maintype, subrecords)


def build_record(
    maintype: int,
    subrecords: Sequence[tuple[int, bytes]],
    *,
    number: int = 0,
    dri_level: int = 0,
    time_s: int = 0,
) -> bytes:
    """A record of ``maintype`` holding ``subrecords`` (type, bytes), header and all."""
    if len(subrecords) > 8:
        raise ValueError("a record holds at most 8 subrecords")
    descriptors = bytearray()
    data = bytearray()
    for kind, payload in subrecords:
        descriptors += DESCRIPTOR.pack(len(data), kind)
        data += payload
    if len(subrecords) < 8:
        descriptors += DESCRIPTOR.pack(0, END_OF_LIST)
    descriptors += bytes(8 * DESCRIPTOR.size - len(descriptors))
    length = HEADER_BYTES + len(data)
    header = HEADER.pack(length, number, dri_level, 0, time_s, 0, 0, 0, maintype)
    return header + bytes(descriptors) + bytes(data)


def displayed_values_request(interval_s: int, classes: int = CLASS_BASIC) -> bytes:
    """Displayed values every ``interval_s`` (≥ 5 s), or 0: stop (M1017617 App. A)."""
    if interval_s and interval_s < MIN_INTERVAL_S:
        raise ValueError(f"the monitor sends displayed values at most every {MIN_INTERVAL_S} s")
    request = struct.pack("<BhIh", DISPLAYED, interval_s, classes if interval_s else 0, 0)
    return build_record(PHDB, [(0, request)])


def wave_request(waves: Sequence[int]) -> bytes:
    """Start sending ``waves`` (wave type numbers), or stop every wave when empty."""
    if len(waves) > MAX_WAVES:
        raise ValueError(f"at most {MAX_WAVES} waves in one request")
    types = bytes(waves) + bytes((END_OF_LIST,)) if len(waves) < MAX_WAVES else bytes(waves)
    types += bytes(MAX_WAVES - len(types))
    command = WAVE_START if waves else WAVE_STOP
    request = struct.pack("<hh", command, 0) + types + bytes(16) + bytes(4)
    return build_record(WAVE, [(0, request)])


def alarm_request(command: int) -> bytes:
    """An alarm transmission command: status once, on every change, or no more."""
    return build_record(ALARM, [(0, struct.pack("<h", command) + bytes(10))])


class FrameSplitter:
    """A byte stream cut at its flags into frame bodies (still escaped), total over bytes.

    What comes before the first flag after a (re)start is the tail of a frame the reader
    joined mid-way: counted in :attr:`discarded`. A run longer than any frame without a
    flag is returned as an oversize body (its first :data:`MAX_FRAME_BYTES` bytes) and the
    rest up to the next flag is skipped, so what is held stays bounded.
    """

    __slots__ = ("_body", "_in_frame", "_skipping", "discarded")

    def __init__(self) -> None:
        self._body = bytearray()
        self._in_frame = False
        self._skipping = False
        self.discarded = 0

    @property
    def pending(self) -> int:
        return len(self._body)

    def restart(self) -> None:
        self._body.clear()
        self._in_frame = self._skipping = False

    def feed(self, data: bytes) -> list[tuple[bytes, bool]]:
        """Every frame body ``data`` completed, each with whether it was oversize."""
        out: list[tuple[bytes, bool]] = []
        pieces = data.split(b"\x7e")
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            if not self._in_frame or self._skipping:
                self.discarded += len(piece)
            else:
                room = MAX_FRAME_BYTES - len(self._body)
                self._body += piece[: room + 1]
                if len(self._body) > MAX_FRAME_BYTES:
                    out.append((bytes(self._body[:MAX_FRAME_BYTES]), True))
                    self.discarded += len(piece) - room
                    self._body.clear()
                    self._skipping = True
            if last:
                break
            # A flag: the end of what was gathered, and the start of the next frame.
            if self._in_frame and not self._skipping and self._body:
                out.append((bytes(self._body), False))
            self._body.clear()
            self._in_frame = True
            self._skipping = False
        return out

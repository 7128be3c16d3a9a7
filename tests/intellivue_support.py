"""Data Export messages built field by field, as a monitor sends them (for the client's tests).

Written from shared/reference/bedside-protocols.md §1 alone, apart from both the client's
codec and the simulator's, so a test that decodes these checks the client against the
reference rather than against itself.
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

CAPTURE = Path(__file__).parent / "fixtures" / "intellivue" / "connect_indication_mx450.hexdump"
"""The real MX450 frame of shared/reference/intellivue/, copied with its source note."""


def real_connect_indication() -> bytes:
    """The UDP payload of the real MX450 Connect Indication (Ethernet frame from 0x2a)."""
    lines = CAPTURE.read_text().splitlines()
    hexdump = "".join(
        " ".join(line.split()[1:17]) for line in lines if re.match(r"^[0-9a-f]{4} ", line)
    )
    return bytes.fromhex(hexdump)[0x2A:]


def u16(*values: int) -> bytes:
    return struct.pack(f">{len(values)}H", *values)


def u32(*values: int) -> bytes:
    return struct.pack(f">{len(values)}I", *values)


def flt(mantissa: int, exponent: int = 0) -> int:
    """A FLOAT from its parts (mantissa may be a special value such as 0x7FFFFF)."""
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def string(text: str) -> bytes:
    raw = text.encode("utf-16-be") + b"\x00\x00"
    return u16(len(raw)) + raw


def ava(attribute: int, value: bytes) -> bytes:
    return u16(attribute, len(value)) + value


def attributes(*avas: bytes) -> bytes:
    body = b"".join(avas)
    return u16(len(avas), len(body)) + body


MDS = u16(0x21, 0, 0)
BCD_TIME = bytes([0x20, 0x26, 0x12, 0x07, 0x08, 0x30, 0x15, 0x50])
"""2026-12-07 08:30:15.50."""


def data_export(ro_type: int, body: bytes) -> bytes:
    return b"\xe1\x00\x00\x02" + u16(ro_type, len(body)) + body


def mds_create(
    invoke: int = 1, *, system_id: bytes = bytes.fromhex("0009fbffff88c1bd"), bed: str = "Bed 12"
) -> bytes:
    model = u16(8) + b"Philips\x00" + u16(6) + b"MX450\x00"
    specn_entry = u16(1, 0) + u16(10) + b"DE12345678"
    avas = attributes(
        ava(0x0984, u16(8) + system_id),
        ava(0x0928, model),
        ava(0x092D, u16(1, len(specn_entry)) + specn_entry),
        ava(0x091E, string(bed)),
        ava(0x0987, BCD_TIME),
        ava(0x098F, u32(123456)),
    )
    argument = MDS + u32(0) + u16(0x0D06, len(avas)) + avas
    return data_export(1, u16(invoke, 1, len(argument)) + argument)


def observation(handle: int, *avas: bytes) -> bytes:
    return u16(handle) + attributes(*avas)


def poll_reply(
    invoke: int,
    obj_class: int,
    objects: list[bytes],
    *,
    linked: tuple[int, int] | None = None,
    sequence: int = 0,
    group: int = 0,
) -> bytes:
    polls = b"".join(objects)
    context = u16(0, len(objects), len(polls)) + polls
    info = u16(1, len(context)) + context
    reply = u16(1, sequence) + u32(800) + BCD_TIME + u16(1, obj_class, group) + info
    result = MDS + u16(0xF13B, len(reply)) + reply
    head = u16(invoke, 7, len(result)) + result
    if linked is None:
        return data_export(2, head)
    return data_export(5, bytes(linked) + head)


def numeric(handle: int, physio: int, value: int, *, state: int = 0, unit: int = 0x0AA0) -> bytes:
    return observation(
        handle,
        ava(0x0924, u32(0x00020000 | physio)),
        ava(0x0950, u16(physio, state, unit) + u32(value)),
    )


def compound(handle: int, parts: list[tuple[int, int]], *, state: int = 0) -> bytes:
    values = b"".join(u16(physio, state, 0x0F20) + u32(v) for physio, v in parts)
    return observation(handle, ava(0x094B, u16(len(parts), len(values)) + values))


def wave(
    handle: int,
    physio: int,
    samples: list[int],
    *,
    statics: bool = True,
    period_ticks: int = 16,
    scale: tuple[int, int, int, int] = (flt(-4096, -2), flt(4095, -2), 0, 0x3FFF),
    bits: int = 14,
    state: int = 0,
) -> bytes:
    avas = [ava(0x0924, u32(0x00020000 | physio))]
    if statics:
        avas += [
            ava(0x096D, u16(len(samples)) + bytes([16, bits]) + u16(0)),
            ava(0x096F, u32(scale[0], scale[1]) + u16(scale[2], scale[3])),
            ava(0x098D, u32(period_ticks)),
            ava(0x0996, u16(0x10B2)),
        ]
    raw = u16(*samples)
    avas.append(ava(0x096E, u16(physio, state, len(raw)) + raw))
    return observation(handle, *avas)


def alarm_entry(
    source: int, code: int, al_type: int, text: str, *, state: int = 0, instance: int = 0
) -> bytes:
    info = u16(instance) + u32(0) + u16(0, 0) + string(text)
    return u16(source, code, al_type, state) + u16(0, 0, 0) + u16(516, len(info)) + info


def alarm_list(*entries: bytes) -> bytes:
    body = b"".join(entries)
    return u16(len(entries), len(body)) + body


def alarms(patient: list[bytes], technical: list[bytes]) -> bytes:
    return observation(
        1,
        ava(0x0916, u16(0, 0, 0, 0, 0)),
        ava(0x0902, alarm_list(*patient)),
        ava(0x0904, alarm_list(*technical)),
    )

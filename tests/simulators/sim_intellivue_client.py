"""A scripted IntelliVue Data Export client for the simulator's tests: the bytes the wire
spec gives (VSCaptureMP's association request, the MDS Create result, single and extended
polls, the release request) and a small reader of what comes back.

The reader is the tests' own, written from the spec, so a test checks the simulator's
encoder against a second reading and not against itself.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

AARQ = bytes.fromhex(
    "0DFF01280508130100160102800014020002C1FF01163180A0808001010000A280A003000001A480"
    "3080020101060452010001308006025101000000003080020102060C2A8648CE1402010000000101"
    "3080060C2A8648CE140201000000020100000000000061803080020101A0806080A180060C2A8648"
    "CE14020100000003010000BE802880060C2A8648CE14020100000001010201028182008080000000"
    "400000000000000080000000200000000000000000020064000100288000000000000FA0000005B0"
    "000005B0FFFFFFFF600000000001000CF00100088E00000000000000010200340006003000010021"
    "0000000100010006000000C9000100090000003C00010005000000100001002A0000000100010036"
    "0000000100000000000000000000000000000000"
)
"""VSCaptureMP ``aarq_msg_wave_ext_poll2`` (300 bytes): min_poll_period 500 ms, MTU 1456."""
MAX_MTU_RX_AT = AARQ.index(bytes.fromhex("81820080")) + 4 + 40
RELEASE = bytes.fromhex("0918C11661803080020101A08062808001 00") + bytes(8)
ABORT_PREFIX = bytes.fromhex("192E110103C129")

NU, SA_RT, AL_MON, PT_DEMOG, MDS = 0x06, 0x09, 0x36, 0x2A, 0x21


def aarq(max_mtu_rx: int = 1456, min_poll_period: int = 0x0FA0) -> bytes:
    data = bytearray(AARQ)
    struct.pack_into(">I", data, MAX_MTU_RX_AT, max_mtu_rx)
    struct.pack_into(">I", data, MAX_MTU_RX_AT - 4, min_poll_period)
    return bytes(data)


def mds_create_result(invoke_id: int) -> bytes:
    return bytes.fromhex("E100000200020014") + struct.pack(
        ">HHH6sIHH", invoke_id, 1, 14, bytes.fromhex("002100000000"), 0, 0x0D06, 0
    )


def single_poll(obj_class: int, attr_group: int = 0, invoke_id: int = 1) -> bytes:
    return bytes.fromhex("E10000020001001C") + struct.pack(
        ">HHH6sIHHHHHH", invoke_id, 7, 0x16, bytes.fromhex("002100000000"), 0,
        0x0C16, 8, 1, 1, obj_class, attr_group,
    )  # fmt: skip


def extended_poll(
    obj_class: int, period_ticks: int | None, attr_group: int = 0, invoke_id: int = 2
) -> bytes:
    attrs = b"\x00\x00\x00\x00"
    if period_ticks is not None:
        attrs = struct.pack(">HHHHI", 1, 8, 0xF13E, 4, period_ticks)
    action = struct.pack(">HHHH", 1, 1, obj_class, attr_group) + attrs
    arg = bytes.fromhex("00210000000000000000") + struct.pack(">HH", 0xF13B, len(action)) + action
    roiv = struct.pack(">HHH", invoke_id, 7, len(arg)) + arg
    return bytes.fromhex("E1000002") + struct.pack(">HH", 1, len(roiv)) + roiv


# ------------------------------------------------------------------------ reading replies


@dataclass
class PollReply:
    ro_type: int
    linked: tuple[int, int] | None
    invoke_id: int
    action_type: int
    poll_number: int
    sequence_no: int | None
    rel_time: int
    abs_time: bytes
    obj_class: int
    attr_group: int
    objects: dict[int, dict[int, bytes]] = field(default_factory=dict)
    """obj_handle → attribute id → value."""


def read_attributes(data: bytes, at: int) -> tuple[dict[int, bytes], int]:
    count, length = struct.unpack_from(">HH", data, at)
    at += 4
    end = at + length
    out = {}
    for _ in range(count):
        attr_id, size = struct.unpack_from(">HH", data, at)
        out[attr_id] = data[at + 4 : at + 4 + size]
        at += 4 + size
    assert at == end, "attribute list length disagrees with its AVAs"
    return out, end


def read_poll_reply(data: bytes) -> PollReply:
    assert data[:4] == bytes.fromhex("E1000002")
    ro_type, length = struct.unpack_from(">HH", data, 4)
    assert length == len(data) - 8
    at = 8
    linked = None
    if ro_type == 5:
        linked = (data[8], data[9])
        at = 10
    invoke_id, command, size = struct.unpack_from(">HHH", data, at)
    assert command == 7 and size == len(data) - at - 6
    at += 6 + 6  # the MDS managed object
    action, size = struct.unpack_from(">HH", data, at)
    at += 4
    assert size == len(data) - at
    extended = action == 0xF13B
    poll_number = struct.unpack_from(">H", data, at)[0]
    at += 2
    sequence_no = None
    if extended:
        sequence_no = struct.unpack_from(">H", data, at)[0]
        at += 2
    rel_time = struct.unpack_from(">I", data, at)[0]
    abs_time = data[at + 4 : at + 12]
    partition, obj_class, group = struct.unpack_from(">HHH", data, at + 12)
    assert partition == 1
    at += 18
    reply = PollReply(
        ro_type, linked, invoke_id, action, poll_number, sequence_no, rel_time, abs_time,
        obj_class, group,
    )  # fmt: skip
    contexts, _ = struct.unpack_from(">HH", data, at)
    at += 4
    for _ in range(contexts):
        _context, count, _size = struct.unpack_from(">HHH", data, at)
        at += 6
        for _ in range(count):
            (handle,) = struct.unpack_from(">H", data, at)
            reply.objects[handle], at = read_attributes(data, at + 2)
    assert at == len(data), "trailing bytes after the poll info list"
    return reply


def read_float(word: bytes) -> float:
    (value,) = struct.unpack(">I", word)
    exponent = struct.unpack(">b", bytes([value >> 24]))[0]
    mantissa = value & 0xFFFFFF
    specials = {0x7FFFFF: float("nan"), 0x7FFFFE: float("inf"), 0x800002: float("-inf")}
    if mantissa in specials:
        return specials[mantissa]
    if mantissa & 0x800000:
        mantissa -= 1 << 24
    return float(mantissa * 10.0**exponent)


def nu_value(value: bytes) -> tuple[int, int, int, float]:
    """physio id, state, unit, value of a NuObsValue."""
    physio, state, unit = struct.unpack_from(">HHH", value)
    return physio, state, unit, read_float(value[6:10])

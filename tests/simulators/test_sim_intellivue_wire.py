"""The simulated IntelliVue's own encoding, checked field by field: the Connect Indication
shaped as the real MX450 capture, the FLOAT type and its special values, the MIB framing's
FCS and transparency."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from sim_intellivue_client import read_attributes

from simulators.intellivue import build_intellivues
from simulators.intellivue_mib import GOOD_FCS, MibDeframer, fcs16, frame
from simulators.intellivue_wire import (
    FLOAT_NRES,
    absolute_time,
    decode_request,
    float_word,
    relative_time,
    text,
)

CAPTURE = Path(__file__).parents[1] / "fixtures" / "intellivue" / "connect_indication_mx450.hexdump"


def capture_payload() -> bytes:
    lines = [line for line in CAPTURE.read_text().splitlines() if not line.startswith("#")]
    ethernet = bytes.fromhex("".join("".join(line.split()[1:]) for line in lines))
    return ethernet[0x2A:]  # the UDP payload


def indication_attributes(data: bytes) -> tuple[tuple[int, int, int, int], list[tuple[int, bytes]]]:
    """(ro_type, invoke, command, event type), then the AVAs in order."""
    assert data[:4] == b"\x00\x00\x01\x00"
    ro_type, length = struct.unpack_from(">HH", data, 4)
    assert length == len(data) - 8
    invoke_id, command, _ = struct.unpack_from(">HHH", data, 8)
    obj_class, _, _, _, event_type, info_length = struct.unpack_from(">HHHIHH", data, 14)
    assert obj_class == 0x0023
    assert info_length == len(data) - 28
    count, size = struct.unpack_from(">HH", data, 28)
    avas, at = [], 32
    for _ in range(count):
        attr_id, n = struct.unpack_from(">HH", data, at)
        avas.append((attr_id, data[at + 4 : at + 4 + n]))
        at += 4 + n
    assert at == len(data) == 32 + size
    return (ro_type, invoke_id, command, event_type), avas


def test_the_connect_indication_has_the_real_captures_attributes_in_its_shapes() -> None:
    [monitor] = build_intellivues(1, 3)
    real_header, real = indication_attributes(capture_payload())
    ours_header, ours = indication_attributes(monitor.connect_indication())
    assert real_header == ours_header == (1, 0, 0, 0x0D17)
    assert [a for a, _ in ours] == [a for a, _ in real]
    strings = {0x0928, 0x092D}  # ID_MODEL and PROD_SPECN hold our own texts
    assert [(a, len(v)) for a, v in ours if a not in strings] == [
        (a, len(v)) for a, v in real if a not in strings
    ]
    values = dict(ours)
    assert values[0x0984] == b"\x00\x08" + monitor.identity.system_id
    assert values[0x0986] == bytes.fromhex("0001114D")
    mac = monitor.identity.mac
    assert values[0xF100] == mac + bytes([127, 0, 0, 1]) + bytes.fromhex("FFFF0000")
    count, length = struct.unpack_from(">HH", values[0xF101])
    entries = [struct.unpack_from(">HHHH", values[0xF101], 4 + 8 * i) for i in range(count)]
    assert length == 8 * count
    assert (5, 1, 24105, 0) in entries  # DataOut over UDP on the session port
    model = values[0x0928]
    assert model == b"\x00\x08Philips\x00\x00\x06MX450\x00"
    count, length = struct.unpack_from(">HH", values[0x092D])
    spec_type, _component, size = struct.unpack_from(">HHH", values[0x092D], 4)
    assert (spec_type, values[0x092D][10 : 10 + size].rstrip(b"\x00").decode()) == (
        1,
        monitor.identity.serial_number,
    )


@pytest.mark.parametrize(
    ("value", "decimals", "word"),
    [
        (0.0, 0, 0x00000000),
        (72.0, 0, 0x00000048),
        (37.2, 1, 0xFF000174),
        (-1.5, 1, 0xFFFFFFF1),
        (-40.96, 2, 0xFEFFF000),
        (40.955, 3, 0xFD009FFB),
        (12345678.0, 0, 0x0112D688),  # 1234568 × 10¹: too big for 23 bits, a digit lost
        (float("nan"), 0, 0x007FFFFF),
        (float("inf"), 0, 0x007FFFFE),
        (float("-inf"), 0, 0x00800002),
    ],
)
def test_float_encoding(value: float, decimals: int, word: int) -> None:
    assert float_word(value, decimals) == word


def test_float_nres_is_its_own_special_mantissa() -> None:
    assert FLOAT_NRES == 0x00800000


def test_times_and_strings() -> None:
    assert relative_time(0.5) == 0x0FA0  # 500 ms = 4000 ticks of 125 µs
    assert absolute_time(None) == b"\xff" * 8
    stamp = absolute_time(1_700_000_000.25)
    assert stamp[0] == 0x20 and stamp[7] == 0x25  # century 20, 25 hundredths, in BCD
    assert text("HR") == b"\x00\x06\x00H\x00R\x00\x00"


def test_fcs16_of_a_known_string_and_the_good_fcs_residue() -> None:
    data = b"123456789"
    assert fcs16(data) == 0x6F91  # ~0x906E, the CRC-16/X-25 check value
    sent = struct.pack("<H", fcs16(data) ^ 0xFFFF)
    assert fcs16(data + sent) == GOOD_FCS == 0xF0B8


def test_a_frame_is_header_data_and_complemented_fcs_low_byte_first() -> None:
    data = b"\xe1\x00\x00\x02"
    body = b"\x11\x01\x00\x04" + data
    check = fcs16(body) ^ 0xFFFF
    assert frame(data) == b"\xc0" + body + bytes([check & 0xFF, check >> 8]) + b"\xc1"


def special_in_fcs() -> bytes:
    """A datagram whose FCS has an 0xC0, 0xC1 or 0x7D byte."""
    for n in range(100_000):
        data = struct.pack(">I", n)
        check = fcs16(b"\x11\x01\x00\x04" + data) ^ 0xFFFF
        if {check & 0xFF, check >> 8} & {0xC0, 0xC1, 0x7D}:
            return data
    raise AssertionError("no such datagram")


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)),
        bytes(0x7D),  # the header's length byte is 0x7D
        bytes(0xC0),
        bytes(0x1C1),  # … 0xC1
        special_in_fcs(),
    ],
)
def test_transparency_everywhere_between_the_flags(data: bytes) -> None:
    framed = frame(data)
    body = b"\x11\x01" + struct.pack(">H", len(data)) + data
    unescaped = body + struct.pack("<H", fcs16(body) ^ 0xFFFF)
    inner = framed[1:-1]
    assert b"\xc0" not in inner and b"\xc1" not in inner
    assert len(inner) == len(unescaped) + sum(b in (0xC0, 0xC1, 0x7D) for b in unescaped)
    deframer = MibDeframer()
    got = [d for byte in b"noise" + framed for d in deframer.feed(bytes([byte]))]
    assert got == [data]
    assert deframer.rejected == 0


def test_bad_fcs_and_aborted_frames_are_dropped_and_counted() -> None:
    good = frame(b"\x01\x02\x03")
    bad = good[:-2] + bytes([good[-2] ^ 1]) + good[-1:]
    aborted = good[:-1] + b"\x7d\xc1"
    deframer = MibDeframer()
    assert deframer.feed(bad + aborted + good) == [b"\x01\x02\x03"]
    assert deframer.rejected == 2


def test_truncated_or_garbled_datagrams_decode_to_none() -> None:
    for data in (b"", b"\x0d", b"\xe1\x00\x00\x02\x00", bytes(range(40)), b"\x0d\xff\x01"):
        assert decode_request(data) is None


def test_read_attributes_helper_agrees_with_lengths() -> None:
    avas, end = read_attributes(b"\x00\x01\x00\x06\x09\x24\x00\x02\xab\xcd", 0)
    assert avas == {0x0924: b"\xab\xcd"} and end == 10

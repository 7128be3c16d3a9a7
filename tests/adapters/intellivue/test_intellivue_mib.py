"""MIB/RS-232 framing: FCS-16, transparency everywhere between the flags, a total deframer."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.intellivue import mib


def test_fcs16_is_ppps() -> None:
    assert mib.fcs16(b"123456789") == 0x6F91  # RFC 1662 check value before the complement
    body = b"\x11\x01\x00\x03abc"
    sent = mib.fcs16(body) ^ 0xFFFF
    assert mib.fcs16(body + sent.to_bytes(2, "little")) == mib.GOOD_FCS


def test_a_frame_is_flags_header_data_and_complemented_fcs_low_byte_first() -> None:
    frame = mib.frame(b"\x01\x02")
    body = b"\x11\x01\x00\x02\x01\x02"
    fcs = (mib.fcs16(body) ^ 0xFFFF).to_bytes(2, "little")
    assert frame == b"\xc0" + body + fcs + b"\xc1"


def test_transparency_covers_the_header_length_and_the_fcs() -> None:
    user = bytes(0xC0)  # length 0x00C0: the header itself holds a flag byte
    frame = mib.frame(user)
    assert frame[:6] == bytes.fromhex("c0 11 01 00 7d e0".replace(" ", ""))
    for payload in (bytes([n]) * 3 for n in range(256)):
        fcs = (mib.fcs16(b"\x11\x01\x00\x03" + payload) ^ 0xFFFF).to_bytes(2, "little")
        if set(fcs) & {0xC0, 0xC1, 0x7D}:
            framed = mib.frame(payload)
            assert not set(framed[1:-1]) & {0xC0, 0xC1}
            assert mib.Deframer().feed(framed) == [payload]
            break
    else:
        raise AssertionError("no FCS with a flag byte in 256 payloads")
    special = bytes([0xC0, 0xC1, 0x7D, 0x00])
    assert mib.frame(special)[5:11] == bytes.fromhex("7de07de17d5d")
    assert mib.Deframer().feed(mib.frame(special)) == [special]


def test_the_deframer_recovers_from_noise_cut_frames_aborts_and_bad_fcs() -> None:
    good = mib.frame(b"hello")
    damaged = bytearray(good)
    damaged[6] ^= 0x01
    aborted = good[:5] + b"\x7d\xc1"
    out = mib.Deframer().feed(b"noise" + good[:7] + aborted + bytes(damaged) + good)
    kinds = [item if isinstance(item, bytes) else item.reason.split(":")[0] for item in out]
    assert kinds == [
        "frame cut short by the next frame's start",
        "frame aborted by the monitor (7D C1)",
        "FCS mismatch",
        b"hello",
    ]


def test_bytes_arriving_one_at_a_time_give_the_same_frames() -> None:
    stream = b"".join(mib.frame(bytes([n, 0xC0, 0x7D])) for n in range(5))
    deframer = mib.Deframer()
    got = list(itertools.chain.from_iterable(deframer.feed(bytes([b])) for b in stream))
    assert got == [bytes([n, 0xC0, 0x7D]) for n in range(5)]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=3000), max_size=8))
def test_any_bytes_give_frames_or_bad_frames_and_memory_stays_bounded(chunks: list[bytes]) -> None:
    deframer = mib.Deframer()
    for chunk in chunks:
        for item in deframer.feed(chunk):
            assert isinstance(item, (bytes, mib.BadFrame))
        assert deframer.pending <= mib.MAX_FRAME_BYTES

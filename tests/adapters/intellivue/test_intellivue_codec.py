"""The Data Export codec: the real capture, FLOAT, times, every message the client sends."""

from __future__ import annotations

import contextlib
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from intellivue_support import (
    MDS,
    data_export,
    flt,
    mds_create,
    numeric,
    poll_reply,
    real_connect_indication,
    u16,
    u32,
)

from adapters.intellivue import ids, pdu
from adapters.intellivue.wire import DecodeError, absolute_time_ns, float_value, text


def test_the_real_connect_indication_decodes_field_by_field() -> None:
    message = pdu.decode(real_connect_indication())
    assert message == pdu.ConnectIndication(
        system_id=bytes.fromhex("0009fbffff88c1bd"),
        manufacturer="Philips",
        model="866062",
        serial="DE351A4061",
        address="192.168.247.101",
        session_port=24105,
    )


def test_the_real_indication_truncated_anywhere_is_a_decode_error() -> None:
    payload = real_connect_indication()
    for cut in range(len(payload)):
        with pytest.raises(DecodeError):
            pdu.decode(payload[:cut])


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (flt(720), 720.0),
        (flt(985, -1), 98.5),
        (flt(-4096, -2), -40.96),
        (flt(5, 2), 500.0),
        (flt(-1), -1.0),
        (flt(0x7FFFFF), math.nan),  # NaN
        (flt(0x800000), math.nan),  # NRes
        (flt(0x7FFFFE), math.inf),
        (flt(0x800002), -math.inf),
    ],
)
def test_float_values(raw: int, value: float) -> None:
    got = float_value(raw)
    if math.isnan(value):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(value)


def test_bcd_absolute_time() -> None:
    raw = bytes([0x20, 0x26, 0x12, 0x07, 0x08, 0x30, 0x15, 0x50])
    assert absolute_time_ns(raw) == 1796632215_500_000_000
    assert absolute_time_ns(b"\xff" * 8) is None
    with pytest.raises(DecodeError):
        absolute_time_ns(bytes([0x20, 0x26, 0x1A, 0x07, 0, 0, 0, 0]))  # not BCD
    with pytest.raises(DecodeError):
        absolute_time_ns(bytes([0x20, 0x26, 0x13, 0x07, 0, 0, 0, 0]))  # month 13


def test_text_is_utf16_up_to_its_nul_and_without_a_byte_order_mark() -> None:
    assert text("\ufeffBed 12".encode("utf-16-be") + b"\x00\x00junk") == "Bed 12"


def test_the_association_request_is_the_published_one_with_our_poll_period() -> None:
    request = pdu.association_request(4000)
    assert len(request) == 300
    assert request[:4] == bytes.fromhex("0dff0128")  # CN, 296 bytes follow
    user = request.index(bytes.fromhex("81820080")) + 4
    assert request[user : user + 20] == u32(0x80000000, 0x40000000, 0, 0x80000000, 0x20000000)
    assert request[user + 36 : user + 40] == u32(4000)  # 500 ms: the monitor's time-out follows
    assert request[-16:] == bytes(16)
    assert pdu.decode(request) == pdu.SessionPdu(ids.SPDU_CONNECT)


def test_the_mds_create_result_echoes_the_event() -> None:
    result = pdu.event_result(7, ids.EVT_MDS_CREATE, 0x0ABD00)
    assert result == bytes.fromhex(
        "e1000002 00020014 00070001000e 002100000000 000abd00 0d06 0000".replace(" ", "")
    )


def test_polls_are_the_published_requests() -> None:
    # VSCaptureMP's ext_poll_request_msg5: numerics for 30 s (240000 ticks).
    assert pdu.poll_extended(1, 1, ids.MOC_NU, 0, 240000) == bytes.fromhex(
        "e100000200010028000100070022002100000000000000 00f13b00140001000100060000000100"
        "08f13e0004 0003a980".replace(" ", "")
    )
    # poll_mds_request_msg: a single poll of the MDS (our keep-alive).
    assert pdu.poll(0, 1, ids.MOC_MDS) == bytes.fromhex(
        "e10000020001001c00000007001600210000000000000000 0c16000800010001 00210000".replace(
            " ", ""
        )
    )


def test_mds_create_and_poll_replies_decode() -> None:
    event = pdu.decode(mds_create(5))
    assert isinstance(event, pdu.MdsCreate)
    assert (event.invoke_id, event.confirmed) == (5, True)
    assert pdu.system_id(event.attributes) == bytes.fromhex("0009fbffff88c1bd")
    reply = pdu.decode(poll_reply(3, ids.MOC_NU, [numeric(10, 0x4182, flt(72))], linked=(1, 1)))
    assert isinstance(reply, pdu.PollReply)
    assert (reply.invoke_id, reply.obj_class, reply.linked, reply.extended) == (3, 6, (1, 1), True)
    assert [obj.handle for obj in reply.objects] == [10]


def test_a_remote_error_and_unknown_operations_are_typed() -> None:
    assert pdu.decode(data_export(3, u16(4, 2, 0))) == pdu.RemoteError(4, 2)
    get_result = data_export(2, u16(4, 3, 10) + MDS + u16(0, 0))
    assert isinstance(pdu.decode(get_result), pdu.Other)
    with pytest.raises(DecodeError):
        pdu.decode(data_export(9, b""))


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_message_or_a_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        pdu.decode(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_a_real_message_with_any_bytes_changed_never_raises_otherwise(data: st.DataObject) -> None:
    base = bytearray(
        data.draw(
            st.sampled_from(
                [
                    real_connect_indication(),
                    mds_create(),
                    poll_reply(1, ids.MOC_NU, [numeric(1, 0x4182, flt(60))]),
                ]
            )
        )
    )
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(base) - 1))
        base[at] = data.draw(st.integers(0, 255))
    with contextlib.suppress(DecodeError):
        pdu.decode(bytes(base))

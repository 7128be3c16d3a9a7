"""GE S/5 framing and request records against the vendor's published bytes (M1017617
Appendix A, transcribed in shared/reference/bedside-protocols.md §2.2): the checksum over
the unescaped record, the checksum byte escaped itself, the request layouts, and the
frame splitter over any cut of the stream."""

from __future__ import annotations

import pytest

from adapters.serial import ge_s5_wire as wire
from gateway.errors import ParseError

# "Request displayed values every 10 s (all classes)", byte for byte as published.
DISPLAYED_EVERY_10S = bytes.fromhex(
    "7e 31 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 00 00 00 ff 00 00 00 00 00 00 00 00 00"
    " 00 00 00 00 00 00 00 00 00 01 0a 00 0e 00 00 00"
    " 00 00 49 7e"
)


def published_variant(tail: bytes, checksum: bytes) -> bytes:
    """The published request with its 9 request bytes and checksum replaced, as the
    specification describes the stop and trend variants."""
    return DISPLAYED_EVERY_10S[:41] + tail + checksum + b"\x7e"


def test_the_displayed_values_request_is_the_vendors_example_byte_for_byte() -> None:
    request = wire.displayed_values_request(10, wire.CLASS_EXT1 | wire.CLASS_EXT2 | wire.CLASS_EXT3)
    assert wire.frame(request) == DISPLAYED_EVERY_10S
    assert len(request) == 0x31


def test_the_stop_request_is_the_vendors_example() -> None:
    stop = published_variant(bytes.fromhex("01 00 00 00 00 00 00 00 00"), b"\x31")
    assert wire.frame(wire.displayed_values_request(0)) == stop


def test_a_checksum_of_7d_is_sent_escaped_as_the_vendors_trend_example_shows() -> None:
    trend = published_variant(bytes.fromhex("03 3c 00 0e 00 00 00 00 00"), b"\x7d\x5d")
    body = trend[1:-1]
    record = wire.parse_record(wire.unescape(body))
    assert wire.checksum(wire.unescape(body)[:-1]) == 0x7D
    assert record.maintype == wire.PHDB and record.subrecords[0][1][0] == wire.TREND_60S
    rebuilt = wire.build_record(wire.PHDB, [(0, trend[41:50])])
    assert wire.frame(rebuilt) == trend


def test_the_wave_request_is_a_72_byte_record_listing_its_waves() -> None:
    record = wire.wave_request((1,))
    assert len(record) == 72 and record[:2] == b"\x48\x00"
    parsed = wire.parse_record(record + bytes((wire.checksum(record),)))
    [(kind, payload)] = parsed.subrecords
    assert (parsed.maintype, kind) == (wire.WAVE, 0)
    assert payload[:4] == b"\x00\x00\x00\x00" and payload[4:6] == b"\x01\xff"


def test_a_wave_stop_and_the_alarm_commands_have_their_published_codes() -> None:
    stop = wire.wave_request(())
    assert stop[40:42] == b"\x01\x00"  # req_type 1: stop
    assert wire.alarm_request(wire.ALARM_ENTER_DIFFMODE)[40:42] == b"\x02\x00"
    assert wire.alarm_request(wire.ALARM_EXIT_DIFFMODE)[40:42] == b"\x03\x00"
    assert len(wire.alarm_request(0)) == 40 + 12


def test_displayed_values_faster_than_every_5_s_cannot_be_requested() -> None:
    with pytest.raises(ValueError, match="5 s"):
        wire.displayed_values_request(4)


@pytest.mark.parametrize("data", [b"", b"\x7e", b"\x7d", b"\x7e\x7d\x7e\x7d", bytes(range(256))])
def test_escaping_round_trips_and_leaves_no_flag_inside(data: bytes) -> None:
    escaped = wire.escape(data)
    assert b"\x7e" not in escaped
    assert wire.unescape(escaped) == data


@pytest.mark.parametrize("body", [b"ab\x7d", b"\x7d\x41"])
def test_a_damaged_escape_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(ParseError, match="escape"):
        wire.unescape(body)


def test_a_record_whose_sum_or_length_is_wrong_is_a_parse_error() -> None:
    record = wire.displayed_values_request(5)
    good = record + bytes((wire.checksum(record),))
    assert wire.parse_record(good).maintype == wire.PHDB
    with pytest.raises(ParseError, match="checksum"):
        wire.parse_record(good[:-1] + bytes(((good[-1] + 1) % 256,)))
    longer = record + b"\x00"  # r_len still says 0x31
    with pytest.raises(ParseError, match="r_len"):
        wire.parse_record(longer + bytes((wire.checksum(longer),)))
    with pytest.raises(ParseError, match="shorter"):
        wire.parse_record(b"\x00" * 10)


@pytest.mark.parametrize("chunk", [1, 2, 7, 53, 1000])
def test_the_splitter_finds_every_frame_in_any_cut_of_the_stream(chunk: int) -> None:
    frames = [wire.frame(wire.displayed_values_request(s)) for s in (5, 0, 10)] + [
        wire.frame(wire.wave_request((1, 8)))
    ]
    stream = b"\x12\x34 tail of an earlier frame" + b"".join(frames)
    splitter = wire.FrameSplitter()
    bodies = []
    for at in range(0, len(stream), chunk):
        bodies += splitter.feed(stream[at : at + chunk])
    assert [b"\x7e" + body + b"\x7e" for body, _ in bodies] == frames
    assert splitter.discarded == len(b"\x12\x34 tail of an earlier frame")
    assert splitter.pending == 0


def test_a_run_without_flags_is_cut_at_the_longest_frame_and_memory_stays_bounded() -> None:
    splitter = wire.FrameSplitter()
    out = splitter.feed(b"\x7e" + b"\x00" * (3 * wire.MAX_FRAME_BYTES))
    assert [(len(body), oversize) for body, oversize in out] == [(wire.MAX_FRAME_BYTES, True)]
    assert splitter.pending == 0
    frame = wire.frame(wire.displayed_values_request(5))
    assert splitter.feed(b"\x00\x7e" + frame) == [(frame[1:-1], False)]

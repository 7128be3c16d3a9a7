"""MLLP framing, tested from bytes (no sockets): tolerant in, strict out."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame

MSG_A = b"MSH|^~\\&|A\rPID|||1\r"
MSG_B = b"MSH|^~\\&|B\rPID|||2\r"


def test_frame_wraps_message_in_start_and_end_blocks() -> None:
    assert frame(b"X") == b"\x0bX\x1c\x0d"


def test_several_frames_in_one_read_come_out_in_order() -> None:
    framer = MllpFramer()
    assert framer.feed(frame(MSG_A) + frame(MSG_B)) == [MSG_A, MSG_B]


def test_a_frame_split_over_many_reads_is_reassembled() -> None:
    framer = MllpFramer()
    wire = frame(MSG_A)
    out: list[bytes | OversizeFrame] = []
    for i in range(len(wire)):
        out += framer.feed(wire[i : i + 1])
    assert out == [MSG_A]
    assert framer.pending == 0


def test_noise_between_frames_is_discarded_and_counted() -> None:
    framer = MllpFramer()
    out = framer.feed(b"\r\n\x0cjunk" + frame(MSG_A) + b"\x0c" + frame(MSG_B))
    assert out == [MSG_A, MSG_B]
    assert framer.discarded == len(b"\r\n\x0cjunk") + 1


def test_missing_trailing_carriage_return_is_tolerated() -> None:
    framer = MllpFramer()
    assert framer.feed(b"\x0b" + MSG_A + b"\x1c\x0b" + MSG_B + b"\x1c") == [MSG_A, MSG_B]


def test_oversize_frame_is_reported_once_and_never_buffered() -> None:
    framer = MllpFramer(max_frame_bytes=1024)
    big = b"MSH|" + b"x" * 5000
    out: list[bytes | OversizeFrame] = []
    wire = frame(big) + frame(MSG_A)
    for i in range(0, len(wire), 100):
        out += framer.feed(wire[i : i + 100])
        assert framer.pending <= 1024
    assert out == [OversizeFrame(len(big)), MSG_A]


def test_a_new_start_block_abandons_the_unfinished_frame() -> None:
    framer = MllpFramer()
    assert framer.feed(b"\x0bMSH|half" + frame(MSG_A)) == [MSG_A]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=20), st.integers(min_value=1, max_value=50))
def test_any_byte_stream_gives_frames_within_the_cap(chunks: list[bytes], cap: int) -> None:
    framer = MllpFramer(max_frame_bytes=cap)
    for chunk in chunks:
        for item in framer.feed(chunk):
            if isinstance(item, bytes):
                assert len(item) <= cap
                assert b"\x0b" not in item and b"\x1c" not in item
            else:
                assert item.size > cap
        assert framer.pending <= cap


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\x0b", b"").replace(b"\x1c", b""))),
    st.integers(min_value=1, max_value=97),
)
def test_frames_survive_any_split_of_the_stream(messages: list[bytes], step: int) -> None:
    wire = b"".join(frame(m) for m in messages)
    framer = MllpFramer()
    out: list[bytes | OversizeFrame] = []
    for i in range(0, len(wire), step):
        out += framer.feed(wire[i : i + step])
    assert out == messages


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.binary(max_size=40).map(frame),
            st.sampled_from([b"\x0b", b"\x1c", b"\r", b"\x1c\r", b"\x0b\x1c\r"]),
        ),
        max_size=6,
    ).map(b"".join),
    st.integers(min_value=1, max_value=60),
)
def test_a_read_is_cut_into_the_same_frames_whole_or_byte_by_byte(data: bytes, cap: int) -> None:
    whole = MllpFramer(max_frame_bytes=cap)
    by_byte = MllpFramer(max_frame_bytes=cap)
    expected: list[bytes | OversizeFrame] = []
    for i in range(len(data)):
        expected += by_byte.feed(data[i : i + 1])
    assert whole.feed(data) == expected
    assert (whole.discarded, whole.pending) == (by_byte.discarded, by_byte.pending)

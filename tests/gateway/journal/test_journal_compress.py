"""A bundle's zlib stream: what ``zlib.decompress`` reads back, whatever the bytes, with a
window no larger than the bytes need (the cost of a small commit is the window's set-up)."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import strategies as st

from gateway.journal.schema import compress


@given(data=st.binary(max_size=5000) | st.binary(max_size=80).map(lambda b: b * 900))
def test_any_bytes_come_back_from_a_bundle_stream(data: bytes) -> None:
    for level in (1, 6):
        stream = compress(data, level)
        assert zlib.decompress(stream) == data
        window = 1 << ((stream[0] >> 4) + 8)  # CINFO of the zlib header (RFC 1950)
        assert window <= max(512, 2 * len(data))


def test_a_commit_of_one_message_compresses_as_well_as_with_the_whole_window() -> None:
    message = b"".join(b"OBX|%d|NM|150456^PLETH^MDC||%d|%%|||||R\r" % (n, n % 7) for n in range(60))
    assert len(compress(message)) <= len(zlib.compress(message, 1)) + 8
    big = message * 40  # past 32 KiB: the whole window
    assert compress(big)[0] >> 4 == 7

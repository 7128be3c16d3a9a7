"""A message's part of a bundle (schema 3) gives back every received byte and every sample
bit for bit, whatever the bytes and the floats; the samples' text is folded only where it
renders back exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gateway.journal.parts import FLOAT32, INT16_DELTAS, decode_part, encode_part, part_size

floats32 = arrays(np.float32, st.integers(0, 40), elements=st.floats(width=32))


@given(raw=st.binary(max_size=300), chunks=st.lists(floats32, max_size=3))
def test_any_bytes_and_floats_come_back_bit_for_bit(raw: bytes, chunks: list[np.ndarray]) -> None:
    data = [c.astype("<f4").tobytes() for c in chunks]
    part = encode_part(raw, data, b'[["x"]]')
    back, samples, reports = decode_part(b"pad" + part, 3)
    assert back == raw
    assert [s.astype("<f4").tobytes() for s in samples] == data
    assert reports == b'[["x"]]'
    assert part_size(part) == len(part)


@given(
    ints=st.lists(st.integers(-20000, 20000), min_size=1, max_size=60),
    decimals=st.integers(0, 4),
    text_decimals=st.integers(0, 2),
)
def test_samples_as_decimal_text_are_folded_and_rendered_back(
    ints: list[int], decimals: int, text_decimals: int
) -> None:
    digits = decimals + text_decimals
    values = (np.array(ints, dtype=np.float64) / 10.0**decimals).astype(np.float32)
    text = "^".join(f"{float(v):.{digits}f}" for v in np.array(ints) / 10.0**decimals)
    raw = f"OBX|1|NA|131330^ECG^MDC|1.1.1.1|{text}|mV|||||R\r".encode()
    part = encode_part(raw, [values.tobytes()], None)
    back, (samples,), reports = decode_part(part)
    assert back == raw and reports is None
    assert samples.tobytes() == values.tobytes()


def test_a_wave_in_its_message_takes_its_samples_once() -> None:
    ints = np.round(np.sin(np.arange(250) / 10) * 200).astype(np.int64)
    values = (ints / 1000).astype(np.float32)
    text = "^".join(f"{k / 1000:.3f}" for k in ints)
    raw = f"MSH|^~\\&|MON\rOBX|1|NA|131330^ECG^MDC|1.1.1.1|{text}|mV|||||R\r".encode()
    part = encode_part(raw, [values.tobytes()], None)
    assert len(part) < len(raw) // 2  # the text is cut out: int16 deltas remain
    assert part[16:17] != b""  # a folded run is noted
    assert decode_part(part)[0] == raw


def test_samples_no_decimal_gives_back_keep_their_float_bytes() -> None:
    odd = np.array([0.1, np.nan, -0.0, 1e-30, np.inf], dtype=np.float32)
    exact = np.array([0.25, -0.5, 3.0], dtype=np.float32)
    part = encode_part(b"", [odd.tobytes(), exact.tobytes()], None)
    _, (first, second), _ = decode_part(part)
    assert first.tobytes() == odd.tobytes() and second.tobytes() == exact.tobytes()
    header = 14  # lengths, no folds
    assert part[header] == FLOAT32
    assert part[header + 6 + 4 * odd.size] == INT16_DELTAS

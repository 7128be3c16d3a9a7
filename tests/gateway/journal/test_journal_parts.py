"""A message's part of a bundle (schema 3) gives back every received byte and every sample
bit for bit, whatever the bytes and the floats; the samples' text is folded only where it
renders back exactly."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gateway.journal import parts
from gateway.journal.parts import (
    FLOAT32,
    INT16_DELTAS,
    INT16_DELTAS_SIGNED,
    INT32_DELTAS_SIGNED,
    decode_part,
    encode_part,
    part_size,
)

floats32 = arrays(np.float32, st.integers(0, 40), elements=st.floats(width=32))


@given(raw=st.binary(max_size=300), chunks=st.lists(floats32, max_size=3))
def test_any_bytes_and_floats_come_back_bit_for_bit(raw: bytes, chunks: list[np.ndarray]) -> None:
    data = [c.astype("<f4").tobytes() for c in chunks]
    part = encode_part(raw, data, b'[["x"]]')
    back, samples, reports = decode_part(b"pad" + part, 3)
    assert back == raw
    _, again, same = decode_part(b"pad" + part, 3, raw=False)  # reports and samples alone
    assert [s.tobytes() for s in again] == [s.tobytes() for s in samples] and same == reports
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


@given(
    ints=st.lists(st.integers(-3, 3) | st.integers(-(2**20), 2**20), min_size=1, max_size=80),
    negative=st.lists(st.booleans(), min_size=80, max_size=80),
    decimals=st.integers(0, 3),
    text_decimals=st.integers(0, 2),
)
def test_negative_zeros_are_integers_marked_and_their_text_folded(
    ints: list[int], negative: list[bool], decimals: int, text_decimals: int
) -> None:
    # What a monitor sending "-0.000" gives: float32 -0.0 among integers of a resolution.
    wide = np.array(ints, dtype=np.float64) / 10.0**decimals
    marks = np.array(negative[: len(ints)]) & (wide == 0)
    wide[marks] = -0.0
    values = wide.astype(np.float32)
    digits = decimals + text_decimals
    text = "^".join(f"{v:.{digits}f}" for v in wide)  # -0.0 as "-0.000", as a device sends
    raw = f"OBX|1|NA|131330^ECG^MDC|1.1.1.1|{text}|mV|||||R\r".encode()
    part = encode_part(raw, [values.tobytes()], b"[]")
    back, (samples,), _ = decode_part(part)
    assert back == raw
    assert samples.tobytes() == values.tobytes()  # bit for bit: -0.0 stays -0.0
    stored, _, _, folds = struct.unpack_from("<IIIH", part)  # the part's header
    kind = part[14 + 8 * folds + stored]
    assert kind != FLOAT32
    assert (kind in (INT16_DELTAS_SIGNED, INT32_DELTAS_SIGNED)) == bool(marks.any())
    assert folds == 1
    if len(ints) > 1:  # (one value alone may fold a shorter rendering: "0" of "0.0")
        assert stored == len(raw) - len(text)  # the text was cut out


def test_a_bench_ecg_with_negative_zeros_is_kept_as_integers() -> None:
    ints = np.round(np.sin(np.arange(250) / 7) * 3).astype(np.int64)  # many zeros
    values = (ints * 0.005).astype(np.float32)
    values[::2][values[::2] == 0] = np.float32(-0.0)
    assert np.signbit(values[values == 0]).any()
    text = "^".join(f"{float(v):.3f}" for v in values)
    assert "-0.000" in text
    raw = f"OBX|1|NA|131330^ECG^MDC|1.1.1.1|{text}|mV|||||R\r".encode()
    part = encode_part(raw, [values.tobytes()], None)
    # Header, fold note, the bytes around the text, chunk header, -0.0 bitmap, int16 deltas.
    assert len(part) == 14 + 8 + (len(raw) - len(text)) + 6 + 250 // 8 + 1 + 250 * 2
    assert part[14 + 8 + len(raw) - len(text)] == INT16_DELTAS_SIGNED
    back, (samples,), _ = decode_part(part)
    assert back == raw and samples.tobytes() == values.tobytes()


def test_a_fold_whose_stored_samples_would_not_render_it_back_is_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The check before a part is kept reads the run's integers from the samples as stored,
    # as a reader does: were they to come back other than the ones rendered, the text
    # stays as received (one off here: what a wrong delta width would give).
    ints = np.arange(-40, 40, 3, dtype=np.int64)
    values = (ints / 100).astype(np.float32)
    text = "^".join(f"{k / 100:.2f}" for k in ints)
    raw = f"OBX|1|NA|150456^PLETH^MDC|1.1.1.1|{text}|%|||||R\r".encode()
    assert struct.unpack_from("<IIIH", encode_part(raw, [values.tobytes()], None))[3] == 1
    read = parts._integers
    monkeypatch.setattr(parts, "_integers", lambda *a: ([k + 1 for k in read(*a)[0]], 2))
    part = encode_part(raw, [values.tobytes()], None)
    stored, _, _, folds = struct.unpack_from("<IIIH", part)
    assert folds == 0 and stored == len(raw)
    monkeypatch.undo()
    back, (samples,), _ = decode_part(part)
    assert back == raw and samples.tobytes() == values.tobytes()

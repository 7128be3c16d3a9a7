"""A message's part of a bundle in journal schema 3: its bytes as received, its waveform
samples and its decoded reports, in few bytes and every one of them recoverable exactly.

A part is a header, then the message's *stored* bytes, its samples, its reports JSON:

- **samples**, per waveform chunk in the reports' order: a kind byte and a decimals byte,
  then the chunk's data. Where each float32 sample is exactly ``float32(k / 10**d)`` for
  an integer ``k`` (what a monitor's fixed resolution gives: mV to 3 decimals, counts), the
  chunk is kept as the differences of those integers (int16, or int32 when one does not
  fit), which compress far better than floats; anything else — NaN, -0.0, a value no
  decimal gives back bit for bit — keeps its float32 bytes as they were. Checked chunk by
  chunk when written: a precision lost silently is impossible by construction.
- **stored bytes**: the bytes as received, but where they hold a chunk's samples as text —
  the decimal renderings of its integers, with ``td`` decimals, joined by one separator
  byte (ER7's ``0.150^0.155^…``) — that run is cut out and its place noted
  (:data:`_FOLD`), since the samples already say it. Putting the rendering back at the
  noted places gives every received byte again; the writer checks it does before it keeps
  a part (:func:`encode_part`).

This module knows nothing of HL7 beyond "a number rendered as decimal text"; a run it does
not find is simply kept as received. It must not touch the file.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from gateway.errors import JournalError

_HEADER = struct.Struct("<IIIH")
"""Stored bytes, samples and reports JSON lengths; how many folded runs."""
_FOLD = struct.Struct("<IHBB")
"""A run cut out of the stored bytes: where (in the stored bytes), which chunk, its text's
decimals and its separator byte."""
_CHUNK = struct.Struct("<BBI")
"""A chunk's kind, decimals and number of samples."""
FLOAT32, INT16_DELTAS, INT32_DELTAS = range(3)
MAX_DECIMALS = 6
_INT32_LIMIT = 1 << 31


def encode_part(raw: bytes, chunks: Sequence[bytes], reports: bytes | None) -> bytes:
    """The part of a message: ``raw`` as received, ``chunks`` the float32 (little-endian)
    samples of each waveform chunk, ``reports`` its reports JSON (None: none)."""
    samples = []
    folds: list[tuple[int, int, int, int, bytes]] = []  # start, end, chunk, decimals, sep
    for index, data in enumerate(chunks):
        values = np.frombuffer(data, dtype="<f4")
        found = _as_integers(values)
        if found is None:
            samples.append(_CHUNK.pack(FLOAT32, 0, values.size) + data)
            continue
        ints, decimals = found
        deltas = np.diff(ints, prepend=np.int64(0))
        if deltas.size and int(np.abs(deltas).max()) < 1 << 15:
            samples.append(
                _CHUNK.pack(INT16_DELTAS, decimals, ints.size) + deltas.astype("<i2").tobytes()
            )
        else:
            samples.append(
                _CHUNK.pack(INT32_DELTAS, decimals, ints.size) + deltas.astype("<i4").tobytes()
            )
        if index < 1 << 16 and ints.size:
            run = _find_run(raw, ints, decimals, folds)
            if run is not None:
                folds.append((run[0], run[1], index, run[2], run[3]))
    stored, notes = _cut(raw, folds)
    sample_bytes = b"".join(samples)
    part = b"".join(
        (
            _HEADER.pack(len(stored), len(sample_bytes), len(reports or b""), len(notes)),
            *(_FOLD.pack(*note) for note in notes),
            stored,
            sample_bytes,
            reports or b"",
        )
    )
    if notes and decode_part(part)[0] != raw:  # never kept unless it gives the bytes back
        return encode_part_plain(raw, sample_bytes, reports)
    return part


def encode_part_plain(raw: bytes, sample_bytes: bytes, reports: bytes | None) -> bytes:
    """A part without folded runs: the bytes as received."""
    return b"".join(
        (_HEADER.pack(len(raw), len(sample_bytes), len(reports or b""), 0), raw, sample_bytes)
        + ((reports,) if reports else ())
    )


def part_size(bundle: bytes, offset: int = 0) -> int:
    """The length of the part at ``offset`` of a decompressed bundle."""
    stored, samples, reports, folds = _HEADER.unpack_from(bundle, offset)
    return int(_HEADER.size + folds * _FOLD.size + stored + samples + reports)


def decode_part(
    part: bytes, offset: int = 0, *, samples: bool = True
) -> tuple[bytes, list[npt.NDArray[np.float32]], bytes | None]:
    """The bytes as received, the samples of each chunk (none unless ``samples``) and the
    reports JSON (None: none) of the part at ``offset`` of a decompressed bundle. Raises
    JournalError for a part that is not whole."""
    try:
        stored_size, samples_size, reports_size, fold_count = _HEADER.unpack_from(part, offset)
        at = offset + _HEADER.size
        notes = [_FOLD.unpack_from(part, at + n * _FOLD.size) for n in range(fold_count)]
        at += fold_count * _FOLD.size
        end = at + stored_size + samples_size + reports_size
        if end > len(part):
            raise JournalError("a part of a bundle runs past its end")
        stored = part[at : at + stored_size]
        at += stored_size
        sample_bytes = part[at : at + samples_size]
        reports = part[at + samples_size : end] if reports_size else None
        chunks = _decode_samples(sample_bytes) if samples else []
        raw = _fill(stored, notes, sample_bytes) if notes else bytes(stored)
    except (struct.error, ValueError, IndexError) as exc:
        raise JournalError(f"a part of a bundle cannot be read: {exc}") from exc
    return raw, chunks, reports


# -- samples


def _as_integers(values: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int64], int] | None:
    """``(k, d)`` with ``float32(k / 10**d)`` bit for bit ``values``, fewest decimals; or None."""
    if not values.size:
        return np.zeros(0, dtype=np.int64), 0
    wide = values.astype(np.float64)
    if not np.isfinite(wide).all():
        return None
    bits = values.view(np.uint32)
    for decimals in range(MAX_DECIMALS + 1):
        scaled = np.rint(wide * 10.0**decimals)
        if np.abs(scaled).max() >= _INT32_LIMIT:
            return None
        ints = scaled.astype(np.int64)
        # From the integers, as a reader makes them: -0.0 is not 0 (nor is NaN anything).
        back = (ints / 10.0**decimals).astype(np.float32)
        if np.array_equal(back.view(np.uint32), bits):
            return ints, decimals
    return None


def _chunks(data: bytes) -> list[tuple[int, int, int, int]]:
    """Kind, decimals, count and data offset of each chunk of a part's samples."""
    out = []
    at = 0
    while at < len(data):
        kind, decimals, count = _CHUNK.unpack_from(data, at)
        at += _CHUNK.size
        out.append((kind, decimals, count, at))
        at += count * (2 if kind == INT16_DELTAS else 4)
        if kind not in (FLOAT32, INT16_DELTAS, INT32_DELTAS) or at > len(data):
            raise JournalError(f"samples of a part cannot be read (kind {kind})")
    return out


def _decode_samples(data: bytes) -> list[npt.NDArray[np.float32]]:
    out = []
    for kind, decimals, count, at in _chunks(data):
        if kind == FLOAT32:
            out.append(np.frombuffer(data, dtype="<f4", count=count, offset=at).astype(np.float32))
            continue
        dtype = "<i2" if kind == INT16_DELTAS else "<i4"
        ints = np.cumsum(np.frombuffer(data, dtype=dtype, count=count, offset=at), dtype=np.int64)
        out.append((ints / 10.0**decimals).astype(np.float32))
    return out


def _integers(data: bytes, index: int) -> tuple[list[int], int]:
    """The integers and decimals of chunk ``index`` (a folded one is never float32)."""
    found = _chunks(data)
    if index >= len(found) or found[index][0] == FLOAT32:
        raise JournalError(f"a folded run names chunk {index}, which holds no integers")
    kind, decimals, count, at = found[index]
    dtype = "<i2" if kind == INT16_DELTAS else "<i4"
    deltas = np.frombuffer(data, dtype=dtype, count=count, offset=at)
    return np.cumsum(deltas, dtype=np.int64).tolist(), decimals


# -- folded runs of text


_TEXTS: list[dict[int, bytes]] = [{} for _ in range(MAX_DECIMALS + 1)]
"""Renderings made so far, by decimals: a wave takes few distinct values, and a lookup is
~10x cheaper than formatting (bounded: cleared past :data:`_TEXTS_KEPT`)."""
_TEXTS_KEPT = 1 << 16


def _text(k: int, decimals: int) -> bytes:
    if decimals == 0:
        text = str(k).encode()
    else:
        whole, frac = divmod(-k if k < 0 else k, 10**decimals)
        text = f"{'-' if k < 0 else ''}{whole}.{frac:0{decimals}d}".encode()
    known = _TEXTS[decimals]
    if len(known) >= _TEXTS_KEPT:
        known.clear()
    known[k] = text
    return text


def render(ints: list[int], decimals: int, separator: bytes) -> bytes:
    """The integers as decimal text with ``decimals`` digits after the point, joined."""
    known = _TEXTS[decimals]
    get = known.get
    texts = [get(k) or _text(k, decimals) for k in ints]
    return separator.join(texts)


def _find_run(
    raw: bytes,
    ints: npt.NDArray[np.int64],
    decimals: int,
    taken: list[tuple[int, int, int, int, bytes]],
) -> tuple[int, int, int, bytes] | None:
    """Where ``raw`` holds the samples as text (start, end, decimals, separator), if it
    does, not overlapping a run already found."""
    values = ints.tolist()
    for digits in range(decimals, MAX_DECIMALS + 1):
        scaled = values if digits == decimals else [k * 10 ** (digits - decimals) for k in values]
        first = render(scaled[:1], digits, b"")
        start = raw.find(first)
        tries = 0
        while start >= 0 and tries < 16:
            tries += 1
            stop = start + len(first)
            separator = raw[stop : stop + 1]
            if (start == 0 or not raw[start - 1 : start].isdigit()) and (
                len(values) == 1 or (separator and not separator.isdigit() and separator != b".")
            ):
                text = render(scaled, digits, separator if len(values) > 1 else b"^")
                end = start + len(text)
                if (
                    raw.startswith(text, start)
                    and not raw[end : end + 1].isdigit()
                    and all(end <= s or start >= e for s, e, *_ in taken)
                ):
                    return start, end, digits, separator if len(values) > 1 else b"^"
            start = raw.find(first, start + 1)
    return None


def _cut(
    raw: bytes, folds: list[tuple[int, int, int, int, bytes]]
) -> tuple[bytes, list[tuple[int, int, int, int]]]:
    """``raw`` without the runs, and where each was (in what is left)."""
    if not folds:
        return raw, []
    pieces = []
    notes = []
    at = removed = 0
    for start, end, index, digits, separator in sorted(folds):
        pieces.append(raw[at:start])
        notes.append((start - removed, index, digits, separator[0]))
        removed += end - start
        at = end
    pieces.append(raw[at:])
    return b"".join(pieces), notes


def _fill(stored: bytes, notes: list[tuple[int, int, int, int]], sample_bytes: bytes) -> bytes:
    pieces = []
    at = 0
    for where, index, digits, separator in notes:
        ints, decimals = _integers(sample_bytes, index)
        if digits != decimals:
            ints = [k * 10 ** (digits - decimals) for k in ints]
        pieces.append(stored[at:where])
        pieces.append(render(ints, digits, bytes((separator,))))
        at = where
    pieces.append(stored[at:])
    return b"".join(pieces)

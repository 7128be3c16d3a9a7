"""A message's part of a bundle in journal schema 3: its bytes as received, its waveform
samples and its decoded reports, in few bytes and every one of them recoverable exactly.

A part is a header, then the message's *stored* bytes, its samples, its reports JSON:

- **samples**, per waveform chunk in the reports' order: a kind byte and a decimals byte,
  then the chunk's data. Where each float32 sample is exactly ``float32(k / 10**d)`` for
  an integer ``k`` (what a monitor's fixed resolution gives: mV to 3 decimals, counts), the
  chunk is kept as the differences of those integers (int16, or int32 when one does not
  fit), which compress far better than floats. A -0.0 (what ``-0.000`` reads as, and no
  integer gives back) is a 0 there, its place marked in a bitmap before the differences
  (kinds :data:`INT16_DELTAS_SIGNED` and :data:`INT32_DELTAS_SIGNED`). Anything else — NaN,
  infinities, a value no decimal gives back bit for bit — keeps the chunk's float32 bytes
  as they were. Checked chunk by chunk when written: a precision lost silently is
  impossible by construction.
- **stored bytes**: the bytes as received, but where they hold a chunk's samples as text —
  the decimal renderings of its integers, with ``td`` decimals (a marked -0.0 as ``-0``,
  ``-0.000``), joined by one separator byte (ER7's ``0.150^0.155^…``) — that run is cut
  out and its place noted (:data:`_FOLD`), since the samples already say it. Putting the
  rendering back at the noted places gives every received byte again; the writer checks
  it does before it keeps a part (:func:`encode_part`).

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
FLOAT32, INT16_DELTAS, INT32_DELTAS, INT16_DELTAS_SIGNED, INT32_DELTAS_SIGNED = range(5)
_KINDS = {  # kind: width of a difference, whether a bitmap of -0.0 comes first
    FLOAT32: (4, False),
    INT16_DELTAS: (2, False),
    INT32_DELTAS: (4, False),
    INT16_DELTAS_SIGNED: (2, True),
    INT32_DELTAS_SIGNED: (4, True),
}
MAX_DECIMALS = 6
_INT32_LIMIT = 1 << 31
_NEGATIVE_ZERO_BITS = 0x80000000
NEGATIVE_ZERO = -(1 << 62)
"""Stands for a marked -0.0 among a chunk's integers when they are rendered as text (never
an integer of a chunk: those are below 2**31)."""


def encode_part(raw: bytes, chunks: Sequence[bytes], reports: bytes | None) -> bytes:
    """The part of a message: ``raw`` as received, ``chunks`` the float32 (little-endian)
    samples of each waveform chunk, ``reports`` its reports JSON (None: none)."""
    samples = []
    folds: list[tuple[int, int, int, int, bytes]] = []  # start, end, chunk, decimals, sep
    texts: _Rendered = {}  # what the folded runs were found as, for the check below
    for index, data in enumerate(chunks):
        values = np.frombuffer(data, dtype="<f4")
        found = _as_integers(values)
        if found is None:
            samples.append(_CHUNK.pack(FLOAT32, 0, values.size) + data)
            continue
        ints, decimals, zeros = found
        deltas = ints.copy()  # the first against 0, then each against the one before
        np.subtract(ints[1:], ints[:-1], out=deltas[1:])
        narrow = not deltas.size or int(np.abs(deltas).max()) < 1 << 15
        bitmap = b""
        if zeros is None:
            kind = INT16_DELTAS if narrow else INT32_DELTAS
        else:
            kind = INT16_DELTAS_SIGNED if narrow else INT32_DELTAS_SIGNED
            bitmap = np.packbits(zeros, bitorder="little").tobytes()
        width = "<i2" if narrow else "<i4"
        samples.append(
            _CHUNK.pack(kind, decimals, ints.size) + bitmap + deltas.astype(width).tobytes()
        )
        if index < 1 << 16 and ints.size:
            run = _find_run(raw, _with_zeros(ints, zeros), decimals, folds)
            if run is not None:
                start, end, digits, separator, scaled, text = run
                folds.append((start, end, index, digits, separator))
                texts[index, digits, separator[0]] = (scaled, text)
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
    # Kept only if it gives them back, read as a reader reads it: the runs' integers from
    # the samples as stored. A run's text is not rendered a second time when its integers
    # came back the same (rendering is a function of them; the integers are what is checked).
    if notes and _fill(*_unpack(part, 0)[:3], texts) != raw:
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
    part: bytes, offset: int = 0, *, samples: bool = True, raw: bool = True
) -> tuple[bytes, list[npt.NDArray[np.float32]], bytes | None]:
    """The bytes as received (``b""`` unless ``raw``: rendering folded text back is most of
    the work, and reading reports or samples needs none of it), the samples of each chunk
    (none unless ``samples``) and the reports JSON (None: none) of the part at ``offset``
    of a decompressed bundle. Raises JournalError for a part that is not whole."""
    try:
        stored, notes, sample_bytes, reports = _unpack(part, offset)
        chunks = _decode_samples(sample_bytes) if samples else []
        received = b"" if not raw else _fill(stored, notes, sample_bytes) if notes else stored
    except (struct.error, ValueError, IndexError) as exc:
        raise JournalError(f"a part of a bundle cannot be read: {exc}") from exc
    return bytes(received), chunks, reports


_Unpacked = tuple[bytes, list[tuple[int, int, int, int]], bytes, bytes | None]
"""A part's stored bytes, the notes of its folded runs, its samples and its reports JSON."""
_Rendered = dict[tuple[int, int, int], tuple[list[int], bytes]]
"""(chunk, decimals, separator) of a folded run → the integers it renders and its text."""


def _unpack(part: bytes, offset: int) -> _Unpacked:
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
    return stored, notes, sample_bytes, reports


# -- samples


def _as_integers(
    values: npt.NDArray[np.float32],
) -> tuple[npt.NDArray[np.int64], int, npt.NDArray[np.bool_] | None] | None:
    """``(k, d, z)`` with ``float32(k / 10**d)`` bit for bit ``values`` (fewest decimals),
    except where ``z`` (None: nowhere) marks a -0.0, whose ``k`` is 0; or None.

    Every number of decimals is tried at once, one row each (a handful of array operations
    per chunk, not a handful per try: a chunk is a few hundred samples, where each
    operation's own cost is most of its time)."""
    if not values.size:
        return np.zeros(0, dtype=np.int64), 0, None
    bits = values.view(np.uint32)
    # Row d: the samples times 10**d, rounded. A NaN or an infinity fits no row.
    scaled = np.rint(values.astype(np.float64) * _SCALES)
    fits = np.abs(scaled).max(axis=1) < _INT32_LIMIT
    # Back as a reader makes them, but from the rounded floats: a -0.0 stays one there,
    # as the reader's mark gives it back (the integer is 0).
    back = (scaled / _SCALES).astype(np.float32)
    exact = np.flatnonzero(fits & (back.view(np.uint32) == bits).all(axis=1))
    if not exact.size:
        return None
    decimals = int(exact[0])
    marked = bits == _NEGATIVE_ZERO_BITS
    return scaled[decimals].astype(np.int64), decimals, marked if marked.any() else None


_SCALES = (10.0 ** np.arange(MAX_DECIMALS + 1))[:, None]
"""10**d for each number of decimals d a chunk may have, as a column."""


def _floats(
    ints: npt.NDArray[np.int64], decimals: int, zeros: npt.NDArray[np.bool_] | None
) -> npt.NDArray[np.float32]:
    """The samples a chunk's integers, decimals and -0.0 marks stand for."""
    back = (ints / 10.0**decimals).astype(np.float32)
    if zeros is not None:
        back[zeros] = np.float32(-0.0)
    return back


def _with_zeros(ints: npt.NDArray[np.int64], zeros: npt.NDArray[np.bool_] | None) -> list[int]:
    """The integers as a list, each marked -0.0 as :data:`NEGATIVE_ZERO` (for the text)."""
    if zeros is None:
        return ints.tolist()  # type: ignore[no-any-return]
    return np.where(zeros, NEGATIVE_ZERO, ints).tolist()  # type: ignore[no-any-return]


def _chunks(data: bytes) -> list[tuple[int, int, int, int]]:
    """Kind, decimals, count and data offset of each chunk of a part's samples (the offset
    of its -0.0 bitmap, for a kind that has one)."""
    out = []
    at = 0
    while at < len(data):
        kind, decimals, count = _CHUNK.unpack_from(data, at)
        at += _CHUNK.size
        out.append((kind, decimals, count, at))
        width, marked = _KINDS.get(kind, (0, False))
        at += count * width + (-(-count // 8) if marked else 0)
        if not width or at > len(data):
            raise JournalError(f"samples of a part cannot be read (kind {kind})")
    return out


def _chunk_integers(
    data: bytes, kind: int, count: int, at: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_] | None]:
    """The integers of a chunk of integers at ``at``, and its -0.0 marks (None: none)."""
    width, marked = _KINDS[kind]
    zeros = None
    if marked:
        size = -(-count // 8)
        bitmap = np.frombuffer(data, dtype=np.uint8, count=size, offset=at)
        zeros = np.unpackbits(bitmap, count=count, bitorder="little").astype(bool)
        at += size
    dtype = "<i2" if width == 2 else "<i4"
    deltas = np.frombuffer(data, dtype=dtype, count=count, offset=at)
    return np.cumsum(deltas, dtype=np.int64), zeros


def _decode_samples(data: bytes) -> list[npt.NDArray[np.float32]]:
    out = []
    for kind, decimals, count, at in _chunks(data):
        if kind == FLOAT32:
            out.append(np.frombuffer(data, dtype="<f4", count=count, offset=at).astype(np.float32))
            continue
        ints, zeros = _chunk_integers(data, kind, count, at)
        out.append(_floats(ints, decimals, zeros))
    return out


def _integers(data: bytes, index: int) -> tuple[list[int], int]:
    """The integers (a -0.0 as :data:`NEGATIVE_ZERO`) and decimals of chunk ``index`` (a
    folded one is never float32)."""
    found = _chunks(data)
    if index >= len(found) or found[index][0] == FLOAT32:
        raise JournalError(f"a folded run names chunk {index}, which holds no integers")
    kind, decimals, count, at = found[index]
    ints, zeros = _chunk_integers(data, kind, count, at)
    return _with_zeros(ints, zeros), decimals


# -- folded runs of text


_TEXTS: list[dict[int, bytes]] = [{} for _ in range(MAX_DECIMALS + 1)]
"""Renderings made so far, by decimals: a wave takes few distinct values, and a lookup is
~10x cheaper than formatting (bounded: cleared past :data:`_TEXTS_KEPT`)."""
_TEXTS_KEPT = 1 << 16


def _text(k: int, decimals: int) -> bytes:
    if k == NEGATIVE_ZERO:
        return b"-0" if decimals == 0 else b"-0." + b"0" * decimals
    if decimals == 0:
        return str(k).encode()
    whole, frac = divmod(-k if k < 0 else k, 10**decimals)
    return f"{'-' if k < 0 else ''}{whole}.{frac:0{decimals}d}".encode()


def render(ints: list[int], decimals: int, separator: bytes) -> bytes:
    """The integers as decimal text with ``decimals`` digits after the point, joined."""
    known = _TEXTS[decimals]
    try:  # the common case, every value rendered before: no Python code per value
        return separator.join(map(known.__getitem__, ints))
    except KeyError:
        pass
    missing = set(ints).difference(known)
    if len(known) + len(missing) > _TEXTS_KEPT:
        known.clear()
        missing = set(ints)
        if len(missing) > _TEXTS_KEPT:  # more distinct values than are kept
            return separator.join([_text(k, decimals) for k in ints])
    for k in missing:
        known[k] = _text(k, decimals)
    return separator.join(map(known.__getitem__, ints))


def _scaled(ints: list[int], digits: int) -> list[int]:
    """The integers with ``digits`` more decimals (a marked -0.0 stays one)."""
    factor = 10**digits
    return [k if k == NEGATIVE_ZERO else k * factor for k in ints]


def _find_run(
    raw: bytes,
    values: list[int],
    decimals: int,
    taken: list[tuple[int, int, int, int, bytes]],
) -> tuple[int, int, int, bytes, list[int], bytes] | None:
    """Where ``raw`` holds the samples (integers, a -0.0 as :data:`NEGATIVE_ZERO`) as text
    (start, end, decimals, separator, the integers so rendered and their text), if it does,
    not overlapping a run already found."""
    for digits in range(decimals, MAX_DECIMALS + 1):
        scaled = values if digits == decimals else _scaled(values, digits - decimals)
        first = render(scaled[:1], digits, b"")
        start = raw.find(first)
        tries = 0
        while start >= 0 and tries < 16:
            tries += 1
            stop = start + len(first)
            separator = raw[stop : stop + 1]
            before = raw[start - 1 : start]
            if (start == 0 or not (before.isdigit() or before == b".")) and (
                len(values) == 1 or (separator and not separator.isdigit() and separator != b".")
            ):
                text = render(scaled, digits, separator if len(values) > 1 else b"^")
                end = start + len(text)
                if (
                    raw.startswith(text, start)
                    and not (raw[end : end + 1].isdigit() or raw[end : end + 1] == b".")
                    and all(end <= s or start >= e for s, e, *_ in taken)
                ):
                    return start, end, digits, separator if len(values) > 1 else b"^", scaled, text
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


def _fill(
    stored: bytes,
    notes: list[tuple[int, int, int, int]],
    sample_bytes: bytes,
    rendered: _Rendered | None = None,
) -> bytes:
    pieces = []
    at = 0
    for where, index, digits, separator in notes:
        ints, decimals = _integers(sample_bytes, index)
        if digits != decimals:
            ints = _scaled(ints, digits - decimals)
        known = None if rendered is None else rendered.get((index, digits, separator))
        pieces.append(stored[at:where])
        if known is not None and known[0] == ints:
            pieces.append(known[1])
        else:
            pieces.append(render(ints, digits, bytes((separator,))))
        at = where
    pieces.append(stored[at:])
    return b"".join(pieces)

"""What the journal takes as a value: integers in SQLite's range, finite floats, bounded text.

A decoder hands the journal what a device sent, and a device may send anything: an integer
above 2^63 (no SQLite column holds it: binding it raises ``OverflowError`` and fails the
whole batch, every other device's message with it), 4,300 digits (``ValueError`` from
Python's int-to-text limit, in the writer's JSON), NaN or infinity (JSON that SQLite's JSON
functions refuse), a lone surrogate (text that UTF-8 cannot carry), a string of 10^5
characters. These helpers, called on the event loop as each message is made ready for the
writer, turn every such value into one the journal stores: an integer out of range or a
non-finite float becomes NULL, text is cut to :data:`MAX_TEXT` characters and made valid
UTF-8. The message's bytes as received are kept whole beside it, so nothing is hidden.

This module must not decide what a value means (that is the decoders' job) nor touch the
file: it only makes values storable.
"""

from __future__ import annotations

import math
import numbers

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1
MAX_TEXT = 4096
"""Characters of one decoded text the journal keeps (the raw message keeps them all)."""
CUT_MARK = "…"


def bounded_int(value: object) -> int | None:
    """An integer SQLite can hold, or None (numpy's integers too; anything else None)."""
    if not isinstance(value, numbers.Integral):
        return None
    number = int(value)
    return number if INT64_MIN <= number <= INT64_MAX else None


def int_or(value: object, default: int) -> int:
    """:func:`bounded_int`, with ``default`` for a column that may not be NULL."""
    found = bounded_int(value)
    return default if found is None else found


def finite(value: object) -> float | None:
    """A finite float, or None (NaN, ±inf, an integer too large for a float, not a number)."""
    if not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond a float's range
        return None
    return number if math.isfinite(number) else None


def text(value: str) -> str:
    """At most :data:`MAX_TEXT` characters of valid UTF-8: a lone surrogate becomes U+FFFD,
    as the decoders write a byte they cannot decode."""
    if len(value) > MAX_TEXT:
        value = value[: MAX_TEXT - 1] + CUT_MARK
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in value)
    return value


def optional_text(value: str | None) -> str | None:
    return None if value is None else text(value)


def plain(*values: str) -> bool:
    """Whether these texts need no change (ASCII, short): the common case, checked fast."""
    total = 0
    for value in values:
        if not value.isascii():
            return False
        total += len(value)
    return total <= MAX_TEXT


def value(item: object) -> float | str | None:
    """An observation's or an alarm's value: a finite number, bounded text, or None.
    Raises TypeError for anything else (an adapter's bug: the message is refused alone)."""
    if isinstance(item, str):
        return text(item)
    if item is None or isinstance(item, numbers.Real):
        return finite(item)
    raise TypeError(f"a value of type {type(item).__name__} is neither a number nor text")

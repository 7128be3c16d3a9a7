"""Which alarms are one condition: a monitor's own limit alarm and the gateway's, on one bed.

A monitor that sends its alarms (PCD-04, Philips alert rows) alarms on its own limits; the
gateway alarms on the ward's. When both see the same thing — SpO2 too low on bed 3 — a
central station shows it once. Two alarms are one *condition* when they are on the same
bed, about the same parameter (the MDC code of the gateway's channel; the device alarm's
``parameter_code``) and in the same direction (too low / too high). This module only
names conditions; :mod:`gateway.alarms` shows each condition once and keeps every alarm of
it in the journal as it is.

A device alarm's direction comes from its event code when the code says it
(ISO/IEEE 11073-10101 partition 3: ``MDC_EVT_LO`` 196670, ``MDC_EVT_LO_LT_LIM`` 196672,
``MDC_EVT_LO_VAL_LT_LIM`` 196674, ``MDC_EVT_DESAT`` 199854 — low; ``MDC_EVT_HI`` 196648,
``MDC_EVT_HI_GT_LIM`` 196650 — high), else from its text: the words *low* / *lo* or the
sign ``<`` (``SpO2 86 < 90``) against *high* / *hi* or ``>`` (``HR 128 > 120``). A text
that says both, or neither, names no direction, and the alarm stands alone. Only
physiological device alarms with a parameter are matched: ``SpO2 LOW PERF`` (a technical
alarm about the signal) is not SpO2 too low.

This module must not keep state nor know how alarms are shown.
"""

from __future__ import annotations

import re
from typing import Final, Literal

from gateway.domain import AlarmEvent, AlarmKind, BedId

Direction = Literal["low", "high"]

LOW: Final = "low"
HIGH: Final = "high"

EVENT_DIRECTIONS: Final[dict[int, Direction]] = {
    196670: "low",  # MDC_EVT_LO
    196672: "low",  # MDC_EVT_LO_LT_LIM
    196674: "low",  # MDC_EVT_LO_VAL_LT_LIM
    199854: "low",  # MDC_EVT_DESAT
    196648: "high",  # MDC_EVT_HI
    196650: "high",  # MDC_EVT_HI_GT_LIM
}
"""Event codes that say which way a value crossed its limit."""

_LOW_WORDS = frozenset(("low", "lo"))
_HIGH_WORDS = frozenset(("high", "hi"))
_WORDS = re.compile(r"[a-z]+")


def condition_key(bed: BedId, code: int, direction: Direction) -> str:
    """The name of a condition: ``ICU^1^1|150456|low``."""
    return f"{bed.key}|{code}|{direction}"


def device_direction(event: AlarmEvent) -> Direction | None:
    """Which way a device alarm's value crossed its limit; None when it does not say."""
    by_code = EVENT_DIRECTIONS.get(event.code)
    if by_code is not None:
        return by_code
    text = event.text.lower()
    words = set(_WORDS.findall(text))
    low = bool(words & _LOW_WORDS) or "<" in text
    high = bool(words & _HIGH_WORDS) or ">" in text
    if low == high:
        return None
    return "low" if low else "high"


def device_condition(bed: BedId, event: AlarmEvent) -> str | None:
    """The condition a device alarm on ``bed`` is of; None when it stands alone (not
    physiological, no parameter, or no direction)."""
    if event.kind is not AlarmKind.PHYSIOLOGICAL or not event.parameter_code:
        return None
    direction = device_direction(event)
    if direction is None:
        return None
    return condition_key(bed, event.parameter_code, direction)

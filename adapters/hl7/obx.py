"""Reading OBX rows the way IHE PCD senders fill them: codes, units, values, times, ids.

Shared by the observation, waveform and alarm decoders, so that an OBX-3 code, an OBX-6 unit
or an HL7 time means the same thing in all three. The lookups that repeat from message to
message (the same OBX-3 and OBX-6 strings arrive every second from every bed) are cached,
bounded, per exact string. Nothing here raises for what a device sent: an unreadable value
gives None or the text as sent, and the caller decides what that means. It knows nothing
of beds, sockets or journals.
"""

from __future__ import annotations

import calendar
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from adapters.hl7.er7 import STANDARD, Delimiters, unescape
from gateway import nomenclature
from gateway.domain import DeviceId, ObservationStatus

# MDC partition 3 (MDC_PART_EVT): event codes, 3 × 65536 … 4 × 65536 - 1.
EVENT_PARTITION = range(3 * 65536, 4 * 65536)

STATUS: dict[str, ObservationStatus] = {
    "": ObservationStatus.VALID,
    "R": ObservationStatus.VALID,
    "F": ObservationStatus.VALID,
    "C": ObservationStatus.VALID,
    "S": ObservationStatus.VALID,
    "A": ObservationStatus.VALID,
    "U": ObservationStatus.VALID,
    "X": ObservationStatus.INVALID,
    "N": ObservationStatus.INVALID,
    "D": ObservationStatus.INVALID,
    "W": ObservationStatus.INVALID,
    "P": ObservationStatus.QUESTIONABLE,
    "I": ObservationStatus.QUESTIONABLE,
}
"""OBX-11 (HL7 table 0085) → whether the value may be trusted. ``X`` (results cannot be
obtained) is how IHE PCD and Philips mark an invalid value; an unknown code is questionable."""

_CACHE_LIMIT = 4096

# IHE ACM alarm facets (PCD-04): by MDC code, and by REFID for senders that misnumber them.
FACETS_BY_CODE = {
    68480: "source",
    68481: "phase",
    68482: "state",
    68483: "inactivation",
    68484: "priority",
    68485: "type",
    67860: "confirm_timeout",
}
FACETS_BY_REFID = {
    "MDC_ATTR_ALERT_SOURCE": "source",
    "MDC_ATTR_EVENT_PHASE": "phase",
    "MDC_ATTR_ALARM_STATE": "state",
    "MDC_ATTR_ALARM_INACTIVATION_STATE": "inactivation",
    "MDC_ATTR_ALARM_PRIORITY": "priority",
    "MDC_ATTR_ALERT_TYPE": "type",
    "MDC_ATTR_CONFIRM_TIMEOUT": "confirm_timeout",
}
ALARM_FACETS = frozenset(("phase", "state", "inactivation", "priority", "type"))
"""Facets that only an alarm has: a row naming one makes its OBR an alarm report."""


@dataclass(frozen=True, slots=True)
class Code:
    """An OBX-3 (or CWE value) as the gateway reads it."""

    mdc: int
    """MDC context-free code; 0 when the sender used a code system we cannot map."""
    refid: str
    """The MDC reference id or the sender's text for the code (``MDC_PULS_OXIM_SAT_O2``)."""
    label: str
    """What a person reads: the nomenclature's label, else the sender's own text."""
    source_code: str | None
    """``SYSTEM:code`` when the code is not MDC (``99MNDRY:1234``), so it is never lost."""
    unit: str
    """The parameter's usual unit, for a number sent without one ('' when unknown)."""
    known: bool
    """Whether the MDC nomenclature table knows the parameter."""
    facet: str | None = None
    """The IHE ACM alarm facet this code names (``phase``, ``priority`` …), if any."""


CODES: dict[str, Code] = {}
"""OBX-3 text (standard delimiters) → its reading; the decoder's hot loop reads it inline."""
UNITS: dict[str, str] = {}
"""OBX-6 text (standard delimiters) → display unit."""


def split_components(raw: str, d: Delimiters) -> list[str]:
    """The components of one field repetition, each unescaped; sub-components kept raw."""
    parts = raw.split(d.component)
    if d.escape and d.escape in raw:
        return [unescape(p, d) if d.escape in p else p for p in parts]
    return parts


def first_repetition(raw: str, d: Delimiters) -> str:
    cut = raw.find(d.repetition)
    return raw if cut < 0 else raw[:cut]


def identify(raw: str, d: Delimiters = STANDARD) -> Code:
    """OBX-3 (a CWE: code ^ text ^ system [^ alternate code ^ text ^ system])."""
    if d is STANDARD:
        code = CODES.get(raw)
        if code is None:
            code = _identify(raw, d)
            if len(CODES) < _CACHE_LIMIT:
                CODES[raw] = code
        return code
    return _identify(raw, d)


def _identify(raw: str, d: Delimiters) -> Code:
    parts = split_components(first_repetition(raw, d), d)
    parts += [""] * (6 - len(parts))
    code, refid, system = parts[0].strip(), parts[1].strip(), parts[2].strip().upper()
    mdc, source_code = _mdc(code, refid, system)
    if mdc == 0 and parts[3].strip():
        # A local primary code with an MDC alternate (CWE-4..6): the alternate is ours.
        alt, alt_refid = _mdc(parts[3].strip(), parts[4].strip(), parts[5].strip().upper())
        if alt and alt_refid is None:
            mdc, refid = alt, parts[4].strip() or refid
    facet = FACETS_BY_REFID.get(refid) or FACETS_BY_CODE.get(mdc)
    param = nomenclature.parameter(mdc, refid)
    if param is not None and param.code != mdc and mdc not in nomenclature.BY_CODE:
        # The number is unknown but the REFID is (a misnumbered or missing code): trust the
        # REFID, as the reference corpus shows senders get numbers wrong more often.
        mdc = param.code
        if source_code is not None and system in ("MDC", ""):
            source_code = None
    if param is not None:
        return Code(mdc, refid or param.refid, param.label, source_code, param.unit, True, facet)
    return Code(mdc, refid or code, refid or code, source_code, "", False, facet)


MDC_CODE_MAX = 0xFFFF_FFFF
"""MDC codes are 32-bit (partition × 65536 + term): a longer number is not one."""
_CODE_DIGITS = 10


def code_number(text: str) -> int | None:
    """A code written as a number (an MDC code, a unit's code): ASCII digits making a 32-bit
    value, else None. Never int() of what a device sent unchecked: 4,300 digits raise
    ValueError (Python's limit on int from text), and a 2^64 code fits no column."""
    digits = text.lstrip("0") or text[-1:]
    if len(digits) > _CODE_DIGITS or not (text.isascii() and text.isdigit()):
        return None
    value = int(digits)
    return value if value <= MDC_CODE_MAX else None


def _mdc(code: str, refid: str, system: str) -> tuple[int, str | None]:
    """MDC code of a code triplet, or 0 with the sender's own code kept."""
    value = code_number(code) if system in ("MDC", "") else None
    if value is not None:
        if value:
            return value, None
        # "0^MDC_ATTR_SAMP_RATE^MDC": no number, only the REFID names it.
        return 0, f"{system or 'MDC'}:{refid or code}"
    if system.startswith("MDIL") or (len(code) == 9 and code[4] == "-"):
        mdil = mdil_code(code)
        if mdil is not None:
            return nomenclature.MDIL_ALIASES.get(mdil, mdil), None
    return 0, f"{system or 'LOCAL'}:{code or refid}"


_HEX = frozenset("0123456789abcdefABCDEF")


def mdil_code(code: str) -> int | None:
    """A Philips MDIL id ``PPPP-hhhh`` as an MDC context-free code, or None.

    Both halves are hexadecimal: ``0002-4bb8`` is 2 × 65536 + 0x4bb8 (150456, SpO2) and
    ``0402-f8f5`` is 0x0402 × 65536 + 0xf8f5 — reading the partition as decimal gives the
    right number only below 10.
    """
    partition, dash, term = code.partition("-")
    if not (dash and 0 < len(partition) <= 4 and 0 < len(term) <= 4):
        return None
    if not (_HEX.issuperset(partition) and _HEX.issuperset(term)):
        return None
    return int(partition, 16) * 65536 + int(term, 16)


def unit_of(raw: str, d: Delimiters = STANDARD) -> str:
    """OBX-6 as shown: MDC (``266016^MDC_DIM_MMHG^MDC``), UCUM (``mm[Hg]^mm[Hg]^UCUM``),
    both in one field, or a vendor's text — all give the same display text."""
    if not raw:
        return ""
    if d is STANDARD:
        unit = UNITS.get(raw)
        if unit is None:
            unit = _unit(split_components(first_repetition(raw, d), d))
            if len(UNITS) < _CACHE_LIMIT:
                UNITS[raw] = unit
        return unit
    return _unit(split_components(first_repetition(raw, d), d))


def _unit(parts: list[str]) -> str:
    if not any(p.strip() for p in parts):
        return ""
    code = parts[0].strip()
    text = parts[1].strip() if len(parts) > 1 else ""
    system = parts[2].strip().upper() if len(parts) > 2 else ""
    number = code_number(code) if system == "MDC" else None
    if number is not None:
        if number in nomenclature.UNITS:
            return nomenclature.UNITS[number]
        if len(parts) > 3 and parts[3].strip():  # the UCUM alternate given beside it
            return nomenclature.unit_text(None, parts[3].strip())
        return text.removeprefix("MDC_DIM_").lower() or code
    if system.startswith("MDIL") or (len(code) == 9 and code[4] == "-"):
        # Philips MDIL units (partition 4): "0004-0aa0^bpm^MDIL" is MDC_DIM_BEAT_PER_MIN.
        mdil = mdil_code(code)
        if mdil is not None:
            if mdil in nomenclature.UNITS:
                return nomenclature.UNITS[mdil]
            return nomenclature.unit_text(None, text) if text else str(mdil)
    return nomenclature.unit_text(None, code or text)


def unit_is_known(raw: str, d: Delimiters = STANDARD) -> bool:
    """Whether OBX-6 names a unit the gateway can show for sure (for ``validate``)."""
    parts = split_components(first_repetition(raw, d), d)
    code = parts[0].strip()
    system = parts[2].strip().upper() if len(parts) > 2 else ""
    number = code_number(code) if system == "MDC" else None
    if number is not None:
        return number in nomenclature.UNITS or (
            len(parts) > 3 and parts[3].strip() in nomenclature.UNIT_ALIASES
        )
    mdil = mdil_code(code) if system.startswith("MDIL") or len(code) == 9 else None
    if mdil is not None:
        return mdil in nomenclature.UNITS
    text = code or (parts[1].strip() if len(parts) > 1 else "")
    return text in nomenclature.UNIT_ALIASES or text in nomenclature.UNITS.values()


def number(text: str) -> float | None:
    """A decimal number as HL7 NM writes it; None for anything else (NaN and ∞ included)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if math.isnan(value) or math.isinf(value):
        return None
    # float() also reads "1_000" and "infinity": NM is digits, sign and one point only.
    if "_" in text or text[-1:].isalpha():
        return None
    return value


def text_value(raw: str, value_type: str, d: Delimiters) -> str:
    """A text or coded OBX-5 as a person reads it."""
    if value_type in ("CWE", "CE", "CF", "CNE"):
        parts = split_components(first_repetition(raw, d), d)
        # Original text (CWE-9) is what the device showed; else the text, else the code.
        for index in (8, 1, 0):
            if index < len(parts) and parts[index].strip():
                return parts[index].strip()
        return ""
    if d.repetition in raw:
        # TX/FT repetitions are lines of one text.
        return "\n".join(unescape(r, d) for r in raw.split(d.repetition))
    return unescape(raw, d) if d.escape and d.escape in raw else raw


def structured_number(raw: str, d: Delimiters) -> float | None:
    """HL7 SN (``^120``, ``=^120``) as a plain number; comparisons and ranges give None."""
    parts = split_components(raw, d)
    parts += [""] * (4 - len(parts))
    if parts[0].strip() in ("", "=") and not parts[2].strip() and not parts[3].strip():
        return number(parts[1])
    return None


# ---- times ------------------------------------------------------------------------------


def parse_time(value: str) -> int | None:
    """HL7 DTM/TS → UTC nanoseconds. No offset, or ``-0000`` (unknown), means local time.

    Accepts ``YYYYMMDD[HH[MM[SS[.S…]]]][±ZZZZ]``, spaces inside (a document artefact seen
    in samples), a TS's degree-of-precision component, and Mindray's milliseconds written
    without a point (``20190929092149610``). An unreadable time gives None (the caller
    falls back to the next time it has), never an exception: a device with a bad clock must
    still be seen.
    """
    if "^" in value:
        value = value[: value.find("^")]
    if " " in value:
        value = value.replace(" ", "")
    zone = ""
    if len(value) > 5 and value[-5] in "+-":
        value, zone = value[:-5], value[-5:]
        if not (zone[1:].isascii() and zone[1:].isdigit()):
            return None
    fraction = ""
    if "." in value:
        value, _, fraction = value.partition(".")
        if len(value) != 14:
            return None
    elif len(value) > 14:
        value, fraction = value[:14], value[14:]
    size = len(value)
    if size not in (8, 10, 12, 14) or not (value.isascii() and value.isdigit()):
        return None
    if fraction and not (len(fraction) <= 9 and fraction.isascii() and fraction.isdigit()):
        return None
    # One int() and arithmetic: six int() of slices cost more than the rest together.
    whole = int(value) * _SCALE[size]
    whole, second = divmod(whole, 100)
    whole, minute = divmod(whole, 100)
    date, hour = divmod(whole, 100)
    if hour > 23 or minute > 59 or second > 60:
        return None
    epoch_day = _EPOCH_DAYS.get(date)
    if epoch_day is None:
        epoch_day = _epoch_day(date)
        if epoch_day is None:
            return None
    seconds = epoch_day * 86400 + hour * 3600 + minute * 60 + second
    if not zone or zone == "-0000":
        offset = _LOCAL_OFFSETS.get(date * 100 + hour)
        if offset is None:
            offset = _local_offset(date, hour, epoch_day)
            if offset is None:
                return None
        seconds += offset
    else:
        hours, minutes = int(zone[1:3]), int(zone[3:5])
        if hours > 14 or minutes > 59:
            return None  # no place on Earth is more than 14 h from UTC
        offset = hours * 3600 + minutes * 60
        seconds -= offset if zone[0] == "+" else -offset
    if fraction:
        return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))
    return seconds * 1_000_000_000


_SCALE = {8: 1_000_000, 10: 10_000, 12: 100, 14: 1}
# Per-date and per-hour results of the calendar and the local zone: a ward's messages all
# carry times of the same few hours, and time.mktime costs microseconds each.
_EPOCH_DAYS: dict[int, int] = {}
_LOCAL_OFFSETS: dict[int, int] = {}


def _epoch_day(date: int) -> int | None:
    """``YYYYMMDD`` → days since 1970-01-01; None for an impossible date."""
    year, rest = divmod(date, 10000)
    month, day = divmod(rest, 100)
    if not (1 <= month <= 12 and 1 <= day <= calendar.monthrange(year or 1, month)[1]):
        return None
    try:
        found = calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)) // 86400
    except (OverflowError, ValueError):
        return None
    if len(_EPOCH_DAYS) < _CACHE_LIMIT:
        _EPOCH_DAYS[date] = found
    return found


def _local_offset(date: int, hour: int, epoch_day: int) -> int | None:
    """Seconds to add to a local wall-clock time (read as UTC) to get UTC, for that hour."""
    year, rest = divmod(date, 10000)
    month, day = divmod(rest, 100)
    try:
        found = int(time.mktime((year, month, day, hour, 0, 0, 0, 0, -1))) - (
            epoch_day * 86400 + hour * 3600
        )
    except (OverflowError, ValueError):
        return None
    if len(_LOCAL_OFFSETS) < _CACHE_LIMIT:
        _LOCAL_OFFSETS[date * 100 + hour] = found
    return found


def has_zone(value: str) -> bool:
    """Whether an HL7 time states its offset from UTC (``-0000`` means unknown)."""
    value = value.split("^", 1)[0].replace(" ", "")
    return len(value) > 5 and value[-5] in "+-" and value[-5:] != "-0000"


Times: TypeAlias = Callable[[str], int | None]
"""What decoders are handed to read an HL7 time: :func:`recent_time` on the ingest path."""


def recent_time(value: str) -> int | None:
    """``parse_time`` with a memory: a message repeats its times, and the beds of a ward
    send the same second, and the same measurement time (NIBP) message after message.

    A plain function (not a callable object): it is called for every time of every
    message, and a function call is the cheapest call there is.
    """
    if not value:
        return None
    seen = _RECENT_TIMES
    if value in seen:
        return seen[value]
    if len(seen) >= _RECENT_LIMIT:
        seen.clear()  # times move on: a fresh start costs one parse per string
    result = seen[value] = parse_time(value)
    return result


_RECENT_TIMES: dict[str, int | None] = {}
_RECENT_LIMIT = 2048


# ---- equipment ids ------------------------------------------------------------------------

_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")
# Seen in IHE samples: an EUI-64 run together with an IPv4 address ("…D02D172.16.172.135").
_HEX16_IP = re.compile(r"([0-9A-Fa-f]{16})(?:\d{1,3}(?:\.\d{1,3}){3})")
_ID_TYPES = frozenset(("EUI-64", "EUI64", "DNS", "URN", "URI", "ISO", "GUID", "UUID", "L", "M"))


def equipment(ei: list[str], fallback_label: str = "") -> DeviceId | None:
    """An equipment identifier (EI: entity ^ namespace ^ universal id ^ type) as a device.

    EUI-64 wherever the sender put it (``<eui>^<model>``, ``<label>^^<eui>^EUI-64``,
    ``<eui>^EUI-64``) gives ``EUI-64:<HEX>``; any other id gives ``app:<entity^universal>``,
    the key form a configuration can bind. None when the field is empty.
    """
    parts = [p.strip() for p in ei[:4]]
    parts += [""] * (4 - len(parts))
    entity, namespace, universal, kind = parts
    if not entity and not universal:
        return None
    eui = ""
    if kind.upper() in ("EUI-64", "EUI64") and _HEX16.fullmatch(universal):
        eui = universal
    elif _HEX16.fullmatch(entity):
        eui = entity
    else:
        match = _HEX16_IP.fullmatch(entity)
        if match is not None:
            eui = match.group(1)
    name = namespace if namespace and namespace.upper() not in _ID_TYPES else ""
    if not name and entity and entity.upper() != eui.upper() and len(entity) <= 16:
        name = entity
    label = name or fallback_label
    if eui:
        return DeviceId(f"EUI-64:{eui.upper()}", label or eui.upper())
    ident = "^".join(dict.fromkeys(p for p in (entity, universal) if p))
    return DeviceId(f"app:{ident}", label or ident)

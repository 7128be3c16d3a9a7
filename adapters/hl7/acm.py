"""Device alarms in HL7 v2 → :class:`AlarmEvent`: IHE PCD-04 (ACM) and Philips MDIL-ALERT.

PCD-04 (``ORU^R40``) sends one alarm per OBR as a group of OBX rows, its *facets*, sharing
an OBX-4 prefix: facet 1 names the event (a physiological event code such as
``196670^MDC_EVT_LO``, or ``196616^MDC_EVT_ALARM`` with a technical event coded in OBX-5),
the other facets carry the alarm source, phase, state, inactivation state, priority and
type, and optionally the value that alarmed. Older senders put priority and type in OBX-8
of the event row (``L~PM~SP``); when both forms appear the facets win. The alarm's identity
across its updates is OBR-29 (the first occurrence) when sent, else OBR-3.

Dräger's watchdog (``196614^MDC_EVT_ACTIVE`` with ``MDC_ATTR_CONFIRM_TIMEOUT``) is a
keep-alive of the alert reporter, not an alarm: it is reported as such, never raised.

Philips' non-IHE exports carry alarms as text rows in ORU^R01
(``OBX||TX|2^Yellow Alarm^MDIL-ALERT||SpO2 low …``): red → high, yellow → medium
(physiological); hard INOP → medium, soft/cyan INOP → low (technical), in every spelling
seen (``Hard INOP``, ``HardInop`` as one word from an Information Center, ``SoftInop``,
``Soft INOP``, a bare ``INOP`` → medium).

An alarm from demo or test data (MSH-11 ``T``/``D``, OBX-8 ``DEMO``): :func:`as_demo`.

What a sender leaves out is filled in on the safe side and documented in ``docs/hl7.md``:
no priority → medium (never "none"), no phase → ``present``, no state → ``active``. Facet
rows never become observations. This module knows nothing of beds or of the alarm engine.
"""

from __future__ import annotations

import bisect
import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.hl7.er7 import Delimiters, Segment, unescape
from adapters.hl7.obx import (
    EVENT_PARTITION,
    Code,
    Times,
    code_number,
    identify,
    number,
    text_value,
    unit_of,
)
from gateway import nomenclature
from gateway.domain import AlarmEvent, AlarmKind, AlarmPriority, AlarmSource, DeviceId

MDC_EVT_ALARM = 196616
MDC_EVT_ACTIVE = 196614
MDIL_ALERT = "MDIL-ALERT"


PRIORITIES = {
    "PN": AlarmPriority.NONE,
    "PL": AlarmPriority.LOW,
    "PM": AlarmPriority.MEDIUM,
    "PH": AlarmPriority.HIGH,
}
_PRIORITY_WORDS = {
    "NONE": AlarmPriority.NONE,
    "LOW": AlarmPriority.LOW,
    "MEDIUM": AlarmPriority.MEDIUM,
    "HIGH": AlarmPriority.HIGH,
}
KINDS = {"SP": AlarmKind.PHYSIOLOGICAL, "ST": AlarmKind.TECHNICAL, "SA": AlarmKind.ADVISORY}
PHASES = frozenset(
    (
        "start",
        "start_only",
        "continue",
        "end",
        "present",
        "update",
        "escalate",
        "inactivate",
        "acknowledged",
        "deescalate",
        "reset",
        "stop",
        "tpoint",
    )
)
STATES = frozenset(("inactive", "active", "latched"))
INACTIVATIONS = frozenset(
    ("enabled", "audio-paused", "audio-off", "alarm-paused", "alarm-off", "alert-acknowledged")
)
_ENDED = frozenset(("end", "stop", "reset"))
# Event REFIDs that name an equipment problem rather than the patient's condition.
_TECHNICAL_WORDS = ("DISCONN", "OCCL", "LEAD", "BATT", "INOP", "FAIL", "ERR", "SENSOR", "NOISE")


def facet_of(code: Code) -> str | None:
    """Which ACM facet an OBX-3 names, by number or (for misnumbered senders) by REFID."""
    return code.facet


def is_event(code: Code) -> bool:
    return code.mdc in EVENT_PARTITION or code.refid.startswith(("MDC_EVT_", "MDCX_EVT_"))


def is_mdil_alert(code: Code) -> bool:
    return code.source_code is not None and code.source_code.startswith(MDIL_ALERT + ":")


@dataclass(slots=True)
class KeepAlive:
    """A watchdog message: the sender wants a commit ACK within ``confirm_timeout_s``."""

    confirm_timeout_s: float | None


@dataclass(slots=True)
class _Alarm:
    event: Segment | None
    """Facet 1; None when a sender sent the other facets only."""
    code: Code
    prefix: str
    facets: dict[str, Segment] = field(default_factory=dict)
    values: list[Segment] = field(default_factory=list)
    rows: list[Segment] = field(default_factory=list)


def _field(seg: Segment, index: int) -> str:
    fields = seg.fields
    return fields[index] if index < len(fields) else ""


def _prefix(sub_id: str) -> str:
    return sub_id.rsplit(".", 1)[0] if "." in sub_id else ""


def _facet_number(sub_id: str) -> str:
    return sub_id.rsplit(".", 1)[-1]


def alarm_group(
    obr: Segment | None,
    rows: list[Segment],
    *,
    d: Delimiters,
    times: Times,
    base_time_ns: int,
    device_for: Callable[[str], DeviceId],
    message_id: str,
    problems: list[str],
) -> tuple[list[AlarmEvent], KeepAlive | None]:
    """The alarms of one OBR (PCD-04), or the keep-alive it is."""
    alarms: list[_Alarm] = []
    loose: list[tuple[str, Segment, Code, str | None]] = []
    mdil: list[AlarmEvent] = []
    for seg in rows:
        value_type = _field(seg, 2).strip().upper()
        raw_value = _field(seg, 5)
        if not value_type and not raw_value:
            continue  # a device-hierarchy row
        code = identify(_field(seg, 3), d)
        sub_id = _field(seg, 4).strip()
        if is_mdil_alert(code):
            event = mdil_alert(
                seg,
                code,
                d=d,
                times=times,
                base_time_ns=base_time_ns,
                device=device_for(sub_id),
                message_id=message_id,
            )
            if event is not None:
                mdil.append(event)
            continue
        facet = facet_of(code)
        if facet is None and (is_event(code) or _facet_number(sub_id) == "1"):
            alarms.append(_Alarm(seg, code, _prefix(sub_id), rows=[seg]))
        else:
            loose.append((sub_id, seg, code, facet))
    if not alarms and not loose:
        return mdil, None
    if not alarms:
        # Facets without an event row: keep the alarm, named after the OBR, never drop it.
        problems.append("alarm facets without an event row (facet 1): shown as a generic alarm")
        code = identify(_field(obr, 4), d) if obr is not None else identify("", d)
        if not code.mdc or code.mdc not in EVENT_PARTITION:
            code = identify(f"{MDC_EVT_ALARM}^MDC_EVT_ALARM^MDC", d)
        alarms.append(_Alarm(None, code, _prefix(loose[0][0])))
    by_prefix: dict[str, _Alarm] = {}
    for alarm in alarms:
        by_prefix.setdefault(alarm.prefix, alarm)
    position = {id(seg): index for index, seg in enumerate(rows)}
    # Events in row order, for finding the nearest one before a stray facet (bisect).
    placed = [(position[id(a.event)], a) for a in alarms if a.event is not None]
    starts = [p for p, _ in placed]
    for sub_id, seg, _code, facet in loose:
        found = by_prefix.get(_prefix(sub_id))
        if found is not None:
            alarm = found
        else:
            # A facet under another prefix (seen: IHE's own example): the nearest event
            # before it, else the first.
            before = bisect.bisect_left(starts, position[id(seg)])
            alarm = placed[before - 1][1] if before else alarms[0]
        alarm.rows.append(seg)
        if facet is not None:
            alarm.facets.setdefault(facet, seg)
        else:
            alarm.values.append(seg)
    alarm_id = _alarm_id(obr, d)
    events: list[AlarmEvent] = []
    keep_alive: KeepAlive | None = None
    for index, alarm in enumerate(alarms):
        if alarm.code.mdc == MDC_EVT_ACTIVE or alarm.code.refid == "MDC_EVT_ACTIVE":
            keep_alive = KeepAlive(_confirm_timeout(alarm, d))
            continue
        ident = alarm_id or f"{alarm.code.mdc or alarm.code.source_code}@{alarm.prefix}"
        if len(alarms) > 1:
            ident = f"{ident}/{alarm.prefix or index + 1}"
        where = alarm.event if alarm.event is not None else alarm.rows[0]
        events.append(
            _event(
                alarm,
                d=d,
                times=times,
                base_time_ns=base_time_ns,
                device=device_for(_field(where, 4).strip()),
                alarm_id=ident,
                message_id=message_id,
            )
        )
    return events + mdil, keep_alive


def _alarm_id(obr: Segment | None, d: Delimiters) -> str:
    """OBR-29's filler part (the alarm's first occurrence), else OBR-3, else OBR-2."""
    if obr is None:
        return ""
    parent = _field(obr, 29).split(d.repetition)[0]
    if parent:
        components = parent.split(d.component)
        filler = components[1] if len(components) > 1 else ""
        ident = "^".join(unescape(s.strip(), d) for s in filler.split(d.subcomponent)).rstrip("^")
        if ident.strip("^"):
            return ident
    for index in (3, 2):
        raw = _field(obr, index).split(d.repetition)[0]
        ident = "^".join(unescape(c.strip(), d) for c in raw.split(d.component)).rstrip("^")
        if ident.strip("^"):
            return ident
    return ""


def _confirm_timeout(alarm: _Alarm, d: Delimiters) -> float | None:
    seg = alarm.facets.get("confirm_timeout")
    if seg is None:
        return None
    value = number(_field(seg, 5))
    if value is None or value <= 0:
        return None
    return value / 1000.0 if unit_of(_field(seg, 6), d) == "ms" else value


def _event(
    alarm: _Alarm,
    *,
    d: Delimiters,
    times: Times,
    base_time_ns: int,
    device: DeviceId,
    alarm_id: str,
    message_id: str,
) -> AlarmEvent:
    event = alarm.event
    value_type = _field(event, 2).strip().upper() if event is not None else ""
    raw_value = _field(event, 5) if event is not None else ""
    code = alarm.code
    technical_form = False
    if (code.mdc == MDC_EVT_ALARM or code.refid == "MDC_EVT_ALARM") and raw_value:
        inner = identify(raw_value, d)
        if inner.mdc or (inner.source_code and d.component in raw_value):
            code, technical_form = inner, True
    text = text_value(raw_value, value_type or "ST", d).strip() if raw_value else ""
    text = text or code.label
    flags = _flags(alarm, d)
    priority = _facet_priority(alarm, d)
    if priority is None:
        priority = next((PRIORITIES[f] for f in flags if f in PRIORITIES), AlarmPriority.MEDIUM)
    kind = KINDS.get(_facet_text(alarm, "type", d).upper())
    if kind is None:
        kind = next((KINDS[f] for f in flags if f in KINDS), None)
    if kind is None:
        technical = technical_form or any(w in code.refid.upper() for w in _TECHNICAL_WORDS)
        kind = AlarmKind.TECHNICAL if technical else AlarmKind.PHYSIOLOGICAL
    phase = _facet_text(alarm, "phase", d).lower() or "present"
    state = _facet_text(alarm, "state", d).lower() or ("inactive" if phase in _ENDED else "active")
    inactivation = _facet_text(alarm, "inactivation", d).lower() or "enabled"
    parameter_code, parameter_label = _parameter(alarm, d)
    value: float | str | None = None
    unit = ""
    limits = unescape(_field(event, 7), d).strip() if event is not None else ""
    for seg in alarm.values:
        raw = _field(seg, 5)
        if not raw:
            continue
        seg_type = _field(seg, 2).strip().upper()
        number_value = number(raw) if seg_type in ("NM", "") else None
        value = number_value if number_value is not None else text_value(raw, seg_type, d)
        unit = unit_of(_field(seg, 6), d)
        limits = unescape(_field(seg, 7), d).strip() or limits
        break
    device_time = times(_field(event, 14).strip()) if event is not None else None
    source_code = code.source_code
    if code.mdc == 0 and source_code is None:
        source_code = f"MDC:{code.refid}"
    return AlarmEvent(
        device=device,
        code=code.mdc,
        text=text,
        priority=priority,
        kind=kind,
        phase=phase,
        state=state,
        inactivation=inactivation,
        source=AlarmSource.DEVICE,
        time_ns=device_time or base_time_ns,
        alarm_id=alarm_id,
        parameter_code=parameter_code,
        parameter_label=parameter_label,
        value=value,
        unit=unit,
        limits=limits,
        source_code=source_code,
        sub_id=alarm.prefix or (_field(event, 4).strip() if event is not None else ""),
        message_id=message_id,
    )


def _flags(alarm: _Alarm, d: Delimiters) -> list[str]:
    """OBX-8 abnormal flags of the alarm's rows (event row first): ``L~PM~SP``."""
    flags: list[str] = []
    for seg in alarm.rows:
        raw = _field(seg, 8)
        if raw:
            flags += [f.strip().upper() for f in raw.split(d.repetition)]
    return flags


def _facet_text(alarm: _Alarm, facet: str, d: Delimiters) -> str:
    seg = alarm.facets.get(facet)
    if seg is None:
        return ""
    return text_value(_field(seg, 5), "ST", d).split(d.component)[0].strip()


def _facet_priority(alarm: _Alarm, d: Delimiters) -> AlarmPriority | None:
    text = _facet_text(alarm, "priority", d).upper()
    # Not "or": AlarmPriority.NONE is 0, and falsy.
    found = PRIORITIES.get(text)
    return found if found is not None else _PRIORITY_WORDS.get(text)


def _parameter(alarm: _Alarm, d: Delimiters) -> tuple[int | None, str]:
    """What alarmed: the source facet, else the value facet's code, else an MDC code that
    Mindray and Comen put in OBX-4 (``1.3.1.150456.1``)."""
    seg = alarm.facets.get("source")
    if seg is not None and _field(seg, 5).strip():
        raw = _field(seg, 5)
        if d.component in raw:
            code = identify(raw, d)
            return (code.mdc or None), code.label
        value = raw.strip()
        number = code_number(value)
        if number is not None and number >= 65536:
            param = nomenclature.parameter(number)
            return number, param.label if param else value
        return None, unescape(value, d)
    for seg in alarm.values:
        code = identify(_field(seg, 3), d)
        if code.mdc or code.source_code:
            return (code.mdc or None), code.label
    for part in alarm.prefix.split("."):
        number = code_number(part)
        if number is not None and number >= 65536:
            param = nomenclature.parameter(number)
            return number, param.label if param else ""
    return None, ""


# ---- Philips MDIL-ALERT ---------------------------------------------------------------------

_NUMBERS = re.compile(r"(?<![A-Za-z])[-+]?\d+(?:[.,]\d+)?")
_LABELS = {p.label.lower(): p for p in reversed(tuple(nomenclature.BY_CODE.values()))}


def mdil_alert(
    seg: Segment,
    code: Code,
    *,
    d: Delimiters,
    times: Times,
    base_time_ns: int,
    device: DeviceId,
    message_id: str,
) -> AlarmEvent | None:
    """One Philips MDIL-ALERT row; None when it carries no text (no alarm)."""
    value_type = _field(seg, 2).strip().upper() or "ST"
    text = text_value(_field(seg, 5), value_type, d).strip()
    if not text:
        return None
    label = code.refid.lower()
    level = set(re.split(r"[^a-z]+", label))
    stars = len(text) - len(text.lstrip("*"))
    if "inop" in re.sub(r"[^a-z]+", "", label) or "cyan" in level:
        # "Hard INOP", "HardInop" (one word, from an Information Center), "SoftInop" …
        soft = "soft" in label or "cyan" in level
        priority = AlarmPriority.LOW if soft else AlarmPriority.MEDIUM
        kind = AlarmKind.TECHNICAL
    elif "red" in level:
        priority, kind = AlarmPriority.HIGH, AlarmKind.PHYSIOLOGICAL
    elif "yellow" in level:
        priority, kind = AlarmPriority.MEDIUM, AlarmKind.PHYSIOLOGICAL
    elif stars:
        priority = {3: AlarmPriority.HIGH, 2: AlarmPriority.MEDIUM}.get(stars, AlarmPriority.LOW)
        kind = AlarmKind.PHYSIOLOGICAL
    else:
        priority, kind = AlarmPriority.MEDIUM, AlarmKind.PHYSIOLOGICAL
    shown = text.lstrip("* ").strip()
    words = shown.split()
    param = _LABELS.get(words[0].lower()) if words else None
    identity = " ".join(_NUMBERS.sub(" ", shown).replace("<", " ").replace(">", " ").split())
    return AlarmEvent(
        device=device,
        code=0,
        text=shown,
        priority=priority,
        kind=kind,
        phase="present",
        state="active",
        inactivation="enabled",
        source=AlarmSource.DEVICE,
        time_ns=times(_field(seg, 14).strip()) or base_time_ns,
        alarm_id=f"{MDIL_ALERT}:{identity}",
        parameter_code=param.code if param else None,
        parameter_label=param.label if param else "",
        limits=unescape(_field(seg, 7), d).strip(),
        source_code=code.source_code,
        sub_id=_field(seg, 4).strip(),
        message_id=message_id,
    )


# ---- demo and test data ----------------------------------------------------------------------

DEMO_MARK = "DEMO"
"""What an alarm from demo or test data says first (``DEMO Low SpO2``)."""


def as_demo(alarm: AlarmEvent) -> AlarmEvent:
    """A device's alarm from demo or test data (a monitor in demo mode, MSH-11 ``T``/``D``,
    OBX-8 ``DEMO``): never a patient's alarm nor a real equipment fault, so it is shown as
    a low-priority *advisory* marked ``DEMO`` (an ended one stays ended)."""
    if alarm.text.startswith(DEMO_MARK + " ") and alarm.kind is AlarmKind.ADVISORY:
        return alarm
    priority = alarm.priority if alarm.priority is AlarmPriority.NONE else AlarmPriority.LOW
    return dataclasses.replace(
        alarm,
        text=f"{DEMO_MARK} {alarm.text or alarm.parameter_label or 'alarm'}",
        priority=priority,
        kind=AlarmKind.ADVISORY,
    )

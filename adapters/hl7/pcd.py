"""IHE PCD decoding: a parsed ER7 message → :class:`DeviceReport` records.

Reads PCD-01 observation reports (ORU^R01): who sent them (MSH-3, OBX-18), where the
patient is (PV1-3), and each OBX row as an :class:`Observation` with its MDC code, unit,
status and time (OBX-14 > OBR-7 > MSH-7). It must not know beds, journals or sockets, and
it never drops a row it cannot map: a local code is kept with its sender's label.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterator

from adapters.hl7.er7 import Message, Segment
from gateway import nomenclature
from gateway.domain import DeviceId, DeviceReport, Location, Observation, ObservationStatus
from gateway.errors import ParseError

_STATUS = {
    "X": ObservationStatus.INVALID,
    "N": ObservationStatus.INVALID,
    "D": ObservationStatus.INVALID,
    "W": ObservationStatus.INVALID,
    "P": ObservationStatus.QUESTIONABLE,
    "I": ObservationStatus.QUESTIONABLE,
}

_TEXT_TYPES = frozenset(("ST", "TX", "FT", "CWE", "CE", "CF", "CNE", "IS", "ID", "TS", "DTM"))


def decode(
    message: Message, *, transport: str, peer: str, receive_time_ns: int
) -> list[DeviceReport]:
    """Every report a message carries: one per patient group (PID … PV1 … OBR/OBX)."""
    msh = message.msh
    device = sender_device(msh, peer)
    control_id = message.control_id
    message_time = parse_time(msh.get(7))
    reports: list[DeviceReport] = []
    for group in _patient_groups(message.segments):
        patient_id = ""
        location: Location | None = None
        observations: list[Observation] = []
        group_time = message_time
        for seg in group:
            name = seg.name
            if name == "OBX":
                obs = _observation(seg, device, group_time, receive_time_ns, control_id)
                if obs is not None:
                    observations.append(obs)
            elif name == "OBR":
                group_time = parse_time(seg.get(7)) or message_time
            elif name == "PID":
                patient_id = seg.get(3).strip()
            elif name == "PV1":
                location = parse_location(seg)
        reports.append(
            DeviceReport(
                device=device,
                transport=transport,
                peer=peer,
                receive_time_ns=receive_time_ns,
                message_id=control_id,
                location=location,
                patient_id=patient_id,
                observations=tuple(observations),
            )
        )
    return reports


def _patient_groups(segments: list[Segment]) -> Iterator[list[Segment]]:
    group: list[Segment] = []
    for seg in segments[1:]:
        if seg.name == "PID" and any(s.name in ("OBX", "PV1", "PID") for s in group):
            yield group
            group = []
        group.append(seg)
    yield group


def sender_device(msh: Segment, peer: str) -> DeviceId:
    """The sending device: its EUI-64 from MSH-3 when given, else MSH-3/4, else the peer."""
    app = msh.components(3)
    namespace = app[0] if app else ""
    universal = app[1].strip() if len(app) > 1 else ""
    facility = msh.get(4)
    label = namespace or facility
    if universal.upper() in ("EUI-64", "EUI64") and namespace:
        # Seen from Dräger: the EUI-64 in HD-1 and its type in HD-2 (``0000…01^EUI-64``).
        return DeviceId(f"EUI-64:{namespace.upper()}", facility or namespace)
    if universal:
        kind = (app[2].strip() if len(app) > 2 else "") or "ID"
        return DeviceId(f"{kind.upper()}:{universal.upper()}", label or universal)
    if namespace or facility:
        return DeviceId(f"app:{namespace}|{facility}", label)
    host = peer.rsplit(":", 1)[0] if peer.count(":") == 1 else peer
    return DeviceId(f"tcp:{host}", host)


def parse_location(pv1: Segment) -> Location | None:
    """PV1-3 as sent, its parts kept; a bed label in sub-components is found too."""
    raw = pv1.raw(3).split(pv1.delimiters.repetition)[0]
    if not raw.strip(pv1.delimiters.component + pv1.delimiters.subcomponent + " "):
        return None
    sub = pv1.delimiters.subcomponent
    parts = pv1.components(3)
    parts += [""] * (4 - len(parts))

    def first(value: str) -> str:
        return next((p.strip() for p in value.split(sub) if p.strip()), "")

    return Location(raw, first(parts[0]), first(parts[1]), first(parts[2]), first(parts[3]))


def _observation(
    obx: Segment,
    device: DeviceId,
    group_time: int | None,
    receive_time_ns: int,
    message_id: str,
) -> Observation | None:
    value_type = obx.get(2).strip().upper()
    if not value_type or value_type == "NA":
        return None  # device-hierarchy rows carry no value; waveforms come later
    raw_value = obx.raw(5)
    if not raw_value:
        return None
    ident = obx.components(3)
    ident += [""] * (3 - len(ident))
    code, refid, system = ident[0].strip(), ident[1].strip(), ident[2].strip().upper()
    mdc, source_code = _code(code, refid, system)
    param = nomenclature.parameter(mdc, refid)
    if param is not None:
        mdc = param.code if mdc == 0 else mdc
        label = param.label
    else:
        label = refid or code
    status = _STATUS.get(obx.get(11).strip().upper(), ObservationStatus.VALID)
    value: float | str
    if value_type == "NM":
        text = obx.get(5).strip()
        try:
            value = float(text)
        except ValueError:
            value, status = text, ObservationStatus.QUESTIONABLE
    elif value_type in _TEXT_TYPES:
        value = _text_value(obx, value_type)
    else:
        value = obx.get(5)
    unit_parts = obx.components(6)
    unit = _unit(unit_parts)
    if not unit and param is not None and value_type == "NM":
        unit = param.unit
    device_time = parse_time(obx.get(14)) or group_time
    return Observation(
        device=device,
        code=mdc,
        label=label,
        value=value,
        unit=unit,
        status=status,
        receive_time_ns=receive_time_ns,
        device_time_ns=device_time,
        sub_id=obx.get(4).strip(),
        source_code=source_code,
        message_id=message_id,
    )


def _code(code: str, refid: str, system: str) -> tuple[int, str | None]:
    """MDC code of an OBX-3, or 0 with the sender's own code kept."""
    if system in ("MDC", "") and code.isdigit():
        return int(code), None
    if system.startswith("MDIL") or (len(code) == 9 and code[4] == "-"):
        # Philips MDIL ids are partition-hex: "0002-4bb8" → 2 × 65536 + 0x4bb8.
        partition, _, term = code.partition("-")
        try:
            return int(partition) * 65536 + int(term, 16), None
        except ValueError:
            pass
    return 0, f"{system or 'LOCAL'}:{code or refid}"


def _text_value(obx: Segment, value_type: str) -> str:
    if value_type in ("CWE", "CE", "CF", "CNE"):
        parts = obx.components(5)
        # Original text (CWE-9) is what the device showed; else the text, else the code.
        for index in (8, 1, 0):
            if index < len(parts) and parts[index].strip():
                return parts[index].strip()
        return ""
    return obx.get(5)


def _unit(parts: list[str]) -> str:
    if not parts or not any(parts):
        return ""
    code = parts[0].strip()
    system = parts[2].strip().upper() if len(parts) > 2 else ""
    if system == "MDC" and code.isdigit():
        if int(code) in nomenclature.UNITS:
            return nomenclature.UNITS[int(code)]
        if len(parts) > 3 and parts[3].strip():
            return nomenclature.unit_text(None, parts[3].strip())
        return parts[1].removeprefix("MDC_DIM_").lower()
    return nomenclature.unit_text(None, code or (parts[1].strip() if len(parts) > 1 else ""))


def parse_time(value: str) -> int | None:
    """HL7 DTM → UTC nanoseconds. No offset, or ``-0000`` (unknown), means local time.

    An unreadable time gives None (the caller falls back to the next time it has), never
    an exception: a device with a bad clock must still be seen.
    """
    match = _DTM.fullmatch(value.replace(" ", ""))
    if match is None:
        return None
    digits, fraction, zone = match.groups()
    digits = digits.ljust(14, "0")
    year, month, day = int(digits[0:4]), int(digits[4:6]), int(digits[6:8])
    hour, minute, second = int(digits[8:10]), int(digits[10:12]), int(digits[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60):
        return None
    fields = (year, month, day, hour, minute, second)
    try:
        if zone is None or zone == "-0000":
            seconds = int(time.mktime((*fields, 0, 0, -1)))
        else:
            offset = int(zone[1:3]) * 3600 + int(zone[3:5]) * 60
            seconds = calendar.timegm((*fields, 0, 0, 0)) - (offset if zone[0] == "+" else -offset)
    except (OverflowError, ValueError):
        return None
    nanos = int(fraction.ljust(9, "0")[:9]) if fraction else 0
    return seconds * 1_000_000_000 + nanos


_DTM = re.compile(r"(\d{8}|\d{10}|\d{12}|\d{14})(?:\.(\d{1,9}))?([+-]\d{4})?")


def require_observation_report(message: Message) -> None:
    """Raise ParseError unless the message is one this decoder understands."""
    code, trigger, _ = message.message_type
    if code != "ORU":
        raise ParseError(f"unsupported message type {code}^{trigger}", segment="MSH", field=9)

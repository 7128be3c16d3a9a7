"""Conformance report for captured HL7 v2 messages: ``icu-gateway validate FILE``.

What a biomedical engineer runs on a capture from a new device before trusting it: for each
message, what the gateway reads from it (device, location, observations, waveforms,
alarms, the ACK it would send), hl7apy's verdict on the HL7 structure, and our own IHE PCD
checks — a missing PV1-3, codes and units the gateway does not know, times without a zone,
a missing OBX-11, the MSH-21 profile, alarms without priority, waveforms without a rate,
vendor no-value markers and values outside a parameter's physiological range.

A file may hold one message or many, as the reference samples (``# source:`` lines are
skipped) or as a raw capture, MLLP-framed or not, with CR, LF or CRLF separators.

hl7apy is the conformance oracle and is imported here only, never on the ingest path: it
is far too slow for a ward (tens of milliseconds a message) and too strict for devices.
This module reads files and writes nothing; it never talks to a device.
"""

from __future__ import annotations

import contextlib
import enum
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from adapters.hl7 import acm, er7, obx, pcd, waveform
from adapters.hl7.mllp import MllpFramer, OversizeFrame
from gateway import nomenclature, plausibility
from gateway.domain import ObservationStatus
from gateway.errors import GatewayError, ParseError
from gateway.wording import plural

KNOWN_PROFILES = {
    "IHE_PCD_001": "IHE PCD-01 (DEC)",
    "PCD_DEC_001": "IHE PCD-01 (DEC)",
    "IHE_PCD_ACM_001": "IHE PCD-04 (ACM)",
    "IHE_PCD_010": "IHE PCD-10 (infusion events)",
    "IHE PCD ORU-R01 2006": "IHE PCD-01 (2006 profile id)",
}
# Codes that are not parameters but are part of IHE PCD messages: device hierarchy rows,
# alarm facets and waveform attributes. Known here so they are not reported as unknown.
_STRUCTURE_REFIDS = ("MDC_DEV_", "MDC_ATTR_", "MDC_EVT_", "MDCX_")


class Severity(enum.Enum):
    ERROR = "error"
    """Not conformant, and the gateway loses or misreads something because of it."""
    WARNING = "warning"
    """Not as IHE PCD asks; the gateway copes, as the text says."""
    NOTE = "note"
    """Worth knowing when binding the device (ACK mode, identity, profile)."""


@dataclass(frozen=True, slots=True)
class Finding:
    severity: Severity
    where: str
    text: str


@dataclass(slots=True)
class MessageReport:
    """The verdict on one message of a capture."""

    index: int
    control_id: str = ""
    message_type: str = ""
    summary: list[str] = field(default_factory=list)
    hl7apy: list[Finding] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def conformant(self) -> bool:
        return not any(f.severity is Severity.ERROR for f in (*self.findings, *self.hl7apy))

    def add(self, severity: Severity, where: str, text: str) -> None:
        self.findings.append(Finding(severity, where, text))


@dataclass(slots=True)
class CaptureReport:
    """The verdict on a whole file."""

    name: str
    messages: list[MessageReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    """What was wrong with the file as a whole (noise, a truncated frame)."""

    @property
    def conformant(self) -> bool:
        return bool(self.messages) and all(m.conformant for m in self.messages)


class UnreadableCapture(GatewayError):
    """The file cannot be read, or holds no HL7 message at all."""


def validate_file(path: str | os.PathLike[str]) -> CaptureReport:
    """Read and judge a capture; :class:`UnreadableCapture` when there is nothing to judge."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UnreadableCapture(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return validate_bytes(data, name=str(path))


def validate_bytes(data: bytes, *, name: str = "capture") -> CaptureReport:
    report = CaptureReport(name)
    messages = split_capture(data, report.problems)
    if not messages:
        raise UnreadableCapture(f"{name}: no HL7 message found (nothing starts with MSH)")
    for index, message in enumerate(messages, start=1):
        report.messages.append(validate_message(message, index))
    return report


def split_capture(data: bytes, problems: list[str] | None = None) -> list[bytes]:
    """The messages in a capture: MLLP frames when framed, else one per MSH segment."""
    problems = problems if problems is not None else []
    lines = re.split(rb"(\r\n|\r|\n)", data)
    kept: list[bytes] = []
    skip_separator = False
    for part in lines:
        if skip_separator and part in (b"\r\n", b"\r", b"\n"):
            skip_separator = False
            continue
        skip_separator = False
        if part.startswith(b"#"):
            skip_separator = True
            continue
        kept.append(part)
    data = b"".join(kept)
    if b"\x0b" in data:
        framer = MllpFramer()
        frames = []
        for item in framer.feed(data):
            if isinstance(item, OversizeFrame):
                problems.append(f"a frame of {item.size} bytes exceeds the 1 MiB limit: skipped")
            else:
                frames.append(item)
        if framer.pending:
            problems.append(f"the capture ends inside a frame ({framer.pending} bytes unread)")
        if framer.discarded and data.strip(b"\r\n\x0b\x1c\x0c"):
            problems.append(f"{framer.discarded} bytes outside MLLP frames were ignored")
        return [m for frame in frames for m in _split_unframed(frame)]
    return _split_unframed(data)


def _split_unframed(data: bytes) -> list[bytes]:
    starts = [m.start(1) for m in re.finditer(rb"(?:^|[\r\n])(MSH[^A-Za-z0-9\r\n])", data)]
    out = []
    for position, start in enumerate(starts):
        end = starts[position + 1] if position + 1 < len(starts) else len(data)
        chunk = data[start:end].strip(b"\r\n\x1c")
        if chunk:
            out.append(chunk)
    return out


def validate_message(data: bytes, index: int = 1) -> MessageReport:
    """Judge one message (the bytes of one frame)."""
    report = MessageReport(index)
    try:
        message = er7.parse(data)
    except ParseError as exc:
        where = exc.segment or "message"
        if exc.field:
            where += f"-{exc.field}"
        report.add(Severity.ERROR, where, f"not readable as HL7: {exc} — the gateway rejects it")
        return report
    report.control_id = message.control_id
    code, trigger, structure = message.message_type
    report.message_type = "^".join(p for p in (code, trigger, structure) if p)
    report.hl7apy = _hl7apy_verdict(message)
    _check_header(message, report)
    if code.strip().upper() != "ORU":
        report.add(
            Severity.ERROR,
            "MSH-9",
            f"{code}^{trigger} is not an observation report: the gateway answers it with a "
            "reject (AR/CR) and takes nothing in",
        )
        return report
    decoded = pcd.decode_message(message, transport="file", peer="capture", receive_time_ns=0)
    _summarise(message, decoded, report)
    _check_rows(message, decoded, report)
    _check_plausible(decoded, report)
    return report


def _check_plausible(decoded: pcd.Decoded, report: MessageReport) -> None:
    """Values no patient can have, judged as the gateway judges them on ingest."""
    for rep in decoded.reports:
        for obs in plausibility.screen(rep)[1]:
            where = f"OBX {obs.label or obs.code}" + (f" ({obs.sub_id})" if obs.sub_id else "")
            kind = (
                "a vendor no-value marker"
                if obs.reason.startswith("no-value")
                else ("a value no patient can have")
            )
            report.add(
                Severity.WARNING,
                f"{where} (OBX-5)",
                f"{plausibility.describe(obs)} — {kind}: shown as ***, never alarmed as a"
                " limit violation, kept in the journal as invalid",
            )


# ---- hl7apy ---------------------------------------------------------------------------------


def _hl7apy_verdict(message: er7.Message) -> list[Finding]:
    """hl7apy's structural validation, its errors and warnings as findings."""
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.exceptions import HL7apyException
    from hl7apy.parser import parse_message
    from hl7apy.validation import Validator

    msh = message.msh
    code, trigger, _ = message.message_type
    fields = list(msh.fields)
    findings: list[Finding] = []
    if code.strip().upper() == "ORU":
        # hl7apy knows ORU_R01 only; R40 (PCD-04), R42 and W01 share its structure.
        if trigger.strip().upper() != "R01":
            findings.append(
                Finding(
                    Severity.NOTE,
                    "hl7apy",
                    f"{code}^{trigger} checked against the ORU_R01 structure it shares",
                )
            )
        fields[9] = "ORU^R01^ORU_R01"
    elif code.strip().upper() == "ACK":
        fields[9] = f"ACK^{trigger}^ACK"
    segments = ["MSH" + msh.delimiters.field + msh.delimiters.field.join(fields[2:])]
    segments += [s.delimiters.field.join(s.fields) for s in message.segments[1:]]
    text = "\r".join(segments)
    try:
        parsed = parse_message(text, find_groups=True, validation_level=VALIDATION_LEVEL.TOLERANT)
    except (HL7apyException, ValueError, KeyError, IndexError, TypeError) as exc:
        findings.append(Finding(Severity.ERROR, "hl7apy", f"cannot parse it: {exc}"))
        return findings
    handle, path = tempfile.mkstemp(prefix="icu-gateway-validate-", suffix=".txt")
    os.close(handle)
    try:
        # Every error is written to the report file; the first is also raised.
        with contextlib.suppress(HL7apyException, ValueError, KeyError, IndexError, TypeError):
            Validator.validate(parsed, report_file=path)
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
    finally:
        Path(path).unlink(missing_ok=True)
    seen: set[str] = set()
    for line in lines:
        kind, _, text_ = line.partition(": ")
        if not text_ or text_ in seen:
            continue
        seen.add(text_)
        severity = Severity.ERROR if kind == "Error" else Severity.WARNING
        findings.append(Finding(severity, "hl7apy", text_))
    return findings


# ---- our own checks ---------------------------------------------------------------------------


def _check_header(message: er7.Message, report: MessageReport) -> None:
    msh = message.msh
    if not message.control_id:
        report.add(Severity.ERROR, "MSH-10", "no message control id: an ACK cannot name it")
    for quirk in message.quirks:
        report.add(
            Severity.WARNING,
            "MSH",
            f"{quirk}: the gateway accepts it with a fault on screen; correct the device's header",
        )
    processing = msh.get(11).strip().upper()
    if processing in pcd.DEMO_PROCESSING_IDS:
        report.add(
            Severity.WARNING,
            "MSH-11",
            f"processing id {processing!r} (training/debugging): every value is demo or test "
            "data — shown marked DEMO, never a patient's, never limit-alarmed",
        )
    if message.decode_errors:
        report.add(
            Severity.ERROR,
            "MSH-18",
            f"bytes that are not valid {message.charset or 'UTF-8 (no MSH-18)'}: replaced by "
            "'\ufffd' — declare the character set the device really sends",
        )
    elif not message.charset and any(
        ord(c) > 127 for s in message.segments for c in "".join(s.fields)
    ):
        report.add(Severity.WARNING, "MSH-18", "no character set declared; text read as UTF-8")
    elif message.charset and message.charset.upper() not in er7.CHARSETS:
        report.add(
            Severity.WARNING, "MSH-18", f"unknown character set {message.charset!r}; read as UTF-8"
        )
    time_text = msh.get(7).strip()
    _check_time(report, "MSH-7", time_text, required=True)
    version = msh.get(12).strip()
    if version and version != "2.6":
        report.add(Severity.NOTE, "MSH-12", f"HL7 version {version}; IHE PCD specifies 2.6")
    profile = msh.get(21).strip()
    if not profile:
        report.add(
            Severity.WARNING,
            "MSH-21",
            "no message profile: IHE PCD senders name theirs (IHE_PCD_001 …)",
        )
    elif profile not in KNOWN_PROFILES:
        report.add(Severity.NOTE, "MSH-21", f"profile {profile!r} is not one IHE PCD defines")
    accept, application = msh.get(15).strip().upper(), msh.get(16).strip().upper()
    if not accept and not application:
        mode = "original mode (MSH-15/16 empty): the gateway answers AA/AE/AR"
    else:
        mode = (
            f"enhanced mode (MSH-15 {accept or '-'}, MSH-16 {application or '-'}): the gateway "
            "answers " + _ack_words(accept, application)
        )
    report.add(Severity.NOTE, "MSH-15/16", mode)
    for name, value in (("MSH-15", accept), ("MSH-16", application)):
        if value and value not in ("AL", "NE", "ER", "SU"):
            report.add(Severity.WARNING, name, f"{value!r} is not AL, NE, ER or SU (table 0155)")


def _ack_words(accept: str, application: str) -> str:
    parts = []
    if accept in ("", "AL", "SU") or accept not in ("NE", "ER"):
        parts.append("a commit ACK (CA)")
    elif accept == "ER":
        parts.append("a commit ACK only on error (CE/CR)")
    if application in ("AL", "SU"):
        parts.append("an application ACK (AA)")
    elif application == "ER":
        parts.append("an application ACK only on error")
    return " and ".join(parts) or "nothing (no ACK asked for)"


def _check_time(report: MessageReport, where: str, text: str, *, required: bool = False) -> None:
    if not text:
        if required:
            report.add(Severity.WARNING, where, "no time: the gateway's receive time is used")
        return
    if obx.parse_time(text) is None:
        report.add(Severity.ERROR, where, f"unreadable time {text!r}: the next time up is used")
    elif not obx.has_zone(text):
        report.add(
            Severity.WARNING,
            where,
            f"time {text!r} has no UTC offset"
            + (" (-0000: unknown)" if text.endswith("-0000") else "")
            + ": read as the gateway's local time",
        )


def _summarise(message: er7.Message, decoded: pcd.Decoded, report: MessageReport) -> None:
    lines = report.summary
    for number, rep in enumerate(decoded.reports, start=1):
        where = rep.location.label if rep.location is not None else "no location (PV1-3)"
        invalid = sum(1 for o in rep.observations if o.status is ObservationStatus.INVALID)
        demo = sum(1 for o in rep.observations if o.demo)
        lines.append(
            f"report {number}: device {rep.device.key} ({rep.device.label}), location "
            f"{where!r}, patient {rep.patient_id or '-'}"
        )
        lines.append(
            f"  {len(rep.observations)} observations"
            + (f" ({invalid} marked invalid by OBX-11)" if invalid else "")
            + (f" ({demo} demo/test data, shown marked DEMO)" if demo else "")
            + f", {plural(len(rep.waveforms), 'waveform')}, {plural(len(rep.alarms), 'alarm')}"
        )
        for chunk in rep.waveforms:
            lines.append(
                f"  waveform {chunk.label}: {chunk.samples.size} samples at "
                f"{chunk.sample_rate_hz:g}/s {chunk.unit}".rstrip()
            )
        for alarm in rep.alarms:
            lines.append(
                f"  alarm {alarm.text!r}: {alarm.priority.name.lower()} priority, "
                f"{alarm.kind.value}, {alarm.phase}/{alarm.state}/{alarm.inactivation}"
                + (f", parameter {alarm.parameter_label}" if alarm.parameter_label else "")
            )
    if decoded.keep_alive:
        timeout = decoded.confirm_timeout_s
        lines.append(
            "a keep-alive (watchdog): answered CA on the same connection"
            + (f", within its {timeout:g} s timeout" if timeout else "")
        )


def _check_rows(message: er7.Message, decoded: pcd.Decoded, report: MessageReport) -> None:
    d = message.delimiters
    trigger = message.message_type[1].strip().upper()
    groups = pcd.patient_groups(message.segments)
    for group in groups:
        pv1 = next((s for s in group if s.name == "PV1"), None)
        location = pcd.parse_location(pv1) if pv1 is not None else None
        if location is None:
            report.add(
                Severity.WARNING,
                "PV1-3",
                "no location: the device gets a bed of its own (or is listed unassigned); "
                "bind it by device id in the configuration",
            )
    if not any(r.device.key.startswith("EUI-64:") for r in decoded.reports):
        report.add(
            Severity.NOTE,
            "MSH-3/OBX-18",
            "no EUI-64 for the device: it is known as "
            + ", ".join(sorted({r.device.key for r in decoded.reports}))
            + " — bind it by that key, its location or its address",
        )
    for problem in decoded.problems:
        report.add(Severity.ERROR, "OBX", problem)
    alarm_orders = _alarm_orders(message, trigger)
    for seg, ordinal in _obx_rows(message.segments):
        where = f"OBX {ordinal}"
        fields = seg.fields
        value_type = seg.get(2).strip().upper()
        raw_value = seg.raw(5)
        code = obx.identify(seg.raw(3), d)
        refid = code.refid
        if not value_type and raw_value:
            report.add(Severity.WARNING, f"{where} (OBX-2)", "a value without a value type")
        if not raw_value:
            continue  # a device-hierarchy row
        _check_code(report, where, seg, code)
        if pcd.is_demo_row(fields, d):
            report.add(
                Severity.WARNING,
                f"{where} (OBX-8)",
                f"{seg.get(8)!r}: demo or test data — shown marked DEMO, never a patient's, "
                "never limit-alarmed",
            )
        in_alarm = id(seg) in alarm_orders
        if value_type in ("NM", "") and not in_alarm and not waveform.is_attribute(code):
            if obx.number(raw_value) is None and d.component not in raw_value:
                report.add(
                    Severity.ERROR,
                    f"{where} (OBX-5)",
                    f"{raw_value!r} is not a number: shown as questionable text",
                )
            raw_unit = seg.raw(6)
            if not raw_unit.strip(d.component + " "):
                fallback = code.unit
                report.add(
                    Severity.WARNING,
                    f"{where} (OBX-6)",
                    f"{code.label}: no unit"
                    + (
                        f"; the usual unit {fallback!r} is assumed"
                        if fallback
                        else "; shown without one"
                    ),
                )
            elif not obx.unit_is_known(raw_unit, d):
                report.add(
                    Severity.WARNING,
                    f"{where} (OBX-6)",
                    f"unit {seg.get(6)!r} is not one the gateway knows: shown as sent",
                )
        if value_type in ("NA", "MA") and not raw_value.strip():
            report.add(Severity.WARNING, f"{where} (OBX-5)", "a waveform row with no samples")
        status = seg.get(11).strip().upper()
        if not status:
            report.add(
                Severity.WARNING,
                f"{where} (OBX-11)",
                "no result status: IHE PCD requires it (R, F or X); read as valid",
            )
        elif status not in obx.STATUS:
            report.add(
                Severity.WARNING,
                f"{where} (OBX-11)",
                f"status {status!r} is not in HL7 table 0085: the value is shown as questionable",
            )
        if len(fields) > 14 and fields[14].strip():
            _check_time(report, f"{where} (OBX-14)", fields[14].strip())
        if in_alarm:
            _check_facet(report, where, seg, code, d)
        elif refid == "MDC_EVT_ACTIVE" or acm.facet_of(code) is not None:
            report.add(
                Severity.WARNING,
                where,
                f"an alarm facet ({refid}) outside an alarm report "
                "(ORU^R40 or OBR-4 MDC_EVT_ALARM)",
            )
    for obr in message.all("OBR"):
        _check_time(report, "OBR-7", obr.raw(7).strip())
    for rep in decoded.reports:
        for alarm in rep.alarms:
            if alarm.source_code and alarm.source_code.startswith(acm.MDIL_ALERT):
                continue
            _check_alarm_priority(report, message, alarm.alarm_id, alarm.text)


def _obx_rows(segments: Iterable[er7.Segment]) -> Iterable[tuple[er7.Segment, int]]:
    ordinal = 0
    for seg in segments:
        if seg.name == "OBX":
            ordinal += 1
            yield seg, ordinal


def _alarm_orders(message: er7.Message, trigger: str) -> set[int]:
    """The OBX rows that belong to PCD-04 alarm groups (by identity)."""
    rows: set[int] = set()
    current: list[er7.Segment] = []
    alarm = False

    def close() -> None:
        if alarm:
            rows.update(id(s) for s in current)

    for seg in message.segments:
        if seg.name in ("OBR", "PID"):
            close()
            current = []
            service = seg.raw(4) if seg.name == "OBR" else ""
            alarm = trigger == "R40" or "196616" in service or "MDC_EVT_ALARM" in service
        elif seg.name == "OBX":
            current.append(seg)
    close()
    return rows


def _check_code(report: MessageReport, where: str, seg: er7.Segment, code: obx.Code) -> None:
    parts = seg.components(3)
    number = parts[0].strip() if parts else ""
    refid = parts[1].strip() if len(parts) > 1 else ""
    system = parts[2].strip().upper() if len(parts) > 2 else ""
    if system not in ("MDC", "") or (not number.isdigit() and code.source_code):
        if acm.is_mdil_alert(code):
            return
        if code.mdc:
            report.add(
                Severity.NOTE,
                f"{where} (OBX-3)",
                f"{system or 'local'} code {number!r} mapped to MDC {code.mdc} ({code.label})"
                + ("" if code.known else ", a code not in the gateway's table"),
            )
        else:
            report.add(
                Severity.NOTE,
                f"{where} (OBX-3)",
                f"local code {code.source_code} ({code.label!r}): kept with its label, not "
                "shown on a bed tile",
            )
        return
    numeric = obx.code_number(number)
    if numeric and refid:
        by_refid = nomenclature.BY_REFID.get(refid)
        if (
            by_refid is not None
            and by_refid.code != numeric
            and numeric not in nomenclature.BY_CODE
        ):
            report.add(
                Severity.WARNING,
                f"{where} (OBX-3)",
                f"code {number} does not match {refid} ({by_refid.code}): read by its REFID",
            )
            return
        if (
            refid in obx.FACETS_BY_REFID
            and obx.FACETS_BY_CODE.get(numeric) != obx.FACETS_BY_REFID[refid]
        ):
            report.add(
                Severity.WARNING,
                f"{where} (OBX-3)",
                f"code {number} does not match {refid}: read by its REFID",
            )
            return
    if not code.known and not refid.startswith(_STRUCTURE_REFIDS):
        report.add(
            Severity.WARNING,
            f"{where} (OBX-3)",
            f"MDC code {number or '?'} {refid or ''} is not in the gateway's table: listed with "
            "its label, not placed on a bed tile".replace("  ", " "),
        )


def _check_facet(
    report: MessageReport, where: str, seg: er7.Segment, code: obx.Code, d: er7.Delimiters
) -> None:
    facet = acm.facet_of(code)
    value = obx.text_value(seg.raw(5), "ST", d).split(d.component)[0].strip()
    allowed = {
        "phase": acm.PHASES,
        "state": acm.STATES,
        "inactivation": acm.INACTIVATIONS,
        "priority": frozenset(acm.PRIORITIES),
        "type": frozenset(acm.KINDS),
    }.get(facet or "")
    if allowed is not None:
        shown = value.upper() if facet in ("priority", "type") else value.lower()
        if shown not in allowed:
            report.add(
                Severity.WARNING,
                f"{where} (OBX-5)",
                f"{facet} {value!r} is not in the IHE ACM vocabulary "
                f"({', '.join(sorted(allowed))})",
            )
    flags = [f.strip().upper() for f in seg.raw(8).split(d.repetition) if f.strip()]
    if any(f in acm.PRIORITIES or f in acm.KINDS for f in flags):
        report.add(
            Severity.NOTE,
            f"{where} (OBX-8)",
            "priority/type in OBX-8 (the deprecated form); separate facets win when both appear",
        )


def _check_alarm_priority(
    report: MessageReport, message: er7.Message, alarm_id: str, text: str
) -> None:
    """Warn about an alarm sent with neither a priority facet nor an OBX-8 priority."""
    d = message.delimiters
    for _obr, rows in pcd.order_groups(message.segments):
        has_priority = False
        names_it = False
        for seg in rows:
            code = obx.identify(seg.raw(3), d)
            if acm.facet_of(code) == "priority":
                has_priority = True
            flags = {f.strip().upper() for f in seg.raw(8).split(d.repetition)}
            if flags & set(acm.PRIORITIES):
                has_priority = True
            if obx.text_value(seg.raw(5), seg.get(2).strip().upper() or "ST", d).strip() == text:
                names_it = True
        if names_it and not has_priority:
            report.add(
                Severity.WARNING,
                "OBX",
                f"alarm {text!r} ({alarm_id}) has no priority: the gateway shows it as medium",
            )
            return


# ---- rendering ------------------------------------------------------------------------------


def render(report: CaptureReport) -> str:
    """The report as a biomedical engineer reads it."""
    total = len(report.messages)
    good = sum(1 for m in report.messages if m.conformant)
    out = [
        f"{report.name}: {total} message{'s' if total != 1 else ''} — "
        f"{good} conformant, {total - good} not conformant"
    ]
    out += [f"  file: {problem}" for problem in report.problems]
    for message in report.messages:
        out.append("")
        title = f"Message {message.index} of {total}"
        if message.message_type:
            title += f" — {message.message_type}, control id {message.control_id or '(none)'}"
        out.append(title)
        if message.summary:
            out.append("  What the gateway reads:")
            out += [f"    {line}" for line in message.summary]
        if message.hl7apy:
            out.append("  hl7apy (HL7 structure):")
            out += [f"    {f.severity.value:7} {f.text}" for f in message.hl7apy]
        elif message.message_type:
            out.append("  hl7apy (HL7 structure): valid")
        if message.findings:
            out.append("  IHE PCD checks:")
            order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.NOTE: 2}
            for finding in sorted(message.findings, key=lambda f: order[f.severity]):
                out.append(f"    {finding.severity.value:7} {finding.where}: {finding.text}")
        errors = sum(
            1 for f in (*message.findings, *message.hl7apy) if f.severity is Severity.ERROR
        )
        warnings = sum(
            1 for f in (*message.findings, *message.hl7apy) if f.severity is Severity.WARNING
        )
        verdict = "conformant" if message.conformant else "NOT conformant"
        out.append(f"  Verdict: {verdict} ({errors} errors, {warnings} warnings)")
    return "\n".join(out) + "\n"

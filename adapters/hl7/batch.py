"""The HL7 export: the journal as an HL7 v2 batch file, to put back into the patient record.

A batch (FHS/BHS … BTS/FTS) holds, per stored report, the messages the gateway's own
decoder (:mod:`adapters.hl7.pcd`) reads back into the same report — so re-ingesting the file
gives the same record (tested through the real listener):

* an IHE PCD-01 ``ORU^R01`` with every observation (MDC code, unit in its real coding
  system — UCUM, else MDC, else local ``L``, never a code labelled UCUM —, OBX-11 status,
  measurement time, OBX-8 ``DEMO`` on demo or test data), every waveform chunk (an ``NA``
  row of samples and its ``MDC_ATTR_SAMP_RATE`` child row, as :mod:`adapters.hl7.waveform`
  reads them; the first sample's time in OBX-14) and the Philips ``MDIL-ALERT`` text
  alarms as the device sent them (its alarm level in the code's text, which is where the
  decoder reads it);
* an IHE PCD-04 ``ORU^R40`` with the device's other alarms, one OBR per alarm (its identity
  in OBR-29) and its facets as :mod:`adapters.hl7.acm` reads them: event (code, text,
  time, limits), source, phase, state, inactivation state, priority, type and the value
  that alarmed.

MSH-10 is the original message's, suffixed ``-2``, ``-3`` … when one message carried several
patients, and ``-A`` on the R40 of a report that also had values. Samples are written with
seven significant digits (what a float32 sample holds), nine where seven would not read back
to the same float32: a re-import gives the stored samples exactly. Times carry 0.1 ms.

Blocking: it runs from the command line, never on the gateway's event loop.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

import numpy as np
import numpy.typing as npt

from adapters.hl7 import er7
from adapters.hl7.er7 import escape
from adapters.hl7.obx import mdil_code
from gateway import nomenclature
from gateway.clock import NS_PER_S
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    BedId,
    DeviceId,
    Observation,
    ObservationStatus,
    WaveformChunk,
)
from gateway.errors import ParseError
from gateway.journal.reader import JournalReader
from gateway.journal.records import StoredReport

SENDER = "ICU-GATEWAY"
# Display units → UCUM, for OBX-6; the gateway's own parser maps these back (nomenclature).
_UCUM = {"°C": "Cel", "mmHg": "mm[Hg]", "/min": "/min", "%": "%", "cmH2O": "cm[H2O]", "µV": "uV"}
_UCUM_UNITS = frozenset(
    [
        "Cel",
        "mm[Hg]",
        "/min",
        "%",
        "cm[H2O]",
        "uV",
        "ms",
        "s",
        "min",
        "mV",
        "Hz",
        "/s",
        "mL/h",
        "mL",
        "kg",
        "kPa",
        "L/min",
    ]
)
"""What OBX-6 may label UCUM: only real UCUM spellings (never an MDC or MDIL code)."""
_HL7_STATUS = {
    ObservationStatus.VALID: "R",  # as the device sent it: not verified by a clinician
    ObservationStatus.INVALID: "X",
    ObservationStatus.QUESTIONABLE: "P",
}
_MONITORING = "182777000^monitoring of patient^SCT"
_PCD_01 = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
_PCD_04 = "IHE_PCD_ACM_001^IHE PCD^1.3.6.1.4.1.19376.1.6.4.4.1^ISO"
_MDS = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"
_SAMPLE_RATE = "0^MDC_ATTR_SAMP_RATE^MDC"
_PER_SECOND = "264608^MDC_DIM_PER_SEC^MDC"
_ALARM_ORDER = "196616^MDC_EVT_ALARM^MDC"
# PCD-04 facets after the event (facet 1), in the order IHE lists them, and the value.
_SOURCE = "68480^MDC_ATTR_ALERT_SOURCE^MDC"
_PHASE = "68481^MDC_ATTR_EVENT_PHASE^MDC"
_STATE = "68482^MDC_ATTR_ALARM_STATE^MDC"
_INACTIVATION = "68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC"
_PRIORITY = "68484^MDC_ATTR_ALARM_PRIORITY^MDC"
_TYPE = "68485^MDC_ATTR_ALERT_TYPE^MDC"
_PRIORITY_CODE = {
    AlarmPriority.NONE: "PN",
    AlarmPriority.LOW: "PL",
    AlarmPriority.MEDIUM: "PM",
    AlarmPriority.HIGH: "PH",
}
_TYPE_CODE = {AlarmKind.PHYSIOLOGICAL: "SP", AlarmKind.TECHNICAL: "ST", AlarmKind.ADVISORY: "SA"}
_MDIL_ALERT = "MDIL-ALERT"
# The alarm level a Philips MDIL-ALERT row names in its code's text, by what it means
# (adapters.hl7.acm.mdil_alert reads it back); a low physiological alarm has no level word:
# one star before its text says it.
_MDIL_LEVEL = {
    (AlarmPriority.HIGH, AlarmKind.PHYSIOLOGICAL): ("Red Alarm", ""),
    (AlarmPriority.MEDIUM, AlarmKind.PHYSIOLOGICAL): ("Yellow Alarm", ""),
    (AlarmPriority.LOW, AlarmKind.PHYSIOLOGICAL): ("Alarm", "*"),
    (AlarmPriority.MEDIUM, AlarmKind.TECHNICAL): ("Hard INOP", ""),
    (AlarmPriority.LOW, AlarmKind.TECHNICAL): ("Soft INOP", ""),
}


def hl7_time(time_ns: int) -> str:
    """HL7 DTM in UTC with its offset; a fraction (to 0.1 ms, HL7's limit) when there is one."""
    seconds, rest = divmod(time_ns, NS_PER_S)
    text = time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
    tenths_of_ms = rest // 100_000
    if tenths_of_ms:
        text += f".{tenths_of_ms:04d}"
    return text + "+0000"


def write_hl7_batch(
    reader: JournalReader,
    out: TextIO,
    *,
    bed: BedId | None = None,
    since_ns: int | None = None,
    until_ns: int | None = None,
) -> int:
    """Write the batch file of the selected reports; return how many messages it holds."""
    now = hl7_time(time.time_ns())
    batch_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    what = escape(f"icu-gateway journal export, bed {bed or 'all'}")
    out.write(f"FHS|^~\\&|{SENDER}||||{now}||||F{batch_id}\r")
    out.write(f"BHS|^~\\&|{SENDER}||||{now}||{what}||B{batch_id}\r")
    count = 0
    reports = reader.reports(bed=bed, since_ns=since_ns, until_ns=until_ns)
    for message in batch_messages(reports, reader.raw):
        out.write(message)
        count += 1
    out.write(f"BTS|{count}\r")
    out.write("FTS|1\r")
    return count


def batch_messages(
    reports: Iterable[StoredReport], raw: Callable[[int], bytes] = lambda row: b""
) -> Iterator[str]:
    """The messages of a batch, report by report: an ORU^R01 for its values, waves and text
    alarms, an ORU^R40 for its other alarms (a report with neither is left out). ``raw``
    gives the original bytes of a stored message (for its PID segments)."""
    original_row, original = -1, b""
    for stored in reports:
        report = stored.routed.report
        texts = [a for a in report.alarms if _mdil_level(a) is not None]
        alarms = [a for a in report.alarms if _mdil_level(a) is None]
        values = bool(report.observations or report.waveforms or texts)
        if not values and not alarms:
            continue  # nothing measured (a keep-alive): nothing for the record
        if stored.message_row != original_row:
            original_row, original = stored.message_row, raw(stored.message_row)
        seq = stored.report_seq
        control_id = report.message_id or f"J{stored.message_row}"
        if seq:
            control_id = f"{control_id}-{seq + 1}"
        if values:
            yield oru_r01(stored, control_id, original, texts)
        if alarms:
            yield oru_r40(stored, f"{control_id}-A" if values else control_id, original, alarms)


def oru_r01(
    stored: StoredReport,
    control_id: str,
    original: bytes = b"",
    texts: Iterable[AlarmEvent] = (),
) -> str:
    """One stored report's values, waves and ``texts`` (MDIL-ALERT alarms) as an IHE PCD-01
    ORU^R01 (HL7 2.6), segments ended by CR.

    ``original`` is the message the report came in: its PID segment (identifiers, name,
    birth date …, which the gateway does not decode) is carried over as sent.
    """
    report = stored.routed.report
    segments, mds = _header(stored, control_id, original, "ORU^R01^ORU_R01", _PCD_01)
    cid = escape(control_id)
    segments.append(f"OBR|1||{cid}^{SENDER}|{_MONITORING}|||{hl7_time(report.receive_time_ns)}")
    rows = [mds] if mds else []
    rows += [_obx(obs) for obs in report.observations]
    for chunk in report.waveforms:
        rows += _wave(chunk)
    rows += [_mdil_row(alarm) for alarm in texts]
    segments += _numbered(rows)
    return "\r".join(segments) + "\r"


def oru_r40(
    stored: StoredReport, control_id: str, original: bytes, alarms: Iterable[AlarmEvent]
) -> str:
    """Device alarms of one stored report as an IHE PCD-04 ORU^R40 (HL7 2.6): one OBR per
    alarm, its identity in OBR-29 (the first occurrence: what ties its updates together)."""
    segments, mds = _header(stored, control_id, original, "ORU^R40^ORU_R40", _PCD_04)
    cid = escape(control_id)
    for n, alarm in enumerate(alarms, 1):
        segments.append(
            f"OBR|{n}||{cid}-{n}^{SENDER}|{_ALARM_ORDER}|||{hl7_time(alarm.time_ns)}"
            f"{'|' * 22}^{escape(alarm.alarm_id)}"
        )
        rows = [mds] if mds and n == 1 else []
        segments += _numbered(rows + _facets(alarm))
    return "\r".join(segments) + "\r"


def _header(
    stored: StoredReport, control_id: str, original: bytes, kind: str, profile: str
) -> tuple[list[str], str]:
    """MSH, PID, PV1 of a report's message, and its MDS row when the device is named there."""
    report = stored.routed.report
    sending_app, sending_facility, mds = _sender(report.device)
    segments = [
        f"MSH|^~\\&|{sending_app}|{sending_facility}|||{hl7_time(report.receive_time_ns)}||"
        f"{kind}|{escape(control_id)}|P|2.6|||AL|NE||UNICODE UTF-8|||{profile}",
        _pid(original, stored.report_seq, report.patient_id),
    ]
    if report.location is not None:
        segments.append(f"PV1||I|{report.location.raw}")
    return segments, mds


def _numbered(rows: list[str]) -> list[str]:
    """OBX rows (written from their OBX-2 on) with their set ids."""
    return [f"OBX|{n}|{row}" for n, row in enumerate(rows, 1)]


def _sender(device: DeviceId) -> tuple[str, str, str]:
    """MSH-3, MSH-4 and an MDS row (OBX-18) that the gateway's PCD decoder reads back as
    ``device`` — where IHE PCD puts each kind of id.

    An EUI-64 goes in MSH-3 (``label^EUI^EUI-64``); an id the device gave in MSH-3/4 goes
    back there (in the universal-id component, type ``L``: HD-1 holds only 20 characters);
    an id the device gave in its MDS row's OBX-18 goes back there, the batch's MSH-3 then
    naming the gateway as the sender, as a vendor gateway does.
    """
    kind, _, ident = device.key.partition(":")
    if kind == "EUI-64" and ident:
        label = device.label if device.label and device.label != ident else "DEVICE"
        return f"{escape(label[:20])}^{escape(ident)}^EUI-64", "", ""
    if kind == "app" and "|" in ident:
        namespace, _, facility = ident.partition("|")
        return f"^{escape(namespace)}^L", escape(facility), ""
    if kind == "app" and ident:
        entity, _, universal = ident.partition("^")
        ei = f"{entity}^^{universal}" if universal else entity
        return SENDER, "", f"|{_MDS}|1.0.0.0|||||||X|||||||{ei}"
    return f"^{escape(ident or device.key)}^L", "", ""


def _pid(original: bytes, report_seq: int, patient_id: str) -> str:
    """The report's PID as the device sent it; else one from the patient id. A name not
    sent is written unknown (``^^^^^^U``, as IHE PCD does); an identifier not sent is never
    made up (PID-3 stays empty: the receiving system matches those by bed and time)."""
    if original:
        with contextlib.suppress(ParseError):
            message = er7.parse(original)
            pids = message.all("PID")
            if message.delimiters == er7.STANDARD and report_seq < len(pids):
                fields = list(pids[report_seq].fields)
                fields += [""] * (6 - len(fields))
                if not fields[5].strip("^~ "):
                    fields[5] = "^^^^^^U"  # PID-5 is required: the name is unknown
                return "|".join(fields)
    return f"PID|||{escape(patient_id)}^^^^MR||^^^^^^U"


# ---- values and waves ------------------------------------------------------------------------


def _identifier(code: int, source_code: str | None, label: str) -> str:
    """OBX-3 for a parameter: its MDC code and REFID, else the sender's own code."""
    if code:
        param = nomenclature.parameter(code)
        refid = param.refid if param is not None else label
        return f"{code}^{escape(refid)}^MDC"
    system, _, local = (source_code or "LOCAL:").partition(":")
    return f"{escape(local or label)}^{escape(label)}^{escape(system or 'LOCAL')}"


def _units(unit: str) -> str:
    """OBX-6 with the unit's real coding system: UCUM for a UCUM unit, MDC for a unit the
    gateway only knows by its MDC code, ``L`` (local) for a sender's own text."""
    if not unit:
        return ""
    mdil = mdil_code(unit)
    if mdil is not None:  # an MDIL unit id kept as text (journals from before issue 12)
        unit = nomenclature.UNITS.get(mdil, str(mdil))
    ucum = _UCUM.get(unit, unit)
    if ucum in _UCUM_UNITS:
        return f"{ucum}^{ucum}^UCUM"
    if unit.isascii() and unit.isdigit():
        return f"{unit}^^MDC"
    return f"{escape(unit)}^{escape(unit)}^L"


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _obx(obs: Observation) -> str:
    if isinstance(obs.value, str):
        value_type, value = "ST", escape(obs.value)
    elif math.isfinite(obs.value):
        value_type, value = "NM", _number(obs.value)
    else:
        value_type, value = "ST", str(obs.value)
    when = hl7_time(obs.device_time_ns) if obs.device_time_ns is not None else ""
    flags = "DEMO" if obs.demo else ""  # OBX-8: demo data stays marked in the record
    return (
        f"{value_type}|{_identifier(obs.code, obs.source_code, obs.label)}|"
        f"{escape(obs.sub_id)}|{value}|{_units(obs.unit)}||{flags}|||"
        f"{_HL7_STATUS[obs.status]}|||{when}"
    )


def _wave(chunk: WaveformChunk) -> list[str]:
    """An NA row of samples and the child row with its sample rate (``<sub-id>.1``)."""
    ident = _identifier(chunk.code, chunk.source_code, chunk.label)
    sub_id = escape(chunk.sub_id)
    return [
        f"NA|{ident}|{sub_id}|{samples_text(chunk.samples)}|{_units(chunk.unit)}|||||R|||"
        f"{hl7_time(chunk.start_time_ns)}",
        f"NM|{_SAMPLE_RATE}|{sub_id}.1|{_number(chunk.sample_rate_hz)}|{_PER_SECOND}|||||R",
    ]


def samples_text(samples: npt.NDArray[np.float32]) -> str:
    """Samples separated by ``^``: seven significant digits, nine where seven would not read
    back to the same float32, never an exponent (not an HL7 number); a gap (NaN) empty."""
    texts = [f"{v:.7g}" for v in samples.tolist()]
    back = np.array(texts, dtype=np.float64).astype(np.float32)
    gaps = np.isnan(samples)
    for wrong in np.flatnonzero((back != samples) & ~gaps).tolist():
        texts[wrong] = f"{float(samples[wrong]):.9g}"
    for gap in np.flatnonzero(gaps).tolist():
        texts[gap] = ""
    for n, text in enumerate(texts):
        if "e" in text:
            texts[n] = np.format_float_positional(samples[n], unique=True, trim="-")
    return "^".join(texts)


# ---- alarms ---------------------------------------------------------------------------------


def _mdil_level(alarm: AlarmEvent) -> tuple[str, str] | None:
    """The level text and star prefix of a Philips MDIL-ALERT alarm; None for others."""
    if not (alarm.source_code or "").startswith(_MDIL_ALERT + ":"):
        return None
    return _MDIL_LEVEL.get((alarm.priority, alarm.kind))


def _mdil_row(alarm: AlarmEvent) -> str:
    """A Philips text alarm as the device sends it: ``TX|2^Yellow Alarm^MDIL-ALERT||…``."""
    level = _mdil_level(alarm)
    assert level is not None and alarm.source_code is not None
    words, stars = level
    code = alarm.source_code.partition(":")[2]
    return (
        f"TX|{escape(code)}^{words}^{_MDIL_ALERT}|{escape(alarm.sub_id)}|"
        f"{escape(stars + alarm.text)}||{escape(alarm.limits)}||||R|||{hl7_time(alarm.time_ns)}"
    )


def _facets(alarm: AlarmEvent) -> list[str]:
    """The OBX rows of one PCD-04 alarm: facet 1 the event, then the others under its
    prefix (OBX-4 ``<prefix>.<facet>``)."""
    prefix = alarm.sub_id or "1"
    if alarm.code:
        event = f"{alarm.code}^^MDC"
    else:
        system, _, local = (alarm.source_code or "MDC:").partition(":")
        event = (
            f"0^{escape(local)}^MDC"
            if system == "MDC"
            else f"{escape(local)}^^{escape(system or 'LOCAL')}"
        )
    limits = escape(alarm.limits)
    rows = [
        f"ST|{event}|{prefix}.1|{escape(alarm.text)}||{limits}||||R|||{hl7_time(alarm.time_ns)}"
    ]
    if alarm.parameter_code:
        param = nomenclature.parameter(alarm.parameter_code)
        refid = param.refid if param is not None else alarm.parameter_label
        source = f"CWE|{_SOURCE}|{prefix}.2|{alarm.parameter_code}^{escape(refid)}^MDC"
        rows.append(source + "||||||R")
    elif alarm.parameter_label:
        rows.append(f"ST|{_SOURCE}|{prefix}.2|{escape(alarm.parameter_label)}||||||R")
    rows += [
        f"ST|{_PHASE}|{prefix}.3|{escape(alarm.phase)}||||||R",
        f"ST|{_STATE}|{prefix}.4|{escape(alarm.state)}||||||R",
        f"ST|{_INACTIVATION}|{prefix}.5|{escape(alarm.inactivation)}||||||R",
        f"ST|{_PRIORITY}|{prefix}.6|{_PRIORITY_CODE[alarm.priority]}||||||R",
        f"ST|{_TYPE}|{prefix}.7|{_TYPE_CODE[alarm.kind]}||||||R",
    ]
    value = alarm.value
    if value is not None:
        if isinstance(value, str):
            kind, text = "ST", escape(value)
        else:
            kind, text = ("NM", _number(value)) if math.isfinite(value) else ("ST", str(value))
        what = _identifier(alarm.parameter_code or 0, None, alarm.parameter_label)
        rows.append(f"{kind}|{what}|{prefix}.8|{text}|{_units(alarm.unit)}|{limits}||||R")
    return rows


def split_batch(text: str) -> list[str]:
    """The messages of a batch file (FHS/BHS/BTS/FTS dropped), each with its segments."""
    messages: list[list[str]] = []
    for line in re.split(r"\r\n|\r|\n", text):
        name = line[:3]
        if not line or name in ("FHS", "BHS", "BTS", "FTS"):
            continue
        if name == "MSH":
            messages.append([])
        if messages:
            messages[-1].append(line)
    return ["\r".join(segments) + "\r" for segments in messages]

"""Exports of the journal: back-filling the patient record, and paper charting meanwhile.

* ``csv`` / ``jsonl`` — one observation per row / line: bed, device, MDC code, label,
  value, unit, status, device time, receive time (ISO 8601, UTC), MSH-10.
* ``hl7`` — an HL7 v2 batch file (FHS/BHS … BTS/FTS) of IHE PCD-01 ORU^R01 messages, one per
  stored report, to re-import into the patient record when the network returns. Each keeps
  the sender (MSH-3), the patient (PID-3), the location (PV1-3) and every observation with
  its MDC code, UCUM unit, status and measurement time, so re-ingesting it gives the same
  observations.
* ``flowsheet`` — a printable HTML vitals chart per bed: one column per hour, one row per
  parameter (the hour's mean of valid readings, with its range), and the hour's alarms, for
  nurses charting on paper during the outage.

Exports only read the journal (its own read-only connection); they are blocking and run
from the command line, never on the gateway's event loop.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import html
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

from adapters.hl7 import er7
from adapters.hl7.er7 import escape
from gateway import nomenclature
from gateway.clock import NS_PER_S
from gateway.domain import BedId, DeviceId, Observation, ObservationStatus
from gateway.errors import ParseError
from gateway.journal import HourlySummary, JournalReader, StoredAlarm, StoredReport

FORMATS = ("csv", "jsonl", "hl7", "flowsheet")

CSV_COLUMNS = (
    "bed",
    "bed_label",
    "device",
    "mdc_code",
    "source_code",
    "label",
    "value",
    "unit",
    "status",
    "sub_id",
    "device_time",
    "receive_time",
    "message_id",
)

HOUR_NS = 3600 * NS_PER_S
_RELATIVE = re.compile(r"-\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d)", re.IGNORECASE)
_UNIT_S = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now_ns: int) -> int:
    """``--since``/``--until``: ISO 8601 (no zone means local time), ``now``, or relative to
    now: ``-90s``, ``-30m``, ``-2h``, ``-1d``. Raises ValueError saying what is allowed."""
    written = text.strip()
    if written.lower() == "now":
        return now_ns
    relative = _RELATIVE.fullmatch(written)
    if relative:
        seconds = float(relative[1]) * _UNIT_S[relative[2].lower()]
        return now_ns - round(seconds * NS_PER_S)
    try:
        moment = dt.datetime.fromisoformat(written)
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time; expected ISO 8601 (2024-03-01T14:00, with or without a"
            " zone; none means local time), 'now', or relative like -90s, -30m, -2h, -1d"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # local time, as staff write it
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def iso(time_ns: int | None) -> str:
    """UTC ISO 8601 to the millisecond: ``2024-03-01T13:00:00.250+00:00``."""
    if time_ns is None:
        return ""
    seconds, rest = divmod(time_ns, NS_PER_S)
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Selection:
    """What to export: one bed or all, and a receive-time range (None: open)."""

    bed: BedId | None = None
    since_ns: int | None = None
    until_ns: int | None = None


def export(reader: JournalReader, out: TextIO, fmt: str, selection: Selection) -> int:
    """Write ``fmt`` to ``out``; return how many items (rows, messages, beds) were written."""
    if fmt == "csv":
        return write_csv(reader, out, selection)
    if fmt == "jsonl":
        return write_jsonl(reader, out, selection)
    if fmt == "hl7":
        return write_hl7_batch(reader, out, selection)
    if fmt == "flowsheet":
        return write_flowsheet(reader, out, selection)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


# --------------------------------------------------------------------------- CSV / JSON lines


def _record(bed: BedId | None, bed_label: str, obs: Observation) -> dict[str, object]:
    return {
        "bed": bed.key if bed is not None else "",
        "bed_label": bed_label,
        "device": obs.device.key,
        "mdc_code": obs.code,
        "source_code": obs.source_code or "",
        "label": obs.label,
        "value": obs.value,
        "unit": obs.unit,
        "status": obs.status.value,
        "sub_id": obs.sub_id,
        "device_time": iso(obs.device_time_ns),
        "receive_time": iso(obs.receive_time_ns),
        "message_id": obs.message_id,
    }


def write_csv(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for stored in reader.observations(
        bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    ):
        writer.writerow(_record(stored.bed, stored.bed_label, stored.observation))
        count += 1
    return count


def write_jsonl(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    count = 0
    for stored in reader.observations(
        bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    ):
        record = _record(stored.bed, stored.bed_label, stored.observation)
        value = record["value"]
        if isinstance(value, float) and not math.isfinite(value):
            record["value"] = str(value)  # JSON has no NaN/inf
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


# --------------------------------------------------------------------------- HL7 batch

# Display units → UCUM, for OBX-6; the gateway's own parser maps these back (nomenclature).
_UCUM = {"°C": "Cel", "mmHg": "mm[Hg]", "/min": "/min", "%": "%"}
_HL7_STATUS = {
    ObservationStatus.VALID: "R",  # as the device sent it: not verified by a clinician
    ObservationStatus.INVALID: "X",
    ObservationStatus.QUESTIONABLE: "P",
}
_MONITORING = "182777000^monitoring of patient^SCT"
_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
SENDER = "ICU-GATEWAY"


def hl7_time(time_ns: int) -> str:
    """HL7 DTM in UTC with its offset; a fraction (to 0.1 ms, HL7's limit) when there is one."""
    seconds, rest = divmod(time_ns, NS_PER_S)
    text = time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
    tenths_of_ms = rest // 100_000
    if tenths_of_ms:
        text += f".{tenths_of_ms:04d}"
    return text + "+0000"


_MDS = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"


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
        return SENDER, "", f"OBX|1||{_MDS}|1.0.0.0|||||||X|||||||{ei}"
    return f"^{escape(ident or device.key)}^L", "", ""


def _number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _obx(index: int, obs: Observation) -> str:
    if obs.code:
        param = nomenclature.parameter(obs.code)
        refid = param.refid if param is not None else obs.label
        ident = f"{obs.code}^{escape(refid)}^MDC"
    else:
        system, _, code = (obs.source_code or "LOCAL:").partition(":")
        ident = f"{escape(code or obs.label)}^{escape(obs.label)}^{escape(system or 'LOCAL')}"
    if isinstance(obs.value, str):
        value_type, value = "ST", escape(obs.value)
    elif math.isfinite(obs.value):
        value_type, value = "NM", _number(obs.value)
    else:
        value_type, value = "ST", str(obs.value)
    unit = _UCUM.get(obs.unit, obs.unit)
    units = f"{escape(unit)}^{escape(unit)}^UCUM" if unit else ""
    when = hl7_time(obs.device_time_ns) if obs.device_time_ns is not None else ""
    return (
        f"OBX|{index}|{value_type}|{ident}|{escape(obs.sub_id)}|{value}|{units}|||||"
        f"{_HL7_STATUS[obs.status]}|||{when}"
    )


def oru_r01(stored: StoredReport, control_id: str, original: bytes = b"") -> str:
    """One stored report as an IHE PCD-01 ORU^R01 (HL7 2.6), segments ended by CR.

    ``original`` is the message the report came in: its PID segment (identifiers, name,
    birth date …, which the gateway does not decode) is carried over as sent.
    """
    report = stored.routed.report
    sending_app, sending_facility, mds = _sender(report.device)
    received = hl7_time(report.receive_time_ns)
    cid = escape(control_id)
    segments = [
        f"MSH|^~\\&|{sending_app}|{sending_facility}|||{received}||ORU^R01^ORU_R01|{cid}|P|2.6"
        f"|||AL|NE||UNICODE UTF-8|||{_PROFILE}",
        _pid(original, stored.report_seq, report.patient_id),
    ]
    if report.location is not None:
        segments.append(f"PV1||I|{report.location.raw}")
    segments.append(f"OBR|1||{cid}^{SENDER}|{_MONITORING}|||{received}")
    if mds:
        segments.append(mds)
    first = 2 if mds else 1
    segments.extend(_obx(n, obs) for n, obs in enumerate(report.observations, first))
    return "\r".join(segments) + "\r"


def _pid(original: bytes, report_seq: int, patient_id: str) -> str:
    """The report's PID as the device sent it; else one from the patient id, with the name
    unknown (``^^^^^^U``, as IHE PCD writes an unknown name)."""
    if original:
        with contextlib.suppress(ParseError):
            message = er7.parse(original)
            pids = message.all("PID")
            if message.delimiters == er7.STANDARD and report_seq < len(pids):
                return "|".join(pids[report_seq].fields)
    return f"PID|||{escape(patient_id)}^^^^MR||^^^^^^U"


def batch_messages(
    reports: Iterable[StoredReport], raw: Callable[[int], bytes] = lambda row: b""
) -> Iterator[str]:
    """The ORU^R01 messages of a batch: MSH-10 is the original's, suffixed when one message
    carried several patients (each report becomes a message of its own). ``raw`` gives the
    original bytes of a stored message (for its PID segments)."""
    original_row, original = -1, b""
    for stored in reports:
        report = stored.routed.report
        if not report.observations:
            continue  # alarms and waveforms are not part of the record back-fill
        if stored.message_row != original_row:
            original_row, original = stored.message_row, raw(stored.message_row)
        seq = stored.report_seq
        control_id = report.message_id or f"J{stored.message_row}"
        yield oru_r01(stored, control_id if seq == 0 else f"{control_id}-{seq + 1}", original)


def write_hl7_batch(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    now = hl7_time(time.time_ns())
    batch_id = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    what = escape(f"icu-gateway journal export, bed {selection.bed or 'all'}")
    out.write(f"FHS|^~\\&|{SENDER}||||{now}||||F{batch_id}\r")
    out.write(f"BHS|^~\\&|{SENDER}||||{now}||{what}||B{batch_id}\r")
    count = 0
    reports = reader.reports(
        bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    )
    for message in batch_messages(reports, reader.raw):
        out.write(message)
        count += 1
    out.write(f"BTS|{count}\r")
    out.write("FTS|1\r")
    return count


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


# --------------------------------------------------------------------------- flowsheet

HOURS_PER_PAGE = 12

_FLOWSHEET_CSS = """
body { font-family: sans-serif; font-size: 10pt; margin: 1em; }
h1 { font-size: 14pt; margin: 0 0 .2em 0; }
p.meta { margin: 0 0 .6em 0; color: #333; }
table { border-collapse: collapse; width: 100%; margin-bottom: 1em; page-break-inside: avoid; }
th, td { border: 1px solid #555; padding: 2px 4px; text-align: center; vertical-align: top; }
th.param, td.param { text-align: left; white-space: nowrap; }
td .range { display: block; font-size: 7pt; color: #444; }
td.alarms { font-size: 7pt; text-align: left; }
td.alarms .high { font-weight: bold; }
td.empty { color: #999; }
section.bed { page-break-after: always; }
@page { size: A4 landscape; margin: 1cm; }
"""


@dataclass(frozen=True, slots=True)
class _Row:
    key: tuple[int, str | None, str, str]
    label: str
    unit: str
    precision: int


def write_flowsheet(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    beds = reader.beds()
    if selection.bed is not None:
        beds = [(bed, label) for bed, label in beds if bed == selection.bed] or [
            (selection.bed, selection.bed.key)
        ]
    generated = time.strftime("%Y-%m-%d %H:%M %Z")
    out.write(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Vitals flowsheet</title><style>{_FLOWSHEET_CSS}</style></head><body>\n"
    )
    for bed, label in beds:
        summaries = reader.hourly(bed, since_ns=selection.since_ns, until_ns=selection.until_ns)
        alarms = reader.alarms(bed, since_ns=selection.since_ns, until_ns=selection.until_ns)
        patient = _patient(reader, bed, selection)
        out.write(
            _bed_section(
                bed, label, patient, summaries, alarms, selection=selection, generated=generated
            )
        )
    if not beds:
        out.write("<p>The journal holds no bed in this range.</p>\n")
    out.write("</body></html>\n")
    return len(beds)


def _patient(reader: JournalReader, bed: BedId, selection: Selection) -> str:
    ids: list[str] = []
    for stored in reader.reports(bed=bed, since_ns=selection.since_ns, until_ns=selection.until_ns):
        pid = stored.routed.report.patient_id
        if pid and pid not in ids:
            ids.append(pid)
        if len(ids) > 3:
            break
    return ", ".join(ids)


def _bed_section(
    bed: BedId,
    label: str,
    patient: str,
    summaries: list[HourlySummary],
    alarms: list[StoredAlarm],
    *,
    selection: Selection,
    generated: str,
) -> str:
    hours = sorted({s.hour_start_ns for s in summaries} | {_hour(a.event.time_ns) for a in alarms})
    if selection.since_ns is not None and selection.until_ns is not None:
        first, last = _hour(selection.since_ns), _hour(selection.until_ns - 1)
        hours = list(range(first, last + 1, HOUR_NS))
    elif hours:
        hours = list(range(hours[0], hours[-1] + 1, HOUR_NS))
    rows: dict[tuple[int, str | None, str, str], _Row] = {}
    cells: dict[tuple[tuple[int, str | None, str, str], int], HourlySummary] = {}
    for s in summaries:
        key = (s.code, s.source_code, s.sub_id, s.unit)
        if key not in rows:
            param = nomenclature.parameter(s.code) if s.code else None
            rows[key] = _Row(key, s.label, s.unit, param.precision if param else 1)
        cells[key, s.hour_start_ns] = s
    ordered = sorted(rows.values(), key=lambda r: (r.label.lower(), r.key[2]))
    by_hour: dict[int, list[StoredAlarm]] = {}
    for alarm in alarms:
        by_hour.setdefault(_hour(alarm.event.time_ns), []).append(alarm)
    parts = [
        "<section class='bed'>",
        f"<h1>Vitals flowsheet — {html.escape(label)}"
        + (f" ({html.escape(bed.key)})" if label != bed.key else "")
        + "</h1>",
        "<p class='meta'>"
        + (f"Patient {html.escape(patient)} · " if patient else "")
        + f"hours in local time ({html.escape(time.strftime('%Z'))}) · each cell: the hour's"
        " mean of valid readings, below it the lowest–highest · from the icu-gateway journal,"
        f" printed {html.escape(generated)}</p>",
    ]
    if not hours:
        parts.append("<p>No readings in this range.</p>")
    for page in range(0, len(hours), HOURS_PER_PAGE):
        columns = hours[page : page + HOURS_PER_PAGE]
        parts.append("<table><thead><tr><th class='param'>Parameter</th>")
        for hour in columns:
            parts.append(f"<th>{html.escape(_local_hour(hour))}</th>")
        parts.append("</tr></thead><tbody>")
        for row in ordered:
            unit = f" ({html.escape(row.unit)})" if row.unit else ""
            parts.append(f"<tr><td class='param'>{html.escape(row.label)}{unit}</td>")
            for hour in columns:
                cell = cells.get((row.key, hour))
                if cell is None:
                    parts.append("<td class='empty'>–</td>")
                    continue
                fmt = nomenclature.format_value
                low, high = fmt(cell.low, row.precision), fmt(cell.high, row.precision)
                parts.append(
                    f"<td>{fmt(cell.mean, row.precision)}"
                    f"<span class='range'>{low}–{high} · n={cell.count}</span></td>"
                )
            parts.append("</tr>")
        parts.append("<tr><td class='param'>Alarms</td>")
        for hour in columns:
            items = [
                f"<div class='{'high' if a.event.priority >= 3 else ''}'>"
                f"{_local_clock(a.event.time_ns)} {html.escape(a.event.priority.name)}"
                f" {html.escape(a.event.text)}"
                f" ({html.escape(a.event.phase)})</div>"
                for a in by_hour.get(hour, [])
            ]
            parts.append(f"<td class='alarms'>{''.join(items) or '–'}</td>")
        parts.append("</tr></tbody></table>")
    parts.append("</section>\n")
    return "\n".join(parts)


def _hour(time_ns: int) -> int:
    return time_ns - time_ns % HOUR_NS


def _local_clock(time_ns: int) -> str:
    return time.strftime("%H:%M", time.localtime(time_ns // NS_PER_S))


def _local_hour(hour_ns: int) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(hour_ns // NS_PER_S))

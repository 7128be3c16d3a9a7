"""Exports of the journal: back-filling the patient record, and paper charting meanwhile.

* ``csv`` / ``jsonl`` — one observation per row / line: bed, device, MDC code, label,
  value, unit, status, device time, receive time (ISO 8601, UTC), MSH-10, and ``demo``
  (``1``/``true`` for demo or test data, which is never a patient's value).
* ``flowsheet`` — a printable HTML vitals chart per bed: one column per hour, one row per
  parameter (the hour's mean of valid readings, with its range), and the hour's alarms, for
  nurses charting on paper during the outage. A row is one parameter of one patient from
  one device: readings of two patients (an admission within the hour) or of two devices are
  never averaged together, and the row names its patient and device when the bed has more.
  Demo or test data is left out of the means and counted on a row of its own
  (``DEMO/TEST data (not charted)``).

The fourth format, ``hl7`` (an HL7 v2 batch file to re-import into the patient record), is
a wire format and lives with the HL7 adapter (:mod:`adapters.hl7.batch`); the choice of a
format by name, which knows all four, is :mod:`gateway.app.export`.

Exports only read the journal (its own read-only connection); they are blocking and run
from the command line, never on the gateway's event loop.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import math
import re
import time
from dataclasses import dataclass
from typing import TextIO

from gateway import nomenclature
from gateway.clock import NS_PER_S
from gateway.domain import BedId, Observation
from gateway.journal.reader import JournalReader
from gateway.journal.records import HourlySummary, StoredAlarm

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
    "demo",
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
        "demo": obs.demo,
    }


def write_csv(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    count = 0
    for stored in reader.observations(
        bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    ):
        record = _record(stored.bed, stored.bed_label, stored.observation)
        record["demo"] = 1 if stored.observation.demo else 0
        writer.writerow(record)
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
td.demo { font-weight: bold; background: #f0d0f0; }
section.bed { page-break-after: always; }
@page { size: A4 landscape; margin: 1cm; }
"""


_RowKey = tuple[int, str | None, str, str, str, str]
"""Code, source code, sub-id, unit, patient id, device."""


@dataclass(frozen=True, slots=True)
class _Row:
    key: _RowKey
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
        demo = _demo_counts(reader, bed, selection)
        out.write(
            _bed_section(
                bed,
                label,
                patient,
                summaries,
                alarms,
                selection=selection,
                generated=generated,
                demo=demo,
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


def _demo_counts(reader: JournalReader, bed: BedId, selection: Selection) -> dict[int, int]:
    """How many demo or test readings a bed has per hour (of the measurement): kept out of
    the hourly means, which :meth:`JournalReader.hourly` leaves them out of."""
    counts: dict[int, int] = {}
    for stored in reader.observations(
        bed=bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    ):
        if stored.observation.demo:
            hour = _hour(stored.observation.time_ns)
            counts[hour] = counts.get(hour, 0) + 1
    return counts


def _bed_section(
    bed: BedId,
    label: str,
    patient: str,
    summaries: list[HourlySummary],
    alarms: list[StoredAlarm],
    *,
    selection: Selection,
    generated: str,
    demo: dict[int, int] | None = None,
) -> str:
    demo = demo or {}
    hours = sorted(
        {s.hour_start_ns for s in summaries} | {_hour(a.event.time_ns) for a in alarms} | set(demo)
    )
    if selection.since_ns is not None and selection.until_ns is not None:
        first, last = _hour(selection.since_ns), _hour(selection.until_ns - 1)
        hours = list(range(first, last + 1, HOUR_NS))
    elif hours:
        hours = list(range(hours[0], hours[-1] + 1, HOUR_NS))
    rows: dict[_RowKey, _Row] = {}
    cells: dict[tuple[_RowKey, int], HourlySummary] = {}
    patients = len({s.patient_id for s in summaries}) > 1
    devices = len({s.device for s in summaries}) > 1
    for s in summaries:
        key = (s.code, s.source_code, s.sub_id, s.unit, s.patient_id, s.device)
        if key not in rows:
            param = nomenclature.parameter(s.code) if s.code else None
            whose = [f"patient {s.patient_id or '?'}"] if patients else []
            whose += [s.device] if devices else []
            name = s.label + (f" — {', '.join(whose)}" if whose else "")
            rows[key] = _Row(key, name, s.unit, param.precision if param else 1)
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
        if demo:
            parts.append("<tr class='demo'><td class='param'>DEMO/TEST data (not charted)</td>")
            for hour in columns:
                count = demo.get(hour)
                parts.append(
                    f"<td class='demo'>DEMO n={count}</td>" if count else "<td class='empty'>–</td>"
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

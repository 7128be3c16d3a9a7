"""The printable hourly flowsheet: the journal as a nurse charts it on paper (issue 19).

One page per bed *and patient* (a bed that held two patients over the period gives two;
a report whose device sent no patient id belongs to the patient admitted to the bed at the
gateway then, :mod:`gateway.journal.admissions`),
headed with the patient's name and id, the bed and the period. One column per local hour,
rows in clinical order — HR, rhythm, SpO2, NIBP, ABP, RR, Temp, EtCO2, then the rest by
name — and a row with the hour's alarms. What a cell holds:

* a measured parameter: **the value at the hour** — the valid reading nearest to the full
  hour within that hour (its time shown when it is more than 5 minutes past) — and below
  it the hour's lowest–highest. Never a mean: a value repeated in every message is not
  many measurements;
* NIBP: every cuff *measurement* of the hour, once, as ``sys/dia (mean)`` with its time. A
  monitor repeats its last reading in every message until the next cycle: a measurement is
  identified by its own measurement time (OBX-14), or — when the device gives none and the
  time is only the message's — by its values, repeated in consecutive messages;
* ABP: the reading at the hour as ``sys/dia (mean)``, its three values from one message;
* text values (the rhythm): the text at the hour.

Only valid readings are charted (invalid, questionable and out-of-range readings are not
the patient's values). Demo or test data is charted on rows of its own marked DEMO, never
in a patient's row, and the page heading says it holds some.

It only reads the journal; blocking, for the command line (``icu-gateway export``).
"""

from __future__ import annotations

import html
import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TextIO

from gateway import nomenclature
from gateway.clock import NS_PER_S
from gateway.domain import AlarmChange, BedId, DeviceReport, Observation, ObservationStatus
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader

HOURS_PER_TABLE = 12
"""Hour columns per table: an A4 landscape page's width at a readable size."""
HOUR_NS = 3600 * NS_PER_S
_LATE_NS = 5 * 60 * NS_PER_S
"""A value at the hour taken later than this after the full hour shows its own time."""

_NIBP = {
    **dict.fromkeys(nomenclature.NIBP_SYS, 0),
    **dict.fromkeys(nomenclature.NIBP_DIA, 1),
    **dict.fromkeys(nomenclature.NIBP_MEAN, 2),
}
_ABP = {
    **dict.fromkeys(nomenclature.ABP_SYS, 0),
    **dict.fromkeys(nomenclature.ABP_DIA, 1),
    **dict.fromkeys(nomenclature.ABP_MEAN, 2),
}
_RHYTHM = 184327
_RANKS = {
    **dict.fromkeys(nomenclature.HEART_RATE[:1], 0),
    _RHYTHM: 1,
    **dict.fromkeys(nomenclature.SPO2, 2),
    # 3: NIBP, 4: ABP (rows of their own kind)
    **dict.fromkeys(nomenclature.RESP_RATE, 5),
    **dict.fromkeys(nomenclature.TEMPERATURE, 6),
    **dict.fromkeys(nomenclature.ETCO2, 7),
}
_NIBP_RANK, _ABP_RANK, _REST = 3, 4, 8
_VALID = ObservationStatus.VALID

CSS = """
@page { size: A4 landscape; margin: 10mm; }
* { box-sizing: border-box; }
body { font-family: sans-serif; font-size: 8pt; margin: 0; color: #000; }
section.sheet { break-after: page; page-break-after: always; }
section.sheet:last-of-type { break-after: auto; page-break-after: auto; }
h1 { font-size: 13pt; margin: 0 0 1mm 0; }
p.who { font-size: 11pt; margin: 0 0 1mm 0; }
p.meta { margin: 0 0 2mm 0; color: #333; }
p.demo, tr.demo td.param { font-weight: bold; background: #f0d0f0; }
table { width: 276mm; table-layout: fixed; border-collapse: collapse; margin-bottom: 3mm;
        break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
col.param { width: 36mm; }
col.hour { width: 20mm; }
th, td { border: 0.3mm solid #555; padding: 0.5mm 1mm; text-align: center; vertical-align: top;
         overflow: hidden; overflow-wrap: anywhere; }
th.param, td.param { text-align: left; }
th .day { display: block; font-weight: normal; font-size: 6.5pt; }
td .at { display: block; font-size: 6.5pt; color: #333; }
td .range { display: block; font-size: 6.5pt; color: #444; }
td div.nibp { white-space: normal; }
td div.nibp + div.nibp { border-top: 0.2mm dotted #888; }
td.alarms { font-size: 6.5pt; text-align: left; }
td.alarms .high { font-weight: bold; }
td.empty { color: #999; }
td.demo { background: #f0d0f0; }
"""


# --------------------------------------------------------------------------- gathering


@dataclass(slots=True)
class _Cell:
    """A row's readings in one hour: the one nearest the full hour, and the range."""

    at_ns: int
    value: float | str
    low: float
    high: float


@dataclass(slots=True)
class _Pressure:
    """One cuff measurement (NIBP) or one arterial reading (ABP): sys, dia, mean."""

    time_ns: int
    values: list[float | None]
    own_time: bool = False
    """Its time is its own measurement time, not only the time of the message."""


@dataclass(slots=True)
class _PressureCell:
    """ABP in one hour: the reading at the hour, and each value's range."""

    at: _Pressure
    low: list[float]
    high: list[float]


@dataclass(frozen=True, slots=True)
class _RowKey:
    rank: int
    label: str
    unit: str
    device: str
    sub_id: str
    demo: bool


@dataclass(slots=True)
class _Sheet:
    """One bed and one patient over the period: one page."""

    bed: BedId
    bed_label: str
    patient_id: str
    patient_name: str = ""
    first_ns: int = 0
    last_ns: int = 0
    received_ns: int = 0
    """When its first report came: its time when it has no valid reading at all."""
    cells: dict[tuple[_RowKey, int], _Cell] = field(default_factory=dict)
    precision: dict[_RowKey, int] = field(default_factory=dict)
    nibp: dict[_RowKey, list[_Pressure]] = field(default_factory=dict)
    abp: dict[tuple[_RowKey, int], _PressureCell] = field(default_factory=dict)
    devices: dict[str, str] = field(default_factory=dict)
    """Device key → label."""
    alarms: dict[int, list[tuple[int, str, bool]]] = field(default_factory=dict)
    """Hour → (time, text, high priority)."""
    demo: int = 0

    def see(self, time_ns: int) -> None:
        if not self.first_ns or time_ns < self.first_ns:
            self.first_ns = time_ns
        self.last_ns = max(self.last_ns, time_ns)


class _Hours:
    """Local hour boundaries (a zone may be off UTC by a half hour), cached per UTC hour."""

    def __init__(self) -> None:
        self._offsets: dict[int, int] = {}

    def start(self, time_ns: int) -> int:
        utc_hour = time_ns // HOUR_NS
        offset = self._offsets.get(utc_hour)
        if offset is None:
            offset = time.localtime(time_ns // NS_PER_S).tm_gmtoff * NS_PER_S
            self._offsets[utc_hour] = offset
        return time_ns - (time_ns + offset) % HOUR_NS


def _gather(reader: JournalReader, selection: Selection) -> list[_Sheet]:
    hours = _Hours()
    sheets: dict[tuple[str, str], _Sheet] = {}
    admissions = reader.admissions()
    for stored in reader.reports(
        bed=selection.bed,
        since_ns=selection.since_ns,
        until_ns=selection.until_ns,
        values_only=True,
    ):
        routed = stored.routed
        if routed.bed is None:
            continue  # unassigned: no bed to chart it on
        report = routed.report
        patient_id, name = admissions.patient(
            routed.bed.key, report.receive_time_ns, report.patient_id, report.patient_name
        )  # the device's patient, else the one admitted at the gateway then
        patient = patient_id or (f"name:{name}" if name else "")
        sheet = sheets.get((routed.bed.key, patient))
        if sheet is None:
            sheet = sheets[routed.bed.key, patient] = _Sheet(
                routed.bed, routed.bed_label or routed.bed.key, patient_id
            )
        if not sheet.received_ns:
            sheet.received_ns = report.receive_time_ns
        if routed.bed_label:
            sheet.bed_label = routed.bed_label
        if name:
            sheet.patient_name = name
        _add_report(sheet, report, hours)
    ordered = sorted(sheets.values(), key=lambda s: (s.bed.key, s.first_ns))
    if ordered:
        _add_alarms(reader, ordered, selection, hours)
    return ordered


def _add_report(sheet: _Sheet, report: DeviceReport, hours: _Hours) -> None:
    device = report.device
    sheet.devices.setdefault(device.key, device.label or device.key)
    nibp: list[Observation] = []
    abp: list[Observation] = []
    for obs in report.observations:
        value = obs.value
        if obs.status is not _VALID or (isinstance(value, float) and math.isnan(value)):
            continue
        at = obs.time_ns
        sheet.see(at)
        if obs.demo:
            sheet.demo += 1
        elif obs.code in _NIBP:
            nibp.append(obs)
            continue
        elif obs.code in _ABP:
            abp.append(obs)
            continue
        param = nomenclature.parameter(obs.code) if obs.code else None
        key = _RowKey(
            _RANKS.get(obs.code, _REST),
            (param.label if param else obs.label) or obs.source_code or str(obs.code),
            obs.unit,
            device.key,
            obs.sub_id,
            obs.demo,
        )
        sheet.precision.setdefault(key, param.precision if param else 1)
        hour = hours.start(at)
        cell = sheet.cells.get((key, hour))
        number = value if isinstance(value, float) else math.nan
        if cell is None:
            sheet.cells[key, hour] = _Cell(at, value, number, number)
            continue
        if at < cell.at_ns:
            cell.at_ns, cell.value = at, value
        if number < cell.low or math.isnan(cell.low):
            cell.low = number
        if number > cell.high or math.isnan(cell.high):
            cell.high = number
    if nibp:
        _add_nibp(sheet, report, nibp)
    if abp:
        _add_abp(sheet, abp, hours, device.key)


def _message_time(report: DeviceReport) -> int | None:
    """The time most of a report's other values carry: the message's, when the device
    gave a value no measurement time of its own."""
    times = Counter(
        o.time_ns for o in report.observations if o.code not in _NIBP and o.code not in _ABP
    )
    return times.most_common(1)[0][0] if times else None


def _add_nibp(sheet: _Sheet, report: DeviceReport, readings: list[Observation]) -> None:
    values: list[float | None] = [None, None, None]
    at = min(o.time_ns for o in readings)
    unit = readings[0].unit
    for obs in readings:
        if isinstance(obs.value, float):
            values[_NIBP[obs.code]] = obs.value
    key = _RowKey(_NIBP_RANK, "NIBP", unit, report.device.key, "", False)
    sheet.precision.setdefault(key, 0)
    measurements = sheet.nibp.setdefault(key, [])
    own = at != _message_time(report)
    for known in measurements[-8:]:
        if known.time_ns == at:  # the same measurement, sent again (its first time too)
            pairs = zip(values, known.values, strict=True)
            known.values = [v if v is not None else k for v, k in pairs]
            known.own_time = known.own_time or own
            return
    if not own and measurements and measurements[-1].values == values:
        return  # the same values, repeated with only the message's time: the same one
    measurements.append(_Pressure(at, values, own))


def _add_abp(sheet: _Sheet, readings: list[Observation], hours: _Hours, device: str) -> None:
    values: list[float | None] = [None, None, None]
    for obs in readings:
        if isinstance(obs.value, float):
            values[_ABP[obs.code]] = obs.value
    at = min(o.time_ns for o in readings)
    key = _RowKey(_ABP_RANK, "ABP", readings[0].unit, device, "", False)
    sheet.precision.setdefault(key, 0)
    hour = hours.start(at)
    reading = _Pressure(at, values)
    cell = sheet.abp.get((key, hour))
    numbers = [math.nan if v is None else v for v in values]
    if cell is None:
        sheet.abp[key, hour] = _PressureCell(reading, list(numbers), list(numbers))
        return
    if at < cell.at.time_ns:
        cell.at = reading
    for n, number in enumerate(numbers):
        if number < cell.low[n] or math.isnan(cell.low[n]):
            cell.low[n] = number
        if number > cell.high[n] or math.isnan(cell.high[n]):
            cell.high[n] = number


def _add_alarms(
    reader: JournalReader, sheets: list[_Sheet], selection: Selection, hours: _Hours
) -> None:
    """Each bed's device alarms and the gateway's own (raised or escalated) on the page of
    the patient the bed held at the alarm's time: the one whose readings last began
    before it."""
    by_bed: dict[str, list[_Sheet]] = {}
    for sheet in sheets:
        by_bed.setdefault(sheet.bed.key, []).append(sheet)
    since, until = selection.since_ns, selection.until_ns
    for pages in by_bed.values():
        bed = pages[0].bed
        found: list[tuple[int, str, bool]] = []
        for alarm in reader.alarms(bed, since_ns=since, until_ns=until):
            event = alarm.event
            phase = f" ({event.phase})" if event.phase else ""
            found.append(
                (event.time_ns, f"{event.priority.name} {event.text}{phase}", event.priority >= 3)
            )
        for transition in reader.alarm_log(bed, since_ns=since, until_ns=until):
            if transition.change in (AlarmChange.RAISED, AlarmChange.ESCALATED):
                found.append(
                    (
                        transition.time_ns,
                        f"{transition.priority.name} {transition.text} (gateway)",
                        transition.priority >= 3,
                    )
                )
        for when, text, high in sorted(found):
            page = pages[0]
            for candidate in pages:
                if candidate.first_ns <= when:
                    page = candidate
            page.alarms.setdefault(hours.start(when), []).append((when, text, high))


# --------------------------------------------------------------------------- writing


def write_flowsheet(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    """Write the flowsheet (HTML, A4 landscape); return how many pages (bed-patients)."""
    sheets = _gather(reader, selection)
    printed = time.strftime("%Y-%m-%d %H:%M %Z")
    out.write(
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>Vitals flowsheet</title><style>{CSS}</style></head><body>\n"
    )
    for sheet in sheets:
        out.write(_page(sheet, selection, printed))
    if not sheets:
        out.write("<p>The journal holds no reading of a bed in this range.</p>\n")
    out.write("</body></html>\n")
    return len(sheets)


MAX_GAP_HOURS = 6
"""Empty hours between two charted ones are shown up to this many; a longer gap (the bed
empty, a device clock set wrong) is left out, the next column naming its day."""


def _columns(sheet: _Sheet) -> list[int]:
    """The hours a page charts: each with a reading or an alarm, and the empty ones
    between them (up to :data:`MAX_GAP_HOURS`)."""
    hours = _Hours()
    found = {hour for _, hour in sheet.cells} | {hour for _, hour in sheet.abp} | set(sheet.alarms)
    found |= {hours.start(m.time_ns) for ms in sheet.nibp.values() for m in ms}
    if not found:
        found = {hours.start(sheet.received_ns)}
    ordered = sorted(found)
    columns = [ordered[0]]
    for hour in ordered[1:]:
        gap = (hour - columns[-1]) // HOUR_NS - 1
        if 0 < gap <= MAX_GAP_HOURS:
            columns.extend(columns[-1] + n * HOUR_NS for n in range(1, gap + 1))
        columns.append(hour)
    return columns


def _page(sheet: _Sheet, selection: Selection, printed: str) -> str:
    columns = _columns(sheet)
    first = sheet.first_ns or sheet.received_ns
    if selection.since_ns is not None:
        first = max(first, selection.since_ns)
    last = max(sheet.last_ns, first)
    rows = _rows(sheet)
    name = sheet.patient_name or "name not sent"
    ident = sheet.patient_id or "not sent"
    bed = html.escape(sheet.bed_label) + (
        f" ({html.escape(sheet.bed.key)})" if sheet.bed_label != sheet.bed.key else ""
    )
    parts = [
        f"<section class='sheet' data-bed='{html.escape(sheet.bed.key, quote=True)}'"
        f" data-patient='{html.escape(sheet.patient_id, quote=True)}'>",
        f"<h1>Vitals flowsheet — {bed}</h1>",
        f"<p class='who'>Patient <b>{html.escape(name)}</b> · ID <b>{html.escape(ident)}</b>"
        f" · bed {bed}</p>",
        f"<p class='meta'>Period {_local(first, _DAY_TIME)} – {_local(last, _DAY_TIME)}"
        f" ({html.escape(time.strftime('%Z'))}) · each cell: the value at the hour (nearest"
        " valid reading to the full hour, within the hour; its time if later than :05), below"
        " it the hour's lowest–highest · NIBP: every measurement with its time · from the"
        f" icu-gateway journal, printed {html.escape(printed)}</p>",
    ]
    if sheet.demo:
        parts.append(
            f"<p class='demo'>DEMO: {sheet.demo} demo or test readings — not this patient's"
            " values — are on the rows marked DEMO, never in the patient's rows.</p>"
        )
    for start in range(0, len(columns), HOURS_PER_TABLE):
        parts.append(_table(sheet, rows, columns[start : start + HOURS_PER_TABLE]))
    parts.append("</section>\n")
    return "\n".join(parts)


def _rows(sheet: _Sheet) -> list[tuple[_RowKey, str]]:
    """Every row of a page in clinical order, each with the name it is printed under (its
    device or channel named when the page has more than one of the parameter)."""
    keys = {key for key, _ in sheet.cells} | set(sheet.nibp) | {key for key, _ in sheet.abp}
    ordered = sorted(keys, key=lambda k: (k.demo, k.rank, k.label.lower(), k.device, k.sub_id))
    devices = Counter(
        (label, demo) for label, demo, _ in {(k.label, k.demo, k.device) for k in keys}
    )
    subs = Counter((k.label, k.demo, k.device) for k in keys)
    named = []
    for key in ordered:
        label = {"NIBP": "NIBP sys/dia (mean)", "ABP": "ABP sys/dia (mean)"}.get(
            key.label, key.label
        )
        if devices[key.label, key.demo] > 1:
            label += f" — {sheet.devices.get(key.device, key.device)}"
        if subs[key.label, key.demo, key.device] > 1 and key.sub_id:
            label += f" [{key.sub_id}]"
        if key.demo:
            label = f"DEMO {label}"
        named.append((key, label + (f" ({key.unit})" if key.unit else "")))
    return named


def _table(sheet: _Sheet, rows: list[tuple[_RowKey, str]], columns: list[int]) -> str:
    pad = HOURS_PER_TABLE - len(columns)  # every table as wide: the same column widths
    parts = [
        "<table><colgroup><col class='param'>"
        + "<col class='hour'>" * HOURS_PER_TABLE
        + "</colgroup><thead><tr><th class='param'>Parameter</th>"
    ]
    for n, hour in enumerate(columns):
        day = _local(hour, "%d %b")
        first_of_day = n == 0 or day != _local(columns[n - 1], "%d %b")
        parts.append(
            f"<th data-hour='{_local(hour, '%Y-%m-%dT%H:%M')}'>"
            + (f"<span class='day'>{day}</span>" if first_of_day else "")
            + f"{_local(hour, '%H:%M')}</th>"
        )
    parts.append("<th></th>" * pad + "</tr></thead><tbody>")
    for key, label in rows:
        demo = " demo" if key.demo else ""
        parts.append(
            f"<tr class='row{demo}' data-row='{html.escape(key.label, quote=True)}'>"
            f"<td class='param'>{html.escape(label)}</td>"
        )
        precision = sheet.precision.get(key, 1)
        for hour in columns:
            if key.rank == _NIBP_RANK and not key.demo:
                parts.append(_nibp_cell(sheet.nibp[key], hour, precision))
            elif key.rank == _ABP_RANK and not key.demo:
                parts.append(_abp_cell(sheet.abp.get((key, hour)), hour, precision))
            else:
                parts.append(_cell(sheet.cells.get((key, hour)), hour, precision, key.demo))
        parts.append("<td></td>" * pad + "</tr>")
    parts.append("<tr class='alarms'><td class='param'>Alarms</td>")
    for hour in columns:
        parts.append(_alarm_cell(sheet.alarms.get(hour, [])))
    parts.append("<td></td>" * pad + "</tr></tbody></table>")
    return "".join(parts)


_EMPTY = "<td class='empty'>–</td>"
_DAY_TIME = "%d %b %Y %H:%M"


def _cell(cell: _Cell | None, hour: int, precision: int, demo: bool) -> str:
    if cell is None:
        return _EMPTY
    fmt = nomenclature.format_value
    value = html.escape(fmt(cell.value, precision))
    if demo:
        value = f"DEMO {value}"
    late = f"<span class='at'>at {_clock(cell.at_ns)}</span>" if _late(cell.at_ns, hour) else ""
    spread = ""
    if not math.isnan(cell.low):
        low, high = fmt(cell.low, precision), fmt(cell.high, precision)
        spread = f"<span class='range'>{low}–{high}</span>"
    return f"<td class='{'demo' if demo else 'value'}'>{value}{late}{spread}</td>"


def _pressure(values: Iterable[float | None], precision: int) -> str:
    sys, dia, mean = ("–" if v is None else nomenclature.format_value(v, precision) for v in values)
    return f"{sys}/{dia}" + ("" if mean == "–" else f" ({mean})")


def _nibp_cell(measurements: list[_Pressure], hour: int, precision: int) -> str:
    mine = sorted(
        (m for m in measurements if hour <= m.time_ns < hour + HOUR_NS), key=lambda m: m.time_ns
    )
    if not mine:
        return _EMPTY
    return (
        "<td class='value'>"
        + "".join(
            f"<div class='nibp' data-time='{_clock(m.time_ns)}'><span class='at'>"
            f"{_clock(m.time_ns)}</span>{_pressure(m.values, precision)}</div>"
            for m in mine
        )
        + "</td>"
    )


def _abp_cell(cell: _PressureCell | None, hour: int, precision: int) -> str:
    if cell is None:
        return _EMPTY
    late = (
        f"<span class='at'>at {_clock(cell.at.time_ns)}</span>"
        if _late(cell.at.time_ns, hour)
        else ""
    )
    fmt = nomenclature.format_value
    spans = [
        f"{fmt(low, precision)}–{fmt(high, precision)}"
        for low, high in zip(cell.low[:2], cell.high[:2], strict=True)
        if not math.isnan(low)
    ]
    spread = f"<span class='range'>{' / '.join(spans)}</span>" if spans else ""
    return f"<td class='value'>{_pressure(cell.at.values, precision)}{late}{spread}</td>"


def _alarm_cell(alarms: list[tuple[int, str, bool]]) -> str:
    """The hour's alarms, each once with the time it was first reported (a device repeats
    an active alarm in every message) and how many times it was."""
    first: dict[str, tuple[int, bool]] = {}
    counts: Counter[str] = Counter()
    for when, text, high in alarms:
        first.setdefault(text, (when, high))
        counts[text] += 1
    if not first:
        return "<td class='alarms empty'>–</td>"
    items = [
        f"<div class='{'high' if high else 'alarm'}'>{_clock(when)} {html.escape(text)}"
        + (f" ×{counts[text]}" if counts[text] > 1 else "")
        + "</div>"
        for text, (when, high) in sorted(first.items(), key=lambda item: item[1][0])
    ]
    return f"<td class='alarms'>{''.join(items)}</td>"


def _late(time_ns: int, hour: int) -> bool:
    return time_ns - hour > _LATE_NS


def _local(time_ns: int, pattern: str) -> str:
    return time.strftime(pattern, time.localtime(time_ns // NS_PER_S))


def _clock(time_ns: int) -> str:
    return _local(time_ns, "%H:%M")

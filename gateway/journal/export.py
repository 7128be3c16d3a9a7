"""Exports of the journal for back-filling the patient record: CSV and JSON lines, and what
every export shares (the selection, ``--since``/``--until`` times, ISO 8601 output).

* ``csv`` / ``jsonl`` — one observation per row / line: bed, its patient (id and name, on
  every row: a bed holds one patient after another; as the device sent them, else the
  patient admitted to the bed at the gateway when the row was received —
  :mod:`gateway.journal.admissions`), device, MDC code, label, value, unit,
  status, device time, receive time (ISO 8601, UTC), MSH-10, and ``demo`` (``1``/``true``
  for demo or test data, which is never a patient's value).

The printable hourly flowsheet is :mod:`gateway.journal.flowsheet`. The fourth format,
``hl7`` (an HL7 v2 batch file to re-import into the patient record), is a wire format and
lives with the HL7 adapter (:mod:`adapters.hl7.batch`); the choice of a format by name,
which knows all four, is :mod:`gateway.app.export`.

Exports only read the journal (its own read-only connection); they are blocking and run
from the command line, never on the gateway's event loop.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import TextIO

from gateway.clock import NS_PER_S
from gateway.domain import BedId
from gateway.journal.reader import JournalReader
from gateway.journal.records import StoredObservation

CSV_COLUMNS = (
    "bed",
    "bed_label",
    "patient_id",
    "patient_name",
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


def _record(stored: StoredObservation) -> dict[str, object]:
    bed, obs = stored.bed, stored.observation
    return {
        "bed": bed.key if bed is not None else "",
        "bed_label": stored.bed_label,
        "patient_id": stored.patient_id,
        "patient_name": stored.patient_name,
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
        record = _record(stored)
        record["demo"] = 1 if stored.observation.demo else 0
        writer.writerow(record)
        count += 1
    return count


def write_jsonl(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    count = 0
    for stored in reader.observations(
        bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    ):
        record = _record(stored)
        value = record["value"]
        if isinstance(value, float) and not math.isfinite(value):
            record["value"] = str(value)  # JSON has no NaN/inf
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count

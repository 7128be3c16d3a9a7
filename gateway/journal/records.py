"""What the journal is given and gives back: a report with its bed, and the stored messages,
reports, observations, hourly summaries and alarms its reader returns.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.domain import AlarmEvent, BedId, DeviceReport, Observation


class Outcome(enum.Enum):
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class RoutedReport:
    """A report with the bed routing gave it (``bed`` None: unassigned, kept all the same)."""

    report: DeviceReport
    bed: BedId | None
    bed_label: str = ""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the journal holds it (raw bytes decompressed)."""

    row: int
    receive_time_ns: int
    transport: str
    peer: str
    device: str | None
    control_id: str
    outcome: Outcome
    reason: str | None
    raw: bytes
    resends: int


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A report as stored, with its routing: what rebuild and replay feed to the ward."""

    message_row: int
    report_seq: int
    """Position of the report in its message (a message may carry several patients)."""
    routed: RoutedReport


@dataclass(frozen=True, slots=True)
class StoredObservation:
    """One observation row with where it belongs (for CSV / JSON lines export)."""

    bed: BedId | None
    bed_label: str
    observation: Observation
    patient_id: str = ""
    patient_name: str = ""
    """The patient of its report (PID-3; PID-5 as ``Family, Given``), empty if not sent."""


@dataclass(frozen=True, slots=True)
class HourlySummary:
    """The valid numeric readings of one parameter of one bed in one hour: their count,
    mean and range (for inspection; the flowsheet charts the value at the hour instead,
    :mod:`gateway.journal.flowsheet`)."""

    hour_start_ns: int
    code: int
    source_code: str | None
    label: str
    unit: str
    sub_id: str
    count: int
    mean: float
    low: float
    high: float
    patient_id: str = ""
    device: str = ""
    """The patient (PID-3) and device key the readings came from: two patients' or two
    devices' readings are never summarised as one."""


@dataclass(frozen=True, slots=True)
class StoredAlarm:
    bed: BedId | None
    event: AlarmEvent

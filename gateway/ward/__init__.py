"""The ward: what the gateway knows now about every bed, and which bed a report is of.

* :mod:`~gateway.ward.routing` — which bed a report belongs to (device id > PV1-3 >
  source address; beds made as heard, within the admission limits);
* :mod:`~gateway.ward.bed_conflicts` — one bed, one patient: a second live patient at one
  location gets a bed of its own;
* :mod:`~gateway.ward.state` — :class:`WardState`, every bed's latest values, trends and
  waves, freshness judged in one place;
* :mod:`~gateway.ward.trends`, :mod:`~gateway.ward.waveforms` — the bounded rings behind
  them;
* :mod:`~gateway.ward.snapshot` — what views see: :class:`WardSnapshot` and its records.

Importing this package never imports the alarm engine or the journal.
"""

from gateway.ward.snapshot import (
    BedSnapshot,
    DeviceLink,
    PeerRejects,
    Reading,
    UnassignedDevice,
    WardSnapshot,
    WaveInfo,
    WaveKey,
    WaveWindow,
)
from gateway.ward.state import DEFAULT_LOST_AFTER_S, DEFAULT_STALE_TIMEOUT_S, WardState

__all__ = [
    "DEFAULT_LOST_AFTER_S",
    "DEFAULT_STALE_TIMEOUT_S",
    "BedSnapshot",
    "DeviceLink",
    "PeerRejects",
    "Reading",
    "UnassignedDevice",
    "WardSnapshot",
    "WardState",
    "WaveInfo",
    "WaveKey",
    "WaveWindow",
]

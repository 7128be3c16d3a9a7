"""The durable journal: every message received, and what it said, on disk before any ACK.

One SQLite file in WAL mode (:mod:`~gateway.journal.schema` says what is in it and why).
The parts, each with one job:

* :mod:`~gateway.journal.client` — :class:`Journal`, the writing side on the event loop:
  it encodes each message (:mod:`~gateway.journal.encode`, values made storable by
  :mod:`~gateway.journal.values`), sends it to the writer process and resolves the
  caller's future when the commit covering it returned;
* :mod:`~gateway.journal.protocol` — the jobs and answers that go between the two;
* :mod:`~gateway.journal.writer` — the writer process (``python -m gateway.journal.writer``):
  the one writing connection, group commits, resends (:mod:`~gateway.journal.resends`),
  retention, checkpoints;
* :mod:`~gateway.journal.reader` — :class:`JournalReader`, read-only and blocking, its rows
  made records again by :mod:`~gateway.journal.decode`
  (:mod:`~gateway.journal.records`);
* what reads the journal: :mod:`~gateway.journal.backfill` (trends after a restart),
  :mod:`~gateway.journal.export` (CSV, JSON lines, flowsheet) and
  :mod:`~gateway.journal.replay` (the record played back into a hub).

The journal must not route, decode wire formats or touch the ward state: it stores and
returns records as it was given them. Importing this package imports the client and the
reader, never the writer process's module or the tools that read the journal.
"""

from gateway.journal.client import Journal
from gateway.journal.protocol import JournalCounters
from gateway.journal.reader import JournalReader, read_reports
from gateway.journal.records import (
    HourlySummary,
    Outcome,
    RoutedReport,
    StoredAlarm,
    StoredMessage,
    StoredObservation,
    StoredReport,
)
from gateway.journal.schema import DEFAULT_RETENTION_H, SCHEMA_VERSION

__all__ = [
    "DEFAULT_RETENTION_H",
    "SCHEMA_VERSION",
    "HourlySummary",
    "Journal",
    "JournalCounters",
    "JournalReader",
    "Outcome",
    "RoutedReport",
    "StoredAlarm",
    "StoredMessage",
    "StoredObservation",
    "StoredReport",
    "read_reports",
]

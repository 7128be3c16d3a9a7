"""``icu-gateway export``'s formats by name: the one place that knows all four.

* ``csv``, ``jsonl`` — read from the journal by :mod:`gateway.journal.export`;
* ``flowsheet`` — the printable hourly chart, :mod:`gateway.journal.flowsheet`;
* ``hl7`` — an HL7 v2 batch file (FHS/BHS … BTS/FTS) to re-import into the patient record
  when the network returns (:mod:`adapters.hl7.batch`): per stored report an IHE PCD-01
  ORU^R01 (observations, waveforms, Philips text alarms) and an IHE PCD-04 ORU^R40 (the
  device's other alarms), each keeping the sender (MSH-3), the patient (PID), the location
  (PV1-3), so re-ingesting it gives the same observations, waveforms and alarms.

Here, and not in the journal, because the HL7 batch is a wire format: the core does not
import an adapter.
"""

from __future__ import annotations

from typing import TextIO

from adapters.hl7 import batch
from gateway.domain import BedId
from gateway.journal.export import Selection, write_csv, write_jsonl
from gateway.journal.flowsheet import write_flowsheet
from gateway.journal.reader import JournalReader

FORMATS = ("csv", "jsonl", "hl7", "flowsheet")


class UnknownBed(ValueError):
    """``--bed`` names no bed of the journal: an error, never an empty export."""

    def __init__(self, bed: BedId, beds: list[tuple[BedId, str]]) -> None:
        self.bed, self.beds = bed, beds
        known = ", ".join(
            bed.key if label in ("", bed.key) else f"{bed.key} ({label})" for bed, label in beds
        )
        super().__init__(
            f"no bed {bed.key!r} in the journal; its beds: {known}"
            if beds
            else f"no bed {bed.key!r}: the journal holds no bed"
        )


def check_selection(reader: JournalReader, selection: Selection) -> None:
    """Raise :class:`UnknownBed` when the selection names a bed the journal never had."""
    if selection.bed is None:
        return
    beds = reader.beds()
    if all(bed != selection.bed for bed, _ in beds):
        raise UnknownBed(selection.bed, beds)


def export(reader: JournalReader, out: TextIO, fmt: str, selection: Selection) -> int:
    """Write ``fmt`` to ``out``; return how many items (rows, messages, flowsheet pages)
    were written. Raises :class:`UnknownBed` (before writing anything) for a bed the
    journal does not hold."""
    check_selection(reader, selection)
    if fmt == "csv":
        return write_csv(reader, out, selection)
    if fmt == "jsonl":
        return write_jsonl(reader, out, selection)
    if fmt == "hl7":
        return write_hl7_batch(reader, out, selection)
    if fmt == "flowsheet":
        return write_flowsheet(reader, out, selection)
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def write_hl7_batch(reader: JournalReader, out: TextIO, selection: Selection) -> int:
    """The HL7 batch file (:mod:`adapters.hl7.batch`); returns how many messages it holds."""
    return batch.write_hl7_batch(
        reader, out, bed=selection.bed, since_ns=selection.since_ns, until_ns=selection.until_ns
    )

"""Patients admitted to a bed at the gateway, as the journal keeps them, and who a bed held
at a given time for the record.

An admission or a discharge at the screen (:mod:`gateway.app.bindings`) is an entry of the
alarm log: the bed's, with :data:`ADMISSION_KEY` as its alarm key, change
``configuration``, signed by the operator, and a text staff can read that also carries the
patient exactly (:func:`admission_text`, read back by :func:`parse_admission`: the id and
the name are JSON strings in it, so no name can be mistaken for the rest of the text).

:class:`AdmissionTimeline` answers, for the exports and the flowsheet, whose a report of a
bed is: the patient id the device sent when it sent one (the monitor's admission wins,
and two patients are never mixed), else the patient admitted at the gateway at the
report's receive time, else nobody. This module only reads; it writes nothing.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from gateway.domain import AlarmChange, AlarmTransition

ADMISSION_KEY = "admission"
"""The alarm key of every admission and discharge entry of the alarm log."""

_STRING = r'"(?:[^"\\]|\\.)*"'
_TEXT = re.compile(
    rf"patient (admitted to|discharged from) bed .*: id ({_STRING}), name ({_STRING})",
    re.DOTALL,
)


def admission_text(admitted: bool, bed_label: str, patient_id: str, patient_name: str) -> str:
    """``patient admitted to bed Bed 3: id "P-1", name "Doe, John"`` (or ``discharged
    from``): what the operator reads in the alarm history, and what the record reads back."""
    verb = "admitted to" if admitted else "discharged from"
    return (
        f"patient {verb} bed {bed_label}: id {json.dumps(patient_id, ensure_ascii=False)},"
        f" name {json.dumps(patient_name, ensure_ascii=False)}"
    )


@dataclass(frozen=True, slots=True)
class AdmissionEntry:
    time_ns: int
    bed: str
    """The bed's key."""
    admitted: bool
    """True: admitted then; False: discharged then."""
    patient_id: str
    patient_name: str


def parse_admission(transition: AlarmTransition) -> AdmissionEntry | None:
    """The admission or discharge an alarm-log entry records; None for any other entry (or
    one whose text was not written by :func:`admission_text`)."""
    if (
        transition.alarm != ADMISSION_KEY
        or transition.change is not AlarmChange.CONFIGURATION
        or transition.bed is None
    ):
        return None
    found = _TEXT.fullmatch(transition.text)
    if found is None:
        return None
    try:
        patient_id, name = json.loads(found[2]), json.loads(found[3])
    except ValueError:
        return None
    if not isinstance(patient_id, str) or not isinstance(name, str):
        return None
    admitted = found[1] == "admitted to"
    return AdmissionEntry(transition.time_ns, transition.bed.key, admitted, patient_id, name)


class AdmissionTimeline:
    """Who was admitted to each bed at the gateway, over time, from the alarm log's
    entries (oldest first, as :meth:`~gateway.journal.reader.JournalReader.alarm_log`
    gives them)."""

    def __init__(self, transitions: Iterable[AlarmTransition]) -> None:
        self._times: dict[str, list[int]] = {}
        self._who: dict[str, list[tuple[str, str] | None]] = {}
        for transition in transitions:
            entry = parse_admission(transition)
            if entry is None:
                continue
            self._times.setdefault(entry.bed, []).append(entry.time_ns)
            self._who.setdefault(entry.bed, []).append(
                (entry.patient_id, entry.patient_name) if entry.admitted else None
            )

    def __bool__(self) -> bool:
        return bool(self._times)

    def admitted(self, bed: str, time_ns: int) -> tuple[str, str] | None:
        """The patient (id, name) admitted to bed ``bed`` at ``time_ns``, if any."""
        times = self._times.get(bed)
        if not times:
            return None
        index = bisect.bisect_right(times, time_ns) - 1
        return None if index < 0 else self._who[bed][index]

    def patient(
        self, bed: str | None, time_ns: int, sent_id: str, sent_name: str
    ) -> tuple[str, str]:
        """Whose a report of bed ``bed`` received at ``time_ns`` is: (id, name) as the
        device sent them when it sent an id; else the patient admitted then; else what
        the device sent (a name alone, or nothing)."""
        if sent_id or bed is None:
            if sent_id and bed is not None and not sent_name:
                admitted = self.admitted(bed, time_ns)
                if admitted is not None and admitted[0] == sent_id:
                    return sent_id, admitted[1]  # the same patient: the name entered
            return sent_id, sent_name
        admitted = self.admitted(bed, time_ns)
        return (sent_id, sent_name) if admitted is None else admitted

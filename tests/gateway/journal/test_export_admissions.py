"""Exports attribute a bed's rows to the patient admitted at the gateway while its device
sent no patient id — read back from the journal's alarm log over time — so a bed's days
can be charted per patient; a patient id the device sent always wins."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from journal_support import running_gateway

from gateway.app.bindings import LiveBindings
from gateway.app.export import export
from gateway.app.service import flush_alarm_log
from gateway.clock import ManualClock
from gateway.config.load import parse_config
from gateway.domain import (
    AlarmChange,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    AlarmTransition,
    BedId,
)
from gateway.journal.admissions import AdmissionTimeline, admission_text, parse_admission
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.journal.recorded_alarms import RecordedAlarms
from gateway.ward.routing import Router

EUI = "0012211839000001"


def config_text(journal: Path) -> str:
    return f"""
[gateway]
name = "ICU TEST"
journal = "{journal}"
auto_beds = false

[[beds]]
id = "bed-a"
label = "Bed A"
locations = ["ICU^9^1"]
"""


def oru(control_id: str, patient: str = "", name: str = "") -> bytes:
    return (
        f"MSH|^~\\&|MON^{EUI}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{control_id}"
        f"|P|2.6|||AL|NE\rPID|||{patient}||{name}\rPV1||I|ICU^9^1\r"
        f"OBR|1||{control_id}|182777000^monitoring of patient^SCT\r"
        "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        "|||||R\r"
    ).encode()


async def admitted_journal(tmp_path: Path) -> Path:
    """Bed A over an hour: a monitor without PID, then a patient admitted at the screen,
    the monitor's own admission for one message, then the patient discharged."""
    path = tmp_path / "ward.sqlite"
    config = parse_config(config_text(path), str(tmp_path / "ward.toml"))
    clock = ManualClock()
    router = Router(config.bindings(), auto_beds=False)
    async with running_gateway(path, clock=clock, router=router) as gateway:
        beds = LiveBindings(gateway.hub, config, None)
        monitor = await gateway.monitor()
        assert (await monitor.send(oru("before")))[0] == "CA"
        clock.advance(600)
        await beds.admit("bed-a", "Bed A", "MRN-42", "Curie, Marie", "Ana")
        clock.advance(600)
        assert (await monitor.send(oru("admitted")))[0] == "CA"
        clock.advance(600)
        assert (await monitor.send(oru("sent", patient="P-7", name="ROE^JOHN")))[0] == "CA"
        clock.advance(600)
        assert (await monitor.send(oru("again")))[0] == "CA"
        clock.advance(600)
        await beds.discharge("bed-a", "Bed A", "Ana")
        clock.advance(600)
        assert (await monitor.send(oru("after")))[0] == "CA"
        await monitor.close()
        assert await flush_alarm_log(gateway.hub, gateway.journal)
    return path


def exported(path: Path, fmt: str) -> str:
    out = io.StringIO()
    with JournalReader(path) as reader:
        export(reader, out, fmt, Selection())
    return out.getvalue()


async def test_csv_and_json_lines_name_the_admitted_patient_while_the_device_sent_none(
    tmp_path: Path,
) -> None:
    path = await admitted_journal(tmp_path)
    rows = list(csv.DictReader(io.StringIO(exported(path, "csv"))))
    assert [(r["message_id"], r["patient_id"], r["patient_name"]) for r in rows] == [
        ("before", "", ""),
        ("admitted", "MRN-42", "Curie, Marie"),
        ("sent", "P-7", "ROE, JOHN"),  # the device's own patient: never mixed
        ("again", "MRN-42", "Curie, Marie"),
        ("after", "", ""),
    ]
    lines = [json.loads(line) for line in exported(path, "jsonl").splitlines()]
    assert [line["patient_id"] for line in lines] == ["", "MRN-42", "P-7", "MRN-42", ""]


async def test_the_flowsheet_gives_the_admitted_patient_a_page_of_their_own(
    tmp_path: Path,
) -> None:
    path = await admitted_journal(tmp_path)
    sheet = exported(path, "flowsheet")
    patients = [part.split("'")[0] for part in sheet.split("data-patient='")[1:]]
    assert sorted(patients) == ["", "MRN-42", "P-7"]
    assert "Patient <b>Curie, Marie</b> · ID <b>MRN-42</b>" in sheet


def test_an_entry_not_written_as_an_admission_is_no_admission() -> None:
    def entry(text: str, key: str = "admission") -> AlarmTransition:
        return AlarmTransition(
            5, BedId("b"), "B", key, AlarmChange.CONFIGURATION, AlarmPriority.NONE,
            AlarmKind.TECHNICAL, AlarmSource.GATEWAY, text, "Ana",
        )  # fmt: skip

    good = admission_text(True, "B", 'ID "1"', "Doe, Jane")
    assert parse_admission(entry(good)) is not None
    assert parse_admission(entry(good, key="")) is None
    assert parse_admission(entry("patient admitted to bed B: id 1, name Doe")) is None
    timeline = AdmissionTimeline([entry(good)])
    assert timeline.admitted("b", 4) is None
    assert timeline.admitted("b", 5) == ('ID "1"', "Doe, Jane")


def test_a_replay_shows_an_admission_as_no_alarm() -> None:
    text = admission_text(True, "B", "MRN-1", "Doe, Jane")
    entry = AlarmTransition(
        5, BedId("b"), "B", "admission", AlarmChange.CONFIGURATION, AlarmPriority.NONE,
        AlarmKind.TECHNICAL, AlarmSource.GATEWAY, text, "Ana",
    )  # fmt: skip
    recorded = RecordedAlarms([entry])
    recorded.advance(10)
    assert recorded.snapshot(10, 10).alarms == ()

"""One bed, one patient, end to end: monitors send over real MLLP connections to a gateway
with its journal; what the tiles show, which alarms exist, what the trends and the exports
hold when two monitors send the same location (docs/dashboard.md, "BED CONFLICT")."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import numpy.typing as npt
from journal_support import Gateway, Monitor, running_gateway

from gateway.app.export import export
from gateway.app.service import rebuild
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import AlarmChange, AlarmKind, AlarmPriority, BedId, DeviceId
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.ward.bed_conflicts import MAX_BEDS
from gateway.ward.routing import BedBinding, Router
from tui.app import WardApp
from tui.bed_screen import BedScreen
from tui.widgets import BedGrid

HR, RR = 147842, 151562
BED = BedId("ICU^12^1")
SECOND = BedId("ICU^12^1 (2)")
MONITOR_A = "0012211839000001"
MONITOR_B = "0012211839000002"
VENTILATOR = "0012211839000003"


def oru(
    control_id: str, *, name: str, eui: str, patient: str, hr: float = 0, rr: float = 0
) -> bytes:
    """A PCD-01 ORU^R01 from device ``name`` at ``ICU^12^1`` (HR and/or RR)."""
    pid = f"PID|||{patient}^^^^MR||DOE^JOHN\r" if patient else "PID|||\r"
    rows: list[str] = []
    if hr:
        rows.append(
            f"OBX|{len(rows) + 1}|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr:g}"
            "|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
        )
    if rr:
        rows.append(
            f"OBX|{len(rows) + 1}|NM|151562^MDC_RESP_RATE^MDC|1.1.2.1|{rr:g}"
            "|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r"
        )
    return (
        f"MSH|^~\\&|{name}^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{control_id}|P"
        f"|2.6|||AL|NE\r{pid}PV1||I|ICU^12^1\rOBR|1||{control_id}|182777000^monitoring^SCT\r"
        + "".join(rows)
    ).encode()


class Sender:
    """One device on its own MLLP connection: each send must be committed (CA)."""

    def __init__(self, monitor: Monitor, name: str, eui: str, patient: str) -> None:
        self.monitor, self.name, self.eui, self.patient = monitor, name, eui, patient
        self.sent = 0

    async def send(self, *, hr: float = 0, rr: float = 0) -> None:
        self.sent += 1
        raw = oru(
            f"{self.name}-{self.sent}",
            name=self.name,
            eui=self.eui,
            patient=self.patient,
            hr=hr,
            rr=rr,
        )
        assert await self.monitor.send(raw) == ("CA", f"{self.name}-{self.sent}")


async def sender(gateway: Gateway, name: str, eui: str, patient: str) -> Sender:
    return Sender(await gateway.monitor(), name, eui, patient)


def conflict_alarms(gateway: Gateway) -> list[str]:
    alarms = gateway.hub.snapshot().alarms
    assert alarms is not None
    found = [a for a in alarms.alarms if "BED CONFLICT" in a.text]
    for alarm in found:
        assert alarm.priority is AlarmPriority.MEDIUM
        assert alarm.kind is AlarmKind.TECHNICAL
        assert alarm.bed == BED
    return [a.text for a in found]


def exported(path: Path, fmt: str, bed: BedId | None = None) -> str:
    out = io.StringIO()
    with JournalReader(path) as reader:
        export(reader, out, fmt, Selection(bed=bed))
    return out.getvalue()


async def two_patients_at_one_location(gateway: Gateway, clock: ManualClock, rounds: int) -> None:
    a = await sender(gateway, "MONA", MONITOR_A, "P1")
    b = await sender(gateway, "MONB", MONITOR_B, "P2")
    for _ in range(rounds):
        await a.send(hr=72, rr=14)
        await b.send(hr=100, rr=20)
        clock.advance(1)


async def test_two_patients_at_one_location_are_two_tiles_both_marked_bed_conflict(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        await two_patients_at_one_location(gateway, clock, 5)
        snapshot = gateway.hub.snapshot()
        beds = {bed.bed: bed for bed in snapshot.beds}
        assert set(beds) == {BED, SECOND}
        first, second = beds[BED], beds[SECOND]
        # Values apart: neither patient's HR is shown as the other's.
        assert (first.patient_id, first.readings[HR].value) == ("P1", 72)
        assert (second.patient_id, second.readings[HR].value) == ("P2", 100)
        assert [d.device.key for d in first.devices] == [f"EUI-64:{MONITOR_A}"]
        assert [d.device.key for d in second.devices] == [f"EUI-64:{MONITOR_B}"]
        assert second.label == "ICU 12-1 (2)"
        # Both tiles know the conflict and both of its sources.
        assert first.conflict is not None and first.conflict == second.conflict
        sources = [(s.device.key, s.patient_id, s.bed) for s in first.conflict.sources]
        assert sources == [
            (f"EUI-64:{MONITOR_A}", "P1", BED),
            (f"EUI-64:{MONITOR_B}", "P2", SECOND),
        ]
        # One medium technical alarm, naming both.
        (text,) = conflict_alarms(gateway)
        assert "MONA patient P1 on ICU 12-1" in text and "MONB patient P2 on ICU 12-1 (2)" in text
        # Trends apart.
        now = clock.now_ns()
        one = gateway.hub.ward.trend(BED, HR, 60, 60, now)
        two = gateway.hub.ward.trend(SECOND, HR, 60, 60, now)
        assert one is not None and two is not None
        assert _values(one.low, one.high) == {72.0}
        assert _values(two.low, two.high) == {100.0}
        # On screen: both tiles say BED CONFLICT, with both sources on the second's face.
        app = WardApp(gateway.hub.snapshot, refresh_hz=20)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause(0.3)
            tiles = {tile.bed_id: tile for tile in app.query_one(BedGrid).tiles}
            assert set(tiles) == {BED, SECOND}
            for tile in tiles.values():
                assert "BED CONFLICT" in tile.label
            face = tiles[SECOND].face.plain
            assert face.startswith("BED CONFLICT P1 | P2")
            # (the HR is in big digits; RR is text): each tile shows its own patient's
            assert "RR 20" in face and "RR 14" not in face
            assert "RR 14" in tiles[BED].face.plain and "RR 20" not in tiles[BED].face.plain
            assert "BED CONFLICT" in tiles[BED].face.plain  # the alarm's line
            await pilot.press("enter")  # the bed screen names each source and its bed
            await pilot.pause(0.3)
            assert isinstance(app.screen, BedScreen)
            title = app.screen.title_line.line.plain
            assert "BED CONFLICT P1 MONA on ICU 12-1 | P2 MONB on ICU 12-1 (2)" in title
            await pilot.press("q")
    # The exports keep them apart too: CSV rows carry the bed and the device.
    rows = list(csv.DictReader(io.StringIO(exported(tmp_path / "j.sqlite", "csv"))))
    heart = [(r["bed"], r["device"], r["value"]) for r in rows if r["mdc_code"] == str(HR)]
    assert set(heart) == {
        ("ICU^12^1", f"EUI-64:{MONITOR_A}", "72.0"),
        ("ICU^12^1 (2)", f"EUI-64:{MONITOR_B}", "100.0"),
    }
    sheet = exported(tmp_path / "j.sqlite", "flowsheet")
    sections = sheet.split("<section class='sheet'")[1:]
    assert len(sections) == 2
    by_title = {re.search(r"<h1>(.*?)</h1>", s)[1]: s for s in sections}  # type: ignore[index]
    own = by_title["Vitals flowsheet — ICU 12-1 (ICU^12^1)"]
    other = by_title["Vitals flowsheet — ICU 12-1 (2) (ICU^12^1 (2))"]
    assert "ID <b>P1</b>" in own and ">72<" in own and "100" not in own
    assert "ID <b>P2</b>" in other and ">100<" in other and ">72<" not in other


def _values(*columns: npt.NDArray[np.float64] | npt.NDArray[np.float32]) -> set[float]:
    """Every value a trend envelope holds (its columns without a reading are NaN)."""
    return {float(v) for column in columns for v in column[~np.isnan(column)]}


async def test_the_conflict_and_its_alarm_end_when_the_second_monitor_goes_silent(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        await two_patients_at_one_location(gateway, clock, 3)
        assert len(conflict_alarms(gateway)) == 1
        a = await sender(gateway, "MONA", MONITOR_A, "P1")
        for _ in range(9):  # monitor B is silent; A goes on
            await a.send(hr=75)
            clock.advance(1)
            assert gateway.hub.snapshot().bed(BED).conflict is not None  # type: ignore[union-attr]
        for _ in range(3):  # past the 10 s stale timeout since B last spoke
            await a.send(hr=75)
            clock.advance(1)
        snapshot = gateway.hub.snapshot()
        assert all(bed.conflict is None for bed in snapshot.beds)
        assert conflict_alarms(gateway) == []
        ended = [
            t
            for t in gateway.hub.alarms.history(BED)
            if t.change is AlarmChange.ENDED and "BED CONFLICT" in t.text
        ]
        assert len(ended) == 1
        first = snapshot.bed(BED)
        assert first is not None and first.readings[HR].value == 75
        assert first.patient_id == "P1"


async def test_a_monitor_whose_patient_id_changes_is_an_admission_not_a_conflict(
    tmp_path: Path,
) -> None:
    clock = ManualClock(3600 * NS_PER_S * 480_000)  # on the hour: one flowsheet column
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        discharged = await sender(gateway, "MONA", MONITOR_A, "P1")
        for _ in range(3):
            await discharged.send(hr=60)
            clock.advance(1)
        admitted = Sender(discharged.monitor, "MONA", MONITOR_A, "P3")
        admitted.sent = discharged.sent
        for _ in range(3):
            await admitted.send(hr=120)
            clock.advance(1)
        snapshot = gateway.hub.snapshot()
        (bed,) = snapshot.beds
        assert (bed.bed, bed.patient_id, bed.conflict) == (BED, "P3", None)
        assert bed.readings[HR].value == 120
        assert conflict_alarms(gateway) == []
    # Within the hour the bed had two patients: a page each (issue 19), never one value.
    sheet = exported(tmp_path / "j.sqlite", "flowsheet")
    pages = sheet.split("<section class='sheet'")[1:]
    assert [re.search(r"ID <b>(\w+)</b>", page)[1] for page in pages] == ["P1", "P3"]  # type: ignore[index]
    assert ">60<" in pages[0] and ">120<" not in pages[0]
    assert ">120<" in pages[1] and ">60<" not in pages[1]


async def test_a_monitor_and_a_ventilator_of_one_patient_share_the_bed(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        monitor = await sender(gateway, "MONA", MONITOR_A, "P1")
        ventilator = await sender(gateway, "VENT", VENTILATOR, "P1")
        for _ in range(4):
            await monitor.send(hr=72)
            await ventilator.send(rr=16)
            clock.advance(1)
        (bed,) = gateway.hub.snapshot().beds
        assert bed.conflict is None
        assert {d.device.key for d in bed.devices} == {
            f"EUI-64:{MONITOR_A}",
            f"EUI-64:{VENTILATOR}",
        }
        assert (bed.readings[HR].value, bed.readings[RR].value) == (72, 16)
        assert conflict_alarms(gateway) == []


async def test_a_monitor_that_replaces_one_gone_silent_takes_the_bed(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        old = await sender(gateway, "MONA", MONITOR_A, "P1")
        await old.send(hr=72)
        clock.advance(11)  # past the stale timeout: the old monitor is gone
        new = await sender(gateway, "MONB", MONITOR_B, "P2")
        await new.send(hr=90)
        (bed,) = gateway.hub.snapshot().beds
        assert (bed.bed, bed.patient_id, bed.conflict) == (BED, "P2", None)
        assert bed.readings[HR].value == 90
        assert conflict_alarms(gateway) == []


async def test_two_devices_without_patient_ids_conflict_until_bound_to_the_bed(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "a.sqlite", clock=clock) as gateway:
        monitor = await sender(gateway, "MONA", MONITOR_A, "")
        ventilator = await sender(gateway, "VENT", VENTILATOR, "")
        await monitor.send(hr=72)
        await ventilator.send(rr=16)
        assert {bed.bed for bed in gateway.hub.snapshot().beds} == {BED, SECOND}
        assert len(conflict_alarms(gateway)) == 1
    bound = Router(
        [
            BedBinding(
                BED,
                "ICU 12-1",
                devices=(f"EUI-64:{MONITOR_A}", f"EUI-64:{VENTILATOR}"),
            )
        ]
    )
    async with running_gateway(tmp_path / "b.sqlite", clock=clock, router=bound) as gateway:
        monitor = await sender(gateway, "MONA", MONITOR_A, "")
        ventilator = await sender(gateway, "VENT", VENTILATOR, "")
        await monitor.send(hr=72)
        await ventilator.send(rr=16)
        (bed,) = gateway.hub.snapshot().beds
        assert bed.conflict is None and len(bed.devices) == 2
        assert conflict_alarms(gateway) == []


async def test_a_location_holds_a_bounded_number_of_conflict_beds(tmp_path: Path) -> None:
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        for index in range(MAX_BEDS + 1):
            one = await sender(gateway, f"MON{index}", f"00122118390001{index:02d}", f"P{index}")
            await one.send(hr=60 + index)
        snapshot = gateway.hub.snapshot()
        assert len(snapshot.beds) == MAX_BEDS
        (stray,) = snapshot.unassigned  # journaled and listed, never dropped
        assert stray.device == DeviceId(f"EUI-64:00122118390001{MAX_BEDS:02d}")
        (text,) = conflict_alarms(gateway)
        assert all(f"patient P{i}" in text for i in range(MAX_BEDS))


async def test_each_source_of_a_conflict_keeps_its_own_bed_across_a_restart(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    path = tmp_path / "j.sqlite"
    async with running_gateway(path, clock=clock) as gateway:
        await two_patients_at_one_location(gateway, clock, 3)
    clock.advance(2)  # a quick restart: both monitors are still live
    async with running_gateway(path, clock=clock) as gateway:
        assert await rebuild(gateway.hub, path) > 0
        b = await sender(gateway, "MONB", MONITOR_B, "P2")  # the second speaks first
        await b.send(hr=101)
        a = await sender(gateway, "MONA", MONITOR_A, "P1")
        await a.send(hr=73)
        snapshot = gateway.hub.snapshot()
        first, second = snapshot.bed(BED), snapshot.bed(SECOND)
        assert first is not None and second is not None
        assert (first.patient_id, first.readings[HR].value) == ("P1", 73)
        assert (second.patient_id, second.readings[HR].value) == ("P2", 101)
        assert first.conflict is not None
        assert len(conflict_alarms(gateway)) == 1


async def test_a_device_bound_to_a_bed_takes_it_and_the_one_there_leaves_at_once(
    tmp_path: Path,
) -> None:
    """The engineer binds the second patient's monitor to the bed the first one holds by
    location (the devices screen's ``b``): from the bound monitor's first report the tile is
    its patient's alone — the other monitor's link and values leave the bed at once, not
    with its next report — and that monitor goes to a bed of its own when it next sends."""
    clock = ManualClock()
    async with running_gateway(tmp_path / "j.sqlite", clock=clock) as gateway:
        a = await sender(gateway, "MONA", MONITOR_A, "P1")
        b = await sender(gateway, "MONB", MONITOR_B, "P2")
        await a.send(rr=14)
        await b.send(hr=100)
        assert gateway.hub.snapshot().bed(BED).readings.keys() == {RR}  # type: ignore[union-attr]
        gateway.hub.rebind([BedBinding(BED, "ICU 12-1", devices=(f"EUI-64:{MONITOR_B}",))])
        clock.advance(1)
        await b.send(hr=101)
        bed = gateway.hub.snapshot().bed(BED)
        assert bed is not None
        assert [d.device.key for d in bed.devices] == [f"EUI-64:{MONITOR_B}"]
        assert {code: r.value for code, r in bed.readings.items()} == {HR: 101}
        assert bed.patient_id == "P2"
        await a.send(rr=15)
        second = gateway.hub.snapshot().bed(SECOND)
        assert second is not None
        assert [d.device.key for d in second.devices] == [f"EUI-64:{MONITOR_A}"]
        assert {code: r.value for code, r in second.readings.items()} == {RR: 15}
        bed = gateway.hub.snapshot().bed(BED)
        assert bed is not None and {code: r.value for code, r in bed.readings.items()} == {HR: 101}

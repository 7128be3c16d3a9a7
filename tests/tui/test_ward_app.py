"""The ward dashboard, driven through Textual's pilot over a real WardState and ManualClock.

What is checked is what the screen shows: each tile is rendered to text (border and title
included) the way the compositor would draw it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from rich.style import Style
from textual.geometry import Region
from textual.pilot import Pilot

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import (
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
    ReceivedMessage,
)
from gateway.ward import WardSnapshot, WardState
from tui import vitals
from tui.app import WardApp
from tui.widgets import BedGrid, BedTile, WardHeader

STALE_S = 10.0
LOST_S = 60.0
TEST_HZ = 20.0  # a fast timer keeps the waits short; the behaviour is the same at 4 Hz

VALID = ObservationStatus.VALID
HR, SPO2, RR, TEMP = 147842, 150456, 151562, 150344
NIBP_SYS, NIBP_DIA, NIBP_MEAN = 150021, 150022, 150023


class Rig:
    """A ward with configured beds, a hand-driven clock, and the app's snapshot function."""

    def __init__(self, *labels: str) -> None:
        self.clock = ManualClock()
        self.ward = WardState(stale_timeout_s=STALE_S, lost_after_s=LOST_S)
        self.beds = [BedId(f"icu-{n}") for n in range(1, len(labels) + 1)]
        for bed, label in zip(self.beds, labels, strict=True):
            self.ward.add_bed(bed, label)

    def send(
        self,
        index: int,
        *values: tuple[int, float],
        status: ObservationStatus = VALID,
        measured_ago_s: float = 0.0,
        patient_id: str = "",
    ) -> None:
        """One report from bed ``index``'s monitor, received now."""
        device = DeviceId(f"EUI-64:{index:016x}", f"monitor {index}")
        now = self.clock.now_ns()
        units = {HR: "/min", SPO2: "%", RR: "/min", TEMP: "°C"}
        observations = tuple(
            Observation(
                device,
                code,
                str(code),
                value,
                units.get(code, "mmHg"),
                status,
                receive_time_ns=now,
                device_time_ns=now - round(measured_ago_s * NS_PER_S),
            )
            for code, value in values
        )
        report = DeviceReport(
            device, "tcp", "10.1.0.1", now, patient_id=patient_id, observations=observations
        )
        self.ward.apply(self.beds[index], report)

    def send_vitals(self, index: int, hr: float = 72, patient_id: str = "") -> None:
        self.send(index, (HR, hr), (SPO2, 97), (RR, 16), (TEMP, 36.75), patient_id=patient_id)
        self.send(index, (NIBP_SYS, 117), (NIBP_DIA, 82), (NIBP_MEAN, 90), measured_ago_s=720)

    def snapshot(self) -> WardSnapshot:
        return self.ward.snapshot(self.clock.now_ns())

    def app(self, title: str = "ICU", markers: tuple[str, ...] = ()) -> WardApp:
        return WardApp(self.snapshot, title=title, markers=markers, refresh_hz=TEST_HZ)


def tiles(app: WardApp) -> list[BedTile]:
    return list(app.query_one(BedGrid).tiles)


def drawn(tile: BedTile) -> str:
    """The tile as drawn on screen, border and title included."""
    size = tile.region.size
    return "\n".join(strip.text for strip in tile.render_lines(Region(0, 0, *size)))


def face_line(tile: BedTile, starts_with: str) -> str:
    """The drawn line (inside the border) that starts with ``starts_with``."""
    inside = (line[1:-1].strip() for line in drawn(tile).splitlines())
    return next(line for line in inside if line.startswith(starts_with))


def styles_on(tile: BedTile, starts_with: str) -> list[Style]:
    """The Rich styles used on the face line that starts with ``starts_with``."""
    line = next(line for line in tile.face.split("\n") if line.plain.startswith(starts_with))
    return [s if isinstance(s, Style) else Style.parse(s) for s in (x.style for x in line.spans)]


async def wait_for(pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
    """Let the app run (timer ticks, repaints) until ``condition`` holds, at most 5 s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


async def test_every_bed_shows_its_label_and_vitals_with_units() -> None:
    rig = Rig("Bed 1", "Bed 2", "Bed 3")
    rig.send_vitals(0, hr=72, patient_id="P-4711")
    rig.send_vitals(1, hr=101)
    rig.send_vitals(2, hr=58)
    app = rig.app(title="ICU Nord", markers=("DEMO",))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        await pilot.pause()
        first, second, third = tiles(app)
        assert "Bed 1 · P-4711" in drawn(first)
        assert "Bed 2" in drawn(second)
        assert "Bed 3" in drawn(third)
        for tile, hr in ((first, "72"), (second, "101"), (third, "58")):
            assert face_line(tile, "HR").split() == ["HR", hr, "/min"]
            assert face_line(tile, "SpO2").split() == ["SpO2", "97", "%"]
            assert face_line(tile, "NIBP").split() == ["NIBP", "117/82", "(90)", "mmHg", "12m"]
            assert face_line(tile, "RR").split() == ["RR", "16", "/min"]
            assert face_line(tile, "Temp").split() == ["Temp", "36.8", "°C"]  # 1 decimal
            assert "NO DATA" not in drawn(tile)
        assert styles_on(first, "HR")[1] == Style.parse(f"bold {vitals.HEART_RATE.colour}")
        header = app.query_one(WardHeader).line.plain
        clock = time.strftime("%H:%M:%S", time.localtime(rig.clock.now_ns() // NS_PER_S))
        assert "ICU Nord" in header
        assert "DEMO" in header
        assert clock in header
        assert "live 3 · stale 0 · lost 0" in header


async def test_a_silent_bed_shows_no_data_and_its_values_greyed_with_their_age() -> None:
    rig = Rig("Bed 1", "Bed 2")
    rig.send_vitals(0)
    rig.send_vitals(1)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        await pilot.pause()
        tile = tiles(app)[0]
        assert face_line(tile, "HR").split() == ["HR", "72", "/min"]
        hr_colour = Style.parse(vitals.HEART_RATE.colour).color
        assert hr_colour in {style.color for style in styles_on(tile, "HR")}

        rig.clock.advance(STALE_S + 5)
        rig.send_vitals(1)  # the other bed keeps talking
        await wait_for(pilot, lambda: "NO DATA" in drawn(tile), "NO DATA on the silent bed")

        assert "NO DATA 00:15" in drawn(tile)
        assert face_line(tile, "HR").split() == ["HR", "72", "/min", "?15s"]
        assert face_line(tile, "SpO2").split() == ["SpO2", "97", "%", "?15s"]
        # the cuff value is as old as its measurement, not as its last re-send
        assert face_line(tile, "NIBP").split()[-1] == "?12m"
        assert hr_colour not in {style.color for style in styles_on(tile, "HR")}
        assert not any(style.bold for style in styles_on(tile, "HR")[:2])
        assert tile.has_class("-stale")
        other = tiles(app)[1]
        assert "NO DATA" not in drawn(other)
        assert "?" not in face_line(other, "HR")
        header = app.query_one(WardHeader).line.plain
        assert "live 1 · stale 1 · lost 0" in header

        rig.clock.advance(LOST_S)
        await wait_for(pilot, lambda: "NO DATA 01:15" in drawn(tile), "NO DATA 01:15")
        assert tile.has_class("-lost")
        assert not tile.has_class("-stale")
        assert face_line(tile, "HR").split() == ["HR", "72", "/min", "?1m"]


async def test_a_bed_that_never_spoke_shows_no_data_without_a_time() -> None:
    rig = Rig("Bed 1", "Bed 2")
    rig.send_vitals(0)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        await pilot.pause()
        tile = tiles(app)[1]
        assert "NO DATA --:--" in drawn(tile)
        assert face_line(tile, "HR").split() == ["HR", "--", "/min"]
        assert face_line(tile, "NIBP").split() == ["NIBP", "--/--", "(--)", "mmHg"]
        assert tile.has_class("-lost")
        assert "live 1 · stale 0 · lost 1" in app.query_one(WardHeader).line.plain


async def test_an_invalid_value_is_hidden_and_marked() -> None:
    rig = Rig("Bed 1")
    rig.send(0, (HR, 250), status=ObservationStatus.INVALID)
    rig.send(0, (SPO2, 88), status=ObservationStatus.QUESTIONABLE)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 1, "a tile")
        await pilot.pause()
        tile = tiles(app)[0]
        assert face_line(tile, "HR").split() == ["HR", "***", "/min", "INV"]
        assert "250" not in drawn(tile)
        assert face_line(tile, "SpO2").split() == ["SpO2", "~88", "%"]


async def test_q_quits() -> None:
    rig = Rig("Bed 1")
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.return_code is None
        await pilot.press("q")
        await pilot.pause()
        assert app.return_code == 0


@pytest.mark.parametrize(("size", "expected"), [((120, 40), 4), ((80, 24), 2), ((40, 40), 1)])
async def test_the_grid_has_as_many_columns_as_the_width_allows(
    size: tuple[int, int], expected: int
) -> None:
    rig = Rig(*[f"Bed {n}" for n in range(1, 9)])
    app = rig.app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        await pilot.pause()
        columns = {tile.region.x for tile in tiles(app)}
        assert len(columns) == expected, f"{size}: {sorted(columns)}"
        assert app.query_one(BedGrid).columns == expected


async def test_configured_columns_override_the_width() -> None:
    rig = Rig(*[f"Bed {n}" for n in range(1, 9)])
    app = WardApp(rig.snapshot, refresh_hz=TEST_HZ, columns=2)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        await pilot.pause()
        assert len({tile.region.x for tile in tiles(app)}) == 2


async def test_the_grid_follows_a_resize() -> None:
    rig = Rig(*[f"Bed {n}" for n in range(1, 9)])
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        await pilot.resize_terminal(40, 40)
        await wait_for(pilot, lambda: len({t.region.x for t in tiles(app)}) == 1, "one column")


async def test_a_tile_whose_text_did_not_change_is_not_redrawn() -> None:
    rig = Rig("Bed 1", "Bed 2")
    rig.send_vitals(0)
    rig.send_vitals(1)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        await pilot.pause()
        first, second = tiles(app)
        faces = first.face, second.face
        header = app.query_one(WardHeader)
        shown = header.line

        rig.clock.advance(1.0)
        rig.send_vitals(1, hr=90)
        await wait_for(pilot, lambda: header.line != shown, "the header clock to move")
        await wait_for(pilot, lambda: "90" in face_line(second, "HR"), "the new HR")
        assert first.face is faces[0]  # same object: the equal face was never reassigned
        assert tiles(app) == [first, second]


async def test_a_new_bed_gets_a_tile_and_the_others_are_kept() -> None:
    rig = Rig("Bed 1", "Bed 2")
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        before = tiles(app)
        rig.ward.add_bed(BedId("icu-new"), "Bed 9")
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "a third tile")
        await wait_for(pilot, lambda: "Bed 9" in drawn(tiles(app)[2]), "the new tile drawn")
        assert tiles(app)[:2] == before
        assert len(app.query(BedTile)) == 3


async def test_tiles_follow_the_beds_order_and_a_removed_bed_loses_its_tile() -> None:
    rig = Rig("Bed 1", "Bed 2", "Bed 3")
    reshape: list[Callable[[WardSnapshot], WardSnapshot]] = [lambda snap: snap]
    app = WardApp(lambda: reshape[-1](rig.snapshot()), refresh_hz=TEST_HZ)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")

        reshape.append(lambda snap: replace(snap, beds=snap.beds[::-1]))
        await wait_for(pilot, lambda: tiles(app)[0].bed_id == rig.beds[2], "the new order")
        await pilot.pause()
        order = sorted(app.query(BedTile), key=lambda tile: (tile.region.y, tile.region.x))
        assert [tile.bed_id for tile in order] == rig.beds[::-1]

        reshape.append(lambda snap: replace(snap, beds=snap.beds[:1] + snap.beds[2:]))
        await wait_for(pilot, lambda: len(app.query(BedTile)) == 2, "one tile removed")
        assert [tile.bed_id for tile in tiles(app)] == [rig.beds[0], rig.beds[2]]
        assert all("Bed 2" not in drawn(tile) for tile in app.query(BedTile))


async def test_faults_and_unassigned_devices_are_on_screen() -> None:
    from gateway.hub import Hub
    from gateway.routing import Router
    from tui.widgets import FaultBar

    clock = ManualClock()
    hub = Hub(WardState(), Router(auto_beds=False), clock)
    app = WardApp(hub.snapshot, refresh_hz=TEST_HZ)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.query_one(FaultBar).line.plain == ""
        assert "unassigned" not in app.query_one(WardHeader).line.plain
        hub.fault("mllp 10.0.0.5:4001", "bad message rejected: no MSH segment")
        hub.fault("mllp 10.0.0.6:4001", "connection lost")
        device = DeviceId("EUI-64:00000000000000AA", "stray")
        received = ReceivedMessage(b"", "mllp", "10.0.0.7:1", clock.now_ns())
        await hub.submit(received, [DeviceReport(device, "mllp", "10.0.0.7:1", clock.now_ns())])
        await wait_for(
            pilot, lambda: "connection lost" in app.query_one(FaultBar).line.plain, "faults"
        )
        bar = app.query_one(FaultBar).line.plain
        assert "faults 2" in bar
        assert "mllp 10.0.0.6:4001: connection lost" in bar
        assert "unassigned 1" in app.query_one(WardHeader).line.plain

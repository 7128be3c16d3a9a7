"""The ward screen, driven through Textual's pilot over a real WardState and ManualClock.

What is checked is what the screen shows: each tile is rendered to text (border and title
included) the way the compositor would draw it, and the big digits are read back glyph by
glyph.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from rich.style import Style
from ward_rig import (
    HR,
    LOST_S,
    SPO2,
    STALE_S,
    TEMP,
    TEST_HZ,
    Rig,
    screen_text,
    wait_for,
)

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import (
    BedId,
    DeviceId,
    DeviceReport,
    ObservationStatus,
    ReceivedMessage,
)
from gateway.ward.snapshot import WardSnapshot
from gateway.ward.state import WardState
from tui import vitals
from tui.app import WardApp
from tui.widgets import BedGrid, BedTile, FaultBar, WardHeader

GLYPHS = {rows: char for char, rows in vitals.BIG_GLYPHS.items() if len(rows[0]) == 3}


def tiles(app: WardApp) -> list[BedTile]:
    return list(app.screen.query_one(BedGrid).tiles)


def drawn(tile: BedTile) -> str:
    """The tile as the compositor draws it on screen, border and title included."""
    region = tile.region
    lines = screen_text(tile.app).splitlines()[region.y : region.bottom]
    return "\n".join(line[region.x : region.right] for line in lines)


def face_lines(tile: BedTile) -> list[str]:
    return tile.face.plain.split("\n")


def face_line(tile: BedTile, starts_with: str) -> str:
    """The drawn line (inside the border) that starts with ``starts_with``."""
    inside = (line[1:-1].strip() for line in drawn(tile).splitlines())
    return next(line for line in inside if line.startswith(starts_with))


def big_values(tile: BedTile) -> tuple[str, str]:
    """HR and SpO2 as the big digits show them, read back glyph by glyph."""
    lines = face_lines(tile)
    rows = lines[2:5]
    half = tile.content_size.width // 2
    values = []
    for start, stop in ((0, half), (half, tile.content_size.width)):
        part = [row[start:stop].ljust(stop - start) for row in rows]
        field = stop - start - 2
        text = ""
        end = field
        while end >= 3:
            triple = tuple(row[end - 3 : end] for row in part)
            if all(not cells.strip() for cells in triple):
                break
            text = GLYPHS[triple] + text  # type: ignore[index]
            end -= 3
            gap = all(row[end - 1 : end] == " " for row in part)
            if text and end >= 4 and gap and any(row[end - 4 : end - 1].strip() for row in part):
                end -= 1  # the column between two digits
        values.append(text)
    return values[0], values[1]


def big_styles(tile: BedTile) -> set[Style]:
    """The styles used on the big-digit lines."""
    lines = tile.face.split("\n")
    return {
        span.style if isinstance(span.style, Style) else Style.parse(span.style)
        for line in lines[2:5]
        for span in line.spans
    }


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
            assert face_line(tile, "HR").split() == ["HR", "/min", "SpO2", "%"]
            assert big_values(tile) == (hr, "97")
            assert face_line(tile, "NIBP").split() == ["NIBP", "117/82", "(90)", "mmHg", "12m"]
            assert face_line(tile, "RR").split() == ["RR", "16", "Temp", "36.8"]  # 1 decimal
            assert "NO DATA" not in drawn(tile)
        assert Style.parse(f"bold {vitals.HEART_RATE.colour}") in big_styles(first)
        assert Style.parse(f"bold {vitals.SPO2.colour}") in big_styles(first)
        header = app.screen.query_one(WardHeader).line.plain
        clock = time.strftime("%H:%M:%S", time.localtime(rig.clock.now_ns() // NS_PER_S))
        assert "ICU Nord" in header
        assert "DEMO" in header
        assert clock in header
        assert "live 3 · no data 0 · lost 0" in header


async def test_a_silent_bed_shows_no_data_and_its_values_greyed_with_their_age() -> None:
    rig = Rig("Bed 1", "Bed 2")
    rig.send_vitals(0)
    rig.send_vitals(1)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        await pilot.pause()
        tile = tiles(app)[0]
        assert big_values(tile) == ("72", "97")
        hr_colour = Style.parse(vitals.HEART_RATE.colour).color
        assert hr_colour in {style.color for style in big_styles(tile)}

        rig.clock.advance(STALE_S + 5)
        rig.send_vitals(1)  # the other bed keeps talking
        await wait_for(pilot, lambda: "NO DATA" in drawn(tile), "NO DATA on the silent bed")

        assert "NO DATA 00:15" in drawn(tile)
        # with its unit when there is room, without when there is not: never without its age
        assert [w for w in face_line(tile, "HR").split() if w not in ("/min", "%")] == [
            "HR",
            "?15s",
            "SpO2",
            "?15s",
        ]
        assert big_values(tile) == ("72", "97")  # the numbers stay, greyed
        assert face_line(tile, "RR").split() == ["RR", "16?15s", "Temp", "36.8?15s"]
        # the cuff value is as old as its measurement, not as its last re-send
        assert face_line(tile, "NIBP").split()[-1] == "?12m"
        assert hr_colour not in {style.color for style in big_styles(tile)}
        assert not any(style.bold for style in big_styles(tile))
        assert tile.has_class("-stale")
        other = tiles(app)[1]
        assert "NO DATA" not in drawn(other)
        assert "?" not in face_line(other, "HR")
        header = app.screen.query_one(WardHeader).line.plain
        assert "live 1 · no data 1 · lost 0" in header

        rig.clock.advance(LOST_S)
        await wait_for(pilot, lambda: "NO DATA 01:15" in drawn(tile), "NO DATA 01:15")
        assert tile.has_class("-lost")
        assert not tile.has_class("-stale")
        assert [w for w in face_line(tile, "HR").split() if w not in ("/min", "%")] == [
            "HR",
            "?1m",
            "SpO2",
            "?1m",
        ]


async def test_compact_tiles_keep_every_stale_and_no_data_cue() -> None:
    rig = Rig.of(8)
    for index in range(8):
        rig.send_vitals(index)
    rig.clock.advance(STALE_S + 5)
    for index in range(1, 8):
        rig.send_vitals(index)
    app = rig.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        grid = app.screen.query_one(BedGrid)
        await wait_for(pilot, lambda: grid.variant is vitals.Variant.COMPACT, "compact tiles")
        tile = tiles(app)[0]
        await wait_for(pilot, lambda: "NO DATA 00:15" in drawn(tile), "NO DATA")
        assert face_line(tile, "HR").split() == ["HR", "72?15s", "SpO2", "97?15s"]
        assert face_line(tile, "NIBP").split()[-1] == "?12m"
        assert face_line(tiles(app)[1], "HR").split() == ["HR", "72", "SpO2", "97"]


async def test_a_bed_that_never_spoke_shows_no_data_without_a_time() -> None:
    rig = Rig("Bed 1", "Bed 2")
    rig.send_vitals(0)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        await pilot.pause()
        tile = tiles(app)[1]
        assert "NO DATA --:--" in drawn(tile)
        assert big_values(tile) == ("--", "--")
        assert face_line(tile, "NIBP").split() == ["NIBP", "--/--", "(--)", "mmHg"]
        assert face_line(tile, "RR").split() == ["RR", "--", "Temp", "--"]
        assert tile.has_class("-lost")
        assert "live 1 · no data 0 · lost 1" in app.screen.query_one(WardHeader).line.plain


async def test_an_invalid_value_is_hidden_and_marked() -> None:
    rig = Rig("Bed 1")
    rig.send(0, (HR, 250), status=ObservationStatus.INVALID)
    rig.send(0, (SPO2, 88), status=ObservationStatus.QUESTIONABLE)
    rig.send(0, (TEMP, 45.5), status=ObservationStatus.INVALID)
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 1, "a tile")
        await pilot.pause()
        tile = tiles(app)[0]
        assert face_line(tile, "HR").split() == ["HR", "/min", "INV", "SpO2", "%", "~"]
        assert big_values(tile) == ("***", "88")
        assert "250" not in drawn(tile)
        assert "45.5" not in drawn(tile)
        assert "Temp ***INV" in face_line(tile, "RR")


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_q_and_ctrl_c_quit(key: str) -> None:
    rig = Rig("Bed 1")
    app = rig.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.return_code is None
        await pilot.press(key)
        await pilot.pause()
        assert app.return_code == 0


@pytest.mark.parametrize(
    ("size", "expected", "variant"),
    [
        ((120, 40), 4, vitals.Variant.FULL),
        ((80, 24), 3, vitals.Variant.COMPACT),
        ((40, 40), 1, vitals.Variant.COMPACT),
    ],
)
async def test_the_grid_has_as_many_columns_as_the_width_allows(
    size: tuple[int, int], expected: int, variant: vitals.Variant
) -> None:
    rig = Rig.of(8)
    app = rig.app()
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        await pilot.pause()
        columns = {tile.region.x for tile in tiles(app)}
        assert len(columns) == expected, f"{size}: {sorted(columns)}"
        grid = app.screen.query_one(BedGrid)
        assert grid.columns == expected
        assert grid.variant is variant


async def test_configured_columns_override_the_width() -> None:
    rig = Rig.of(8)
    app = rig.app(columns=2)
    async with app.run_test(size=(160, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 8, "eight tiles")
        await pilot.pause()
        assert len({tile.region.x for tile in tiles(app)}) == 2


async def test_the_grid_follows_a_resize() -> None:
    rig = Rig.of(8)
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
        bodies = first.body, second.body
        header = app.screen.query_one(WardHeader)
        shown = header.line

        rig.clock.advance(1.0)
        rig.send_vitals(1, hr=90)
        await wait_for(pilot, lambda: header.line != shown, "the header clock to move")
        await wait_for(pilot, lambda: big_values(second)[0] == "90", "the new HR")
        assert first.body is bodies[0]  # same object: the equal text was never rebuilt
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
        assert len(app.screen.query(BedTile)) == 3


async def test_tiles_follow_the_beds_order_and_a_removed_bed_loses_its_tile() -> None:
    rig = Rig("Bed 1", "Bed 2", "Bed 3")
    reshape: list[Callable[[WardSnapshot], WardSnapshot]] = [lambda snap: snap]
    app = WardApp(lambda: reshape[-1](rig.snapshot()), refresh_hz=TEST_HZ)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")

        reshape.append(lambda snap: replace(snap, beds=snap.beds[::-1]))
        await wait_for(pilot, lambda: tiles(app)[0].bed_id == rig.beds[2], "the new order")
        await pilot.pause()
        order = sorted(app.screen.query(BedTile), key=lambda tile: (tile.region.y, tile.region.x))
        assert [tile.bed_id for tile in order] == rig.beds[::-1]

        reshape.append(lambda snap: replace(snap, beds=snap.beds[:1] + snap.beds[2:]))
        await wait_for(pilot, lambda: len(app.screen.query(BedTile)) == 2, "one tile removed")
        assert [tile.bed_id for tile in tiles(app)] == [rig.beds[0], rig.beds[2]]
        assert all("Bed 2" not in drawn(tile) for tile in app.screen.query(BedTile))


async def test_faults_and_unassigned_devices_are_on_screen() -> None:
    from gateway.hub import Hub
    from gateway.ward.routing import Router

    clock = ManualClock()
    hub = Hub(WardState(), Router(auto_beds=False), clock)
    app = WardApp(hub.snapshot, refresh_hz=TEST_HZ)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        bar = app.screen.query_one(FaultBar)
        assert bar.line.plain == ""
        assert "unassigned" not in app.screen.query_one(WardHeader).line.plain
        hub.fault("mllp 10.0.0.5:4001", "bad message rejected: no MSH segment")
        hub.fault("mllp 10.0.0.6:4001", "connection lost")
        device = DeviceId("EUI-64:00000000000000AA", "stray")
        received = ReceivedMessage(b"", "mllp", "10.0.0.7:1", clock.now_ns())
        await hub.submit(received, [DeviceReport(device, "mllp", "10.0.0.7:1", clock.now_ns())])
        await wait_for(pilot, lambda: "connection lost" in bar.line.plain, "faults")
        assert "faults 2" in bar.line.plain
        assert "mllp 10.0.0.6:4001: connection lost" in bar.line.plain
        assert "unassigned 1" in app.screen.query_one(WardHeader).line.plain


def test_the_header_tightens_to_fit_80_columns_and_keeps_a_slot_on_the_right() -> None:
    from tui.widgets import header_line

    rig = Rig.of(4)
    rig.scenario(history_bed=None, seconds=95)
    snapshot = rig.snapshot()
    line = header_line("ICU Nord", ("DEMO", "NO ALARMS"), snapshot, width=80)
    assert line.cell_len <= 80
    assert line.plain.split()[-2:] == ["unassigned", "1"]
    assert "live 1 no data 1 lost 2" in line.plain
    wide = header_line("ICU Nord", ("DEMO",), snapshot, ("AUDIO PAUSED 1:45",), width=160)
    assert 150 < wide.cell_len <= 160  # pushed to the right edge
    assert wide.plain.rstrip().endswith("AUDIO PAUSED 1:45")
    failed = header_line("ICU", (), replace(snapshot, recording_failed="disk full"), width=80)
    assert failed.plain.startswith(" !!! RECORDING FAILED")


async def test_a_tile_scrolled_into_view_shows_the_latest_snapshot_at_once() -> None:
    rig = Rig.of(40)
    rig.live_ward(40, seconds=2)
    app = rig.app(refresh_hz=1 / 600)  # no timer tick in this test: snapshots by hand
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 40, "forty tiles")
        await pilot.pause()
        last = tiles(app)[-1]
        rig.send_vitals(39, hr=133)
        app.pull_snapshot()
        # Out of view, the tile keeps the bed but does not draw it: nobody can see it, and
        # should a paint reach it before it is shown again, its face is blank, not old …
        assert last.held and "133" not in last.face.plain
        assert all(last.render_line(y).text == "" for y in range(len(face_lines(last))))
        await pilot.press("end")
        # … and the moment it scrolls in, it shows that snapshot, before any new one.
        await wait_for(pilot, lambda: "HR 133" in screen_text(app), "the new value on screen")
        assert not last.held and "HR 133" in last.face.plain


async def test_a_wave_strip_is_redrawn_for_new_samples_and_for_its_age_only() -> None:
    rig = Rig("Bed 1")
    rig.send_patient(0)
    rig.send(0, waves=rig.waves(0, 4.0))
    app = rig.app(refresh_hz=1 / 600)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 1, "the tile")
        tile = tiles(app)[0]
        await wait_for(pilot, lambda: tile.tail.plain.startswith("II "), "the ECG strip")
        app.pull_snapshot()  # a snapshot read at the tile's laid-out width
        strip = tile.tail
        rig.clock.advance(0.5)
        app.pull_snapshot()
        assert tile.tail is strip  # same samples, still fresh: not drawn again
        rig.send(0, waves=rig.waves(0, 0.5))
        app.pull_snapshot()
        assert tile.tail is not strip and tile.tail != strip  # a new chunk moves the trace
        rig.clock.advance(3.5)
        rig.send_patient(0)  # the monitor still talks, its wave stopped
        app.pull_snapshot()
        assert tile.tail.plain.split("\n")[0].endswith("?3s")  # greyed with its age …
        rig.clock.advance(1.0)
        rig.send_patient(0)
        app.pull_snapshot()
        assert tile.tail.plain.split("\n")[0].endswith("?4s")  # … which keeps counting
        await pilot.pause()
        assert "?4s" in drawn(tile)


async def test_the_gateway_dashboard_sets_its_startup_objects_aside_from_the_gc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from tui import app as app_module

    monkeypatch.setattr(app_module, "FREEZE_AFTER_S", 0.05)
    before = gc.get_freeze_count()
    rig = Rig("Bed 1")
    plain = rig.app()
    async with plain.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert gc.get_freeze_count() == before  # a test's app leaves the GC alone
    frozen = WardApp(rig.snapshot, refresh_hz=TEST_HZ, freeze_startup_objects=True)
    try:
        async with frozen.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: gc.get_freeze_count() > before, "the freeze")
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual

"""Alarms on the dashboard, driven through the pilot: the right tile takes the alarm's colour,
marker and text and flashes; the alarm bar lists every alarm, beds off-screen included;
``a`` acknowledges, ``p`` pauses the sound with a countdown, ``A`` and the bed screen show
the history; the operator is asked once at start; a new alarm does not wait for a refresh."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alarm_ward import AlarmWard
from ward_rig import screen_text, wait_for

from gateway.domain import AlarmChange
from tui.alarm_lines import FLASH_TICK_S, FLASH_TICKS
from tui.alarms_screen import AlarmHistoryScreen, OperatorScreen
from tui.app import WardApp
from tui.bed_screen import BedScreen
from tui.widgets import AlarmBar, BedGrid, BedTile, WardHeader


def tiles(app: WardApp) -> tuple[BedTile, ...]:
    return app.screen.query_one(BedGrid).tiles


def bar(app: WardApp) -> str:
    return app.screen.query_one(AlarmBar).text.plain


def flashed(tile: BedTile, on: bool) -> Callable[[], bool]:
    return lambda: tile.has_class("-flash") == on


def drawn_background(tile: BedTile) -> set[str]:
    """The background colours of the tile's face as the compositor draws it."""
    region = tile.content_region
    lines = tile.app.screen._compositor.render_strips()[region.y : region.bottom]
    return {
        str(segment.style.bgcolor)
        for line in lines
        for segment in line.crop(region.x, region.right)
        if segment.style is not None and segment.text.strip()
    }


def header(app: WardApp) -> str:
    return app.screen.query_one(WardHeader).line.plain


async def test_an_alarm_takes_its_own_tile_with_colour_marker_and_text() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(1, spo2=84)
        await wait_for(pilot, lambda: tiles(app)[1].has_class("-alarm-high"), "the alarm")
        first, second, third = tiles(app)
        assert second.face.plain.splitlines()[0].startswith("!!! SpO2 LOW 84")
        for other in (first, third):
            assert not any(other.has_class(c) for c in ("-alarm-high", "-alarm-medium"))
            assert "!!" not in other.face.plain
        assert "!!!" in bar(app) and "ICU 102" in bar(app) and "SpO2 LOW 84" in bar(app)
        ward.send(0, hr=130)  # medium, and low on the third bed
        ward.send(2, temp=38.7)
        await wait_for(pilot, lambda: tiles(app)[0].has_class("-alarm-medium"), "medium")
        await wait_for(pilot, lambda: tiles(app)[2].has_class("-alarm-low"), "low")
        assert tiles(app)[0].face.plain.startswith("!! HR HIGH 130")
        assert tiles(app)[2].face.plain.startswith("! Temp HIGH 38.7")
        # The bar: by priority, then age.
        rows = [line for line in bar(app).splitlines() if line.strip()]
        assert [r.split()[0] for r in rows] == ["!!!", "!!", "!"]


async def test_high_and_medium_tiles_flash_and_a_low_one_is_steady() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(0, spo2=80)
        ward.send(1, hr=130)
        ward.send(2, temp=38.7)
        await wait_for(pilot, lambda: tiles(app)[2].has_class("-alarm-low"), "the alarms")
        for tile in tiles(app)[:2]:
            start = tile.has_class("-flash")  # the style at one time …
            look = drawn_background(tile)
            await wait_for(pilot, flashed(tile, not start), "the other style")
            await pilot.pause()
            assert drawn_background(tile) != look  # … shows: the tile's background changed
            await wait_for(pilot, flashed(tile, start), "the first style again")
            await pilot.pause()
            assert drawn_background(tile) == look
        grid = app.screen.query_one(BedGrid)
        ticks = grid._flash_tick
        await wait_for(pilot, lambda: grid._flash_tick >= ticks + 8, "eight flash ticks")
        assert not tiles(app)[2].has_class("-flash")


@pytest.mark.parametrize(("priority", "low", "high"), [("HIGH", 1.4, 2.8), ("MEDIUM", 0.4, 0.8)])
def test_flash_rates_are_within_iec_60601_1_8(priority: str, low: float, high: float) -> None:
    from gateway.domain import AlarmPriority

    hz = 1.0 / (2 * FLASH_TICK_S * FLASH_TICKS[AlarmPriority[priority]])  # on, then off
    assert low <= hz <= high


async def test_a_acknowledges_the_selected_bed_which_stops_flashing_and_stays_shown() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(1, hr=130)
        ward.send(2, hr=130)
        await wait_for(pilot, lambda: tiles(app)[1].has_class("-alarm-medium"), "the alarm")
        await pilot.press("right", "a")
        await wait_for(pilot, lambda: "ack" in tiles(app)[1].face.plain.splitlines()[0], "ack")
        assert tiles(app)[1].has_class("-alarm-medium")  # still shown, in its colour
        grid = app.screen.query_one(BedGrid)
        ticks = grid._flash_tick
        await wait_for(pilot, lambda: grid._flash_tick >= ticks + 8, "eight flash ticks")
        assert not tiles(app)[1].has_class("-flash")
        assert "ack" not in tiles(app)[2].face.plain.splitlines()[0]  # the other bed's
        (transition,) = [t for t in ward.engine.history(ward.beds[1])
                         if t.change is AlarmChange.ACKNOWLEDGED]  # fmt: skip
        assert transition.text == "HR HIGH 130"


async def test_a_clears_a_latched_high_alarm_from_tile_and_bar() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(0, spo2=80)
        ward.send(0)  # back to normal: latched
        await wait_for(pilot, lambda: "ended" in tiles(app)[0].face.plain, "latched")
        assert "ended" in bar(app)
        await pilot.press("a")
        await wait_for(pilot, lambda: not tiles(app)[0].has_class("-alarm-high"), "cleared")
        assert "no active alarms" in bar(app)


async def test_p_pauses_the_sound_with_a_countdown_and_p_again_ends_it() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(0, hr=130)
        await pilot.press("p")
        await wait_for(pilot, lambda: "AUDIO PAUSED 2:00" in header(app), "the countdown")
        ward.clock.advance(30)
        for index in range(3):
            ward.send(index, hr=130 if index == 0 else 72)
        await wait_for(pilot, lambda: "AUDIO PAUSED 1:30" in header(app), "30 s later")
        assert ward.engine.audible().priority is None
        await pilot.press("p")
        await wait_for(pilot, lambda: "AUDIO PAUSED" not in header(app), "sound back")
        assert ward.engine.audible().priority is not None


async def test_the_alarm_bar_lists_beds_scrolled_out_of_view() -> None:
    ward = AlarmWard(beds=40)
    app = ward.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 40, "forty tiles")
        ward.send(39, spo2=84)
        await wait_for(pilot, lambda: "ICU 140" in bar(app), "the last bed in the bar")
        assert "SpO2 LOW 84" in bar(app)
        # Its tile is scrolled out of view: the only place it shows is the bar.
        shown = [line for line in screen_text(app).splitlines() if "ICU 140" in line]
        assert shown and all("SpO2 LOW 84" in line for line in shown)
        # The tile out of view keeps its alarm's colour (from the next snapshot, which it
        # holds: the bar had the alarm first, by the alarm's own path), and shows it as it
        # scrolls in.
        last = tiles(app)[39]
        await wait_for(pilot, lambda: last.held, "the next snapshot, held out of view")
        assert last.has_class("-alarm-high")
        await pilot.press("end")
        await wait_for(pilot, lambda: "!!! SpO2 LOW 84" in last.face.plain, "the tile's alarm")


async def test_history_of_the_ward_with_A_and_of_a_bed_on_its_screen() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.engine.sign_in("Nurse Lee")
        ward.send(1, hr=130)
        ward.send(1)
        ward.send(2, spo2=88)
        await pilot.press("A")
        await wait_for(pilot, lambda: isinstance(app.screen, AlarmHistoryScreen), "history")
        screen = app.screen
        assert isinstance(screen, AlarmHistoryScreen)
        await wait_for(pilot, lambda: "SpO2 LOW 88" in screen.shown, "the history")
        lines = screen.shown.splitlines()
        assert "raised" in lines[0] and "SpO2 LOW 88" in lines[0] and "ICU 103" in lines[0]
        assert "(gateway)" in lines[0]  # the engine raised it, not the nurse at the screen
        assert any("ended" in line and "HR HIGH 130" in line for line in lines)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AlarmHistoryScreen), "back")
        await pilot.press("right", "right", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        bed_screen = app.screen
        assert isinstance(bed_screen, BedScreen)
        await wait_for(pilot, lambda: "SpO2 LOW 88" in bed_screen.alarms.text.plain, "alarms")
        assert "HR HIGH" not in bed_screen.alarms.text.plain  # another bed's
        await pilot.press("a")
        await wait_for(pilot, lambda: "acknowledged" in bed_screen.alarms.text.plain, "ack")


async def test_the_operator_is_asked_once_at_start_and_signs_what_she_does() -> None:
    ward = AlarmWard()
    app = ward.app(ask_operator=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorScreen), "the question")
        await pilot.press(*"Nurse Lee", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, OperatorScreen), "answered")
        assert ward.engine.operator == "Nurse Lee"
        ward.send(0, hr=130)
        await pilot.press("a")
        await wait_for(pilot, lambda: "ack" in tiles(app)[0].face.plain, "ack")
    signed = {(t.change.value, t.operator) for t in ward.engine.history(ward=True)}
    assert signed == {
        ("operator", "Nurse Lee"),
        ("raised", "gateway"),
        ("acknowledged", "Nurse Lee"),
    }


async def test_at_a_shift_change_i_says_who_is_at_the_screen_from_now_on() -> None:
    ward = AlarmWard()
    app = ward.app(ask_operator=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorScreen), "the question")
        await pilot.press(*"Nurse Lee", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, OperatorScreen), "answered")
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorScreen), "asked again")
        await pilot.press(*"Nurse Roux", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, OperatorScreen), "answered")
        assert ward.engine.operator == "Nurse Roux"
        ward.send(0, hr=130)
        await pilot.press("a")
        await wait_for(pilot, lambda: "ack" in tiles(app)[0].face.plain, "ack")
    signed = [(t.change.value, t.operator) for t in ward.engine.history(ward=True)]
    assert ("operator", "Nurse Lee") in signed and ("operator", "Nurse Roux") in signed
    assert ("acknowledged", "Nurse Roux") in signed
    assert ("acknowledged", "Nurse Lee") not in signed


async def test_enter_alone_is_unknown() -> None:
    ward = AlarmWard()
    app = ward.app(ask_operator=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, OperatorScreen), "the question")
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, OperatorScreen), "answered")
    assert ward.engine.operator == "unknown"
    assert ward.engine.history(ward=True)[0].text == "operator unknown"


async def test_a_new_alarm_is_shown_without_waiting_for_the_next_refresh() -> None:
    ward = AlarmWard()
    app = ward.app(refresh_hz=1 / 600)  # one refresh every 10 minutes
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.send(2, spo2=84)
        await wait_for(pilot, lambda: tiles(app)[2].has_class("-alarm-high"), "the alarm now")


async def test_a_silent_bed_says_no_data_and_its_alarm_is_on_the_border() -> None:
    ward = AlarmWard(beds=2)
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 2, "two tiles")
        ward.clock.advance(11)
        ward.send(0)
        await wait_for(pilot, lambda: "NO DATA" in tiles(app)[1].face.plain, "NO DATA")
        tile = tiles(app)[1]
        await wait_for(pilot, lambda: "NO DATA" in str(tile.border_subtitle), "subtitle")
        assert str(tile.border_subtitle).startswith("!! NO DATA MX800 #2")
        assert tile.has_class("-alarm-medium") and tile.has_class("-stale")


async def test_the_help_screen_lists_the_alarm_keys() -> None:
    from tui.help_screen import HelpScreen

    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        text = screen_text(app)
        for expected in (
            "Pause the alarm sound for 2 min",
            "Alarm history of the ward",
            "Acknowledge the selected bed's alarms",
            "Acknowledge the ward-wide alarms",
            "Acknowledge this bed's alarms",
        ):
            assert expected in text


async def test_w_acknowledges_the_ward_wide_alarms() -> None:
    ward = AlarmWard()
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(tiles(app)) == 3, "three tiles")
        ward.hub.note_recording_failed("disk full: /var/lib/icu/j.sqlite")
        ward.send(0, hr=130)
        await wait_for(pilot, lambda: "RECORDING FAILED" in bar(app), "in the bar")
        row = next(line for line in bar(app).splitlines() if "RECORDING" in line)
        assert row.split()[:2] == ["!!!", "WARD"]
        await pilot.press("w")
        await wait_for(pilot, lambda: "ack" in bar(app).splitlines()[0], "acknowledged")
        assert ward.engine.audible().priority is not None  # the bed's alarm still sounds
        assert not tiles(app)[0].face.plain.startswith("!! HR HIGH 130 ack")


async def test_q_on_a_live_ward_asks_who_stops_it_and_esc_keeps_monitoring() -> None:
    from textual.widgets import Input

    from tui.stop_screen import StopScreen

    ward = AlarmWard(beds=1)
    app = ward.app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for key in ("q", "ctrl+c"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, StopScreen), key
            await pilot.press("escape")
            await pilot.pause()
            assert app.return_code is None and not isinstance(app.screen, StopScreen)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("enter")  # no name: not stopped
        await pilot.pause()
        assert app.return_code is None and isinstance(app.screen, StopScreen)
        app.screen.query_one(Input).value = "Nurse Dupont"
        await pilot.press("enter")
        await pilot.pause()
        assert app.return_code == 0
    assert ward.engine.operator == "Nurse Dupont"
    assert "operator Nurse Dupont" in [t.text for t in ward.engine.history(ward=True)]

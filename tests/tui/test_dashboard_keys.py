"""Every key and the mouse, driven through the pilot: which screen, which bed, what shows."""

from __future__ import annotations

import pytest
from textual.binding import Binding
from ward_rig import Rig, screen_text, wait_for

from tui.app import WardApp
from tui.bed_screen import TREND_SPANS_S, BedScreen
from tui.devices_screen import DevicesScreen
from tui.help_screen import HelpScreen, bindings_of, key_name
from tui.vitals import Variant
from tui.ward_screen import WardScreen
from tui.widgets import BedGrid, grid_layout


def grid(app: WardApp) -> BedGrid:
    return app.screen.query_one(BedGrid)


def selected_index(app: WardApp) -> int:
    return grid(app).selected_index


async def ward_app(beds: int = 8, size: tuple[int, int] = (120, 40)) -> tuple[Rig, WardApp]:
    rig = Rig.of(beds)
    rig.live_ward(beds, seconds=3)
    return rig, rig.app()


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        (("right",), 1),
        (("l",), 1),
        (("right", "left"), 0),
        (("l", "h"), 0),
        (("down",), 4),
        (("j",), 4),
        (("down", "up"), 0),
        (("j", "k"), 0),
        (("left",), 0),  # stops at the first bed
        (("up",), 0),
        (("end",), 7),
        (("end", "right"), 7),  # stops at the last bed
        (("end", "home"), 0),
        (("pagedown",), 7),  # one screenful (2 rows of 4) from the first row: the last bed
        (("end", "pageup"), 0),
    ],
)
async def test_arrows_and_hjkl_move_the_selection(keys: tuple[str, ...], expected: int) -> None:
    _, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 8, "eight tiles")
        assert selected_index(app) == 0
        assert grid(app).tiles[0].has_class("-selected")
        await pilot.press(*keys)
        assert selected_index(app) == expected
        assert [t.has_class("-selected") for t in grid(app).tiles].count(True) == 1
        assert grid(app).tiles[expected].has_class("-selected")


async def test_enter_opens_the_selected_bed_and_escape_comes_back_to_it() -> None:
    rig, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 8, "eight tiles")
        await pilot.press("right", "right", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        assert isinstance(app.screen, BedScreen)
        assert app.screen.bed_id == rig.beds[2]
        await wait_for(pilot, lambda: "ICU 103" in screen_text(app), "the bed's name")
        await pilot.press("right")  # the next bed, on the bed screen
        assert app.screen.bed_id == rig.beds[3]
        await pilot.press("l", "h", "h")
        assert app.screen.bed_id == rig.beds[2]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WardScreen), "the ward")
        assert selected_index(app) == 2


async def test_other_bed_wraps_around_the_ward() -> None:
    rig, app = await ward_app(beds=3)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 3, "three tiles")
        await pilot.press("enter", "left")
        assert isinstance(app.screen, BedScreen)
        assert app.screen.bed_id == rig.beds[2]
        await pilot.press("right")
        assert app.screen.bed_id == rig.beds[0]


async def test_a_click_on_a_tile_opens_its_bed() -> None:
    rig, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 8, "eight tiles")
        await pilot.pause()
        tile = grid(app).tiles[5]
        await pilot.click(tile)
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        assert isinstance(app.screen, BedScreen)
        assert app.screen.bed_id == rig.beds[5]
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WardScreen), "the ward")
        assert selected_index(app) == 5


async def test_1_2_3_choose_the_trend_span() -> None:
    _, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        screen = app.screen
        assert isinstance(screen, BedScreen)
        for key, hours in (("2", "8 h"), ("3", "24 h"), ("1", "1 h")):
            await pilot.press(key)
            assert TREND_SPANS_S[screen.span_index] == float(hours.split()[0]) * 3600
            title = f"Trends · last {hours}"
            await wait_for(pilot, lambda: title in screen_text(app), title)  # noqa: B023


async def test_the_bed_screen_scrolls_with_arrows_jk_and_pages() -> None:
    _, app = await ward_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        body = app.screen.query_one("#body")
        await wait_for(pilot, lambda: body.max_scroll_y > 0, "more than a screen of detail")
        for keys in (("down",), ("j",), ("pagedown",)):
            body.scroll_home(animate=False)
            await pilot.pause()
            await pilot.press(*keys)
            await wait_for(pilot, lambda: body.scroll_y > 0, f"scrolled by {keys}")
        for keys in (("up",), ("k",), ("pageup",)):
            body.scroll_end(animate=False)
            await pilot.pause()
            before = body.scroll_y
            await pilot.press(*keys)
            await wait_for(pilot, lambda: body.scroll_y < before, f"scrolled by {keys}")  # noqa: B023


async def test_d_opens_the_devices_and_d_or_escape_come_back() -> None:
    _, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        for back in ("d", "escape"):
            await pilot.press("d")
            await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen), "devices")
            await pilot.press(back)
            await wait_for(pilot, lambda: isinstance(app.screen, WardScreen), "the ward")


async def test_enter_on_a_device_opens_its_bed() -> None:
    rig, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen), "devices")
        await wait_for(pilot, lambda: "MX800 #2" in screen_text(app), "the device rows")
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        assert isinstance(app.screen, BedScreen)
        assert app.screen.bed_id == rig.beds[1]


async def test_c_copies_the_snippets_of_unassigned_devices() -> None:
    rig, app = await ward_app()
    rig.unassigned()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DevicesScreen), "devices")
        await pilot.press("c")
        await wait_for(pilot, lambda: "[[beds]]" in app.clipboard, "the snippet copied")
        assert 'devices = ["EUI-64:00A037EB21759999"]' in app.clipboard


async def test_question_mark_lists_every_key_of_every_screen() -> None:
    _, app = await ward_app()
    # Tall enough to show the whole list at once; a shorter terminal scrolls it.
    async with app.run_test(size=(100, 60)) as pilot:
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        shown = screen_text(app)
        for owner in (WardApp, WardScreen, BedScreen, DevicesScreen):
            for binding in bindings_of(owner):
                assert isinstance(binding, Binding)
                for key in binding.key.split(","):
                    assert key_name(key.strip()) in shown, f"{key} of {owner.__name__}"
        assert "click" in shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, WardScreen), "the ward")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help again")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, WardScreen), "closed with ?")


@pytest.mark.parametrize("key", ["a", "p", "w", "A"])
async def test_alarm_keys_do_nothing_and_are_hidden_without_an_alarm_engine(key: str) -> None:
    # The alarm engine's keys (tests/tui/test_alarm_dashboard.py) need one; a bare ward
    # state has none, and its keys are not offered in the footer.
    _, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 8, "eight tiles")
        await pilot.press(key)
        await pilot.pause()
        assert isinstance(app.screen, WardScreen)
        assert selected_index(app) == 0
        assert app.return_code is None
        shown = {b.binding.key for b in app.active_bindings.values() if b.enabled}
        assert key not in shown


async def test_the_selection_scrolls_into_view_past_what_fits() -> None:
    rig = Rig.of(40)
    app = rig.app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: len(grid(app).tiles) == 40, "forty tiles")
        await pilot.press("end")
        await wait_for(pilot, lambda: grid(app).scroll_y > 0, "the grid scrolled")
        last = grid(app).tiles[-1]
        await wait_for(
            pilot, lambda: grid(app).region.contains_region(last.region), "the last bed in view"
        )


async def test_only_the_screen_on_top_is_refreshed() -> None:
    rig, app = await ward_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, BedScreen), "the bed screen")
        ward_screen = app.screen_stack[-2]
        assert isinstance(ward_screen, WardScreen)
        before = ward_screen.ward
        rig.clock.advance(1)
        top = app.screen
        assert isinstance(top, BedScreen)
        await wait_for(
            pilot,
            lambda: top.ward is not None and top.ward.time_ns == rig.clock.now_ns(),
            "the bed screen's next snapshot",
        )
        assert ward_screen.ward is before


@pytest.mark.parametrize(
    ("width", "height", "beds", "expected"),
    [
        (200, 57, 32, (Variant.FULL, 7, 1)),  # 32 beds on one 200×60 terminal
        (80, 21, 8, (Variant.COMPACT, 3, 2)),  # 8 beds at 80×24, no scrolling
        (120, 37, 8, (Variant.FULL, 4, 3)),
        (200, 57, 40, (Variant.COMPACT, 7, 2)),
        (80, 21, 32, (Variant.COMPACT, 3, 1)),  # scrolls
        (80, 21, 1, (Variant.FULL, 2, 3)),
    ],
)
def test_the_grid_uses_big_tiles_while_they_all_fit(
    width: int, height: int, beds: int, expected: tuple[Variant, int, int]
) -> None:
    assert grid_layout(width, height, beds) == expected

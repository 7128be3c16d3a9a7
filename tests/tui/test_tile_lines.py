"""A tile's kept strips are what Textual would draw for the same Text, segment for segment.

The tile draws its face from :class:`tui.tile_lines.TileLines` instead of handing Rich Text
to Textual on every repaint; these tests hold the two side by side: the pieces a line is
cut into against ``Content.render``, and every line of every tile of a ward (live, stale,
lost, silent beds; alarms; flashing) against ``Visual.to_strips`` of the whole face.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.style import Style as RichStyle
from rich.text import Span, Text
from textual.content import Content
from textual.style import Style
from textual.visual import Visual
from ward_rig import Rig, wait_for

from tui.tile_lines import StyleBook, TileLines, pieces
from tui.widgets import BedGrid, BedTile

STYLES = ("bold #5fff5f", "grey50", "bold grey70", "bold black on yellow", "bold reverse", "")
BASE = Style.parse("#e0e0e0 on #121212")


@st.composite
def styled_lines(draw: st.DrawFn) -> Text:
    """A line with spans over any part of it, overlapping or empty, and its own style."""
    plain = draw(st.text(alphabet="ab ⣀⠤", max_size=12))
    text = Text(plain, style=draw(st.sampled_from(STYLES)))
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, len(plain)))
        end = draw(st.integers(start, len(plain)))
        text.spans.append(Span(start, end, draw(st.sampled_from(STYLES))))
    return text


@settings(max_examples=300, deadline=None)
@given(text=styled_lines())
def test_a_line_is_cut_and_styled_as_content_renders_it(text: Text) -> None:
    console = Console()
    book = StyleBook(BASE, console, None)  # type: ignore[arg-type]
    joined = Text("").join([text])  # how the face always handed lines to Textual
    content = Content.from_rich_text(joined, console)
    expected = []
    x = 0
    for piece, style in content.render(BASE, end=""):
        expected.append((piece, (BASE + style).rich_style_with_offset(x, 0)))
        x += len(piece)
    ours = [(piece, book.rich_style(spans, x, 0)) for piece, spans, x in pieces(text)]
    assert ours == expected


def test_a_line_equal_to_the_last_keeps_its_strip_and_a_changed_one_does_not() -> None:
    lines = TileLines()
    lines.resize(3)
    first = [Text("HR 72", "bold #5fff5f"), Text("NIBP 117/82"), Text("II ⣀⠤")]
    assert lines.replace(0, first) == range(0, 3)
    console = Console()
    kept = [lines.strip(y, BASE, console, None) for y in range(3)]  # type: ignore[arg-type]
    again = [Text("HR 72", "bold #5fff5f"), Text("NIBP 117/80"), Text("II ⣀⠤")]
    assert lines.replace(0, again) == range(1, 2)
    now = [lines.strip(y, BASE, console, None) for y in range(3)]  # type: ignore[arg-type]
    assert now[0] is kept[0] and now[2] is kept[2]
    assert now[1] is not kept[1] and now[1].text == "NIBP 117/80"
    assert lines.strip(7, BASE, console, None).text == ""  # type: ignore[arg-type]


async def test_every_tile_line_is_drawn_as_textual_draws_its_face() -> None:
    rig = Rig.of(12)
    rig.scenario(history_bed=None, seconds=95)
    app = rig.app()
    async with app.run_test(size=(200, 60)) as pilot:
        await wait_for(pilot, lambda: len(app.screen.query_one(BedGrid).tiles) == 12, "tiles")
        await pilot.pause()
        tiles = app.screen.query_one(BedGrid).tiles
        flashing = tiles[random.Random(5).randrange(len(tiles))]
        flashing.styles.background = "#ff3030 45%"  # another widget style: a flash
        await pilot.pause()
        for tile in tiles:
            assert_drawn_as_textual(tile)


def assert_drawn_as_textual(tile: BedTile) -> None:
    base = tile.visual_style
    width = tile.content_size.width
    joined = Text("\n").join(tile._lines.lines)
    reference = Visual.to_strips(
        tile, Content.from_rich_text(joined, tile.app.console), width, None, base
    )
    for y, expected in enumerate(reference):
        ours = tile.render_line(y)
        assert list(ours) == list(expected), (tile.bed_id, y, ours.text)


def test_style_book_resolves_rich_styles_as_textual_does() -> None:
    console = Console()
    book = StyleBook(BASE, console, None)  # type: ignore[arg-type]
    style = book.rich_style(("bold black on yellow",), 3, 1)
    assert style.bold and style.bgcolor is not None and style.meta == {"offset": (3, 1)}
    rich = RichStyle.parse("bold black on yellow")
    assert book.rich_style((rich,), 3, 1) == style
    assert book.rich_style(("bold black on yellow",), 3, 1) is style  # made once

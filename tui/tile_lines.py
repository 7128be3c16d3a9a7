"""A bed tile's lines drawn as Textual strips, each line cut into pieces once per change.

A tile's face is Rich Text written by :mod:`tui.vitals`, :mod:`tui.alarm_lines` and
:func:`tui.widgets.wave_strip`. Handing that Text to Textual from ``render()`` converts all
of it again (Rich Text → Content → wrapped, formatted strips) on every repaint of the tile,
and 64 tiles repaint several times a second. :class:`TileLines` keeps the lines instead: a
line that did not change keeps its strip; a line that changed is cut once into pieces (the
text between two span boundaries, with the spans over it), and its strip is made from the
pieces with styles looked up in a :class:`StyleBook`, which resolves each combination of
spans once per widget style.

The strips are what Textual draws for the same Text from ``render()``, segment for segment:
the same cuts, the same style arithmetic (``Content.from_rich_text`` then
``Content.render``: the widget's style, plus the spans over a piece added in span order),
the same offsets in the styles' meta. ``tests/tui/test_tile_lines.py`` holds the two side
by side. Strips are kept per widget style — a flashing tile alternates between two
backgrounds — so a flash re-cuts nothing. No Textual widget here and no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from operator import itemgetter

from rich.console import Console
from rich.segment import Segment
from rich.style import Style as RichStyle
from rich.terminal_theme import TerminalTheme
from rich.text import Span, Text
from textual.strip import Strip
from textual.style import Style

STYLES_KEPT = 4
"""Widget styles whose strips a tile keeps (normal and flashing, selected or not)."""
BOOK_ENTRIES = 8192
"""A style book starts afresh past this many styles (they are only a cache)."""
BOOKS_KEPT = 16
"""Style books kept, one per widget style: tiles of the same look share one."""

SpanStyle = str | RichStyle
Piece = tuple[str, tuple[SpanStyle, ...], int]
"""Text between two span boundaries, the styles of the spans over it (in span order), and
its offset in the line."""


class StyleBook:
    """Rich styles for pieces of text on one widget style: each set of spans is resolved
    (parsed, converted, added) once, each offset in the meta made once. Shared by every
    tile of that style (:func:`style_book`)."""

    def __init__(self, base: Style, console: Console, theme: TerminalTheme) -> None:
        self.base = base
        self.console = console
        self.theme = theme
        self._styles: dict[tuple[SpanStyle, ...], Style] = {}
        self._placed: dict[tuple[tuple[SpanStyle, ...], int, int], RichStyle] = {}

    def rich_style(self, spans: tuple[SpanStyle, ...], x: int, y: int) -> RichStyle:
        """The style of a piece under ``spans`` at cell ``x`` of line ``y``."""
        key = (spans, x, y)
        placed = self._placed.get(key)
        if placed is None:
            if len(self._placed) >= BOOK_ENTRIES:
                self._placed.clear()
            placed = self._placed[key] = self._style(spans).rich_style_with_offset(x, y)
        return placed

    def _style(self, spans: tuple[SpanStyle, ...]) -> Style:
        style = self._styles.get(spans)
        if style is None:
            # As Content.render does (the widget's style first, then each span's), and then
            # as its strips do (the widget's style under the result).
            parts = [self.base, *(self._textual(span) for span in spans)]
            style = self._styles[spans] = self.base + Style.combine(parts)
        return style

    def _textual(self, span: SpanStyle) -> Style:
        rich = self.console.get_style(span) if isinstance(span, str) else span
        return Style.from_rich_style(rich, self.theme)


_books: dict[tuple[Style, int, int], StyleBook] = {}


def style_book(base: Style, console: Console, theme: TerminalTheme) -> StyleBook:
    """The style book of widget style ``base`` (on this console and terminal theme)."""
    key = (base, id(console), id(theme))
    book = _books.get(key)
    if book is None or book.console is not console or book.theme is not theme:
        if len(_books) >= BOOKS_KEPT:
            _books.clear()
        book = _books[key] = StyleBook(base, console, theme)
    return book


def pieces(line: Text) -> list[Piece]:
    """``line`` cut at every span boundary, as ``Content.render`` walks it."""
    text = line.plain
    spans = [*line.spans]
    if line.style:
        spans.insert(0, _whole(line))
    if not spans:
        return [(text, (), 0)]
    bounds = [
        (0, False, 0),
        *((span.start, False, index) for index, span in enumerate(spans, 1)),
        *((span.end, True, index) for index, span in enumerate(spans, 1)),
        (len(text), True, 0),
    ]
    bounds.sort(key=itemgetter(0, 1))
    over: list[int] = []
    cut: list[Piece] = []
    for (offset, leaving, index), (next_offset, _, _) in pairwise(bounds):
        if leaving:
            over.remove(index)
        else:
            over.append(index)
        if next_offset > offset:
            styles = tuple(spans[i - 1].style for i in sorted(over) if i)
            cut.append((text[offset:next_offset], styles, offset))
    return cut


def _whole(line: Text) -> Span:
    """The line's own style as a span over all of it, first: where joining lines into one
    Text puts it (and Textual then reads it as a Rich style, like the other spans)."""
    return Span(0, len(line.plain), line.style)


class TileLines:
    """The lines of a tile's face, their pieces, and their strips for the widget styles
    seen lately."""

    def __init__(self) -> None:
        self._lines: list[Text] = []
        self._pieces: list[list[Piece] | None] = []
        self._books: list[tuple[StyleBook, list[Strip | None]]] = []

    @property
    def lines(self) -> tuple[Text, ...]:
        """The lines, as last given."""
        return tuple(self._lines)

    def __len__(self) -> int:
        return len(self._lines)

    def resize(self, count: int) -> None:
        """Keep ``count`` lines (new ones blank): the face's height changed."""
        missing = count - len(self._lines)
        if missing > 0:
            self._lines += [Text() for _ in range(missing)]
            self._pieces += [None] * missing
        else:
            del self._lines[count:], self._pieces[count:]
        self._books.clear()

    def replace(self, start: int, lines: Sequence[Text]) -> range | None:
        """Put ``lines`` from line ``start`` on (past the end: dropped); return the lines
        that changed, from the first to the last (None if none did).

        A line equal to the one it replaces (same characters, same styles) keeps its strip.
        """
        first = last = -1
        for offset, line in enumerate(lines):
            y = start + offset
            if y >= len(self._lines):
                break
            if line == self._lines[y]:
                continue
            self._lines[y] = line
            self._pieces[y] = None
            for _, strips in self._books:
                strips[y] = None
            if first < 0:
                first = y
            last = y
        return None if first < 0 else range(first, last + 1)

    def strip(self, y: int, base: Style, console: Console, theme: TerminalTheme) -> Strip:
        """Line ``y`` on the widget's style ``base``, as Textual draws it from ``render()``
        (blank past the last line)."""
        book, strips = self._book(base, console, theme)
        if not 0 <= y < len(strips):
            return Strip([])
        strip = strips[y]
        if strip is None:
            cut = self._pieces[y]
            if cut is None:
                cut = self._pieces[y] = pieces(self._lines[y])
            strip = strips[y] = Strip(
                [Segment(text, book.rich_style(spans, x, y)) for text, spans, x in cut],
                self._lines[y].cell_len,
            )
        return strip

    def _book(
        self, base: Style, console: Console, theme: TerminalTheme
    ) -> tuple[StyleBook, list[Strip | None]]:
        for entry in self._books:  # the same object: the usual case, and the cheapest test
            book = entry[0]
            if book.base is base and book.console is console and book.theme is theme:
                return entry
        book = style_book(base, console, theme)
        for entry in self._books:
            if entry[0] is book:
                return entry
        if len(self._books) >= STYLES_KEPT:
            self._books.clear()
        entry = (book, [None] * len(self._lines))
        self._books.append(entry)
        return entry

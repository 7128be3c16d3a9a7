"""The ward screen's widgets: the header line, one tile per bed, and the grid of tiles.

Each widget takes a snapshot (or a bed of one) through a reactive attribute and draws it;
none of them holds a reference into the ward state, reads a clock, or calls an adapter.
Snapshots arrive several times a second, so every widget renders its text, compares it to
what is on screen, and repaints only when it differs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.reactive import reactive, var
from textual.widget import Widget

from gateway.clock import NS_PER_S
from gateway.domain import BedId, Connectivity
from gateway.ward import BedSnapshot, WardSnapshot
from tui.vitals import (
    NO_DATA_LOST_STYLE,
    NO_DATA_STALE_STYLE,
    TILE_LINES,
    bed_face,
    bed_title,
)

TILE_MIN_WIDTH = 28
"""Narrowest tile, border included: 24 cells inside, enough for the widest NIBP line."""

MARKER_STYLE = "bold reverse"


def header_line(ward_name: str, markers: Sequence[str], ward: WardSnapshot | None) -> Text:
    """``ICU  DEMO  14:03:27  live 6 · stale 1 · lost 1`` (clock in local time)."""
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(f" {ward_name} ", "bold")
    for marker in markers:
        line.append(" ")
        line.append(f" {marker} ", MARKER_STYLE)
    if ward is None:
        line.append("  --:--:--  waiting for the first snapshot")
        return line
    clock = time.strftime("%H:%M:%S", time.localtime(ward.time_ns // NS_PER_S))
    line.append(f"  {clock}  ", "bold")
    line.append(f"live {ward.beds_live}", "bright_green")
    line.append(" · ")
    line.append(f"stale {ward.beds_stale}", NO_DATA_STALE_STYLE if ward.beds_stale else "")
    line.append(" · ")
    line.append(f"lost {ward.beds_lost}", NO_DATA_LOST_STYLE if ward.beds_lost else "")
    if ward.unassigned:
        line.append("  ")
        line.append(f" unassigned {len(ward.unassigned)} ", NO_DATA_STALE_STYLE)
    return line


def fault_line(ward: WardSnapshot | None) -> Text:
    """``faults 3 · 14:03:20 mllp 10.0.0.5:4001: bad message rejected: …`` or nothing."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if ward is None or not ward.faults:
        return line
    latest = ward.faults[-1]
    clock = time.strftime("%H:%M:%S", time.localtime(latest.time_ns // NS_PER_S))
    line.append(f" faults {ward.fault_count} ", NO_DATA_STALE_STYLE)
    line.append(f" {clock} {latest.source}: {latest.text}")
    return line


class WardHeader(Widget):
    """One line across the top: ward name, markers, the snapshot's clock, bed counts.

    The clock is the snapshot's time, not the terminal's: if snapshots stop coming, the
    clock stops, and a frozen screen shows itself as frozen.
    """

    DEFAULT_CSS = """
    WardHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    ward_name: var[str] = var("")
    """The ward's name, first on the line."""
    markers: var[tuple[str, ...]] = var(())
    """Badges such as ``DEMO``: the screen must say when it is not showing real patients."""
    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot: its time for the clock, its beds for the counts."""
    line: reactive[Text] = reactive(Text)
    """The rendered line; assigning an equal line does not repaint."""

    def __init__(
        self,
        ward_name: str = "",
        markers: Sequence[str] = (),
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(WardHeader.ward_name, ward_name)
        self.set_reactive(WardHeader.markers, tuple(markers))

    def render(self) -> Text:
        return self.line

    def watch_ward_name(self) -> None:
        self._update_line()

    def watch_markers(self) -> None:
        self._update_line()

    def watch_ward(self) -> None:
        self._update_line()

    def _update_line(self) -> None:
        self.line = header_line(self.ward_name, self.markers, self.ward)


class FaultBar(Widget):
    """One line under the beds: how many faults so far and the latest one (never silent).

    Bad messages, refused connections and lost links are logged too; this line is what
    makes them visible to whoever watches the screen.
    """

    DEFAULT_CSS = """
    FaultBar {
        height: 1;
        background: $panel;
    }
    """

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot: its faults and fault count."""
    line: reactive[Text] = reactive(Text)
    """The rendered line; assigning an equal line does not repaint."""

    def render(self) -> Text:
        return self.line

    def watch_ward(self) -> None:
        self.line = fault_line(self.ward)


class BedTile(Widget):
    """One bed: its label (and patient id) on the border, a status line, then its vitals.

    The border is solid while the bed is live and dashed once it is not (yellow: stale,
    grey: lost); the status line then reads ``NO DATA mm:ss``. See :mod:`tui.vitals` for
    how each value is written.
    """

    DEFAULT_CSS = f"""
    BedTile {{
        height: {TILE_LINES + 2};
        padding: 0 1;
        border: round $foreground 50%;
        border-title-color: $foreground;
        border-title-style: bold;
        &.-stale {{
            border: dashed $warning;
        }}
        &.-lost {{
            border: dashed $foreground 30%;
        }}
    }}
    """

    bed: var[BedSnapshot | None] = var(None, always_update=True)
    """The bed as of the latest snapshot; set on every tick, repaints only on change."""
    face: reactive[Text] = reactive(Text)
    """What the tile shows inside its border; assigning an equal face does not repaint."""
    label: var[str] = var("")
    """The border title: bed label, and patient id when there is one."""
    connectivity: var[Connectivity | None] = var(None)
    """The bed's link, mirrored by the ``-stale`` / ``-lost`` classes (the border)."""

    def __init__(
        self,
        bed: BedSnapshot,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.bed_id: BedId = bed.bed
        self.set_reactive(BedTile.bed, bed)

    def render(self) -> Text:
        return self.face

    def on_resize(self) -> None:
        self._update_face()

    def watch_bed(self, bed: BedSnapshot | None) -> None:
        if bed is None:
            return
        self.label = bed_title(bed)
        self.connectivity = bed.connectivity
        self._update_face()

    def watch_label(self, label: str) -> None:
        self.border_title = Content(label)

    def watch_connectivity(self, connectivity: Connectivity | None) -> None:
        self.set_class(connectivity is Connectivity.STALE, "-stale")
        self.set_class(connectivity is Connectivity.LOST, "-lost")

    def _update_face(self) -> None:
        if self.bed is not None:
            width = self.content_size.width or TILE_MIN_WIDTH - 4
            self.face = bed_face(self.bed, width)


class BedGrid(ScrollableContainer):
    """Every bed's tile, in as many columns as the width allows; scrolls when they don't fit.

    Tiles are created and removed only when the set of beds changes; on other ticks each
    tile is handed its new bed and decides for itself whether to repaint.
    """

    DEFAULT_CSS = """
    BedGrid {
        layout: grid;
        grid-size: 1;
        grid-columns: 1fr;
        grid-rows: auto;
        height: 1fr;
        scrollbar-size-vertical: 1;
    }
    """

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot; each tile gets its bed from it."""
    columns: var[int] = var(1)
    """How many tiles side by side, from the width (at least one)."""

    def __init__(
        self,
        *,
        fixed_columns: int = 0,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fixed_columns = fixed_columns
        """Columns set by configuration (``[dashboard] columns``); 0 follows the width."""
        self._tiles: dict[BedId, BedTile] = {}

    @property
    def tiles(self) -> tuple[BedTile, ...]:
        """The tiles, in the snapshot's bed order."""
        return tuple(self._tiles.values())

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        self.columns = self._fixed_columns or max(1, width // TILE_MIN_WIDTH)

    def watch_columns(self, columns: int) -> None:
        self.styles.grid_size_columns = columns

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if ward is None:
            return
        if tuple(self._tiles) != tuple(bed.bed for bed in ward.beds):
            self._match_beds(ward.beds)
        for tile, bed in zip(self._tiles.values(), ward.beds, strict=True):
            if tile.is_mounted:
                tile.bed = bed
            else:  # its watchers run once it is mounted
                tile.set_reactive(BedTile.bed, bed)

    def _match_beds(self, beds: Sequence[BedSnapshot]) -> None:
        """Add and remove tiles so there is one per bed, in order; keep the others."""
        wanted = {bed.bed for bed in beds}
        kept = [key for key in self._tiles if key in wanted]
        if kept != [bed.bed for bed in beds if bed.bed in self._tiles]:
            kept = []  # the order changed: start over rather than shuffle
        for key in self._tiles.keys() - set(kept):
            self._tiles.pop(key).remove()
        tiles: dict[BedId, BedTile] = {}
        previous: BedTile | None = None
        for bed in beds:
            tile = self._tiles.get(bed.bed)
            if tile is None:
                tile = BedTile(bed)
                if previous is not None:
                    self.mount(tile, after=previous)
                elif self._tiles:
                    self.mount(tile, before=0)
                else:
                    self.mount(tile)
            tiles[bed.bed] = tile
            previous = tile
        self._tiles = tiles

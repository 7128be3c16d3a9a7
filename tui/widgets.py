"""The ward screen's widgets: the header line, one tile per bed, the grid of tiles, and the
alarm bar.

Each widget takes a snapshot (or a bed of one) through a reactive attribute and draws it;
none of them holds a reference into the ward state, reads a clock, or calls an adapter.
The grid is handed a function that reads a bed's wave (a copy, judged fresh or stale by the
ward at the snapshot's time). Snapshots arrive several times a second, so every widget
renders its text, compares it to what is on screen, and repaints only when it differs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive, var
from textual.widget import Widget

from gateway.alarms import ActiveAlarm, AlarmSnapshot
from gateway.clock import NS_PER_S
from gateway.domain import BedId, Connectivity
from gateway.ward import BedSnapshot, WardSnapshot, WaveKey, WaveWindow
from tui import traces
from tui.alarm_lines import (
    CLASS_OF,
    FLASH_TICK_S,
    FLASH_TICKS,
    bar_lines,
    flashes,
    state_word,
    tile_alarm_line,
)
from tui.alarm_lines import notices as alarm_notices
from tui.vitals import (
    COMPACT_BASE_LINES,
    FULL_BASE_LINES,
    MISSING_STYLE,
    NO_DATA_LOST_STYLE,
    NO_DATA_STALE_STYLE,
    STALE_AGE_STYLE,
    STALE_MARK,
    STALE_STYLE,
    Variant,
    body_key,
    face_body,
    face_lines,
    face_tail,
    format_age,
)

TILE_MIN_WIDTH = 28
"""Narrowest full tile, border included: 24 cells inside, enough for the widest NIBP line."""
COMPACT_MIN_WIDTH = 26
"""Narrowest compact tile, border included (no padding): 24 cells inside."""
MAX_EXTRA_WAVE_LINES = 2
"""Spare height beyond the smallest tile goes to the wave strip, up to this many lines."""
WAVE_LABEL_WIDTH = 3

MARKER_STYLE = "bold reverse"
NOTICE_STYLE = "bold black on yellow"
RECORDING_FAILED = "!!! RECORDING FAILED"
"""High-priority technical state: the journal cannot store, devices get negative ACKs."""
RECORDING_FAILED_STYLE = "bold white on red"

WaveReader = Callable[[BedId, WaveKey, float, int], WaveWindow | None]
"""``(bed, wave, seconds, now_ns) -> window``: how the grid reads a tile's wave."""


def header_line(
    ward_name: str,
    markers: Sequence[str],
    ward: WardSnapshot | None,
    notices: Sequence[str] = (),
    width: int = 0,
) -> Text:
    """``ICU  DEMO  14:03:27  live 6 · stale 1 · lost 1`` (clock in local time), with
    ``notices`` (the audio-paused countdown, say) right-aligned when ``width`` allows;
    tighter (no separators) when it would not fit ``width``."""
    line = _header_line(ward_name, markers, ward, notices, width, tight=False)
    if width and line.cell_len > width:
        line = _header_line(ward_name, markers, ward, notices, width, tight=True)
    return line


def _header_line(
    ward_name: str,
    markers: Sequence[str],
    ward: WardSnapshot | None,
    notices: Sequence[str],
    width: int,
    *,
    tight: bool,
) -> Text:
    gap, dot = (" ", " ") if tight else ("  ", " · ")
    line = Text(no_wrap=True, overflow="ellipsis")
    if ward is not None and ward.recording_failed is not None:
        # First on the line, so no terminal width can cut it: nothing arriving is stored.
        line.append(f" {RECORDING_FAILED} ", RECORDING_FAILED_STYLE)
        line.append(" ")
    line.append(f" {ward_name} ", "bold")
    for marker in markers:
        line.append("" if tight else " ")
        line.append(f" {marker} ", MARKER_STYLE)
    if ward is None:
        line.append(f"{gap}--:--:--{gap}waiting for the first snapshot")
    else:
        clock = time.strftime("%H:%M:%S", time.localtime(ward.time_ns // NS_PER_S))
        line.append(f"{gap}{clock}{gap}", "bold")
        line.append(f"live {ward.beds_live}", "bright_green")
        line.append(dot)
        line.append(f"stale {ward.beds_stale}", NO_DATA_STALE_STYLE if ward.beds_stale else "")
        line.append(dot)
        line.append(f"lost {ward.beds_lost}", NO_DATA_LOST_STYLE if ward.beds_lost else "")
        if ward.unassigned:
            line.append(gap)
            line.append(f" unassigned {len(ward.unassigned)} ", NO_DATA_STALE_STYLE)
    if notices:
        right = Text(no_wrap=True)
        for notice in notices:
            right.append(" ")
            right.append(f" {notice} ", NOTICE_STYLE)
        room = width - line.cell_len - right.cell_len - 1
        line.append(" " * max(2, room))
        line.append_text(right)
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
    """One line across the top: ward name, markers, the snapshot's clock, bed counts, and
    on the right the notices slot (the alarm engine's audio-paused countdown).

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
    notices: var[tuple[str, ...]] = var(())
    """Right-aligned badges that come and go (``AUDIO PAUSED 1:45``)."""
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

    def on_resize(self) -> None:
        self._update_line()

    def watch_ward_name(self) -> None:
        self._update_line()

    def watch_markers(self) -> None:
        self._update_line()

    def watch_notices(self) -> None:
        self._update_line()

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        # The alarm engine's notices (the audio pause countdown) come with the snapshot.
        self.set_reactive(WardHeader.notices, alarm_notices(None if ward is None else ward.alarms))
        self._update_line()

    def _update_line(self) -> None:
        self.line = header_line(
            self.ward_name, self.markers, self.ward, self.notices, self.size.width
        )


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


ALARM_BAR_LINES = 3


class AlarmBar(Widget):
    """Every active alarm of the ward, beds off-screen included, by priority then age (the
    oldest first); when they do not all fit, the last line says how many more. Hidden when
    the snapshot carries no alarm engine's state (a bare ward, in tests)."""

    DEFAULT_CSS = f"""
    AlarmBar {{
        height: {ALARM_BAR_LINES};
        background: $panel;
        text-wrap: nowrap;
        text-overflow: clip;
    }}
    """

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot: its alarms."""
    text: reactive[Text] = reactive(Text)
    """The lines shown; assigning an equal text does not repaint."""

    def render(self) -> Text:
        return self.text

    def on_resize(self) -> None:
        self._update()

    def watch_ward(self) -> None:
        self._update()

    def _update(self) -> None:
        alarms = None if self.ward is None else self.ward.alarms
        self.display = alarms is not None
        lines = bar_lines(alarms, max(20, self.content_size.width), ALARM_BAR_LINES)
        self.text = Text("\n", no_wrap=True).join(lines)


def wave_strip(window: WaveWindow | None, has_wave: bool, width: int, height: int) -> list[Text]:
    """A tile's wave strip: ``II ⠤⣀⡠⠔⠊⠉⠑⠢⣀``, greyed with its age when stale, or a
    plain ``no waveform`` (never a flat line, which would look like a flat patient)."""
    if window is None or len(window.samples) == 0:
        text = "waveform: none received" if has_wave else "no waveform"
        first = Text(text, style=MISSING_STYLE, no_wrap=True)
        return [first] + [Text(no_wrap=True) for _ in range(height - 1)]
    info_name, colour = traces.wave_style_of(window.key[0], window.label)
    tail = f" {STALE_MARK}{format_age(max(0.0, window.age_s))}" if window.stale else ""
    strip_width = max(1, width - WAVE_LABEL_WIDTH - cell_len(tail))
    expected = round(
        strip_width * traces.DOTS_PER_CELL_X / traces.TILE_DOTS_PER_S * window.sample_rate_hz
    )
    rows = traces.wave_lines(
        window.samples,
        strip_width,
        height,
        floor=traces.scale_floor(window.unit, window.samples),
        expected=expected,
    )
    style = STALE_STYLE if window.stale else colour
    lines = []
    for index, row in enumerate(rows):
        line = Text(no_wrap=True, overflow="ellipsis")
        label = info_name[: WAVE_LABEL_WIDTH - 1] if index == 0 else ""
        line.append(f"{label:<{WAVE_LABEL_WIDTH}}", style)
        line.append(row, style)
        if index == 0 and tail:
            line.append(tail, STALE_AGE_STYLE)
        lines.append(line)
    return lines


class FaceText(Widget):
    """A block of a tile's face: its text, repainted only when the text changes."""

    DEFAULT_CSS = """
    FaceText {
        height: 1;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    text: reactive[Text] = reactive(Text)
    """The lines shown; assigning an equal text does not repaint."""

    def render(self) -> Text:
        return self.text


class BedTile(Widget):
    """One bed: its label (and patient id) on the border, then its face (see
    :mod:`tui.vitals`): the values in one block, the live wave strip in another, so the
    strip's 4 Hz redraw never repaints the numbers.

    The border is solid while the bed is live and dashed once it is not (yellow: stale,
    grey: lost); the status line then reads ``NO DATA mm:ss``. The selected tile has a
    tinted background and a reversed title.

    Alarms (see :mod:`tui.alarm_lines`): the tile takes the colour of its highest alarm —
    ``-alarm-high`` red, ``-alarm-medium`` yellow, ``-alarm-low`` cyan border — and, while
    that alarm is unacknowledged, high and medium flash (``-flash``, toggled by the grid's
    timer: high about 2 Hz, medium about 0.5 Hz). The alarm's marker and text take the
    status line (``!!! SpO2 LOW 84 +1``; on a compact tile, the wave line); while the bed
    says NO DATA there, they go on the bottom border instead.
    """

    DEFAULT_CSS = """
    BedTile {
        layout: vertical;
        height: 11;
        padding: 0 1;
        border: round $foreground 50%;
        border-title-color: $foreground;
        border-title-style: bold;
        border-subtitle-style: bold;
        &.-compact {
            padding: 0 0;
        }
        &.-stale {
            border: dashed $warning;
        }
        &.-lost {
            border: dashed $foreground 30%;
        }
        &.-selected {
            background: $primary 30%;
            border-title-style: bold reverse;
        }
        &.-alarm-low {
            border: round #00d7ff;
        }
        &.-alarm-medium {
            border: heavy #ffd700;
        }
        &.-alarm-high {
            border: heavy #ff3030;
        }
        &.-stale.-alarm-medium, &.-lost.-alarm-medium {
            border: dashed #ffd700;
        }
        &.-stale.-alarm-high, &.-lost.-alarm-high {
            border: dashed #ff3030;
        }
        &.-alarm-medium.-flash {
            background: #ffd700 35%;
        }
        &.-alarm-high.-flash {
            background: #ff3030 45%;
        }
    }
    """

    class Chosen(Message):
        """The tile was clicked: show this bed."""

        def __init__(self, bed_id: BedId) -> None:
            super().__init__()
            self.bed_id = bed_id

    bed: var[BedSnapshot | None] = var(None, always_update=True)
    """The bed as of the latest snapshot; set on every tick, repaints only on change."""
    wave: var[WaveWindow | None] = var(None, always_update=True)
    """The newest seconds of the bed's tile wave, read by the grid for the same snapshot."""
    variant: var[Variant] = var(Variant.FULL)
    """Full (big digits) or compact (text lines), chosen by the grid from its room."""
    wave_lines: var[int] = var(1)
    """Height of the wave strip, in lines."""
    label: var[str] = var("")
    """The border title: bed label, and patient id when there is one."""
    connectivity: var[Connectivity | None] = var(None)
    """The bed's link, mirrored by the ``-stale`` / ``-lost`` classes (the border)."""
    alarms: var[tuple[ActiveAlarm, ...]] = var(())
    """The bed's alarms, the one the tile takes its colour from first."""

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
        self.body = FaceText(classes="body")
        self.strip = FaceText(classes="strip")
        self._body_key: tuple[object, ...] = ()
        self._alarm_key: tuple[object, ...] = ()
        self._subtitle = ""
        self.set_reactive(BedTile.bed, bed)

    def compose(self) -> ComposeResult:
        yield self.body
        yield self.strip

    @property
    def face(self) -> Text:
        """Everything inside the border, as drawn: the values, then the wave strip."""
        return Text("\n", no_wrap=True).join((self.body.text, self.strip.text))

    @property
    def inner_width(self) -> int:
        padding = 0 if self.variant is Variant.COMPACT else 2
        return self.content_size.width or (COMPACT_MIN_WIDTH - 2 - padding)

    def on_resize(self) -> None:
        self._update_face()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Chosen(self.bed_id))

    def show(
        self, bed: BedSnapshot, wave: WaveWindow | None, alarms: tuple[ActiveAlarm, ...] = ()
    ) -> None:
        """Take a new snapshot of the bed, its wave and its alarms; repaint only what
        changed."""
        self.set_reactive(BedTile.wave, wave)
        self._take_alarms(alarms)
        if self.is_mounted:
            self.bed = bed
        else:  # its watchers run once it is mounted
            self.set_reactive(BedTile.bed, bed)

    def show_alarms(self, alarms: tuple[ActiveAlarm, ...]) -> None:
        """Take the bed's alarms alone (a new alarm, between two snapshots)."""
        if self._take_alarms(alarms) and self.is_mounted:
            self._update_face()

    def _take_alarms(self, alarms: tuple[ActiveAlarm, ...]) -> bool:
        key = tuple(
            (a.key, a.priority, a.text, a.acknowledged, a.latched, a.silenced) for a in alarms
        )
        if key == self._alarm_key:
            return False
        self._alarm_key = key
        self.set_reactive(BedTile.alarms, alarms)
        self._update_alarm_classes()
        return True

    @property
    def top_alarm(self) -> ActiveAlarm | None:
        return self.alarms[0] if self.alarms else None

    def _update_alarm_classes(self) -> None:
        top = self.top_alarm
        for priority, name in CLASS_OF.items():
            self.set_class(top is not None and top.priority is priority, name)
        if not flashes(top):
            self.remove_class("-flash")

    def flash(self, tick: int) -> None:
        """The grid's flash timer: toggle ``-flash`` at the rate of the top alarm."""
        top = self.top_alarm
        if top is None or not flashes(top):
            return
        self.set_class((tick // FLASH_TICKS[top.priority]) % 2 == 0, "-flash")

    def wave_request(self) -> tuple[WaveKey, float] | None:
        """Which wave this tile shows and how many seconds of it fit its strip."""
        if self.bed is None:
            return None
        info = traces.tile_wave(self.bed.waves)
        if info is None:
            return None
        strip = max(1, self.inner_width - WAVE_LABEL_WIDTH)
        return info.key, strip * traces.DOTS_PER_CELL_X / traces.TILE_DOTS_PER_S

    def on_mount(self) -> None:
        self._size_to_face()

    def watch_bed(self, bed: BedSnapshot | None) -> None:
        if bed is None:
            return
        self.label = bed.label if not bed.patient_id else f"{bed.label} · {bed.patient_id}"
        self.connectivity = bed.connectivity
        self._update_face()

    def watch_variant(self, variant: Variant) -> None:
        self.set_class(variant is Variant.COMPACT, "-compact")
        self._size_to_face()

    def watch_wave_lines(self) -> None:
        self._size_to_face()

    def watch_label(self, label: str) -> None:
        self.border_title = Content(label)

    def watch_connectivity(self, connectivity: Connectivity | None) -> None:
        self.set_class(connectivity is Connectivity.STALE, "-stale")
        self.set_class(connectivity is Connectivity.LOST, "-lost")

    def _size_to_face(self) -> None:
        body = FULL_BASE_LINES if self.variant is Variant.FULL else COMPACT_BASE_LINES
        self.styles.height = face_lines(self.variant, self.wave_lines) + 2
        self.body.styles.height = body
        self.strip.styles.height = self.wave_lines
        self._body_key = ()
        self._update_face()

    def _update_face(self) -> None:
        bed = self.bed
        if bed is None:
            return
        width, variant = self.inner_width, self.variant
        alarms = self.alarms
        live = bed.connectivity is Connectivity.CONNECTED
        key = (body_key(bed, width, variant), self._alarm_key)
        if key != self._body_key:
            self._body_key = key
            lines = face_body(bed, width, variant)
            if alarms and live and variant is Variant.FULL:
                lines[0] = tile_alarm_line(alarms, width)  # the status line
            self.body.text = _join(lines)
            top = self.top_alarm
            subtitle = ""
            if top is not None and not live:  # NO DATA has the status line
                word = state_word(top)
                subtitle = f"{top.marker} {top.text}" + (f" {word}" if word else "")
            if subtitle != self._subtitle:  # setting it repaints the border
                self._subtitle = subtitle
                self.border_subtitle = Content(subtitle)
        strip = wave_strip(self.wave, bool(bed.waves), width, self.wave_lines)
        tail = face_tail(bed, width, variant, strip)
        if alarms and live and variant is Variant.COMPACT:
            tail[0] = tile_alarm_line(alarms, width)  # a compact tile has no status line
        self.strip.text = _join(tail)


def alarms_by_bed(alarms: AlarmSnapshot | None) -> dict[BedId | None, tuple[ActiveAlarm, ...]]:
    """Each bed's alarms, the one its tile shows first: highest priority, unacknowledged
    before acknowledged, then oldest."""
    if alarms is None or not alarms.alarms:
        return {}
    grouped: dict[BedId | None, list[ActiveAlarm]] = {}
    for alarm in alarms.alarms:
        grouped.setdefault(alarm.bed, []).append(alarm)
    return {
        bed: tuple(sorted(items, key=lambda a: (-a.priority, a.acknowledged, a.onset_ns)))
        for bed, items in grouped.items()
    }


def _join(lines: Sequence[Text]) -> Text:
    return Text("\n", no_wrap=True, overflow="ellipsis").join(lines)


def grid_layout(
    width: int, height: int, beds: int, fixed_columns: int = 0
) -> tuple[Variant, int, int]:
    """``(variant, columns, wave_lines)`` for ``beds`` tiles in ``width`` × ``height``.

    Full tiles if they all fit without scrolling, else compact ones (scrolling if even
    those do not fit). Height to spare goes to the wave strips.
    """
    count = max(1, beds)
    columns = fixed_columns or max(1, width // TILE_MIN_WIDTH)
    rows = math.ceil(count / columns)
    tile = face_lines(Variant.FULL, 1) + 2
    if rows * tile <= height:
        spare = height // rows - tile
        return Variant.FULL, columns, 1 + min(spare, MAX_EXTRA_WAVE_LINES)
    columns = fixed_columns or max(1, width // COMPACT_MIN_WIDTH)
    rows = math.ceil(count / columns)
    tile = face_lines(Variant.COMPACT, 1) + 2
    spare = height // rows - tile if rows * tile <= height else 0
    return Variant.COMPACT, columns, 1 + min(spare, 1)


class BedGrid(ScrollableContainer, can_focus=False):
    """Every bed's tile, as many side by side as the width allows; scrolls when they don't
    fit. One tile is *selected* (arrows, hjkl); Enter or a click opens it.

    Tiles are created and removed only when the set of beds changes; on other ticks each
    tile is handed its new bed and wave and decides for itself whether to repaint.
    """

    DEFAULT_CSS = """
    BedGrid {
        layout: grid;
        grid-size: 1;
        grid-columns: 1fr;
        grid-rows: 11;
        height: 1fr;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
    }
    """

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot; each tile gets its bed from it."""
    columns: var[int] = var(1)
    """How many tiles side by side (at least one)."""
    variant: var[Variant] = var(Variant.FULL)
    """Full or compact tiles, from the room there is."""
    wave_lines: var[int] = var(1)
    """Height of every tile's wave strip."""
    selected: var[BedId | None] = var(None)
    """The selected bed; the first one until a key or a click says otherwise."""

    def __init__(
        self,
        *,
        fixed_columns: int = 0,
        read_wave: WaveReader | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._fixed_columns = fixed_columns
        """Columns set by configuration (``[dashboard] columns``); 0 follows the width."""
        self._read_wave = read_wave
        self._tiles: dict[BedId, BedTile] = {}
        self._flash_tick = 0

    def on_mount(self) -> None:
        self.set_interval(FLASH_TICK_S, self._flash)

    def _flash(self) -> None:
        """The flash timer: alarm tiles toggle at their top alarm's rate."""
        self._flash_tick += 1
        for tile in self._tiles.values():
            if tile.alarms:
                tile.flash(self._flash_tick)

    @property
    def tiles(self) -> tuple[BedTile, ...]:
        """The tiles, in the snapshot's bed order."""
        return tuple(self._tiles.values())

    @property
    def selected_index(self) -> int:
        keys = list(self._tiles)
        return keys.index(self.selected) if self.selected in self._tiles else 0

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()

    def _lay_out(self) -> None:
        region = self.scrollable_content_region
        if region.width == 0:
            return
        variant, columns, wave_lines = grid_layout(
            region.width, region.height, len(self._tiles), self._fixed_columns
        )
        self.columns, self.variant, self.wave_lines = columns, variant, wave_lines

    def watch_columns(self, columns: int) -> None:
        self.styles.grid_size_columns = columns

    def watch_variant(self, variant: Variant) -> None:
        for tile in self._tiles.values():
            tile.variant = variant
        self._size_rows()

    def watch_wave_lines(self, lines: int) -> None:
        for tile in self._tiles.values():
            tile.wave_lines = lines
        self._size_rows()

    def _size_rows(self) -> None:
        # Rows as tall as the tiles, exactly: the grid's height decides when to scroll.
        self.styles.grid_rows = str(face_lines(self.variant, self.wave_lines) + 2)

    def watch_selected(self, previous: BedId | None, selected: BedId | None) -> None:
        for key in (previous, selected):
            tile = self._tiles.get(key) if key is not None else None
            if tile is not None:
                tile.set_class(key == selected, "-selected")
        tile = self._tiles.get(selected) if selected is not None else None
        if tile is not None and tile.is_mounted:
            self.scroll_to_widget(tile, animate=False)

    def move(self, dx: int, dy: int) -> None:
        """Move the selection ``dx`` tiles right and ``dy`` rows down, stopping at the ends."""
        if not self._tiles:
            return
        keys = list(self._tiles)
        index = self.selected_index + dx + dy * self.columns
        self.selected = keys[min(max(index, 0), len(keys) - 1)]

    def select_index(self, index: int) -> None:
        keys = list(self._tiles)
        if keys:
            self.selected = keys[min(max(index, 0), len(keys) - 1)]

    @property
    def rows_in_view(self) -> int:
        tile_height = face_lines(self.variant, self.wave_lines) + 2
        return max(1, self.scrollable_content_region.height // tile_height)

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if ward is None:
            return
        if tuple(self._tiles) != tuple(bed.bed for bed in ward.beds):
            self._match_beds(ward.beds)
            self._lay_out()
        if self.selected not in self._tiles and self._tiles:
            self.selected = next(iter(self._tiles))
        alarms = alarms_by_bed(ward.alarms)
        for tile, bed in zip(self._tiles.values(), ward.beds, strict=True):
            tile.show(bed, self._wave_for(tile, bed, ward.time_ns), alarms.get(bed.bed, ()))

    def show_alarms(self, ward: WardSnapshot) -> None:
        """Hand each tile its alarms alone: a new alarm shows without waiting for the next
        snapshot (values and waves follow with it)."""
        alarms = alarms_by_bed(ward.alarms)
        for bed, tile in self._tiles.items():
            tile.show_alarms(alarms.get(bed, ()))

    def _wave_for(self, tile: BedTile, bed: BedSnapshot, now_ns: int) -> WaveWindow | None:
        if self._read_wave is None:
            return None
        tile.set_reactive(BedTile.bed, bed)
        request = tile.wave_request()
        if request is None:
            return None
        key, seconds = request
        return self._read_wave(bed.bed, key, seconds, now_ns)

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
                tile.set_reactive(BedTile.variant, self.variant)
                tile.set_reactive(BedTile.wave_lines, self.wave_lines)
                tile.set_class(self.variant is Variant.COMPACT, "-compact")
                tile.styles.height = face_lines(self.variant, self.wave_lines) + 2
                tile.set_class(bed.bed == self.selected, "-selected")
                if previous is not None:
                    self.mount(tile, after=previous)
                elif self._tiles:
                    self.mount(tile, before=0)
                else:
                    self.mount(tile)
            tiles[bed.bed] = tile
            previous = tile
        self._tiles = tiles

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
from typing import Any

import numpy as np
import numpy.typing as npt
from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.color import Color
from textual.containers import ScrollableContainer
from textual.content import Content
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive, var
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable

from gateway.alarms.snapshot import ActiveAlarm, AlarmSnapshot
from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority, BedId, Connectivity
from gateway.ward.snapshot import BedSnapshot, WardSnapshot, WaveKey, WaveWindow
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
from tui.tile_lines import TileLines
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
    format_silence,
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

FLASH_BACKGROUND = {
    AlarmPriority.HIGH: Color.parse("#ff3030").with_alpha(0.45),
    AlarmPriority.MEDIUM: Color.parse("#ffd700").with_alpha(0.35),
}
"""A flashing tile's background while the flash is on, by its top alarm's priority."""

WaveReader = Callable[[BedId, WaveKey, float, int], WaveWindow | None]
"""``(bed, wave, seconds, now_ns) -> window``: how the grid reads a tile's wave."""


def header_line(
    ward_name: str,
    markers: Sequence[str],
    ward: WardSnapshot | None,
    notices: Sequence[str] = (),
    width: int = 0,
) -> Text:
    """``ICU  DEMO  14:03:27  live 6 · no data 1 · lost 1`` (clock in local time), with
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
        no_data = ward.beds_stale
        line.append(f"no data {no_data}", NO_DATA_STALE_STYLE if no_data else "")
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


class BedTile(Widget):
    """One bed: its label (and patient id) on the border, then its face (see
    :mod:`tui.vitals`): the values, then the live wave strip.

    The tile draws its face itself, line by line (:class:`tui.tile_lines.TileLines`): on
    each snapshot it compares a cheap key of what its values block and its wave strip
    would show with the last one, rebuilds only a block whose key changed, and repaints
    only the lines that differ — a wave chunk repaints the strip, never the numbers.

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
    }
    """

    ALLOW_SELECT = False
    """The face is drawn from kept strips: there is no text to select on a tile."""

    class Chosen(Message):
        """The tile was clicked: show this bed."""

        def __init__(self, bed_id: BedId) -> None:
            super().__init__()
            self.bed_id = bed_id

    bed: var[BedSnapshot | None] = var(None, always_update=True)
    """The bed as of the latest snapshot (set by :meth:`show` and :meth:`hold`)."""
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
        self.body = Text(no_wrap=True)
        """The values block as drawn (rebuilt only when what it shows changed)."""
        self.tail = Text(no_wrap=True)
        """The wave strip block as drawn (or NO DATA on a silent compact tile)."""
        self.held = False
        """Scrolled out of view: the tile keeps the bed and its alarms, not its face."""
        self._lines = TileLines()
        self._width = 0
        """Cells inside border and padding, from the last resize (0: not laid out yet)."""
        self._body_key: tuple[object, ...] = ()
        self._tail_key: tuple[object, ...] = ()
        self._tail_samples: npt.NDArray[np.float32] | None = None
        self._alarm_key: tuple[object, ...] = ()
        self._subtitle = ""
        self._flash_colour: Color | None = None
        self.set_reactive(BedTile.bed, bed)

    @property
    def face(self) -> Text:
        """Everything inside the border, as drawn: the values, then the wave strip."""
        return Text("\n", no_wrap=True).join((self.body, self.tail))

    @property
    def inner_width(self) -> int:
        if self._width:
            return self._width
        padding = 0 if self.variant is Variant.COMPACT else 2
        return COMPACT_MIN_WIDTH - 2 - padding

    def render_line(self, y: int) -> Strip:
        if self.held:  # a face kept from long ago is never drawn, even for one frame
            return Strip([])
        app = self.app
        return self._lines.strip(y, self.visual_style, app.console, app.ansi_theme)

    def on_resize(self) -> None:
        self._width = self.content_size.width
        self._update_face()

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Chosen(self.bed_id))

    def show(
        self, bed: BedSnapshot, wave: WaveWindow | None, alarms: tuple[ActiveAlarm, ...] = ()
    ) -> None:
        """Take a new snapshot of the bed, its wave and its alarms; rebuild and repaint only
        what changed."""
        self.set_reactive(BedTile.wave, wave)
        self._take(bed, alarms)
        if self.held:
            self.held = False
            if self.is_mounted:
                self.refresh()
        if self.is_mounted:
            self._update_face()

    def hold(self, bed: BedSnapshot, alarms: tuple[ActiveAlarm, ...] = ()) -> None:
        """Take a new snapshot while out of view: the border and the alarm classes follow
        it, the face waits for :meth:`show` (nobody sees it, and the grid shows the tile
        again as soon as it scrolls into view). Until then the face is drawn blank: should
        a resize uncover the tile before the grid hears of it, no old value shows."""
        if not self.held:
            self.held = True
            if self.is_mounted:
                self.refresh()  # forget the lines drawn: the next paint asks again
        self._take(bed, alarms)

    def _take(self, bed: BedSnapshot, alarms: tuple[ActiveAlarm, ...]) -> None:
        self.set_reactive(BedTile.bed, bed)
        self._take_alarms(alarms)
        # The name first (what staff call a patient by), then the id; as much as fits. A
        # mismatch goes before them: a narrow tile cuts the end of its title off.
        who = " · ".join(part for part in (bed.patient_name, bed.patient_id) if part)
        label = f"{bed.label} · ID MISMATCH" if bed.patient_mismatch else bed.label
        label = f"{label} · {who}" if who else label
        self.label = label if bed.conflict is None else f"{label} · BED CONFLICT"
        self.connectivity = bed.connectivity

    def show_alarms(self, alarms: tuple[ActiveAlarm, ...]) -> None:
        """Take the bed's alarms alone (a new alarm, between two snapshots)."""
        if self._take_alarms(alarms) and self.is_mounted and not self.held:
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
        self._set_classes(
            {name: top is not None and top.priority is p for p, name in CLASS_OF.items()}
        )
        # Flashing stops with the alarm (or its acknowledgement), and takes the colour of a
        # new top alarm at once.
        self._show_flash(flashes(top) and self.has_class("-flash"))

    def _set_classes(self, wanted: dict[str, bool]) -> None:
        """Add or remove classes with one style update for all (each alone costs one)."""
        changed = False
        for name, on in wanted.items():
            if on != self.has_class(name):
                self.set_class(on, name, update=False)
                changed = True
        if changed:
            self.update_node_styles()

    def flash(self, tick: int) -> None:
        """The grid's flash timer: toggle the flash at the rate of the top alarm."""
        top = self.top_alarm
        if top is None or not flashes(top):
            return
        self._show_flash((tick // FLASH_TICKS[top.priority]) % 2 == 0)

    def _show_flash(self, on: bool) -> None:
        """The flash is the tile's background in its top alarm's colour, set inline: no
        stylesheet pass (twenty times cheaper than a class rule, and 64 tiles may flash),
        and no line of the face rebuilt (their strips are kept for both backgrounds). The
        ``-flash`` class says whether it is on."""
        top = self.top_alarm
        colour = FLASH_BACKGROUND.get(top.priority) if on and top is not None else None
        if colour is None:
            on = False
        if on == self.has_class("-flash") and colour == self._flash_colour:
            return
        self.set_class(on, "-flash", update=False)  # no rule reads it: a marker only
        self._flash_colour = colour
        self.styles.background = colour

    def wave_request(self, bed: BedSnapshot | None = None) -> tuple[WaveKey, float] | None:
        """Which wave this tile shows (of ``bed``, else its own) and how many seconds of it
        fit its strip."""
        bed = self.bed if bed is None else bed
        if bed is None:
            return None
        info = traces.tile_wave(bed.waves)
        if info is None:
            return None
        strip = max(1, self.inner_width - WAVE_LABEL_WIDTH)
        return info.key, strip * traces.DOTS_PER_CELL_X / traces.TILE_DOTS_PER_S

    def on_mount(self) -> None:
        self._size_to_face()

    def watch_variant(self, variant: Variant) -> None:
        self.set_class(variant is Variant.COMPACT, "-compact")
        self._size_to_face()

    def watch_wave_lines(self) -> None:
        self._size_to_face()

    def watch_label(self, label: str) -> None:
        self.border_title = Content(label)

    def watch_connectivity(self, connectivity: Connectivity | None) -> None:
        self._set_classes(
            {
                "-stale": connectivity is Connectivity.STALE,
                "-lost": connectivity is Connectivity.LOST,
            }
        )

    def _size_to_face(self) -> None:
        self.styles.height = face_lines(self.variant, self.wave_lines) + 2
        self._lines.resize(face_lines(self.variant, self.wave_lines))
        self._body_key = self._tail_key = ()
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
            if self._draw(0, lines):
                self.body = _join(lines)
            top = self.top_alarm
            subtitle = ""
            if top is not None and not live:  # NO DATA has the status line
                word = state_word(top)
                subtitle = f"{top.marker} {top.text}" + (f" {word}" if word else "")
            if subtitle != self._subtitle:  # setting it repaints the border
                self._subtitle = subtitle
                self.border_subtitle = Content(subtitle)
        wave = self.wave
        compact = variant is Variant.COMPACT
        tail_key = (
            width,
            variant,
            self.wave_lines,
            bool(bed.waves),
            _window_key(wave),
            # What a compact tile writes in place of its wave: NO DATA, or its alarm.
            compact and not live and (bed.connectivity, format_silence(bed.silent_s)),
            compact and live and self._alarm_key,
        )
        samples = None if wave is None else wave.samples
        if tail_key != self._tail_key or not _same_samples(samples, self._tail_samples):
            self._tail_key, self._tail_samples = tail_key, samples
            strip = wave_strip(wave, bool(bed.waves), width, self.wave_lines)
            tail = face_tail(bed, width, variant, strip)
            if alarms and live and compact:
                tail[0] = tile_alarm_line(alarms, width)  # a compact tile has no status line
            start = FULL_BASE_LINES if variant is Variant.FULL else COMPACT_BASE_LINES
            if self._draw(start, tail):
                self.tail = _join(tail)

    def _draw(self, start: int, lines: Sequence[Text]) -> bool:
        """Put ``lines`` on the face from line ``start`` and repaint those that changed;
        whether any did."""
        changed = self._lines.replace(start, lines)
        if changed is None:
            return False
        if self.is_mounted:
            if self._width:
                self.refresh(Region(0, changed.start, self._width, len(changed)))
            else:
                self.refresh()
        return True


def _window_key(window: WaveWindow | None) -> tuple[object, ...]:
    """What a wave strip depends on besides its samples (compared on their own)."""
    if window is None:
        return ()
    age = format_age(max(0.0, window.age_s)) if window.stale else ""
    return (window.key, window.label, window.unit, window.sample_rate_hz, window.stale, age)


def _same_samples(
    samples: npt.NDArray[np.float32] | None, previous: npt.NDArray[np.float32] | None
) -> bool:
    """Whether a wave's samples are those drawn last: no new chunk, no strip to redraw."""
    if samples is None or previous is None:
        return samples is previous
    return samples is previous or (
        samples.shape == previous.shape and bool(np.array_equal(samples, previous, equal_nan=True))
    )


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
    tile in view is handed its new bed and wave and decides for itself what to repaint.
    A tile scrolled out of view is only handed its bed and alarms (its border and alarm
    classes follow, its face does not: nobody sees it); it draws the latest snapshot as
    soon as it scrolls into view, before the screen is next painted.
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
        self._view_height = 0
        """Lines of tiles in view, from the last resize (0: not laid out yet)."""
        self._in_view: range = range(0)
        """The tiles drawn for the latest snapshot, by index."""

    def on_mount(self) -> None:
        self.set_interval(FLASH_TICK_S, self._flash)

    def _flash(self) -> None:
        """The flash timer: alarm tiles in view toggle at their top alarm's rate."""
        self._flash_tick += 1
        in_view = self.tiles_in_view()
        for index, tile in enumerate(self._tiles.values()):
            if tile.alarms and index in in_view:
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
        self._view_height = self.scrollable_content_region.height
        self._lay_out()
        self._show_in_view()

    def tiles_in_view(self) -> range:
        """The indices of the tiles at least partly in view (all of them until the grid is
        laid out), from the scroll position: no compositor lookup per tile."""
        if not self._view_height:
            return range(len(self._tiles))
        height = face_lines(self.variant, self.wave_lines) + 2
        top = round(self.scroll_y)
        first, last = top // height, (top + self._view_height - 1) // height
        return range(first * self.columns, min(len(self._tiles), (last + 1) * self.columns))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self.tiles_in_view() != self._in_view:
            self._show_in_view()

    def _show_in_view(self) -> None:
        """Tiles that came into view draw the latest snapshot now."""
        ward = self.ward
        in_view = self.tiles_in_view()
        self._in_view = in_view
        if ward is None:
            return
        tiles = tuple(self._tiles.values())
        for index in in_view:
            tile = tiles[index]
            if tile.held and tile.bed is not None:
                tile.show(tile.bed, self._wave_for(tile, tile.bed, ward.time_ns), tile.alarms)

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
        self._show_in_view()

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
        in_view = self._in_view = self.tiles_in_view()
        for index, (tile, bed) in enumerate(zip(self._tiles.values(), ward.beds, strict=True)):
            bed_alarms = alarms.get(bed.bed, ())
            if index in in_view:
                tile.show(bed, self._wave_for(tile, bed, ward.time_ns), bed_alarms)
            else:
                tile.hold(bed, bed_alarms)

    def show_alarms(self, ward: WardSnapshot) -> None:
        """Hand each tile its alarms alone: a new alarm shows without waiting for the next
        snapshot (values and waves follow with it)."""
        alarms = alarms_by_bed(ward.alarms)
        for bed, tile in self._tiles.items():
            tile.show_alarms(alarms.get(bed, ()))

    def _wave_for(self, tile: BedTile, bed: BedSnapshot, now_ns: int) -> WaveWindow | None:
        if self._read_wave is None:
            return None
        request = tile.wave_request(bed)
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


def refill(table: DataTable[Any], rows: Sequence[Sequence[object]]) -> None:
    """Put ``rows`` in ``table`` in place of what it held, the cursor kept on the same row
    number (or the last row): a screen refreshed every tick must not throw the reader back
    to the top."""
    cursor = table.cursor_row
    table.clear()
    for index, row in enumerate(rows):
        table.add_row(*row, key=str(index))
    if rows:
        table.move_cursor(row=min(cursor, len(rows) - 1), animate=False)

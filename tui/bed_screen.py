"""One bed in detail: every parameter, its waves, its trends, its alarms and its devices.

Opened from the ward with Enter (or a click). Waves are redrawn ``wave_hz`` times a second
(10 by default) from the newest samples; the parameters, devices and trends follow the
snapshots (trends at most once a second: a column of the 1 h graph spans many seconds).
Everything is read for the time of the latest snapshot, so what is stale here is stale on
the ward screen too. The alarms panel lists the bed's alarms shown now, then its alarm
history (newest first, with the operator of each transition).

Keys: Esc back to the ward; ← → (h l) the previous / next bed; 1 2 3 trends over 1 h, 8 h,
24 h; ↑ ↓ (j k), PageUp, PageDown scroll; ``a`` acknowledges this bed's alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.reactive import reactive, var
from textual.widget import Widget
from textual.widgets import Footer

from gateway import nomenclature as mdc
from gateway.alarms.snapshot import ActiveAlarm
from gateway.clock import NS_PER_S
from gateway.domain import BedId, Connectivity
from gateway.ward.snapshot import BedSnapshot, WardSnapshot, WaveInfo, WaveWindow
from tui import traces
from tui.alarm_lines import bar_line, history_line
from tui.bed_desk import BedChanges
from tui.devices import link_style
from tui.view import Dashboard, WardView
from tui.vitals import (
    ABP,
    DEMO_BANNER,
    DEMO_MARK,
    DEMO_MARK_STYLE,
    ETCO2,
    HEART_RATE,
    MISSING_STYLE,
    NIBP,
    RESP_RATE,
    SPO2,
    STALE_AGE_STYLE,
    STALE_MARK,
    STALE_STYLE,
    TEMPERATURE,
    conflict_line,
    format_age,
    ordered_readings,
    parameter_line,
    pick,
    status_line,
)
from tui.widgets import FaultBar, WardHeader

TREND_SPANS_S = (3600, 8 * 3600, 24 * 3600)
TREND_LINES = 3
"""Height of one trend graph, in lines (12 dot rows)."""
TREND_LABEL_WIDTH = 12
WAVE_LINES = 3
"""Height of one wave on the bed screen, in lines."""
WAVE_DOTS_PER_S = 50
DETAIL_WAVES = 3

NO_ALARM_ENGINE = "No alarm engine on this screen: no alarm is shown or recorded here."
BED_HISTORY_LINES = 30


@dataclass(frozen=True, slots=True)
class TrendGroup:
    """A trend graph: one parameter, or a pressure's systolic and diastolic together."""

    label: str
    unit: str
    colour: str
    codes: tuple[tuple[int, ...], ...]
    """Each trace's codes, in preference order."""
    floor: float
    """The narrowest scale the graph uses (a stable value stays a flat line)."""
    bounds: tuple[float, float] = (0.0, 400.0)
    """What the value can be: the scale never shows SpO2 above 100 %."""


TREND_GROUPS = (
    TrendGroup("HR", "/min", HEART_RATE.colour, (HEART_RATE.codes,), 20),
    TrendGroup("SpO2", "%", SPO2.colour, (SPO2.codes,), 10, (0.0, 100.0)),
    TrendGroup("NIBP", "mmHg", NIBP.colour, (NIBP.systolic, NIBP.diastolic), 30),
    TrendGroup("ABP", "mmHg", ABP.colour, (ABP.systolic, ABP.diastolic), 30),
    TrendGroup("RR", "/min", RESP_RATE.colour, (RESP_RATE.codes,), 10),
    TrendGroup("EtCO2", "mmHg", ETCO2.colour, (ETCO2.codes,), 10),
    TrendGroup("Temp", "°C", TEMPERATURE.colour, (TEMPERATURE.codes,), 1, (20.0, 45.0)),
)


def span_text(span_s: float) -> str:
    return f"{span_s / 3600:g} h"


class Panel(Widget):
    """A bordered block of text on the bed screen."""

    DEFAULT_CSS = """
    Panel {
        height: auto;
        border: round $foreground 30%;
        border-title-color: $foreground;
        border-title-style: bold;
        padding: 0 1;
    }
    """

    text: reactive[Text] = reactive(Text, layout=True)
    """What the panel shows; assigning equal text does not repaint."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = Content(title)

    def render(self) -> Text:
        return self.text


def bed_title_line(bed: BedSnapshot | None, position: str) -> Text:
    """``ICU 12-1 · patient P-4711   LIVE   bed 3 of 8``, or NO DATA as on its tile; a
    second line, BED CONFLICT with every source, while its location is in conflict."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if bed is None:
        line.append(" This bed is no longer in the ward. Esc returns to the ward.", "bold")
        return line
    line.append(f" {bed.label} ", "bold reverse")
    if bed.patient_name or bed.patient_id:
        who = bed.patient_name or bed.patient_id
        if bed.patient_name and bed.patient_id:
            who += f" ({bed.patient_id})"
        line.append(f"  patient {who}", "bold")
        if bed.patient_entered:
            line.append(" (admitted here)", "dim")
    line.append("  ")
    if bed.connectivity is Connectivity.CONNECTED:
        line.append(" LIVE ", "bold black on #5fff5f")
        if is_demo(bed):  # the tile's banner, here too: its waves are the demo's as well
            line.append(" ")
            line.append(f" {DEMO_BANNER} ", DEMO_MARK_STYLE)
    else:
        line.append_text(status_line(bed, 0))
    line.append(f"   {position}", "dim")
    if bed.patient_mismatch:
        line.append("\n ")
        mismatch = bed.patient_mismatch.replace("patient id mismatch", "PATIENT ID MISMATCH", 1)
        line.append(f" {mismatch} ", "bold white on red3")
    if bed.conflict is not None:  # every source, whatever the bed's link
        line.append("\n ")
        line.append_text(conflict_line(bed, full=True))
    return line


def is_demo(bed: BedSnapshot) -> bool:
    """Whether the bed shows demo or test data: a monitor in demo mode marks its values so;
    its waves, which carry no mark of their own, are taken as the demo's too."""
    return any(r.demo for r in bed.readings.values())


def wave_block(
    info: WaveInfo, window: WaveWindow | None, seconds: float, width: int, *, demo: bool = False
) -> list[Text]:
    """A wave on the bed screen: a line naming it (``DEMO`` when ``demo``), then
    :data:`WAVE_LINES` lines of trace."""
    name, colour = traces.wave_style_of(info.code, info.label)
    stale = info.stale if window is None else window.stale
    age = info.age_s if window is None else window.age_s
    head = Text(no_wrap=True, overflow="ellipsis")
    style = STALE_STYLE if stale else colour
    head.append(info.label or name, f"bold {style}")
    if demo:
        head.append(" ")
        head.append(DEMO_MARK, DEMO_MARK_STYLE)
    head.append(
        f"  {info.unit or 'no unit'} · {info.sample_rate_hz:g} Hz · last {seconds:g} s", style
    )
    if stale:
        head.append(f"  {STALE_MARK}{format_age(max(0.0, age))} no new samples", STALE_AGE_STYLE)
    if window is None or len(window.samples) == 0:
        body = [Text("no samples yet", MISSING_STYLE)] + [Text() for _ in range(WAVE_LINES - 1)]
        return [head, *body]
    rows = traces.wave_lines(
        window.samples,
        width,
        WAVE_LINES,
        floor=traces.scale_floor(info.unit, window.samples),
        expected=round(seconds * info.sample_rate_hz),
    )
    return [head, *(Text(row, style, no_wrap=True) for row in rows)]


class BedScreen(BedChanges):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="Back to the ward"),
        Binding("left", "other_bed(-1)", "Beds", key_display="←→", tooltip="Previous bed"),
        Binding("right", "other_bed(1)", "Next bed", show=False),
        Binding("h", "other_bed(-1)", "Previous bed", show=False),
        Binding("l", "other_bed(1)", "Next bed", show=False),
        Binding("1", "trend_span(0)", "Trend", key_display="1-3", tooltip="Trends 1 h"),
        Binding("2", "trend_span(1)", "Trends 8 h", show=False),
        Binding("3", "trend_span(2)", "Trends 24 h", show=False),
        Binding("up", "scroll(-1)", "Scroll up", show=False),
        Binding("down", "scroll(1)", "Scroll down", show=False),
        Binding("k", "scroll(-1)", "Scroll up", show=False),
        Binding("j", "scroll(1)", "Scroll down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge this bed's alarms"),
        # Under ? only: the key line keeps ? and q within 80 columns.
        Binding(
            "P", "admit", "Admit", tooltip="Admit a patient to this bed (id and name)", show=False
        ),
        Binding(
            "D", "discharge", "Discharge", tooltip="Discharge the patient admitted here", show=False
        ),
    ]

    DEFAULT_CSS = """
    BedScreen {
        #bed-title { height: auto; }
        #body { height: 1fr; scrollbar-size-vertical: 1; }
        #now { height: auto; }
        #parameters { width: 46; text-wrap: nowrap; text-overflow: ellipsis; }
        #waves { width: 1fr; text-wrap: nowrap; text-overflow: clip; }
        #trends { text-wrap: nowrap; text-overflow: clip; }
    }
    """

    bed_id: var[BedId] = var(BedId(""))
    """The bed shown."""
    span_index: var[int] = var(0)
    """Which of :data:`TREND_SPANS_S` the trends cover."""

    def __init__(self, dashboard: Dashboard, bed: BedId) -> None:
        super().__init__(dashboard)
        self.set_reactive(BedScreen.bed_id, bed)
        self._trends_drawn: tuple[object, ...] = ()
        # Held, not queried: a snapshot may land while the screen is being taken down.
        self.title_line = BedTitle(id="bed-title")
        self.parameters = Panel("Parameters", id="parameters")
        self.waves = Panel("Waves", id="waves")
        self.trends = Panel("Trends", id="trends")
        self.alarms = Panel("Alarms", id="alarms")
        self.devices = Panel("Devices", id="devices")
        self.notes = Panel("Not kept", id="notes")
        self.body = VerticalScroll(
            Horizontal(self.parameters, self.waves, id="now"),
            self.trends,
            self.alarms,
            self.devices,
            self.notes,
            id="body",
            can_focus=False,
        )

    def compose(self) -> ComposeResult:
        yield WardHeader(self.dashboard.title, self.dashboard.markers).data_bind(WardView.ward)
        yield self.title_line
        yield self.body
        yield FaultBar().data_bind(WardView.ward)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.set_interval(1.0 / self.dashboard.wave_hz, self.draw_waves)
        super().on_mount()

    @property
    def bed(self) -> BedSnapshot | None:
        return None if self.ward is None else self.ward.bed(self.bed_id)

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if ward is not None and self.ready:
            self._draw(ward)

    def watch_bed_id(self) -> None:
        self._trends_drawn = ()
        if self.ward is not None and self.ready:
            self._draw(self.ward)

    def watch_span_index(self) -> None:
        if self.ward is not None and self.ready:
            self.draw_trends(self.ward, force=True)

    def on_resize(self) -> None:
        # Narrow terminals give the waves more of the width.
        self.parameters.styles.width = 40 if self.size.width < 110 else 46
        self.call_after_refresh(self._redraw)

    def _redraw(self) -> None:
        if self.ward is not None and self.ready:
            self._draw(self.ward)

    def _draw(self, ward: WardSnapshot) -> None:
        bed = ward.bed(self.bed_id)
        beds = [b.bed for b in ward.beds]
        position = (
            f"bed {beds.index(self.bed_id) + 1} of {len(beds)}" if self.bed_id in beds else ""
        )
        self.title_line.line = bed_title_line(bed, position)
        self._draw_parameters(bed)
        self._draw_alarms(ward)
        self._draw_devices(ward, bed)
        notes = self.notes
        notes.display = bed is not None and bool(bed.notes)
        if bed is not None and bed.notes:
            notes.text = Text("\n".join(bed.notes), STALE_AGE_STYLE)
        self.draw_waves()
        self.draw_trends(ward)

    def _draw_parameters(self, bed: BedSnapshot | None) -> None:
        panel = self.parameters
        if bed is None or not bed.readings:
            panel.text = Text("No values received from this bed.", MISSING_STYLE)
            return
        panel.text = Text("\n", no_wrap=True).join(
            parameter_line(reading) for reading in ordered_readings(bed)
        )

    def show_alarms(self, ward: WardSnapshot) -> None:
        if self.ready:
            self._draw_alarms(ward)

    def _draw_alarms(self, ward: WardSnapshot) -> None:
        """The bed's alarms shown now, then its history, newest first."""
        panel = self.alarms
        desk = self.dashboard.alarms
        if ward.alarms is None and desk is None:
            panel.text = Text(NO_ALARM_ENGINE, MISSING_STYLE)
            return
        width = max(40, panel.content_size.width)
        lines: list[Text] = []
        shown: tuple[ActiveAlarm, ...] = ()
        if ward.alarms is not None:  # aged by the alarm engine's (monotonic) time
            shown = ward.alarms.of_bed(self.bed_id)
            lines += [bar_line(alarm, ward.alarms.time_ns, width) for alarm in shown]
        if not shown:
            lines.append(Text("No active alarm.", MISSING_STYLE))
        history = [] if desk is None else desk.history(self.bed_id)[:BED_HISTORY_LINES]
        lines.append(Text("History, newest first:", "bold") if history else Text())
        lines += [history_line(t, with_bed=False) for t in history]
        panel.text = Text("\n", no_wrap=True).join(lines)

    def _draw_devices(self, ward: WardSnapshot, bed: BedSnapshot | None) -> None:
        panel = self.devices
        if bed is None or not bed.devices:
            panel.text = Text("No device has reported for this bed.", MISSING_STYLE)
            return
        lines = []
        for link in bed.devices:
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append(f" {link.connectivity.value} ", link_style(link.connectivity.value))
            line.append(f"  {link.device.key}", "bold")
            if link.device.label:
                line.append(f" ({link.device.label})")
            line.append(f"  {link.transport} {link.peer}")
            age = format_age((ward.time_ns - link.last_seen_ns) / NS_PER_S)
            line.append(f"  last message {age} ago")
            line.append(f"  {link.rate_per_s:.1f} msg/s  {link.messages} in all")
            lines.append(line)
        panel.text = Text("\n", no_wrap=True).join(lines)

    def draw_waves(self) -> None:
        """Redraw the bed's waves from their newest samples (the 10 Hz timer)."""
        if not self.ready:
            return
        ward = self.ward
        panel = self.waves
        bed = None if ward is None else ward.bed(self.bed_id)
        if ward is None or bed is None:
            return
        if not bed.waves:
            panel.text = Text("No waveform received from this bed's devices.", MISSING_STYLE)
            return
        if self.dashboard.traces is None:
            panel.text = Text("Waveforms are not available on this screen.", MISSING_STYLE)
            return
        width = max(8, panel.content_size.width)
        seconds = min(10.0, max(3.0, width * traces.DOTS_PER_CELL_X / WAVE_DOTS_PER_S))
        lines: list[Text] = []
        demo = is_demo(bed)
        for info in traces.detail_waves(bed.waves, DETAIL_WAVES):
            window = self.dashboard.traces.waveform(bed.bed, info.key, seconds, ward.time_ns)
            lines += wave_block(info, window, seconds, width, demo=demo)
        panel.text = Text("\n", no_wrap=True).join(lines)

    def draw_trends(self, ward: WardSnapshot, *, force: bool = False) -> None:
        """Redraw the trend graphs when the span, the width or the second changed."""
        panel = self.trends
        span = TREND_SPANS_S[self.span_index]
        keys = " · ".join(
            f"[{n}] {span_text(s)}" for n, s in enumerate(TREND_SPANS_S, 1) if s != span
        )
        panel.border_title = Content(f"Trends · last {span_text(span)}   {keys}")
        width = panel.content_size.width
        state = (self.bed_id, span, width, ward.time_ns // NS_PER_S)
        if not force and state == self._trends_drawn:
            return
        self._trends_drawn = state
        bed = ward.bed(self.bed_id)
        if bed is None:
            panel.text = Text()
            return
        if self.dashboard.traces is None:
            panel.text = Text("Trends are not available on this screen.", MISSING_STYLE)
            return
        panel.text = trend_text(self.dashboard, bed, ward.time_ns, span, max(width, 24))

    def action_back(self) -> None:
        from tui.ward_screen import WardScreen

        below = self.app.screen_stack[-2] if len(self.app.screen_stack) > 1 else None
        if isinstance(below, WardScreen):
            below.grid.selected = self.bed_id
        self.app.pop_screen()

    def action_other_bed(self, step: int) -> None:
        if self.ward is None or not self.ward.beds:
            return
        beds = [b.bed for b in self.ward.beds]
        index = beds.index(self.bed_id) if self.bed_id in beds else 0
        self.bed_id = beds[(index + step) % len(beds)]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("admit", "discharge"):
            return self.dashboard.beds is not None  # hidden, not dead, without a gateway
        return action != "acknowledge" or self.dashboard.alarms is not None

    def action_admit(self) -> None:
        """Admit to this bed — one with no device yet too (a monitor about to be plugged)."""
        bed = self.bed
        if bed is not None:
            self.ask_admission(bed.bed.key, bed.label)

    def action_discharge(self) -> None:
        bed = self.bed
        if bed is not None:
            self.ask_discharge(bed.bed.key, bed.label)

    def action_acknowledge(self) -> None:
        from tui.ward_screen import acknowledge

        acknowledge(self, self.bed_id)

    def action_trend_span(self, index: int) -> None:
        self.span_index = index

    def action_scroll(self, lines: int) -> None:
        self.body.scroll_relative(y=lines, animate=False)

    def action_page(self, pages: int) -> None:
        self.body.scroll_relative(y=pages * max(1, self.body.size.height - 2), animate=False)


class BedTitle(Widget):
    """The bed's name, patient, LIVE or NO DATA, and where it is in the ward."""

    line: reactive[Text] = reactive(Text)

    def render(self) -> Text:
        return self.line


def trend_text(
    dashboard: Dashboard, bed: BedSnapshot, now_ns: int, span_s: float, width: int
) -> Text:
    """Every trend graph of the bed over ``span_s``, one under the other, and a time axis."""
    assert dashboard.traces is not None
    chart_width = max(4, width - TREND_LABEL_WIDTH)
    columns = chart_width * traces.DOTS_PER_CELL_X
    blocks: list[Text] = []
    for group in TREND_GROUPS:
        codes = [_present(bed, choices) for choices in group.codes]
        if codes[0] is None:
            continue
        series = []
        for code in codes:
            if code is None:
                continue
            envelope = dashboard.traces.trend(bed.bed, code, span_s, columns, now_ns)
            if envelope is not None:
                series.append((envelope.low, envelope.high))
        blocks += _trend_block(group, series, chart_width)
    if not blocks:
        return Text("No trended values for this bed yet.", MISSING_STYLE)
    axis = Text(" " * TREND_LABEL_WIDTH + traces.time_axis(chart_width, span_s), "dim")
    return Text("\n", no_wrap=True).join([*blocks, axis])


def _present(bed: BedSnapshot, codes: Sequence[int]) -> int | None:
    reading = pick(bed, codes)
    return None if reading is None else reading.code


def _trend_block(
    group: TrendGroup,
    series: Sequence[tuple[np.ndarray, np.ndarray]],
    chart_width: int,
) -> list[Text]:
    scale = traces.chart_scale(series, group.floor, group.bounds) if series else None
    labels = [f"{group.label} {group.unit}", "", ""]
    lines = []
    if scale is None:
        rows = ["", "no values in this period", ""]
        style = MISSING_STYLE
    else:
        low, high = scale
        labels[0] = f"{group.label:<6}{_tick(high):>5}"
        labels[1] = f"{group.unit}"
        labels[2] = f"{_tick(low):>11}"
        rows = traces.chart_lines(series, chart_width, TREND_LINES, low, high)
        style = group.colour
    for label, row in zip(labels, rows, strict=True):
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"{label:<{TREND_LABEL_WIDTH - 1}} ", group.colour)
        line.append(row, style)
        lines.append(line)
    return lines


def _tick(value: float) -> str:
    known = mdc.format_value(value, 1 if abs(value) < 50 and value != int(value) else 0)
    return known

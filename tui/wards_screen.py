"""The wards screen, for a crisis unit watching several ICUs from one remote screen: every
gateway the broker carries, live or NO DATA (and why), and every bed of each with its
link and its worst alarm (:mod:`tui.wards`).

Keys: Esc (or o) back; ↑ ↓ move; Enter opens the bed under the cursor.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority, BedId
from gateway.ward.snapshot import WardSnapshot
from tui.alarm_lines import PRIORITY_STYLE, alarm_style, state_word
from tui.devices import link_style, link_word
from tui.view import Dashboard, WardView
from tui.vitals import MISSING_STYLE, NO_DATA_LOST_STYLE, format_age
from tui.wards import NO_DATA, BedLine, GatewayLine, gateway_name, summary, ward_lines
from tui.widgets import FaultBar, WardHeader, refill

COLUMNS = ("Ward", "Gateway / bed", "State", "Beds", "!!!", "!!", "!", "Worst alarm", "Age")

Row = tuple[str | Text, ...]


def _alarm_cells(line: GatewayLine | BedLine, now_ns: int) -> tuple[Text, str]:
    alarm = line.worst
    if alarm is None:
        return Text("-", MISSING_STYLE), ""
    word = state_word(alarm)
    where = f"{alarm.bed_label}: " if isinstance(line, GatewayLine) and alarm.bed_label else ""
    text = f"{alarm.marker} {where}{alarm.text}" + (f" {word}" if word else "")
    age = format_age(max(0.0, (now_ns - alarm.onset_ns) / NS_PER_S))
    return Text(text, alarm_style(alarm)), age


def gateway_row(line: GatewayLine, now_ns: int) -> Row:
    source = line.source
    # Short: the why is the gateway's NO DATA alarm, its worst, in the last columns (a
    # long cell here would widen the column for good and push the alarms off the screen).
    state = (
        Text(" live ", link_style("connected"))
        if source.dark is None
        else Text(f" {NO_DATA} ", NO_DATA_LOST_STYLE)
    )
    counts = line.beds_by_state
    beds = f"{len(line.beds)}" + "".join(
        f" {n} {link_word(word)}" for word, n in sorted(counts.items()) if word != "connected"
    )
    worst, age = _alarm_cells(line, now_ns)
    return (
        Text(f"{source.site}/{source.ward}", "bold"),
        Text(gateway_name(source), "bold"),
        state,
        beds,
        *(
            Text(str(line.counts[p]), PRIORITY_STYLE[p] if line.counts[p] else MISSING_STYLE)
            for p in (AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW)
        ),
        worst,
        age,
    )


def bed_row(bed: BedLine, now_ns: int) -> Row:
    style = NO_DATA_LOST_STYLE if bed.state == NO_DATA else link_style(bed.state)
    worst, age = _alarm_cells(bed, now_ns)
    more = f" +{bed.alarms - 1}" if bed.alarms > 1 else ""
    worst.append(more, "bold")
    shown = Text(f" {link_word(bed.state)} ", style)
    return ("", f"  {bed.label}", shown, "", "", "", "", worst, age)


class WardsScreen(WardView):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="Back to the ward"),
        Binding("o", "back", "Back to ward", show=False),
        Binding("enter", "open_bed", "Open bed", show=False),
    ]

    DEFAULT_CSS = """
    WardsScreen {
        #wards-summary { height: 1; padding: 0 1; }
        #wards-table { height: 1fr; }
    }
    """

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__(dashboard)
        self._beds: list[BedId | None] = []
        self._shown: list[Row] = []
        self.summary = Static(id="wards-summary")
        self.table: DataTable[str | Text] = DataTable(
            id="wards-table", cursor_type="row", zebra_stripes=False
        )

    def compose(self) -> ComposeResult:
        yield WardHeader(self.dashboard.title, self.dashboard.markers).data_bind(WardView.ward)
        yield self.summary
        yield self.table
        yield FaultBar().data_bind(WardView.ward)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.table.focus()
        super().on_mount()

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if ward is None or not self.ready:
            return
        lines = ward_lines(ward)
        self.summary.update(
            Text(summary(lines), "bold", no_wrap=True, overflow="ellipsis")
            if lines
            else Text("No gateway heard yet on this broker.", MISSING_STYLE)
        )
        now = ward.alarms.time_ns if ward.alarms is not None else ward.time_ns
        rows: list[Row] = []
        beds: list[BedId | None] = []
        for line in lines:
            rows.append(gateway_row(line, now))
            beds.append(None)
            for bed in line.beds:
                rows.append(bed_row(bed, now))
                beds.append(bed.bed)
        if rows != self._shown:
            self._fill(rows)
        self._beds = beds

    def _fill(self, rows: list[Row]) -> None:
        refill(self.table, rows)
        self._shown = rows

    def action_open_bed(self) -> None:
        row = self.table.cursor_row
        if row >= len(self._beds):
            return
        bed = self._beds[row]
        if bed is None:
            self.notify("A gateway's row: choose one of its beds to open.")
            return
        from tui.bed_screen import BedScreen

        self.app.push_screen(BedScreen(self.dashboard, bed))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_bed()

    def action_back(self) -> None:
        self.app.pop_screen()

"""The devices screen, for biomedical engineers: every sender, how it is doing, and how to
bind the ones no bed claims.

A table of every device (bound, unassigned, or only ever rejected) with its transport,
peer, bed, link, last message, message rate, rejected messages and last error (a value no
patient can have shows there as ``value out of range (count): …``); under it,
each unassigned sender with the fields that identify it and a ``[[beds]]`` snippet to paste
into the configuration (``c`` copies them all to the clipboard, through the terminal).

Keys: Esc (or d) back; ↑ ↓ move in the table; Enter opens the bed of the device under the
cursor; c copies the snippets. With a gateway behind the screen (:class:`tui.view.BedDesk`):
b binds the device under the cursor to a bed (a new one, suggested as its snippet is, or an
existing one), r renames the bed of the device under the cursor, R reloads the beds of the
configuration file and the bindings overlay; a admits a patient to the bed of the device
under the cursor (id, family and given name), D discharges them (after a confirmation).
Each asks who makes the change; the change is effective at once (no connection dropped),
kept across a restart and journaled.

An admission names the bed's patient while its devices send no patient id. What a device
sends in PID wins: it is the monitor's own admission. A device that sends another id than
the one admitted is never mixed with it: its id is shown, and the mismatch is a fault and
a count in the summary line here (``patient id mismatch``), until one of them is changed.
"""

from __future__ import annotations

import logging
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Static

from gateway.domain import BedId
from gateway.errors import BindingRefused
from gateway.ward.snapshot import WardSnapshot
from gateway.wording import plural
from tui.bed_desk import BedChanges
from tui.binding_screen import (
    BindRequest,
    BindScreen,
    RenameRequest,
    RenameScreen,
)
from tui.devices import (
    DeviceRow,
    bed_snippet,
    device_rows,
    identify,
    link_style,
    link_word,
    suggested_bed_id,
    suggested_id,
)
from tui.view import Dashboard, WardView
from tui.vitals import MISSING_STYLE
from tui.widgets import FaultBar, WardHeader, refill

log = logging.getLogger(__name__)

COLUMNS = (
    "Device",
    "Name",
    "Bed",
    "Link",
    "Connection",
    "Last msg",
    "Msg/s",
    "Msgs",
    "Rejected",
    "Transport",
    "Peer",
    "Last error",
)


def row_cells(row: DeviceRow) -> tuple[str | Text, ...]:
    rejected = Text(str(row.rejected), "bold white on red3" if row.rejected else "")
    error = Text(row.last_error or "-", "bold" if row.last_error else MISSING_STYLE)
    return (
        row.device,
        row.label or "-",
        row.bed,
        Text(f" {link_word(row.link)} ", link_style(row.link)),
        Text(row.connection or "-", "bold" if row.connection == "closed" else MISSING_STYLE),
        row.last_message,
        row.rate,
        str(row.messages),
        rejected,
        row.transport,
        row.peer,
        error,
    )


class DevicesScreen(BedChanges):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back", tooltip="Back to the ward"),
        Binding("d", "back", "Back to ward", show=False),
        Binding("enter", "open_bed", "Device's bed", show=False),
        # Short words, and D and R only under ?: the key line fits 80 columns with ? and q.
        Binding(
            "c", "copy_snippets", "Copy", tooltip="Copy the unassigned devices' [[beds]] snippets"
        ),
        Binding("b", "bind", "Bind", tooltip="Bind the device under the cursor to a bed"),
        Binding("r", "rename", "Rename", tooltip="Rename the bed of the device under the cursor"),
        Binding(
            "a", "admit", "Admit", tooltip="Admit a patient to the bed of the device under cursor"
        ),
        Binding(
            "D",
            "discharge",
            "Discharge",
            tooltip="Discharge the patient admitted to that bed",
            show=False,
        ),
        Binding(
            "R",
            "reload",
            "Reload",
            tooltip="Reload the beds, admissions and alarm limits of the configuration",
            show=False,
        ),
    ]

    DEFAULT_CSS = """
    DevicesScreen {
        #devices-summary { height: 1; padding: 0 1; }
        #device-table { height: auto; max-height: 55%; }
        #unassigned { height: 1fr; border-top: solid $foreground 30%; padding: 0 1; }
        .snippet { background: $boost; padding: 0 1; margin: 0 0 1 2; width: auto; }
    }
    """

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__(dashboard)
        self._rows: list[DeviceRow] = []
        self._unassigned_shown: tuple[str, ...] | None = None
        # Held, not queried: a snapshot may land while the screen is being taken down.
        self.summary = Static(id="devices-summary")
        self.table: DataTable[str | Text] = DataTable(
            id="device-table", cursor_type="row", zebra_stripes=True
        )
        self.unassigned = VerticalScroll(id="unassigned")
        self._binding: tuple[str, str | None] = ("", None)
        self._renaming = ""
        """The bed (key, label) the admission or discharge dialog is about."""

    def compose(self) -> ComposeResult:
        yield WardHeader(self.dashboard.title, self.dashboard.markers).data_bind(WardView.ward)
        yield self.summary
        yield self.table
        yield self.unassigned
        yield FaultBar().data_bind(WardView.ward)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.table.add_columns(*COLUMNS)
        self.table.focus()
        super().on_mount()

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if ward is None or not self.ready:
            return
        rows = device_rows(ward)
        bound = sum(1 for row in rows if row.bed_key)
        summary = Text(no_wrap=True, overflow="ellipsis")
        summary.append(f"{plural(bound, 'device')} on {plural(len(ward.beds), 'bed')}", "bold")
        summary.append(f" · {len(ward.unassigned)} unassigned", "bold" if ward.unassigned else "")
        refused = sum(r.rejected for r in ward.rejects)
        summary.append(f" · {plural(refused, 'message')} rejected", "bold" if refused else "")
        impossible = sum(v.count for v in ward.rejected_values)
        if impossible:
            summary.append(f" · {plural(impossible, 'value')} out of range (***)", "bold")
        mismatched = sum(1 for bed in ward.beds if bed.patient_mismatch)
        if mismatched:
            summary.append(f" · {plural(mismatched, 'patient id mismatch')}", "bold white on red3")
        self.summary.update(summary)
        if rows != self._rows:
            self._fill_table(rows)
        self._show_unassigned(ward)

    def _fill_table(self, rows: list[DeviceRow]) -> None:
        refill(self.table, [row_cells(row) for row in rows])
        self._rows = rows

    def _show_unassigned(self, ward: WardSnapshot) -> None:
        box = self.unassigned
        taken = {bed.bed.key for bed in ward.beds}
        blocks: list[tuple[str, str]] = []
        for stray in ward.unassigned:
            fields = "   ".join(f"{name}: {value}" for name, value in identify(stray, ward.time_ns))
            blocks.append((fields, bed_snippet(stray, taken)))
            taken.add(bed_snippet(stray, taken).split('"')[1])
        shown = tuple(fields + snippet for fields, snippet in blocks)
        if shown == self._unassigned_shown:
            return
        self._unassigned_shown = shown
        box.remove_children()
        if not blocks:
            box.mount(
                Static(Text("No unassigned device: every sender belongs to a bed.", MISSING_STYLE))
            )
            return
        widgets: list[Static] = [
            Static(
                Text(
                    "Unassigned devices — their data is kept, but no bed shows it. To bind one, "
                    + (
                        "paste its [[beds]] snippet into the configuration file (c copies them "
                        "all) and restart the gateway."
                        if self.dashboard.beds is None
                        else "press b on its row (at once, no restart), or paste its [[beds]] "
                        "snippet into the configuration file (c copies them all) and reload (R)."
                    ),
                    "bold",
                )
            )
        ]
        for fields, snippet in blocks:
            widgets.append(Static(Text(fields)))
            widgets.append(Static(Text(snippet.rstrip("\n")), classes="snippet"))
        box.mount(*widgets)

    def snippets(self) -> str:
        """Every unassigned device's snippet, one after the other, as pasted into a file."""
        if self.ward is None:
            return ""
        taken = {bed.bed.key for bed in self.ward.beds}
        texts = []
        for stray in self.ward.unassigned:
            snippet = bed_snippet(stray, taken)
            taken.add(snippet.split('"')[1])
            texts.append(snippet)
        return "\n".join(texts)

    def action_copy_snippets(self) -> None:
        text = self.snippets()
        if not text:
            self.notify("No unassigned device: nothing to copy.")
            return
        self.app.copy_to_clipboard(text)
        log.info("[[beds]] snippets for the unassigned devices:\n%s", text)
        self.notify("Copied to the clipboard (if the terminal allows it) and written to the log.")

    def action_open_bed(self) -> None:
        table = self.table
        if not self._rows or table.cursor_row >= len(self._rows):
            return
        row = self._rows[table.cursor_row]
        if not row.bed_key:
            self.notify("This device is not bound to a bed.")
            return
        from tui.bed_screen import BedScreen

        self.app.push_screen(BedScreen(self.dashboard, BedId(row.bed_key)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open_bed()

    def action_back(self) -> None:
        self.app.pop_screen()

    # ------------------------------------------------------------------ changing beds

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("bind", "rename", "reload", "admit", "discharge"):
            return self.dashboard.beds is not None  # hidden, not dead, without a gateway
        return True

    def _row(self) -> DeviceRow | None:
        table = self.table
        if not self._rows or table.cursor_row >= len(self._rows):
            return None
        return self._rows[table.cursor_row]

    def action_bind(self) -> None:
        desk, row, ward = self.dashboard.beds, self._row(), self.ward
        if desk is None or ward is None:
            return
        if row is None or row.link == "rejected" or row.device == "?":
            self.notify("No device to bind here (only a device that sent data can be bound).")
            return
        configured = desk.bed_ids
        stray = next((s for s in ward.unassigned if s.device.key == row.device), None)
        taken = {bed.bed.key for bed in ward.beds} | set(configured)
        if stray is not None:
            bed_id = suggested_bed_id(stray, taken)
            label = stray.location.label if stray.location is not None else row.label
            location = stray.location.raw if stray.location is not None else None
        else:
            bed_id = suggested_id(row.bed, taken)
            label = row.bed
            # An automatic bed of a location (its id is the location): bound with it.
            location = (
                None if row.bed_key in configured or row.bed_key == row.device else row.bed_key
            )
        self._binding = (row.device, location)
        screen = BindScreen(row.device, bed_id, label.strip() or bed_id, self._operator, configured)
        self.app.push_screen(screen, callback=self._bind)

    def _bind(self, answer: object) -> None:
        desk = self.dashboard.beds
        if not isinstance(answer, BindRequest) or desk is None:
            return
        device, location = self._binding
        label = answer.label or None
        self.run_change(desk.bind_device(device, answer.bed_id, label, answer.operator, location))

    def action_rename(self) -> None:
        desk, row = self.dashboard.beds, self._row()
        if desk is None:
            return
        if row is None or not row.bed_key:
            self.notify("This device is not on a bed: bind it first (b).")
            return
        if row.bed_key not in desk.bed_ids:
            self.notify(
                f"{row.bed} is an automatic bed: bind its device (b) to give it a name.",
                severity="warning",
            )
            return
        self._renaming = row.bed_key
        screen = RenameScreen(row.bed_key, desk.bed_ids[row.bed_key], self._operator)
        self.app.push_screen(screen, callback=self._rename)

    def _rename(self, answer: object) -> None:
        desk = self.dashboard.beds
        if not isinstance(answer, RenameRequest) or desk is None:
            return
        self.run_change(desk.rename_bed(self._renaming, answer.label, answer.operator))

    def _bed_of_row(self) -> tuple[str, str] | None:
        """The bed (key, label) of the device under the cursor; None (said) when none."""
        row = self._row()
        if row is None or not row.bed_key:
            self.notify("This device is not on a bed: bind it first (b).")
            return None
        return row.bed_key, row.bed

    def action_admit(self) -> None:
        if self.dashboard.beds is not None and (bed := self._bed_of_row()) is not None:
            self.ask_admission(*bed)

    def action_discharge(self) -> None:
        if self.dashboard.beds is not None and (bed := self._bed_of_row()) is not None:
            self.ask_discharge(*bed)

    def action_reload(self) -> None:
        desk = self.dashboard.beds
        if desk is None:
            return

        async def reload() -> str:
            assert desk is not None
            ok = await desk.reload(self._operator or "unknown")
            if not ok:
                raise BindingRefused(
                    "reload failed: the running configuration stays (see the faults)"
                )
            return (
                "Configuration reloaded: beds, bed labels, admissions and alarm limits"
                " (other settings need a restart)."
            )

        self.run_change(reload())

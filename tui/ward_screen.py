"""The ward overview: every bed as a tile, one selected; Enter (or a click) opens it.

Keys: arrows or hjkl move the selection, PageUp/PageDown a screenful, Home/End the first
and last bed, Enter the bed screen, ``a`` acknowledges the selected bed's alarms and ``w``
the ward-wide ones (recording failure, unassigned devices). The grid chooses full or
compact tiles from its room (:func:`tui.widgets.grid_layout`) and scrolls past what fits;
the alarm bar under it lists every alarm, beds scrolled out of view included.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer

from gateway.domain import BedId
from gateway.ward.snapshot import WardSnapshot
from tui.view import Dashboard, WardView
from tui.widgets import AlarmBar, BedGrid, BedTile, FaultBar, WardHeader


class WardScreen(WardView):
    BINDINGS: ClassVar[list[BindingType]] = [
        # The bottom line must fit 80 columns with every alarm key in it: short words
        # there, the full ones (tooltips) and every key in the help screen (?).
        Binding("up", "move(0, -1)", "Move", key_display="↑↓←→", tooltip="Move up"),
        Binding("down", "move(0, 1)", "Move down", show=False),
        Binding("left", "move(-1, 0)", "Move left", show=False),
        Binding("right", "move(1, 0)", "Move right", show=False),
        Binding("k", "move(0, -1)", "Move up", show=False),
        Binding("j", "move(0, 1)", "Move down", show=False),
        Binding("h", "move(-1, 0)", "Move left", show=False),
        Binding("l", "move(1, 0)", "Move right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First bed", show=False),
        Binding("end", "last", "Last bed", show=False),
        Binding("enter", "open_bed", "Bed", tooltip="Open the selected bed"),
        Binding("a", "acknowledge", "Ack", tooltip="Acknowledge the selected bed's alarms"),
        Binding("w", "acknowledge_ward", "Ack ward", tooltip="Acknowledge the ward-wide alarms"),
    ]

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__(dashboard)
        self.grid = BedGrid(fixed_columns=dashboard.columns, read_wave=dashboard.read_wave)
        self.alarm_bar = AlarmBar()
        self.header = WardHeader(dashboard.title, dashboard.markers)

    def compose(self) -> ComposeResult:
        yield self.header.data_bind(WardView.ward)
        yield self.grid.data_bind(WardView.ward)
        yield self.alarm_bar.data_bind(WardView.ward)
        yield FaultBar().data_bind(WardView.ward)
        yield Footer(compact=True)

    def show_alarms(self, ward: WardSnapshot) -> None:
        if self.ready:
            self.grid.show_alarms(ward)
            self.alarm_bar.ward = ward
            self.header.ward = ward

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        acts = action in ("acknowledge", "acknowledge_ward")
        return not acts or self.dashboard.alarms is not None

    def action_acknowledge(self) -> None:
        selected = self.grid.selected
        if selected is not None:
            acknowledge(self, selected)

    def action_acknowledge_ward(self) -> None:
        acknowledge(self, None)

    def action_move(self, dx: int, dy: int) -> None:
        self.grid.move(dx, dy)

    def action_page(self, pages: int) -> None:
        self.grid.move(0, pages * self.grid.rows_in_view)

    def action_first(self) -> None:
        self.grid.select_index(0)

    def action_last(self) -> None:
        self.grid.select_index(len(self.grid.tiles) - 1)

    def action_open_bed(self) -> None:
        selected = self.grid.selected
        if selected is not None:
            from tui.bed_screen import BedScreen

            self.app.push_screen(BedScreen(self.dashboard, selected))

    def on_bed_tile_chosen(self, message: BedTile.Chosen) -> None:
        self.grid.selected = message.bed_id
        self.action_open_bed()


def acknowledge(view: WardView, bed: BedId | None) -> None:
    """Acknowledge a bed's alarms (None: the ward-wide ones) and show the result now."""
    desk = view.dashboard.alarms
    if desk is None:
        return
    if desk.remote:
        _ask_gateway(view, bed)
        return
    touched = desk.acknowledge(bed)
    pull = getattr(view.app, "pull_snapshot", None)
    if pull is not None:
        pull()
    where = "the ward-wide alarms" if bed is None else _label(view, bed)
    if touched:
        view.notify(f"Acknowledged {touched} alarm{'s' if touched > 1 else ''}: {where}", timeout=2)
    else:
        view.notify(f"No alarm to acknowledge: {where}", timeout=2)


def _ask_gateway(view: WardView, bed: BedId | None) -> None:
    """A remote screen: who asks must be known (the gateway journals the name), then the
    request goes out; the alarms read ``ack`` when the gateway says so, not before."""
    desk = view.dashboard.alarms
    assert desk is not None
    if not getattr(view.app, "operator", ""):
        from tui.alarms_screen import OperatorScreen

        def signed(name: str | None) -> None:
            if name and name.strip():
                desk.sign_in(name)
                view.app.operator = name.strip()  # type: ignore[attr-defined]
                _ask_gateway(view, bed)
            else:
                view.notify("Not sent: a remote acknowledgement needs your name.", timeout=3)

        view.app.push_screen(OperatorScreen(), callback=signed)
        return
    where = "the ward-wide alarms" if bed is None else _label(view, bed)
    named = desk.acknowledge(bed)
    if named:
        view.notify(
            f"Asked the gateway to acknowledge {named} alarm{'s' if named > 1 else ''}: {where}"
            " (shown as ack once it confirms)",
            timeout=3,
        )
    else:
        view.notify(f"No alarm this screen can acknowledge: {where} (or its gateway is dark)")


def _label(view: WardView, bed: BedId) -> str:
    found = None if view.ward is None else view.ward.bed(bed)
    return bed.key if found is None else found.label

"""The ward's alarm history (``A``) and the question asked once at start: who is at the screen.

The history lists every alarm transition the engine keeps — raised, escalated, ended,
latched, acknowledged, audio paused — newest first, each with its time, bed, priority
marker and the operator, as the journal stores them. The operator's name is asked once when
the dashboard starts (Enter alone: ``unknown``); every transition from then on carries it.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static

from gateway.ward.snapshot import WardSnapshot
from tui.alarm_lines import history_line
from tui.view import Dashboard, WardView
from tui.vitals import MISSING_STYLE
from tui.widgets import AlarmBar, FaultBar, WardHeader

HISTORY_LINES = 500
"""Most transitions listed (the journal keeps them all)."""
NO_DESK = "Alarms cannot be acknowledged or listed on this screen (no alarm engine here)."


class AlarmHistoryScreen(WardView):
    """Every alarm transition of the ward, newest first."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("A", "back", "Back", show=False),
        Binding("up", "scroll(-1)", "Scroll", key_display="↑↓ PgUp PgDn", tooltip="Scroll up"),
        Binding("down", "scroll(1)", "Scroll down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
    ]

    DEFAULT_CSS = """
    AlarmHistoryScreen {
        #history-title { height: 1; text-style: bold; }
        #history { height: 1fr; scrollbar-size-vertical: 1; }
        #history-text { text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__(dashboard)
        self.text = Static(id="history-text")
        self.scroller = VerticalScroll(self.text, id="history", can_focus=False)
        self._drawn: tuple[object, ...] = ()

    def compose(self) -> ComposeResult:
        yield WardHeader(self.dashboard.title, self.dashboard.markers).data_bind(WardView.ward)
        yield Static(" Alarm history of the ward · newest first", id="history-title")
        yield self.scroller
        yield AlarmBar().data_bind(WardView.ward)
        yield FaultBar().data_bind(WardView.ward)
        yield Footer(compact=True)

    def watch_ward(self, ward: WardSnapshot | None) -> None:
        if not self.ready:
            return
        desk = self.dashboard.alarms
        if desk is None:
            self.text.update(Text(NO_DESK, MISSING_STYLE))
            return
        history = desk.history(ward=True)[:HISTORY_LINES]
        key = (len(history), history[0] if history else None)
        if key == self._drawn:
            return
        self._drawn = key
        if not history:
            self.text.update(Text("No alarm transition yet.", MISSING_STYLE))
            return
        lines = [history_line(t, with_bed=True) for t in history]
        self.text.update(Text("\n", no_wrap=True).join(lines))

    @property
    def shown(self) -> str:
        """The history as on screen (plain text)."""
        return str(self.text.render())

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_scroll(self, lines: int) -> None:
        self.scroller.scroll_relative(y=lines, animate=False)

    def action_page(self, pages: int) -> None:
        self.scroller.scroll_relative(
            y=pages * max(1, self.scroller.size.height - 2), animate=False
        )


class OperatorScreen(ModalScreen[str]):
    """Asked once when the dashboard starts: the name every alarm transition will carry."""

    DEFAULT_CSS = """
    OperatorScreen {
        align: center middle;
        #operator {
            width: 60;
            max-width: 100%;
            height: auto;
            border: round $accent;
            border-title-style: bold;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="operator") as box:
            box.border_title = "Who is at this screen?"
            yield Static(
                "Your name is written with every alarm you acknowledge or pause, in the"
                " journal. Enter alone: unknown."
            )
            yield Input(placeholder="name (Enter: unknown)", id="operator-name")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip())

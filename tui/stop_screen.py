"""Stopping monitoring is deliberate: ``q`` asks, and asks who.

On a live ward (the app has an alarm desk) one stray ``q`` or ``ctrl+c`` must not end the
monitoring of every bed. :class:`StopScreen` says what stopping means and takes the name of
whoever stops it (written to the journal as the operator, and logged); Enter with a name
stops, Esc keeps monitoring. Without a desk (a replay, tests) the app quits at once.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class StopScreen(ModalScreen[str | None]):
    """Dismissed with the name of who stops monitoring, or None to keep monitoring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "keep", "Keep monitoring"),
        Binding("ctrl+c", "keep", "Keep monitoring", show=False),
    ]

    DEFAULT_CSS = """
    StopScreen {
        align: center middle;
        #stop {
            width: 64;
            max-width: 100%;
            height: auto;
            border: heavy $error;
            border-title-style: bold;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def __init__(self, operator: str = "") -> None:
        super().__init__()
        self.operator = operator

    def compose(self) -> ComposeResult:
        with Vertical(id="stop") as box:
            box.border_title = "Stop monitoring the whole ward?"
            yield Static(
                "Every bed stops being received, recorded and alarmed here. Type your name"
                " and press Enter to stop. Esc: keep monitoring.",
                id="stop-text",
            )
            yield Input(value=self.operator, placeholder="your name", id="stop-name")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        name = event.value.strip()
        if not name:
            self.query_one("#stop-text", Static).update(
                "A name is needed to stop monitoring. Esc: keep monitoring."
            )
            return
        self.dismiss(name)

    def action_keep(self) -> None:
        self.dismiss(None)

"""The small dialogs of the devices screen that change the ward's beds: bind a device to a
bed (``b``), rename a bed (``r``).

Each asks what the change is and who makes it — the name of the operator signed in at the
start, which can be corrected — and returns it; Esc cancels. They change nothing
themselves: the devices screen hands the answer to the gateway (:class:`tui.view.BedDesk`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

MAX_BEDS_LISTED = 12


@dataclass(frozen=True, slots=True)
class BindRequest:
    bed_id: str
    label: str
    operator: str


@dataclass(frozen=True, slots=True)
class RenameRequest:
    label: str
    operator: str


class BedDialog(ModalScreen[object]):
    """Inputs one under the other; Enter moves to the next, and on the last one confirms."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    BedDialog {
        align: center middle;
        #dialog {
            width: 72;
            max-width: 100%;
            height: auto;
            border: round $accent;
            border-title-style: bold;
            background: $surface;
            padding: 0 1;
        }
        .hint { color: $text-muted; }
    }
    """

    def inputs(self) -> list[Input]:
        return list(self.query(Input))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        fields = self.inputs()
        index = fields.index(event.input)
        if index + 1 < len(fields):
            fields[index + 1].focus()
            return
        answer = self.answer()
        if answer is not None:
            self.dismiss(answer)

    def answer(self) -> object | None:
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class BindScreen(BedDialog):
    """Bind ``device`` to a bed: a new one (the suggested id and label), or one of
    ``beds`` (id → label) by typing its id."""

    def __init__(
        self, device: str, bed_id: str, label: str, operator: str, beds: dict[str, str]
    ) -> None:
        super().__init__()
        self.device = device
        self.suggested = (bed_id, label)
        self.operator = operator
        self.beds = beds

    def compose(self) -> ComposeResult:
        bed_id, label = self.suggested
        listed = ", ".join(
            f"{key} ({name})" for key, name in list(self.beds.items())[:MAX_BEDS_LISTED]
        )
        with Vertical(id="dialog") as box:
            box.border_title = f"Bind {self.device} to a bed"
            yield Static(
                "Its values go to the bed from its next message; its connection is kept."
                " Kept across a restart (the bindings overlay) and journaled with your name."
            )
            yield Static(
                f"Existing beds (type the id to bind to one; it keeps its label): {listed}"
                if listed
                else "No configured bed yet: a new one is made.",
                classes="hint",
            )
            yield Input(bed_id, placeholder="bed id", id="bind-bed")
            yield Input(label, placeholder="label of a new bed", id="bind-label")
            yield Input(self.operator, placeholder="your name", id="bind-operator")

    def on_mount(self) -> None:
        self.query_one("#bind-bed", Input).focus()

    def answer(self) -> BindRequest | None:
        bed_id = self.query_one("#bind-bed", Input).value.strip()
        if not bed_id:
            self.notify("A bed id is needed.", severity="warning")
            self.query_one("#bind-bed", Input).focus()
            return None
        return BindRequest(
            bed_id,
            self.query_one("#bind-label", Input).value.strip(),
            self.query_one("#bind-operator", Input).value.strip(),
        )


class RenameScreen(BedDialog):
    """A new label for bed ``bed_id`` (labelled ``label`` now)."""

    def __init__(self, bed_id: str, label: str, operator: str) -> None:
        super().__init__()
        self.bed_id = bed_id
        self.label = label
        self.operator = operator

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = f"Rename bed {self.bed_id} ({self.label})"
            yield Static(
                "Shown at once; kept across a restart (the bindings overlay) and journaled"
                " with your name.",
            )
            yield Input(self.label, placeholder="label", id="rename-label")
            yield Input(self.operator, placeholder="your name", id="rename-operator")

    def on_mount(self) -> None:
        self.query_one("#rename-label", Input).focus()

    def answer(self) -> RenameRequest | None:
        label = self.query_one("#rename-label", Input).value.strip()
        if not label:
            self.notify("A label is needed.", severity="warning")
            return None
        return RenameRequest(label, self.query_one("#rename-operator", Input).value.strip())

"""The small dialogs of the devices screen that change the ward's beds: bind a device to a
bed (``b``), rename a bed (``r``), admit a patient to a bed (``a``) and discharge them
(``D``).

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


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    patient_id: str
    patient_name: str
    """"Family, Given" (the family name alone when no given name was typed; may be empty)."""
    operator: str


@dataclass(frozen=True, slots=True)
class DischargeRequest:
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


def patient_name(family: str, given: str) -> str:
    """ "Family, Given", as HL7 PID-5 reads and the tiles show it."""
    family, given = " ".join(family.split()), " ".join(given.split())
    return f"{family}, {given}" if family and given else family or given


class AdmitScreen(BedDialog):
    """A patient for bed ``bed_label``: id, family and given name; ``current`` (id, name)
    is the patient admitted there at the gateway now, if any."""

    def __init__(
        self, bed_label: str, current: tuple[str, str] | None, sent_id: str, operator: str
    ) -> None:
        super().__init__()
        self.bed_label = bed_label
        self.current = current
        self.sent_id = sent_id
        self.operator = operator

    def compose(self) -> ComposeResult:
        patient_id, name = self.current or ("", "")
        family, _, given = name.partition(",")
        with Vertical(id="dialog") as box:
            box.border_title = f"Admit a patient to {self.bed_label}"
            yield Static(
                "Shown on the bed at once while its devices send no patient id; a device that"
                " sends one is shown instead (a different id is said as a mismatch). Kept"
                " across a restart (the bindings overlay) and journaled with your name."
            )
            if self.sent_id:
                yield Static(
                    f"A device of this bed sends patient id {self.sent_id}.", classes="hint"
                )
            yield Input(patient_id, placeholder="patient id", id="admit-id")
            yield Input(family.strip(), placeholder="family name", id="admit-family")
            yield Input(given.strip(), placeholder="given name", id="admit-given")
            yield Input(self.operator, placeholder="your name", id="admit-operator")

    def on_mount(self) -> None:
        self.query_one("#admit-id", Input).focus()

    def answer(self) -> AdmitRequest | None:
        patient_id = self.query_one("#admit-id", Input).value.strip()
        if not patient_id:
            self.notify("A patient id is needed.", severity="warning")
            self.query_one("#admit-id", Input).focus()
            return None
        return AdmitRequest(
            patient_id,
            patient_name(
                self.query_one("#admit-family", Input).value,
                self.query_one("#admit-given", Input).value,
            ),
            self.query_one("#admit-operator", Input).value.strip(),
        )


class DischargeScreen(BedDialog):
    """Confirm that the patient ``who`` admitted at the gateway leaves bed ``bed_label``."""

    def __init__(self, bed_label: str, who: str, operator: str) -> None:
        super().__init__()
        self.bed_label = bed_label
        self.who = who
        self.operator = operator

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as box:
            box.border_title = f"Discharge {self.who} from {self.bed_label}?"
            yield Static(
                "Enter discharges (journaled with your name); Esc keeps the patient. What the"
                " bed's devices send, if anything, is shown after."
            )
            yield Input(self.operator, placeholder="your name", id="discharge-operator")

    def on_mount(self) -> None:
        self.query_one("#discharge-operator", Input).focus()

    def answer(self) -> DischargeRequest:
        return DischargeRequest(self.query_one("#discharge-operator", Input).value.strip())

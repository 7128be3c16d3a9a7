"""The help screen (``?``): every key of every screen, read from the bindings themselves,
so the list cannot drift from what the keys do."""

from __future__ import annotations

from collections.abc import Sequence, Set
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEY_NAMES = {
    "up": "↑",
    "down": "↓",
    "left": "←",
    "right": "→",
    "enter": "Enter",
    "escape": "Esc",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "question_mark": "?",
    "ctrl+c": "Ctrl+C",
}

MOUSE_HELP = (
    "Mouse: click a bed to open it; the wheel scrolls; click a key in the bottom line to press it."
)


def key_name(key: str) -> str:
    return KEY_NAMES.get(key, key)


def bindings_of(owner: type) -> list[Binding]:
    raw: Sequence[BindingType] = getattr(owner, "BINDINGS", [])
    out = []
    for item in raw:
        if isinstance(item, Binding):
            out.append(item)
        else:
            out.append(Binding(*item))
    return out


def help_text(sections: Sequence[tuple[str, type]], hidden: Set[str] = frozenset()) -> Text:
    """One block per screen: each action once, with every key that does it; ``hidden``
    actions (off on this screen: no alarm engine, not a remote screen) are left out."""
    text = Text()
    for title, owner in sections:
        text.append(f"{title}\n", "bold underline")
        actions: dict[str, tuple[list[str], str]] = {}
        for binding in bindings_of(owner):
            if binding.action in hidden:
                continue
            for key in binding.key.split(","):
                keys, description = actions.setdefault(
                    binding.action, ([], binding.tooltip or binding.description or binding.action)
                )
                keys.append(key_name(key.strip()))
        for keys, description in actions.values():
            text.append(f"  {' '.join(keys):<16}", "bold")
            text.append(f"{description}\n")
        text.append("\n")
    text.append(MOUSE_HELP, "dim")
    return text


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close help"),
        Binding("question_mark", "close", "Close help", key_display="?"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        #help {
            width: 76;
            max-width: 100%;
            height: auto;
            max-height: 100%;
            border: round $accent;
            border-title-style: bold;
            background: $surface;
            padding: 0 1;
        }
    }
    """

    def __init__(
        self, sections: Sequence[tuple[str, type]], hidden: Set[str] = frozenset()
    ) -> None:
        super().__init__()
        self._sections = tuple(sections)
        self._hidden = frozenset(hidden)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help") as box:
            box.border_title = "Keys (Esc or ? closes)"
            yield Static(help_text(self._sections, self._hidden))

    def action_close(self) -> None:
        self.dismiss()

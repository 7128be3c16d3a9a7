"""Repeated faults, counted and summarised, so a storm of them cannot flood the log or screen.

The first fault of a kind is shown and logged at once; the same kind again within the window
(60 s) is only counted, and when the window ends one line says ``… repeated N times in 60 s``.
A kind is its source's address without the port (a monitor that reconnects comes from a new
port each time) and either the fault's text or, where the text varies from one event to the
next (a message's control id), a kind its reporter names. A storm that goes on gives one
summary per window; one that stops gives its last summary when its window ends, or when the
gateway stops (:meth:`FaultSummary.due` with ``everything``).

This module only decides what to say when; it never drops a fault uncounted, and it neither
logs nor shows anything itself (the hub does both).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gateway.ward.routing import peer_host

WINDOW_S = 60.0
MAX_KINDS = 4096
"""Kinds watched at once; past it the oldest window is closed early (its summary said)."""


@dataclass(slots=True)
class _Window:
    source: str
    text: str
    """The first fault's source and text: what the summary repeats."""
    started_s: float
    repeats: int = 0
    last_text: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    """What to show and log for a kind whose window ended with repeats."""

    source: str
    text: str


def kind_of(source: str, text: str, kind: str | None) -> tuple[str, str]:
    """``("mllp 10.0.0.5", kind or text)`` for a fault from ``mllp 10.0.0.5:4001``."""
    transport, _, peer = source.partition(" ")
    where = f"{transport} {peer_host(peer)}" if peer else source
    return where, text if kind is None else kind


class FaultSummary:
    """Which faults to show now, and the summaries of those only counted."""

    def __init__(self, window_s: float = WINDOW_S, max_kinds: int = MAX_KINDS) -> None:
        self.window_s = window_s
        self.max_kinds = max_kinds
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        """Open windows, oldest first (so :meth:`due` looks at the front only)."""

    def note(self, source: str, text: str, now_s: float, kind: str | None = None) -> bool:
        """Count one fault; True when it is the first of its kind in the window (show and
        log it now), False when it is a repeat (counted for the summary)."""
        key = kind_of(source, text, kind)
        window = self._windows.get(key)
        if window is not None:
            window.repeats += 1
            window.last_text = text
            return False
        self._windows[key] = _Window(source, text, now_s)
        return True

    def due(self, now_s: float, *, everything: bool = False) -> list[Summary]:
        """Summaries of the windows that ended by ``now_s`` (all of them: ``everything``).

        A window that ended with repeats starts the next one at once, so a storm that goes on
        is summarised once per window; one that ended with none is forgotten.
        """
        out: list[Summary] = []
        windows = self._windows
        while windows:
            key, window = next(iter(windows.items()))
            overfull = len(windows) > self.max_kinds
            if not (everything or overfull or now_s - window.started_s >= self.window_s):
                break
            del windows[key]
            if window.repeats:
                out.append(Summary(window.source, self._text(window, now_s)))
                if not (everything or overfull):
                    windows[key] = _Window(window.source, window.text, now_s)
        return out

    def _text(self, window: _Window, now_s: float) -> str:
        seconds = min(self.window_s, max(0.0, now_s - window.started_s))
        text = f"{window.text} … repeated {window.repeats} times in {seconds:.0f} s"
        if window.last_text != window.text:
            text += f" (last: {window.last_text})"
        return text

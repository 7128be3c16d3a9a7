"""The ward dashboard application: every bed on one screen, refreshed on a timer.

The app is given a function that returns a :class:`gateway.ward.WardSnapshot` and calls it
``refresh_hz`` times a second; the widgets are bound to the result. It must not do more:
no adapter, journal or ward state is reachable from here, so a flood of messages or a
stalled device can never slow the screen down, and the screen can never disturb the ingest.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.widgets import Footer

from gateway.ward import WardSnapshot
from tui.widgets import BedGrid, FaultBar, WardHeader


class WardApp(App[None]):
    """Every bed of the ward as a tile, under a header with the clock and bed counts.

    ``snapshot`` must be cheap and must not block (``lambda: ward.snapshot(clock.now_ns())``);
    ``markers`` are shown as badges in the header (``DEMO``, ``REPLAY``); ``columns`` fixes
    the number of tiles per row (0: as many as the width allows).
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot; the header and the grid are bound to it."""

    def __init__(
        self,
        snapshot: Callable[[], WardSnapshot],
        *,
        title: str = "ICU",
        markers: Sequence[str] = (),
        refresh_hz: float = 4.0,
        columns: int = 0,
    ) -> None:
        if not (math.isfinite(refresh_hz) and refresh_hz > 0):
            raise ValueError(f"refresh_hz must be a positive number, not {refresh_hz!r}")
        super().__init__()
        self._snapshot = snapshot
        self._markers = tuple(markers)
        self._period_s = 1.0 / refresh_hz
        self._columns = columns
        self.title = title

    def compose(self) -> ComposeResult:
        yield WardHeader(markers=self._markers).data_bind(WardApp.ward, ward_name=WardApp.title)
        yield BedGrid(fixed_columns=self._columns).data_bind(WardApp.ward)
        yield FaultBar().data_bind(WardApp.ward)
        yield Footer()

    def on_mount(self) -> None:
        self.pull_snapshot()
        self.set_interval(self._period_s, self.pull_snapshot)

    def pull_snapshot(self) -> None:
        """Take a snapshot and hand it to the widgets (the timer's callback)."""
        self.ward = self._snapshot()

"""The ward dashboard application: every bed on one screen, refreshed on a timer.

The app is given a function that returns a :class:`gateway.ward.WardSnapshot` and calls it
``refresh_hz`` times a second; the screen on top of the stack is bound to the result. It
may be given a :class:`~tui.view.TraceSource` for the trends and waves of the beds it
shows. It must not do more: no adapter or journal is reachable from here, so a flood of
messages or a stalled device can never slow the screen down, and the screen can never
disturb the ingest.

Screens: the ward (:mod:`tui.ward_screen`), a bed (:mod:`tui.bed_screen`, Enter), the
devices (:mod:`tui.devices_screen`, ``d``), the ward's alarm history
(:mod:`tui.alarms_screen`, ``A``), on a remote screen every gateway and bed it hears
(:mod:`tui.wards_screen`, ``o``) and the keys (:mod:`tui.help_screen`, ``?``). On a live
ward ``q`` asks first (:mod:`tui.stop_screen`).

Given an :class:`~tui.view.AlarmDesk` (the gateway's alarm engine), the app asks once who
is at the screen, pauses the sound with ``p`` (everywhere), lets the ward and bed screens
acknowledge with ``a``, and pulls a snapshot at once when a new alarm is raised — the
alarm does not wait for the next refresh. Without one (tests, replay) those keys are hidden.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import math
from collections.abc import Callable, Sequence
from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.screen import Screen

from gateway.ward.snapshot import WardSnapshot
from tui.alarms_screen import AlarmHistoryScreen, OperatorScreen
from tui.bed_screen import BedScreen
from tui.devices_screen import DevicesScreen
from tui.help_screen import HelpScreen, bindings_of
from tui.stop_screen import StopScreen
from tui.view import AlarmDesk, BedDesk, Dashboard, TraceSource, WardView
from tui.ward_screen import WardScreen
from tui.wards_screen import WardsScreen

log = logging.getLogger(__name__)

FREEZE_AFTER_S = 3.0
"""Seconds after start when the objects built so far are set aside from the garbage
collector: the screen, the configuration and the modules are in place by then."""


def freeze_startup_objects() -> None:
    """Collect once, then move every object alive into the garbage collector's permanent
    generation (``gc.freeze``).

    The dashboard shares its loop with the ingest. Python's full collections scan every
    object the process holds — Textual's widgets and caches, the modules, the ward — and at
    64 beds one took 80 ms, up to 450 ms on a busy machine: an alarm raised meanwhile waits
    that long to be shown (``python -m bench alarm_delay``). The objects of startup live as
    long as the process, so a collection never needs to look at them again; what is made
    later is collected as usual.
    """
    gc.collect()
    gc.freeze()


class WardApp(App[None]):
    """Every bed of the ward as a tile, under a header with the clock and bed counts.

    ``snapshot`` must be cheap and must not block (``lambda: ward.snapshot(clock.now_ns())``);
    ``traces`` gives the bed screen its trends and waves and the tiles their wave strips
    (the gateway passes its :class:`~gateway.ward.WardState`); ``markers`` are shown as
    badges in the header (``DEMO``, ``REPLAY``, ``MUTED``, ``AUDIO OFF``); ``columns``
    fixes the number of tiles per row (0: as many as the width allows); ``wave_hz`` is the
    bed screen's wave refresh rate; ``alarms`` is where alarms are acknowledged and the
    sound paused, and ``ask_operator`` whether to ask who is at the screen when it starts;
    ``beds`` is where the devices screen binds devices and renames beds.
    ``wards`` (a remote screen) gives the wards screen's key, ``start_on_wards`` opens on it.
    ``freeze_startup_objects`` (the gateway's dashboard sets it; tests do not) runs
    :func:`freeze_startup_objects` once the screen is built.
    """

    ENABLE_COMMAND_PALETTE = False  # every key the dashboard has is in its help screen

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("d", "devices", "Devices"),
        Binding("o", "wards", "Wards", tooltip="Every gateway and bed heard, with its worst alarm"),
        Binding("p", "pause_audio", "Audio pause", tooltip="Pause the alarm sound for 2 min"),
        Binding("A", "alarm_history", "History", tooltip="Alarm history of the ward"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding(
            "i",
            "sign_in",
            "Sign in",
            tooltip="Say who is at the screen now (shift change)",
            show=False,
        ),
        Binding("q", "stop", "Quit"),
        Binding("ctrl+c", "stop", "Quit", show=False, priority=True),
    ]

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot; the screen on top gets it too."""

    def __init__(
        self,
        snapshot: Callable[[], WardSnapshot],
        *,
        traces: TraceSource | None = None,
        title: str = "ICU",
        markers: Sequence[str] = (),
        refresh_hz: float = 4.0,
        wave_hz: float = 10.0,
        columns: int = 0,
        alarms: AlarmDesk | None = None,
        beds: BedDesk | None = None,
        ask_operator: bool = True,
        freeze_startup_objects: bool = False,
        wards: bool = False,
        start_on_wards: bool = False,
    ) -> None:
        for name, rate in (("refresh_hz", refresh_hz), ("wave_hz", wave_hz)):
            if not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"{name} must be a positive number, not {rate!r}")
        super().__init__()
        self._snapshot = snapshot
        self._period_s = 1.0 / refresh_hz
        self.title = title
        self.dashboard = Dashboard(title, tuple(markers), columns, traces, wave_hz, alarms, beds)
        self._ask_operator = ask_operator and alarms is not None
        self._freeze_startup_objects = freeze_startup_objects
        self._wards = wards or start_on_wards
        self._start_on_wards = start_on_wards
        self._woken = False
        self.operator = ""
        """Who said they are at the screen (empty: unknown)."""

    def get_default_screen(self) -> Screen[None]:
        return WardScreen(self.dashboard)

    def on_mount(self) -> None:
        self.pull_snapshot()
        self.set_interval(self._period_s, self.pull_snapshot)
        if self._freeze_startup_objects:
            self.set_timer(FREEZE_AFTER_S, freeze_startup_objects)
        if self._start_on_wards:
            self.push_screen(WardsScreen(self.dashboard))
        desk = self.dashboard.alarms
        if desk is not None:
            desk.on_new_alarm = self._wake
            if self._ask_operator:
                self.push_screen(OperatorScreen(), callback=self._signed_in)

    def on_unmount(self) -> None:
        desk = self.dashboard.alarms
        if desk is not None and desk.on_new_alarm == self._wake:
            desk.on_new_alarm = None

    def _signed_in(self, name: str | None) -> None:
        desk = self.dashboard.alarms
        self.operator = name or ""
        if desk is not None:
            desk.sign_in(name or "")

    def action_stop(self) -> None:
        """Quit: at once without an alarm desk (replay) or on a remote screen (the ward
        goes on being watched), after :class:`StopScreen` on a live ward."""
        desk = self.dashboard.alarms
        if desk is None or desk.remote:
            self.exit()
        elif not isinstance(self.screen, StopScreen):
            self.push_screen(StopScreen(self.operator), callback=self._stop)

    def _stop(self, name: str | None) -> None:
        if name is None:
            return
        desk = self.dashboard.alarms
        if desk is not None and name != self.operator:
            desk.sign_in(name)  # who stopped it, in the journal
        log.warning("monitoring stopped from the dashboard by %s", name)
        self.exit()

    def _wake(self) -> None:
        """A new alarm: show it now (called on the ingest path, so only scheduled here)."""
        if not self._woken:
            self._woken = True
            self.call_later(self._pull_woken)

    def _pull_woken(self) -> None:
        """Only the alarms go on screen now, taken from the alarm engine alone (on the
        latest snapshot, whose values and waves stay until the next tick): a full snapshot
        of every bed costs far more, and alarms can come many a second."""
        self._woken = False
        desk, latest = self.dashboard.alarms, self.ward
        if desk is None or latest is None:
            snapshot = self._snapshot()
        else:
            snapshot = dataclasses.replace(latest, alarms=desk.snapshot())
        for screen in reversed(self.screen_stack):
            if isinstance(screen, WardView):
                screen.show_alarms(snapshot)
                break

    def pull_snapshot(self) -> None:
        """Take a snapshot and hand it to the screen on top (the timer's callback).

        Under a modal screen (help), the screen beneath is the one that stays live.
        """
        self.ward = snapshot = self._snapshot()
        for screen in reversed(self.screen_stack):
            if isinstance(screen, WardView):
                screen.ward = snapshot
                break

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # No alarm engine here, or no gateway heard over a broker: the keys are hidden, not
        # silently dead.
        if action == "wards":
            return self._wards
        desk = self.dashboard.alarms
        return action not in ("pause_audio", "alarm_history", "sign_in") or (
            desk is not None and not desk.remote
        )

    def action_sign_in(self) -> None:
        """A shift change: who is at the screen from now on (journaled by the engine)."""
        if self.dashboard.alarms is not None and not isinstance(self.screen, OperatorScreen):
            self.push_screen(OperatorScreen(), callback=self._signed_in)

    def action_pause_audio(self) -> None:
        desk = self.dashboard.alarms
        if desk is not None:
            paused = desk.pause_audio()
            self.pull_snapshot()  # the countdown shows now
            self.notify("Alarm sound paused" if paused else "Alarm sound on", timeout=2)

    def action_alarm_history(self) -> None:
        if isinstance(self.screen, AlarmHistoryScreen):
            self.pop_screen()
        else:
            self.push_screen(AlarmHistoryScreen(self.dashboard))

    def action_devices(self) -> None:
        if isinstance(self.screen, DevicesScreen):
            self.pop_screen()
        else:
            self.push_screen(DevicesScreen(self.dashboard))

    def action_wards(self) -> None:
        if isinstance(self.screen, WardsScreen):
            self.pop_screen()
        else:
            self.push_screen(WardsScreen(self.dashboard))

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        sections: list[tuple[str, type]] = [
            ("Everywhere", WardApp),
            ("Ward", WardScreen),
            ("Bed", BedScreen),
            ("Devices", DevicesScreen),
        ]
        if self._wards:
            sections.append(("Wards", WardsScreen))
        sections.append(("Alarm history", AlarmHistoryScreen))
        hidden = {
            binding.action
            for binding in bindings_of(WardApp)
            if not self.check_action(binding.action, ())
        }
        if self.dashboard.beds is None:
            hidden |= {"bind", "rename", "reload"}  # no gateway to change the beds of
        self.push_screen(HelpScreen(sections, hidden))

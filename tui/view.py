"""What every dashboard screen shares: the snapshot it is bound to and what the app gives it.

A :class:`WardView` is a screen with a ``ward`` reactive: the app sets it on the screen on
top of the stack at each tick (and a screen coming back to the top takes the latest at
once), so a hidden screen costs nothing. Trends and waves are read through a
:class:`TraceSource` — in the gateway, the :class:`~gateway.ward.WardState` itself — which
returns copies and judges freshness; a screen never reads a clock, it passes the time of
the snapshot it shows. The one thing a screen may ask of the core is to act on alarms —
acknowledge, pause the sound, say who is at the screen — through an :class:`AlarmDesk`
(in the gateway, the alarm engine); alarms themselves arrive in the snapshot. The devices
screen may also change the beds — bind a device, rename a bed, admit or discharge a
patient, reload the configuration — through a :class:`BedDesk`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from textual.reactive import var
from textual.screen import Screen

from gateway.alarms.snapshot import AlarmSnapshot
from gateway.config.overlay import Admission
from gateway.domain import AlarmTransition, BedId
from gateway.ward.snapshot import WardSnapshot, WaveKey, WaveWindow
from gateway.ward.trends import TrendEnvelope


class TraceSource(Protocol):
    """Where a screen reads the trends and waves of the bed it shows."""

    def trend(
        self, bed: BedId, code: int, span_s: float, columns: int, now_ns: int
    ) -> TrendEnvelope | None: ...

    def waveform(
        self, bed: BedId, key: WaveKey, seconds: float, now_ns: int
    ) -> WaveWindow | None: ...


class AlarmDesk(Protocol):
    """What a screen may ask of the alarm engine (:class:`gateway.alarms.AlarmEngine`)."""

    on_new_alarm: Callable[[], None] | None
    """Set by the app: a new alarm shows at once instead of at the next refresh."""
    remote: bool
    """A remote screen's desk: acknowledgements are requests to a gateway, and there is no
    sound to pause nor alarm history here."""

    def acknowledge(self, bed: BedId | None, now_ns: int | None = None) -> int: ...

    def pause_audio(self, now_ns: int | None = None) -> bool: ...

    def sign_in(self, operator: str, now_ns: int | None = None) -> None: ...

    def snapshot(self, now_ns: int | None = None) -> AlarmSnapshot:
        """The alarms now, alone: what a new alarm's early look at the screen needs."""
        ...

    def history(self, bed: BedId | None = None, *, ward: bool = False) -> list[AlarmTransition]: ...


class BedDesk(Protocol):
    """What the devices screen may ask of the gateway about its beds
    (:class:`gateway.app.bindings.LiveBindings`): each change is effective at once, kept
    across a restart and journaled with the operator's name. A refused change raises
    ``BindingRefused`` with the reason (any other exception is a bug, said as a fault)."""

    @property
    def bed_ids(self) -> dict[str, str]:
        """The configured beds: id → label."""
        ...

    async def bind_device(
        self,
        device: str,
        bed_id: str,
        label: str | None,
        operator: str,
        location: str | None = None,
    ) -> str: ...

    async def rename_bed(self, bed_id: str, label: str, operator: str) -> str: ...

    def admission(self, bed_key: str) -> Admission | None:
        """The patient admitted to bed ``bed_key`` at the gateway, if any."""
        ...

    async def admit(
        self, bed_key: str, bed_label: str, patient_id: str, patient_name: str, operator: str
    ) -> str: ...

    async def discharge(self, bed_key: str, bed_label: str, operator: str) -> str: ...

    async def reload(self, operator: str = ...) -> bool: ...


@dataclass(frozen=True, slots=True)
class Dashboard:
    """What the app hands each screen: the header's name and markers, the columns set by
    configuration, where traces come from (None: no trends or waves to show), and the wave
    refresh rate of the bed screen; and where alarms are acted on (None: they are shown
    but cannot be acknowledged here, as in a replay)."""

    title: str
    markers: tuple[str, ...]
    columns: int
    traces: TraceSource | None
    wave_hz: float
    alarms: AlarmDesk | None = None
    beds: BedDesk | None = None
    """Where beds are changed (the devices screen's b, r, a, D, R); None: they cannot be
    here."""

    def read_wave(self, bed: BedId, key: WaveKey, seconds: float, now_ns: int) -> WaveWindow | None:
        return None if self.traces is None else self.traces.waveform(bed, key, seconds, now_ns)


class WardView(Screen[None]):
    """A screen bound to the latest ward snapshot."""

    ward: var[WardSnapshot | None] = var(None, always_update=True)
    """The latest snapshot, set by the app while this screen is on top."""

    def __init__(self, dashboard: Dashboard) -> None:
        super().__init__()
        self.dashboard = dashboard
        self.ready = False
        """True once the screen's widgets are mounted: a snapshot can arrive before."""

    def on_mount(self) -> None:
        self.ready = True
        self.ward = self.ward  # draw the snapshot that arrived before the widgets

    def on_unmount(self) -> None:
        self.ready = False

    def show_alarms(self, ward: WardSnapshot) -> None:
        """A snapshot taken because a new alarm was raised: show its alarms now, cheaply;
        the rest of it waits for the next tick. Screens with alarms on them override this."""

    def on_screen_resume(self) -> None:
        latest = getattr(self.app, "ward", None)
        if isinstance(latest, WardSnapshot):
            self.ward = latest

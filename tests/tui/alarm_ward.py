"""A gateway core on a hand-driven clock with its alarm engine, fed as the listener feeds it,
and the dashboard on it: what the alarm dashboard tests and the alarm screenshot share."""

from __future__ import annotations

from gateway.alarms.engine import AlarmEngine
from gateway.alarms.rules import BY_NAME, EffectiveLimits
from gateway.alarms.settings import AlarmSettings
from gateway.clock import ManualClock
from gateway.domain import BedId, DeviceId, DeviceReport, Observation
from gateway.domain import ObservationStatus as Status
from gateway.hub import Hub
from gateway.journal.records import RoutedReport
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from tui.app import WardApp

NO_DELAY = AlarmSettings(
    limits=lambda bed: {
        p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, 0.0)
        for p in BY_NAME.values()
    }
)
NORMAL = {"hr": 72.0, "spo2": 97.0, "rr": 16.0, "temp": 36.8}


class AlarmWard:
    """A gateway core (hub, ward, alarm engine) on a hand-driven clock, fed like the listener
    feeds it, and the dashboard on it."""

    def __init__(self, beds: int = 3) -> None:
        self.clock = ManualClock()
        engine = AlarmEngine(NO_DELAY, clock=self.clock)
        self.hub = Hub(WardState(), Router(), self.clock, alarms=engine)
        self.beds = [BedId(f"icu-{n}") for n in range(1, beds + 1)]
        for index in range(beds):
            self.send(index)

    @property
    def engine(self) -> AlarmEngine:
        return self.hub.alarms

    def label(self, index: int) -> str:
        return f"ICU {101 + index}"

    def send(self, index: int, **values: float) -> None:
        """Bed ``index``'s monitor reports normal vitals, except ``values``, now."""
        device = DeviceId(f"EUI-64:00A037EB2175{index:04X}", f"MX800 #{index + 1}")
        now = self.clock.now_ns()
        observations = tuple(
            Observation(
                device,
                BY_NAME[name].codes[0],
                BY_NAME[name].label,
                value,
                BY_NAME[name].unit,
                Status.VALID,
                now,
                sub_id="1",
            )
            for name, value in {**NORMAL, **values}.items()
        )
        report = DeviceReport(device, "mllp", "10.1.0.1:4000", now, observations=observations)
        self.hub.apply([RoutedReport(report, self.beds[index], self.label(index))])

    def app(self, *, refresh_hz: float = 20.0, ask_operator: bool = False) -> WardApp:
        return WardApp(
            self.hub.snapshot,
            traces=self.hub.ward,
            title="ICU",
            refresh_hz=refresh_hz,
            alarms=self.engine,
            ask_operator=ask_operator,
        )

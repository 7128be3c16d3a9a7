"""What the alarm tests share: reports as a monitor's decoded message gives them, an engine on
a ManualClock, and short ways to read what it shows."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.alarms.engine import AlarmEngine
from gateway.alarms.rules import BY_NAME
from gateway.alarms.settings import AlarmSettings
from gateway.alarms.snapshot import ActiveAlarm
from gateway.clock import ManualClock
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
)

MONITOR = DeviceId("EUI-64:00A037EB2175780F", "MR-1")
VENTILATOR = DeviceId("EUI-64:0012211839000001", "VENT-1")
BED = BedId("ICU^1^1")
OTHER_BED = BedId("ICU^2^1")
VALID, INVALID = ObservationStatus.VALID, ObservationStatus.INVALID
HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


def observation(
    name: str,
    value: float | str,
    now: int,
    *,
    status: ObservationStatus = VALID,
    unit: str | None = None,
    device: DeviceId = MONITOR,
) -> Observation:
    parameter = BY_NAME[name]
    return Observation(
        device,
        parameter.codes[0],
        parameter.label,
        value,
        parameter.unit if unit is None else unit,
        status,
        now,
        sub_id="1.1.1.1",
    )


def report(
    clock: ManualClock,
    *observations: Observation,
    device: DeviceId = MONITOR,
    alarms: tuple[AlarmEvent, ...] = (),
) -> DeviceReport:
    return DeviceReport(
        device, "mllp", "10.0.0.5:4001", clock.now_ns(), "m1", None, "", observations, (), alarms
    )


def readings(
    clock: ManualClock, values: Mapping[str, float], device: DeviceId = MONITOR
) -> DeviceReport:
    """A report of the named parameters (``{"hr": 130}``), valid, received now."""
    now = clock.now_ns()
    return report(
        clock, *(observation(n, v, now, device=device) for n, v in values.items()), device=device
    )


def vitals(clock: ManualClock, *, device: DeviceId = MONITOR, **values: float) -> DeviceReport:
    """A report of the named parameters (``hr=130, spo2=97``) received now."""
    return readings(clock, values, device)


class Rig:
    """An engine on a ManualClock, fed like the hub feeds it, with the faults it reports."""

    def __init__(self, settings: AlarmSettings | None = None, clock: ManualClock | None = None):
        self.clock = clock or ManualClock()
        self.engine = AlarmEngine(settings, clock=self.clock)
        self.faults: list[str] = []
        self.engine.on_fault = lambda source, text: self.faults.append(text)

    def feed(self, report: DeviceReport, bed: BedId | None = BED, label: str = "Bed 1") -> None:
        self.engine.observe(
            bed, label if bed is not None else "", report, self.clock.monotonic_ns()
        )

    def vitals(self, bed: BedId = BED, /, **values: float) -> None:
        self.feed(readings(self.clock, values), bed)

    def after(self, seconds: float) -> None:
        """Let time pass with no message, the timer ticking as the service's does."""
        step = 0.25
        while seconds > 1e-9:
            self.clock.advance(min(step, seconds))
            seconds -= step
            self.engine.tick()

    def keep(self, seconds: float, bed: BedId = BED, /, **values: float) -> None:
        """Let time pass while the monitor keeps sending ``values`` every second."""
        for _ in range(round(seconds)):
            self.after(1)
            self.vitals(bed, **values)

    def shown(self, bed: BedId | None = BED) -> list[tuple[str, AlarmPriority]]:
        """A bed's alarms as (text, priority), in the order the alarm bar lists them."""
        return [(a.text, a.priority) for a in self.engine.snapshot().of_bed(bed)]

    def alarms(self, bed: BedId | None = BED) -> tuple[ActiveAlarm, ...]:
        return self.engine.snapshot().of_bed(bed)

    def changes(self) -> list[tuple[str, str]]:
        """The journal's view: (change, text) of every transition so far, oldest first."""
        return [(t.change.value, t.text) for t in reversed(self.engine.history(ward=True))]


def device_alarm(
    alarm_id: str,
    *,
    phase: str = "start",
    state: str = "active",
    priority: AlarmPriority = MEDIUM,
    kind: AlarmKind = AlarmKind.PHYSIOLOGICAL,
    text: str = "Low SpO2",
    inactivation: str = "enabled",
    device: DeviceId = MONITOR,
    now: int = 0,
) -> AlarmEvent:
    return AlarmEvent(
        device, 196670, text, priority, kind, phase, state, inactivation,
        AlarmSource.DEVICE, now, alarm_id,
    )  # fmt: skip

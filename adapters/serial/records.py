"""Small builders of the domain records serial decoders share: values and wave timing.

A serial value is either a measurement (a float, VALID) or not one: dashes, an empty field,
a "missing" code, or a value the device's own status flags as unusable. The second kind is
an INVALID observation whose value is the device's text — never a number, so nothing
downstream can draw, trend or judge it as one.

Serial records carry no usable time: device clocks have no zone and are set by hand, and
the line is real-time anyway, so measurements are timed by their receive time (an NIBP
re-sent every second keeps the time it was first seen: :class:`FirstSeen`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.clock import NS_PER_S
from gateway.domain import DeviceId, Observation, ObservationStatus

VALID = ObservationStatus.VALID
INVALID = ObservationStatus.INVALID


@dataclass(frozen=True, slots=True)
class Parameter:
    """A value a device sends, as the gateway names it."""

    code: int
    """MDC code; 0 for one the gateway has no MDC code for (kept, not shown on tiles)."""
    label: str
    unit: str
    source_code: str | None = None
    """The device's own name when ``code`` is 0 (``MASIMO:SPCO``)."""
    low: float = 0.0
    high: float = 1000.0
    """The range a real reading can take; outside it the record is corrupt."""


SPO2 = Parameter(150456, "SpO2", "%", low=0, high=100)
PULSE_RATE = Parameter(149530, "PR", "/min", low=0, high=400)
"""MDC_PULS_OXIM_PULS_RATE: the pulse rate of an oximeter (the HR limits watch it)."""
PLETH_WAVE = 150452
"""MDC_PULS_OXIM_PLETH."""
SENSOR_DISCONNECTED = 196916
"""MDC_EVT_SENSOR_DISCONN: the event code of a sensor, probe or transducer off."""


def measured(
    device: DeviceId,
    parameter: Parameter,
    value: float,
    receive_time_ns: int,
    *,
    sub_id: str = "",
    device_time_ns: int | None = None,
) -> Observation:
    return Observation(
        device,
        parameter.code,
        parameter.label,
        value,
        parameter.unit,
        VALID,
        receive_time_ns,
        device_time_ns,
        sub_id,
        parameter.source_code,
    )


def unmeasured(
    device: DeviceId,
    parameter: Parameter,
    text: str,
    receive_time_ns: int,
    *,
    sub_id: str = "",
    reason: str = "",
) -> Observation:
    """A value the device says it does not have (``text`` as it sent it; ``reason``: why,
    when the device's marker says more than its text)."""
    return Observation(
        device,
        parameter.code,
        parameter.label,
        text,
        parameter.unit,
        INVALID,
        receive_time_ns,
        None,
        sub_id,
        parameter.source_code,
        reason=reason,
    )


class FirstSeen:
    """The time a repeated measurement was first seen, per parameter: a device that re-sends
    its last NIBP every second has taken one measurement, not one a second."""

    __slots__ = ("_seen",)

    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[float, ...], int]] = {}

    def time_of(self, name: str, values: tuple[float, ...], receive_time_ns: int) -> int:
        known = self._seen.get(name)
        if known is not None and known[0] == values:
            return known[1]
        self._seen[name] = (values, receive_time_ns)
        return receive_time_ns

    def forget(self, name: str) -> None:
        self._seen.pop(name, None)


class SampleClock:
    """Start times of consecutive chunks of one wave sent at a fixed rate.

    Chunks follow each other without gaps while the stream keeps its pace; the clock is
    anchored again to the receive time (the chunk ending as it arrived) at the first chunk,
    after a silence or when the device's rate and ours drift apart by ``tolerance_s``.
    """

    __slots__ = ("_next", "_tolerance_ns", "rate_hz")

    def __init__(self, rate_hz: float, tolerance_s: float = 0.5) -> None:
        self.rate_hz = rate_hz
        self._tolerance_ns = round(tolerance_s * NS_PER_S)
        self._next: int | None = None

    def start_of(self, count: int, receive_time_ns: int) -> int:
        duration = round(count * NS_PER_S / self.rate_hz)
        anchored = receive_time_ns - duration
        start = self._next
        if start is None or abs(start - anchored) > self._tolerance_ns:
            start = anchored
        self._next = start + duration
        return start

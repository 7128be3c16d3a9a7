"""Values no patient can have: vendor no-value markers and numbers outside a parameter's
physiological range are not values.

A Mindray monitor writes −999 (−99.9 for a temperature) where it has no value; other
senders write −9999, 9999, −32767 …; a loose probe or a bad cable gives a number no body
makes (an SpO2 of 140 %, a temperature of 4 °C). Such a number is turned into an INVALID
observation with the reason (``no-value marker -999``, ``outside the physiological range
0–100 %``): the tile and bed screen show ``***``, the alarm engine treats it as no value
(never a limit violation), the journal keeps it with its status and reason beside the raw
message, and the devices screen counts it per device (:class:`RejectedValueTally`).

Why here, applied by the hub (:meth:`gateway.hub.Hub.submit`) before the journal: it is
the one place every adapter's reports pass through — HL7 over TCP and over serial, the
serial oximeters, and any adapter to come — so each gets the same judgement without a
second copy of the table, and what is journaled, alarmed and shown is the same judgement.
``icu-gateway validate`` applies the same function to a capture. A decoder never needs to
know these ranges: it says what the device sent, this module says whether a patient can
have it.

It judges numbers against parameters (MDC codes) only. A code the table does not know is
left as sent: a marker like 9999 may be a real value of a parameter we cannot name. It
must not touch beds, the journal or the screen, and it never raises for what a device sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

from gateway import nomenclature
from gateway.domain import DeviceId, DeviceReport, Observation, ObservationStatus

_INVALID = ObservationStatus.INVALID

NO_VALUE_MARKERS = frozenset((-999.0, -99.9, -9999.0, 9999.0, -99999.0, 99999.0))
"""Numbers vendors write where they have no value: −999 and −99.9 (Mindray's, issue 12),
−9999 and 9999 (issue 12's list), ±99999 (the same filler one digit longer). Together with
:data:`INTEGER_MARKERS` they are named as markers in the reason; each is outside the range
of every parameter of :data:`RANGES` (a test holds it), so it is never a reading of a
parameter judged here."""
INTEGER_MARKERS = frozenset((-32767.0, -32768.0, 32767.0, 65535.0))
"""The limits of 16-bit integers (−32767 is in the task of issue 12), written by devices
whose 16-bit numeric field has no value."""
_MARKERS = NO_VALUE_MARKERS | INTEGER_MARKERS

_MMHG_PER_KPA = 7.500615
_MMHG_PER_CMH2O = 0.735559


@dataclass(frozen=True, slots=True)
class Span:
    """A physiological range in one unit (the display unit of :mod:`gateway.nomenclature`)."""

    low: float
    high: float
    unit: str

    @property
    def text(self) -> str:
        return f"{self.low:g}–{self.high:g} {self.unit}".rstrip()


def _spans(low: float, high: float, unit: str) -> dict[str, Span]:
    """The range in its unit and in the other units senders use for that quantity; ``''``
    (no unit sent) means the parameter's usual unit."""
    spans = {unit: Span(low, high, unit)}
    if unit == "mmHg":
        spans["kPa"] = Span(round(low / _MMHG_PER_KPA, 1), round(high / _MMHG_PER_KPA, 1), "kPa")
        spans["cmH2O"] = Span(round(low / _MMHG_PER_CMH2O), round(high / _MMHG_PER_CMH2O), "cmH2O")
    elif unit == "°C":
        for spelling in ("°F", "degF", "[degF]"):  # as gateway.alarms.rules.in_unit reads them
            spans[spelling] = Span(low * 9 / 5 + 32, high * 9 / 5 + 32, spelling)
    spans[""] = spans[unit]
    return spans


# The ranges: what no living patient's reading can be outside of — far wider than any alarm
# limit, so a real extreme (HR 300 in SVT, a temperature of 20 °C in deep hypothermia)
# stays a value. Where they come from: SpO2 0–100 %, HR/PR 0–350 /min, temperatures
# 15–45 °C and pressures −30…400 mmHg are issue 12's figures ("from the MDC table"); RR
# 0–200 /min and EtCO2 0–150 mmHg (or its kPa/% equivalent, 0–20: 150 mmHg is 20 kPa)
# are the figures of the task that implemented issue 12. The rest are chosen here on the
# same rule — a percentage 0–100, an ST deviation ±10 mV, QT/QTc 0–2000 ms — and are
# listed, with these, in docs/hl7.md ("Values no patient can have").
_PRESSURE = _spans(-30, 400, "mmHg")
_CO2 = {**_spans(0, 150, "mmHg"), "%": Span(0, 20, "%")}
_CO2["kPa"] = Span(0, 20, "kPa")
_TEMPERATURE = _spans(15, 45, "°C")
_RATE = _spans(0, 350, "/min")
_RESP = _spans(0, 200, "/min")
_PERCENT = _spans(0, 100, "%")
_ST = _spans(-10, 10, "mV")
_INTERVAL = _spans(0, 2000, "ms")
_AGENT = _spans(0, 25, "%")
"""A volatile agent: desflurane's vaporiser reaches 18 %, the others 5–8 %."""
_PERFUSION = {**_spans(0, 100, ""), "%": Span(0, 100, "%")}


def _groups() -> Iterable[tuple[Iterable[int], Mapping[str, Span]]]:
    n = nomenclature
    yield (*n.HEART_RATE, 149546, 148066), _RATE  # HR, PR, PR (NIBP), PVC rate
    yield n.SPO2, _PERCENT
    yield (152440, 152196, *n.N2O), _PERCENT  # etO2, inO2, N2O
    yield n.AGENTS, _AGENT
    yield (
        *n.NIBP_SYS, *n.NIBP_DIA, *n.NIBP_MEAN, *n.ABP_SYS, *n.ABP_DIA, *n.ABP_MEAN,
        150032, 150036, 150044, 150045, 150046, 150047, 150052, 150084, 150087,
        153608, 153611,
    ), _PRESSURE  # fmt: skip
    yield n.RESP_RATE, _RESP
    yield (*n.TEMPERATURE, 150388), _TEMPERATURE
    yield (*n.ETCO2, *n.FICO2), _CO2
    yield (131841, 131842, 131901), _ST
    yield (147232, 147236), _INTERVAL
    yield (150448, 150488), _PERFUSION


RANGES: Mapping[int, Mapping[str, Span]] = MappingProxyType(
    {code: MappingProxyType(spans) for codes, spans in _groups() for code in codes}
)
"""MDC code → display unit → the physiological range of that parameter in that unit."""

_BOUNDS: dict[int, dict[str, tuple[float, float]]] = {
    code: {unit: (span.low, span.high) for unit, span in spans.items()}
    for code, spans in RANGES.items()
}
""":data:`RANGES` as plain dicts of (low, high): what :func:`screen` reads for every value
(a mapping proxy's lookups and a dataclass's attributes cost a fifth of ``Hub.submit``)."""


def reason(code: int, value: float, unit: str) -> str | None:
    """Why ``value`` (in ``unit``) cannot be a patient's reading of parameter ``code``;
    None when it can, or when the parameter or its unit is not judged here."""
    spans = RANGES.get(code)
    if spans is None:
        return None
    if value in _MARKERS:
        return f"no-value marker {value:g}"
    if not math.isfinite(value):
        return f"not a number ({value})"
    span = spans.get(unit)
    if span is None:
        return None  # a unit we cannot convert: never compared with a range
    if span.low <= value <= span.high:
        return None
    return f"outside the physiological range {span.text}"


def screen(report: DeviceReport) -> tuple[DeviceReport, tuple[Observation, ...]]:
    """The report with every impossible number made INVALID with its reason, and those
    observations; the report itself, unchanged, and ``()`` when every number can be a
    patient's (the common case costs a dictionary lookup per observation)."""
    bounds_of = _BOUNDS.get
    found: list[int] = []
    for index, obs in enumerate(report.observations):
        spans = bounds_of(obs.code)
        if spans is None or obs.status is _INVALID:
            continue
        value = obs.value
        if isinstance(value, str):
            continue
        bounds = spans.get(obs.unit)
        if bounds is not None and bounds[0] <= value <= bounds[1]:  # markers are all outside
            continue
        if reason(obs.code, value, obs.unit) is not None:
            found.append(index)
    if not found:
        return report, ()
    observations = list(report.observations)
    rejected = []
    for index in found:
        obs = observations[index]
        why = reason(obs.code, float(obs.value), obs.unit) or ""
        obs = observations[index] = replace(obs, status=_INVALID, reason=why)
        rejected.append(obs)
    return replace(report, observations=tuple(observations)), tuple(rejected)


# ---- what the devices screen shows ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RejectedValues:
    """Values of one device that no patient can have, since start: a technical note."""

    device: DeviceId
    transport: str
    peer: str
    count: int
    last_text: str
    """The latest: ``SpO2 -999: no-value marker -999``."""
    last_time_ns: int


MAX_DEVICES = 4096
"""Devices counted at most (what one sender can create is bounded); past it, the value
is still made invalid and counted in :attr:`RejectedValueTally.uncounted`."""
MAX_FIRST_NOTES = 16384


class RejectedValueTally:
    """Per device: how many values were rejected, and the latest; the first rejection of
    each parameter of each device is news (a fault, once), the rest are counted."""

    def __init__(self) -> None:
        self._by_device: dict[str, RejectedValues] = {}
        self._noted: set[tuple[str, int, str]] = set()
        self.uncounted = 0

    def note(self, report: DeviceReport, rejected: tuple[Observation, ...]) -> list[str]:
        """Count ``rejected`` (from :func:`screen`); return the texts that are news."""
        news = []
        last = rejected[-1]
        key = report.device.key
        known = self._by_device.get(key)
        text = describe(last)
        if known is None and len(self._by_device) >= MAX_DEVICES:
            self.uncounted += len(rejected)
        else:
            count = (known.count if known is not None else 0) + len(rejected)
            self._by_device[key] = RejectedValues(
                report.device, report.transport, report.peer, count, text, last.receive_time_ns
            )
        for obs in rejected:
            first = (key, obs.code, obs.reason.split(" ", 2)[0])
            if first not in self._noted and len(self._noted) < MAX_FIRST_NOTES:
                self._noted.add(first)
                news.append(f"value out of range from {report.device}: {describe(obs)}")
        return news

    def snapshot(self) -> tuple[RejectedValues, ...]:
        return tuple(self._by_device.values())


def describe(obs: Observation) -> str:
    """An impossible value as a note reads it: ``SpO2 -999: no-value marker -999``."""
    value = obs.value if isinstance(obs.value, str) else f"{obs.value:g}"
    return f"{obs.label or obs.code} {value}: {obs.reason}"

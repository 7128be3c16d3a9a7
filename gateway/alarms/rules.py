"""The gateway's own alarm rules: which readings are alarm conditions, at what priority.

Each rule watches one thing of one bed and says, after every reading and every timer tick,
whether its condition holds now and at which priority — nothing more. The lifecycle of the
alarm that follows (raised, escalated, latched, acknowledged, ended, journaled, sounded)
belongs to :mod:`gateway.alarms`, so a rule is a few comparisons on the ingest path.

* :class:`LimitWatch` — one parameter channel (an MDC code and its OBX-4 sub-id) against
  its limits, two tiers per side: the configured limit at the parameter's priority
  (medium for most, low for temperature) and an *extreme* limit one priority higher. A
  value must stay past a limit for the condition delay before the condition holds; it ends
  only once the value is back inside by the hysteresis (a percentage of the limit); within
  one episode the priority only rises. Only VALID numbers that are not stale count: an
  INVALID or QUESTIONABLE reading, a text value or a stale one ends the condition (there is
  no number to judge; the latch keeps a high-priority one on screen).
* :class:`ApnoeaWatch` — respiration rate 0, or no valid rate any more from a device that
  is still talking, for :data:`APNOEA_DELAY_S`: high priority.
* :class:`InvalidWatch` — a watched parameter reported INVALID (sensor off, leads off, no
  transducer) for :data:`INVALID_DELAY_S`: a low-priority technical condition.

The limits in force for a bed (:func:`effective_limits`) come from :data:`WATCHED` (adult
ICU defaults), replaced per parameter by ``[alarms.limits]`` when written there, then
overridden field by field by the bed's ``limits``.

This module must not keep alarm state beyond the conditions, nor touch the ward, the
journal or the screen.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gateway import nomenclature
from gateway.clock import NS_PER_S
from gateway.config.model import GatewayConfig, Limit
from gateway.domain import AlarmPriority

LOW, MEDIUM, HIGH = AlarmPriority.LOW, AlarmPriority.MEDIUM, AlarmPriority.HIGH

APNOEA_DELAY_S = 20.0
"""Seconds of respiration rate 0 (or of no valid rate from a device still talking) before
APNOEA: the usual adult default of bedside monitors."""
INVALID_DELAY_S = 10.0
"""Seconds a watched parameter may be reported INVALID before a technical alarm: longer
than a movement artefact, as long as the stale timeout's default."""

KPA_TO_MMHG = 7.500615


@dataclass(frozen=True, slots=True)
class WatchedParameter:
    """A parameter the gateway has limits for, with its adult ICU defaults.

    ``low``/``high`` are the limits staff configure, alarming at ``priority``;
    ``extreme_low``/``extreme_high`` alarm one priority higher. None: no limit there.
    """

    name: str
    """The key in the configuration (``[alarms.limits] hr = …``)."""
    label: str
    codes: tuple[int, ...]
    unit: str
    precision: int
    priority: AlarmPriority
    low: float | None
    high: float | None
    extreme_low: float | None
    extreme_high: float | None


WATCHED: tuple[WatchedParameter, ...] = (
    WatchedParameter("hr", "HR", nomenclature.HEART_RATE, "/min", 0, MEDIUM, 50, 120, 40, 150),
    WatchedParameter("spo2", "SpO2", nomenclature.SPO2, "%", 0, MEDIUM, 90, None, 85, None),
    WatchedParameter(
        "nibp_sys", "NIBP sys", nomenclature.NIBP_SYS, "mmHg", 0, MEDIUM, 90, 160, 70, 200
    ),
    WatchedParameter(
        "nibp_mean", "NIBP mean", nomenclature.NIBP_MEAN, "mmHg", 0, MEDIUM, 65, 110, 50, 130
    ),
    WatchedParameter(
        "abp_sys", "ABP sys", nomenclature.ABP_SYS, "mmHg", 0, MEDIUM, 90, 160, 70, 200
    ),
    WatchedParameter(
        "abp_mean", "ABP mean", nomenclature.ABP_MEAN, "mmHg", 0, MEDIUM, 65, 110, 50, 130
    ),
    WatchedParameter("rr", "RR", nomenclature.RESP_RATE, "/min", 0, MEDIUM, 8, 30, 5, 40),
    WatchedParameter("etco2", "EtCO2", nomenclature.ETCO2, "mmHg", 0, MEDIUM, 25, 50, 15, 60),
    WatchedParameter("temp", "Temp", nomenclature.TEMPERATURE, "°C", 1, LOW, 35.5, 38.5, 34, 40),
)
BY_NAME: Mapping[str, WatchedParameter] = MappingProxyType({p.name: p for p in WATCHED})
BY_CODE: Mapping[int, WatchedParameter] = MappingProxyType(
    {code: p for p in WATCHED for code in p.codes}
)
RESP_CODES = frozenset(nomenclature.RESP_RATE)


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The limits in force for one parameter of one bed (None: no alarm on that side)."""

    parameter: WatchedParameter
    low: float | None
    high: float | None
    extreme_low: float | None
    extreme_high: float | None
    delay_s: float


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """What every rule of every bed shares: hysteresis and the timeouts of freshness."""

    hysteresis_pct: float = 5.0
    stale_timeout_s: float = 10.0
    apnoea_delay_s: float = APNOEA_DELAY_S
    invalid_delay_s: float = INVALID_DELAY_S


def default_limits(condition_delay_s: float = 5.0) -> dict[str, EffectiveLimits]:
    """The built-in adult ICU limits of every watched parameter."""
    return {
        p.name: EffectiveLimits(p, p.low, p.high, p.extreme_low, p.extreme_high, condition_delay_s)
        for p in WATCHED
    }


def effective_limits(
    config: GatewayConfig, bed_id: str
) -> tuple[dict[str, EffectiveLimits], list[str]]:
    """The limits in force for a bed, and what was wrong with combining them (each a fault).

    A parameter written in ``[alarms.limits]`` is taken as written there (a side left out
    has no alarm, as docs/configuration.md says); one not written keeps the built-in
    default. The bed's ``limits`` then override field by field, so a bed never switches a
    limit off by leaving it out. The extreme tier keeps its default, but is never inside the
    configured limit: a limit moved past it takes the extreme along at the default distance.
    """
    problems: list[str] = []
    ward = config.alarms.limits
    own: Mapping[str, Limit] = next(
        (bed.limits for bed in config.beds if bed.id == bed_id), MappingProxyType({})
    )
    result = {}
    for p in WATCHED:
        written = ward.get(p.name)
        low, high, delay = (
            (p.low, p.high, None)
            if written is None
            else (written.low, written.high, written.delay_s)
        )
        override = own.get(p.name)
        if override is not None:
            low = low if override.low is None else override.low
            high = high if override.high is None else override.high
            delay = delay if override.delay_s is None else override.delay_s
            if low is not None and high is not None and low >= high:
                # Only possible against a built-in default (the configuration checks the
                # rest): the side the bed wrote wins.
                side, value = ("high", high) if override.high is None else ("low", low)
                problems.append(
                    f"bed {bed_id}: {p.name} low {low:g} is not below high {high:g};"
                    f" the built-in {side} limit {value:g} is not used for this bed"
                )
                if side == "high":
                    high = None
                else:
                    low = None
        result[p.name] = EffectiveLimits(
            p,
            low,
            high,
            _extreme_low(p, low),
            _extreme_high(p, high),
            config.alarms.condition_delay_s if delay is None else delay,
        )
    return result, problems


def _extreme_low(p: WatchedParameter, low: float | None) -> float | None:
    if low is None or p.extreme_low is None or p.low is None:
        return None
    return p.extreme_low if low > p.extreme_low else low - (p.low - p.extreme_low)


def _extreme_high(p: WatchedParameter, high: float | None) -> float | None:
    if high is None or p.extreme_high is None or p.high is None:
        return None
    return p.extreme_high if high < p.extreme_high else high + (p.extreme_high - p.high)


def in_unit(value: float, unit: str, parameter: WatchedParameter) -> float | None:
    """``value`` in the unit the limits are written in; None when it cannot be converted
    (a unit the gateway does not know must never be compared with a limit)."""
    if not unit or unit == parameter.unit:
        return value
    if parameter.unit == "mmHg" and unit == "kPa":
        return value * KPA_TO_MMHG
    if parameter.unit == "°C" and unit in ("°F", "degF", "[degF]"):
        return (value - 32.0) * 5.0 / 9.0
    if parameter.unit == "/min" and unit in ("/min", "bpm", "rpm"):
        return value
    return None


@dataclass(slots=True)
class Condition:
    """What a rule says now: the condition holds at ``priority`` (None: it does not)."""

    priority: AlarmPriority | None
    text: str = ""


_LARGEST = sys.float_info.max
_NONE = Condition(None)
QUIET = (_NONE, _NONE)
"""What a limit watch says when neither side holds: the same object every time, so the
engine can skip it with one identity test."""


class _Side:
    """One side (low or high) of a limit: two tiers and the condition's state."""

    __slots__ = ("above", "delay_ns", "hysteresis", "pending", "priority", "thresholds")

    def __init__(
        self,
        above: bool,
        thresholds: tuple[tuple[float, AlarmPriority], ...],
        delay_ns: int,
        hysteresis_pct: float,
    ) -> None:
        self.above = above
        self.thresholds = thresholds
        """(limit, priority), mildest first."""
        self.delay_ns = delay_ns
        self.hysteresis = hysteresis_pct / 100.0
        self.pending: list[int | None] = [None] * len(thresholds)
        """Since when the value has been past each tier, continuously."""
        self.priority: AlarmPriority | None = None
        """The condition's priority while it holds."""

    def past(self, value: float, limit: float) -> bool:
        return value > limit if self.above else value < limit

    def back_inside(self, value: float) -> bool:
        """Inside the mildest limit by the hysteresis: the condition may end."""
        limit = self.thresholds[0][0]
        margin = abs(limit) * self.hysteresis
        return value <= limit - margin if self.above else value >= limit + margin

    def reading(self, value: float, now_ns: int) -> None:
        pending = self.pending
        for index, (limit, _) in enumerate(self.thresholds):
            if self.past(value, limit):
                if pending[index] is None:
                    pending[index] = now_ns
            else:
                pending[index] = None
        if self.priority is not None and self.back_inside(value):
            self.priority = None
        self.due(now_ns)

    def due(self, now_ns: int) -> None:
        """Raise or escalate the tiers whose delay has run out (the priority only rises)."""
        for index in range(len(self.thresholds) - 1, -1, -1):
            since = self.pending[index]
            if since is not None and now_ns - since >= self.delay_ns:
                tier = self.thresholds[index][1]
                if self.priority is None or tier > self.priority:
                    self.priority = tier
                return

    def reset(self) -> None:
        self.priority = None
        self.pending = [None] * len(self.thresholds)

    def hold(self, value: float, priority: AlarmPriority) -> None:
        """A condition that held before a restart holds on at ``priority`` (at most the
        highest tier) unless ``value`` is back inside by the hysteresis."""
        if self.priority is None and not self.back_inside(value):
            self.priority = min(priority, max(tier for _, tier in self.thresholds))

    def carry(self, old: _Side) -> None:
        """Take over ``old``'s holding condition (limits changed while it held): while the
        value is past this side's limits too, it holds on at the priority it had, capped to
        the tiers the value is past here — no gap, no fresh condition delay."""
        if old.priority is None:
            return
        pairs = zip(self.thresholds, self.pending, strict=True)
        past = [tier for (_, tier), since in pairs if since is not None]
        if past:
            self.priority = min(old.priority, max(past))

    @property
    def waiting(self) -> bool:
        pending = self.pending
        return pending.count(None) != len(pending)  # in C: the timer asks it of every side


class LimitWatch:
    """One parameter channel of one bed against its limits.

    :meth:`reading` is called with every value received (on the ingest path), :meth:`tick`
    on the timer; both return the low side's and the high side's :class:`Condition`.
    """

    __slots__ = (
        "ceiling",
        "floor",
        "high",
        "label",
        "last_ns",
        "limits",
        "low",
        "parameter",
        "quiet",
        "settings",
        "value",
    )

    def __init__(self, limits: EffectiveLimits, label: str, settings: RuleSettings) -> None:
        p = limits.parameter
        self.parameter = p
        self.limits = limits
        self.label = label or p.label
        self.settings = settings
        delay_ns = round(limits.delay_s * NS_PER_S)
        self.low = self._side(False, limits.low, limits.extreme_low, delay_ns)
        self.high = self._side(True, limits.high, limits.extreme_high, delay_ns)
        self.value: float | None = None
        self.last_ns = 0
        # The ingest path's shortcut: while nothing is pending or holding, a value inside
        # [floor, ceiling] changes nothing. Finite bounds even without a limit, so the one
        # chained comparison also turns away infinities and NaN (they take the long way).
        self.floor = -_LARGEST if limits.low is None else limits.low
        self.ceiling = _LARGEST if limits.high is None else limits.high
        self.quiet = True

    def _side(
        self, above: bool, limit: float | None, extreme: float | None, delay_ns: int
    ) -> _Side | None:
        if limit is None:
            return None
        priority = self.parameter.priority
        up = AlarmPriority(min(int(priority) + 1, int(HIGH)))
        tiers = ((limit, priority),) if extreme is None else ((limit, priority), (extreme, up))
        return _Side(above, tiers, delay_ns, self.settings.hysteresis_pct)

    def reading(self, value: float | None, now_ns: int) -> tuple[Condition, Condition]:
        """A reading arrived: ``value`` in the limits' unit, None when it is not a valid
        number (invalid, questionable, text, unknown unit)."""
        self.last_ns = now_ns
        if value is not None and self.quiet and self.floor <= value <= self.ceiling:
            self.value = value  # finite, inside, and nothing pending or holding
            return QUIET
        if value is None or not math.isfinite(value):
            self.value = None
            self._reset()
            return QUIET
        self.value = value
        if self.low is not None:
            self.low.reading(value, now_ns)
        if self.high is not None:
            self.high.reading(value, now_ns)
        return self._conditions()

    def tick(self, now_ns: int) -> tuple[Condition, Condition]:
        """Time passed: a value past its limit for the delay raises its alarm even when no
        new reading comes; a value that went stale ends it."""
        if self.value is None:
            return QUIET
        if now_ns - self.last_ns > self.settings.stale_timeout_s * NS_PER_S:
            self.value = None
            self._reset()
            return QUIET
        if self.low is not None:
            self.low.due(now_ns)
        if self.high is not None:
            self.high.due(now_ns)
        return self._conditions()

    def carry(self, old: LimitWatch, now_ns: int) -> tuple[Condition, Condition]:
        """The channel's watch with new limits, taking over from ``old``: its last value
        judged at its own time against these limits, and a condition that held under the
        old limits holds on while the value is past these too."""
        if old.value is None:
            return QUIET
        self.reading(old.value, old.last_ns)
        for side, before in ((self.low, old.low), (self.high, old.high)):
            if side is not None and before is not None:
                side.carry(before)
        return self.tick(now_ns)

    @property
    def busy(self) -> bool:
        """Whether the timer has anything to do here (a condition pending or holding)."""
        low, high = self.low, self.high
        if low is not None and (low.priority is not None or low.waiting):
            return True
        return high is not None and (high.priority is not None or high.waiting)

    def _reset(self) -> None:
        if self.low is not None:
            self.low.reset()
        if self.high is not None:
            self.high.reset()
        self.quiet = True

    def _conditions(self) -> tuple[Condition, Condition]:
        self.quiet = not self.busy
        if self.quiet:
            return QUIET
        return self._condition(self.low, "LOW"), self._condition(self.high, "HIGH")

    def _condition(self, side: _Side | None, word: str) -> Condition:
        if side is None or side.priority is None or self.value is None:
            return _NONE
        shown = nomenclature.format_value(self.value, self.parameter.precision)
        return Condition(side.priority, f"{self.label} {word} {shown}")


class ApnoeaWatch:
    """APNOEA: a valid respiration rate of 0, or no valid rate any more from a device that
    still reports, for the apnoea delay. Ends with the first valid rate above 0."""

    __slots__ = ("delay_ns", "device_ns", "priority", "settings", "since", "valid_ns")

    def __init__(self, settings: RuleSettings) -> None:
        self.settings = settings
        self.delay_ns = round(settings.apnoea_delay_s * NS_PER_S)
        self.since: int | None = None
        """Since when breathing has not been seen (None: it is being seen)."""
        self.valid_ns = 0
        """When the last valid rate above 0 came."""
        self.device_ns = 0
        """When the device that measures the rate last reported anything."""
        self.priority: AlarmPriority | None = None

    def reading(self, rate: float | None, now_ns: int) -> Condition:
        """A respiration-rate row arrived (``rate`` None: not a valid number)."""
        self.device_ns = now_ns
        if rate is not None and rate > 0:
            self.since, self.priority, self.valid_ns = None, None, now_ns
            return _NONE
        if self.since is None:
            if rate is not None:
                self.since = now_ns  # a measured 0
            elif self.valid_ns:
                self.since = self.valid_ns  # breathing was seen, and is no longer
        return self.tick(now_ns)

    def device_spoke(self, now_ns: int) -> None:
        """The device that measures the rate reported something else (no rate row)."""
        self.device_ns = now_ns
        if self.since is None and self.valid_ns:
            self.since = self.valid_ns

    def tick(self, now_ns: int) -> Condition:
        if self.since is None:
            return _NONE
        if now_ns - self.device_ns > self.settings.stale_timeout_s * NS_PER_S:
            # The device went silent: that is DEVICE LOST, not apnoea.
            self.since, self.priority = None, None
            return _NONE
        if self.priority is None and now_ns - self.since >= self.delay_ns:
            self.priority = HIGH
        return _NONE if self.priority is None else Condition(HIGH, "APNOEA")


class InvalidWatch:
    """A watched parameter reported INVALID for the invalid delay: a technical condition
    (sensor off, leads off, no transducer), low priority. Ends with a valid value or when
    the parameter is no longer sent (then it is stale, shown greyed with its age)."""

    __slots__ = ("delay_ns", "label", "last_ns", "settings", "since")

    def __init__(self, label: str, settings: RuleSettings) -> None:
        self.label = label
        self.settings = settings
        self.delay_ns = round(settings.invalid_delay_s * NS_PER_S)
        self.since: int | None = None
        self.last_ns = 0

    def reading(self, invalid: bool, now_ns: int) -> Condition:
        self.last_ns = now_ns
        if not invalid:
            self.since = None
            return _NONE
        if self.since is None:
            self.since = now_ns
        return self.tick(now_ns)

    def tick(self, now_ns: int) -> Condition:
        if self.since is None:
            return _NONE
        if now_ns - self.last_ns > self.settings.stale_timeout_s * NS_PER_S:
            self.since = None
            return _NONE
        if now_ns - self.since >= self.delay_ns:
            return Condition(LOW, f"{self.label} INVALID")
        return _NONE

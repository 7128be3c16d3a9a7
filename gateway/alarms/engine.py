"""The alarm engine, aligned with IEC 60601-1-8: every alarm of the ward, its state, its sound.

Sources of alarm conditions, each keyed so that its updates land on one alarm:

* **device alarms** (PCD-04, Philips alert rows) repeated with the device's priority and
  lifecycle — phases start / continue / end, state active / latched / inactive, the
  device's inactivation state — keyed by (bed, device, alarm id). An alarm sent without a
  lifecycle (phase ``present``, ``start_only``, ``tpoint``: Philips sends its current alert
  list with every report) lasts while it is repeated, and ends
  ``present_timeout_s`` after the last repeat;
* **limit alarms** the gateway raises on numerics, **apnoea**, and **invalid parameters**
  (the rules of :mod:`gateway.alarms.rules`) — never on demo or test data
  (``Observation.demo``), which is not a patient's;
* **technical alarms** from the gateway's own state: a device silent past the stale
  timeout (NO DATA, medium), then past ``lost_after_s`` (DEVICE LOST, high: one alarm,
  escalated), the journal failing (high, ward-wide), a
  device that matches no bed (low, ward-wide; at most :data:`gateway.ward.state.MAX_UNASSIGNED`
  of them), BED CONFLICT (medium: live devices of different patients at one location,
  :mod:`gateway.ward.bed_conflicts`; it ends with the conflict), a peer refused new beds or
  devices by the admission limits (ADMISSION LIMIT, medium, ward-wide, one per peer:
  :mod:`gateway.admission`).

States: an alarm is *active* while its condition holds; a high-priority physiological
alarm whose condition ends is *latched* — still shown — until acknowledged; an
*acknowledged* alarm stays shown while its condition holds but no longer sounds (unless it
escalates). *Audio paused* silences every alarm for ``audio_pause_s``; a new alarm of a
higher priority than any active when the pause began, or any new high-priority alarm,
sounds through. Every transition is journaled with its time and who made it: the operator
for what an operator did (acknowledge, audio pause), ``gateway`` or ``device`` for what
the engine did on its own (raised, ended, latched, escalated …) — an audit trail must not
say a nurse raised an alarm.

A device's alarm and the gateway's limit alarm of one condition (same bed, parameter and
direction: :mod:`gateway.alarms.conditions`) are two alarms here — each with its own
lifecycle and journal entries — shown as one (:meth:`AlarmEngine.snapshot`). One that
joins a condition already shown, without making it more urgent, is no news: it takes the
condition's acknowledgement and its place in the sound.

The engine is fed by the hub on the ingest path (:meth:`AlarmEngine.observe`, cheap: each
watched channel of a bed keeps its rules and alarm keys, so a reading inside its limits
costs two dictionary lookups and a few comparisons; a rule's verdict goes to the alarm
lifecycle only when it says something or an alarm of it is shown) and moved on by a timer
(:meth:`AlarmEngine.tick`), so delays, escalations and lost devices happen even when no
message arrives. It must never raise into the ingest path: a failing rule is reported as a
fault (once a minute at most) and the other rules keep running. It must not block, touch
the ward state or the screen, or make a sound itself (:mod:`gateway.alarms.audio` does).

Every time inside the engine — condition delays, lost devices, apnoea, the audio pause,
latching, the ``now_ns`` its methods take — is on the clock's monotonic scale
(:mod:`gateway.clock`): a wall clock stepped an hour either way raises, ends or prolongs
no alarm. Only the transitions it journals carry wall time (what happened when, as the
records and the history show it).

Around it: what views see (:mod:`gateway.alarms.snapshot`), its settings
(:mod:`gateway.alarms.settings`), the rules (:mod:`gateway.alarms.rules`) and which alarms
are one condition (:mod:`gateway.alarms.conditions`). The engine itself stays one module:
it is one state machine — the ingest fast path, every alarm's lifecycle, the timer, the
operator's actions and the sound all read and write the same alarm table under the same
invariants (the members of a condition, the pause's ceiling, the journal's outbox), so a
part taken out would have to reach into the others' private state.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from gateway.alarms.conditions import condition_key, device_condition
from gateway.alarms.rules import (
    BY_CODE,
    QUIET,
    RESP_CODES,
    ApnoeaWatch,
    Condition,
    EffectiveLimits,
    InvalidWatch,
    LimitWatch,
    WatchedParameter,
    in_unit,
)
from gateway.alarms.settings import AlarmSettings
from gateway.alarms.snapshot import MARKERS, UNKNOWN_OPERATOR, ActiveAlarm, AlarmSnapshot, Audible
from gateway.clock import NS_PER_S, Clock, SystemClock, wall_offset_ns
from gateway.domain import (
    AlarmChange,
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    AlarmTransition,
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
)
from gateway.ward.bed_conflicts import BedConflict
from gateway.ward.state import MAX_UNASSIGNED

log = logging.getLogger("gateway.alarms")  # the name its log lines have always carried

HIGH, MEDIUM, LOW, NONE = (
    AlarmPriority.HIGH,
    AlarmPriority.MEDIUM,
    AlarmPriority.LOW,
    AlarmPriority.NONE,
)
PHYSIOLOGICAL, TECHNICAL = AlarmKind.PHYSIOLOGICAL, AlarmKind.TECHNICAL
GATEWAY, DEVICE = AlarmSource.GATEWAY, AlarmSource.DEVICE
_VALID, _INVALID = ObservationStatus.VALID, ObservationStatus.INVALID

WARD = "ward"
"""The bed part of the key of a ward-wide alarm."""

_ENDED_PHASES = frozenset(("end", "stop", "reset"))
_PRESENCE_PHASES = frozenset(("present", "start_only", "tpoint"))
_SILENCING = frozenset(("audio-paused", "audio-off", "alarm-paused", "alarm-off"))
_ACKNOWLEDGING = frozenset(("alert-acknowledged",))
FAULT_EVERY_S = 60.0
"""A rule that keeps failing is reported again at most this often (with a count)."""
MAX_OUTBOX = 10_000
"""Transitions waiting for the journal; past it the oldest are dropped, as a fault."""


# --------------------------------------------------------------------------- engine state


@dataclass(slots=True)
class _Alarm:
    key: str
    bed: BedId | None
    bed_label: str
    priority: AlarmPriority
    kind: AlarmKind
    source: AlarmSource
    text: str
    onset_ns: int
    audible_ns: int
    """When it last became audible (raised, escalated): what an audio pause compares."""
    device: DeviceId | None = None
    parameter_code: int | None = None
    latched_ns: int | None = None
    acknowledged: bool = False
    silenced: bool = False
    expires_ns: int | None = None
    announced: bool = False
    broke_through: bool = False
    condition: str | None = None
    """The condition it is of (:mod:`gateway.alarms.conditions`): alarms of one condition
    are shown as one."""


_CONDITION_HOLDS = frozenset(
    (AlarmChange.RAISED, AlarmChange.ESCALATED, AlarmChange.DEESCALATED, AlarmChange.ACKNOWLEDGED)
)
_CONDITION_ENDED = frozenset((AlarmChange.ENDED, AlarmChange.LATCHED, AlarmChange.CLEARED))


@dataclass(slots=True)
class _Channel:
    """One watched parameter channel of a bed (an MDC code and its OBX-4 sub-id)."""

    parameter: WatchedParameter
    sub_id: str
    unit: str
    """The unit its limits are written in: a value in it needs no conversion."""
    device: DeviceId
    limit: LimitWatch
    invalid: InvalidWatch
    apnoea: ApnoeaWatch | None
    low_key: str
    high_key: str
    invalid_key: str
    apnoea_key: str
    floor: float = 0.0
    ceiling: float = 0.0
    """The limit watch's quiet range (its ``floor`` and ``ceiling``)."""
    seen_ns: int = 0
    limited: bool = False
    """Whether the limit watch said something other than QUIET last time."""
    low_condition: str = ""
    high_condition: str = ""
    """The conditions its limit alarms are of (a device's own alarm may be of them too)."""
    calm: bool = False
    """Whether a valid number inside ``floor`` … ``ceiling`` leaves every rule of the
    channel as it is: no limit condition pending or holding, none just ended, no INVALID
    pending, breathing seen and no APNOEA shown. Set by each reading that takes the long
    way; only a reading (or, for apnoea, a report without the rate) can make a calm channel
    busy — the timer only ends conditions — so it is never wrong towards calm."""


@dataclass(slots=True)
class _Link:
    """A device of a bed: when it last reported, and the key of its DEVICE LOST alarm."""

    device: DeviceId
    last_ns: int
    lost_key: str


@dataclass(slots=True)
class _Bed:
    bed: BedId
    label: str
    limits: Mapping[str, EffectiveLimits]
    channels: dict[tuple[int, str], _Channel] = field(default_factory=dict)
    by_code: dict[int, _Channel] = field(default_factory=dict)
    """The first channel of each code: the one lookup a reading costs, when it is that
    channel (a code with several channels finds the others in ``channels``)."""
    links: dict[str, _Link] = field(default_factory=dict)
    """Each device of the bed, by its key."""
    breathing: list[_Channel] = field(default_factory=list)
    """The channels with an apnoea watch."""


@dataclass(slots=True)
class _Stray:
    device: DeviceId
    text: str
    last_ns: int


class AlarmEngine:
    """Every alarm of the ward: fed by :meth:`observe`, moved on by :meth:`tick`, read by
    :meth:`snapshot`, answered by :meth:`acknowledge` and :meth:`pause_audio`."""

    remote = False
    """The gateway's own engine: what a screen's alarm keys act on directly."""

    def __init__(
        self,
        settings: AlarmSettings | None = None,
        *,
        clock: Clock | None = None,
        history: int = 2000,
    ) -> None:
        self.settings = settings or AlarmSettings()
        self.clock = clock or SystemClock()
        self.on_fault: Callable[[str, str], None] = _log_fault
        """Where a failing rule is reported (the hub sets its own)."""
        self.on_new_alarm: Callable[[], None] | None = None
        """Called (on the ingest path: it must only schedule work) when an alarm is raised
        or escalated, so a screen can show it now instead of at its next refresh."""
        self.bed_conflicts: Callable[[int], Mapping[str, BedConflict]] | None = None
        """The locations in conflict at a time (the hub sets its own): BED CONFLICT alarms,
        checked by :meth:`check_conflicts` and on every :meth:`tick`."""
        self._conflict_keys: set[str] = set()
        self.operator = UNKNOWN_OPERATOR
        self._started_ns = self.clock.monotonic_ns()
        self._stale_ns = round(self.settings.rules.stale_timeout_s * NS_PER_S)
        self._lost_ns = round(max(self.settings.lost_after_s, 0.0) * NS_PER_S)
        self._present_ns = round(self.settings.present_timeout_s * NS_PER_S)
        self._beds: dict[str, _Bed] = {}
        """By bed key (a bed is its key: cheaper to hash than the record)."""
        self._strays: dict[DeviceId, _Stray] = {}
        self._alarms: dict[str, _Alarm] = {}
        self._history: deque[AlarmTransition] = deque(maxlen=history)
        self._outbox: deque[AlarmTransition] = deque()
        self._version = 0
        self._cached: tuple[int, tuple[ActiveAlarm, ...]] = (-1, ())
        self._restoring = False
        self._paused_ns: int | None = None
        self._paused_until_ns: int | None = None
        self._pause_ceiling = NONE
        self._recording: str | None = None
        self._failures: dict[str, tuple[int, int]] = {}
        self._warned: set[tuple[str, str, str]] = set()

    # ---------------------------------------------------------------- the ingest path

    def observe(
        self, bed: BedId | None, bed_label: str, report: DeviceReport, seen_ns: int
    ) -> None:
        """What a routed report says (``bed`` None: its device matches no bed), taken in
        at monotonic time ``seen_ns``. Never raises."""
        now = seen_ns
        try:
            if bed is None:
                self._stray(report, now)
                for event in report.alarms:
                    self._device_alarm(None, f"UNASSIGNED {report.device}", event, now)
                return
            state = self._beds.get(bed.key)
            if state is None:
                state = self._new_bed(bed, bed_label)
            elif bed_label and bed_label != state.label:
                state.label = bed_label
            device = report.device
            link = state.links.get(device.key)
            if link is None:
                link = state.links[device.key] = _Link(device, now, _lost_key(bed, device))
            link.last_ns = now
            if link.lost_key in self._alarms:
                self._set(link.lost_key, _NO, now, bed=bed, label=state.label, kind=TECHNICAL)
        except Exception as exc:  # a bug here must cost this report its alarms, nothing more
            self._bug("report", exc)
            return
        by_code = state.by_code
        for obs in report.observations:
            if obs.demo:
                continue  # demo or test data: never a patient's value, never limit-alarmed
            channel = by_code.get(obs.code)
            if channel is None or channel.sub_id != obs.sub_id:
                parameter = _BY_CODE.get(obs.code)
                if parameter is None:
                    continue  # no rule watches this code
                try:
                    channel = state.channels.get((obs.code, obs.sub_id))
                    if channel is None:
                        channel = self._new_channel(state, parameter, obs)
                except Exception as exc:
                    self._bug(f"{parameter.name} limits", exc)
                    continue
            try:
                value = obs.value
                # The common case, inline: a valid number in the limits' unit, inside them,
                # on a calm channel. All there is to do is what _reading and
                # LimitWatch.reading would do then: remember it.
                if (
                    channel.calm
                    and obs.status is _VALID
                    and value.__class__ is float
                    and channel.floor <= value <= channel.ceiling
                    and (obs.unit == channel.unit or not obs.unit)
                ):
                    limit = channel.limit
                    channel.seen_ns = limit.last_ns = now
                    channel.device = obs.device
                    limit.value = value
                    if channel.apnoea is not None:  # a rate above 0 (floor): breathing
                        channel.apnoea.device_ns = channel.apnoea.valid_ns = now
                    continue
                self._reading(state, channel, obs, now)
            except Exception as exc:
                self._bug(f"{channel.parameter.name} limits", exc)
        for channel in state.breathing:
            if channel.seen_ns != now:  # a rate this report did not carry
                try:
                    self._breathing(state, device, now)
                except Exception as exc:
                    self._bug("apnoea", exc)
                break
        for event in report.alarms:
            try:
                self._device_alarm(state.bed, state.label, event, now)
            except Exception as exc:
                self._bug("device alarm", exc)

    def set_limits(
        self,
        limits: Callable[[BedId], Mapping[str, EffectiveLimits]],
        now_ns: int | None = None,
    ) -> list[str]:
        """New alarm limits while running (a configuration reloaded): every bed takes its
        own at once — a bed heard later asks ``limits`` as before. A channel whose limits
        changed is judged again on its last value against the new ones: an alarm past a
        limit that moved away ends (unless latched), a value past a new limit raises its
        alarm after the condition delay, counted from that value. Returns the labels of
        the beds whose limits changed. Never raises."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        self.settings = dataclasses.replace(self.settings, limits=limits)
        changed = []
        for state in self._beds.values():
            try:
                fresh = limits(state.bed)
                if dict(fresh) == dict(state.limits):
                    continue
                state.limits = fresh
                changed.append(state.label)
                for channel in state.channels.values():
                    name = channel.parameter.name
                    new = fresh.get(name) or EffectiveLimits(
                        channel.parameter, None, None, None, None, 0.0
                    )
                    if new != channel.limit.limits:
                        self._new_limits(state, channel, new, now)
            except Exception as exc:
                self._bug("new limits", exc)
        self._version += 1
        return changed

    def _new_limits(
        self, state: _Bed, channel: _Channel, limits: EffectiveLimits, now: int
    ) -> None:
        old = channel.limit
        limit = channel.limit = LimitWatch(limits, old.label, self.settings.rules)
        breathing = channel.apnoea is not None
        channel.floor = max(limit.floor, _SMALLEST) if breathing else limit.floor
        channel.ceiling = limit.ceiling
        channel.calm = False  # the next reading takes the long way
        pair = limit.carry(old, now)  # the last value against the new limits, no gap
        if pair is not QUIET or channel.limited:
            low, high = pair
            bed, label = state.bed, state.label
            self._apply(channel.low_key, low, now, bed=bed, label=label, channel=channel)
            self._apply(channel.high_key, high, now, bed=bed, label=label, channel=channel)
            channel.limited = pair is not QUIET

    def _new_bed(self, bed: BedId, label: str) -> _Bed:
        state = self._beds[bed.key] = _Bed(bed, label or bed.key, self.settings.limits(bed))
        return state

    def _reading(self, state: _Bed, channel: _Channel, obs: Observation, now: int) -> None:
        """One reading of a watched channel: its rules, and their alarms when they speak.

        The common case — a valid number in the limits' unit, inside them, nothing pending
        or shown — costs a few comparisons: a verdict of no condition goes to the alarm
        lifecycle only when an alarm of that rule is shown (it may end or stay latched).
        """
        channel.calm = False  # until this reading is through (a rule may raise)
        channel.seen_ns = now
        channel.device = obs.device
        value = obs.value
        status = obs.status
        number: float | None = None
        if status is _VALID and not isinstance(value, str):
            unit = obs.unit
            if not unit or unit == channel.unit:
                number = value
            else:
                number = in_unit(value, unit, channel.parameter)
                if number is None:
                    self._warn(state, channel.parameter, unit)
        pair = channel.limit.reading(number, now)
        if pair is not QUIET or channel.limited:  # the common case costs one test
            low, high = pair
            bed, label = state.bed, state.label
            self._apply(channel.low_key, low, now, bed=bed, label=label, channel=channel)
            self._apply(channel.high_key, high, now, bed=bed, label=label, channel=channel)
            channel.limited = pair is not QUIET
        invalid = status is _INVALID
        if invalid or channel.invalid.since is not None:
            condition = channel.invalid.reading(invalid, now)
            self._apply(
                channel.invalid_key, condition, now, bed=state.bed, label=state.label,
                kind=TECHNICAL, channel=channel,
            )  # fmt: skip
        calm = channel.limit.quiet and not channel.limited and channel.invalid.since is None
        apnoea = channel.apnoea
        if apnoea is not None:
            condition = apnoea.reading(number, now)
            if condition.priority is not None or channel.apnoea_key in self._alarms:
                self._apply(
                    channel.apnoea_key, condition, now, bed=state.bed, label=state.label,
                    channel=channel,
                )  # fmt: skip
            calm = calm and apnoea.since is None and channel.apnoea_key not in self._alarms
        channel.calm = calm

    def _new_channel(self, state: _Bed, parameter: WatchedParameter, obs: Observation) -> _Channel:
        limits = state.limits.get(parameter.name)
        if limits is None:  # no limits for it: never alarms on value, still on INVALID
            limits = EffectiveLimits(parameter, None, None, None, None, 0.0)
        label = obs.label or parameter.label
        rules = self.settings.rules
        base = f"{state.bed.key}|{obs.code}|{obs.sub_id}"
        breathing = obs.code in RESP_CODES
        limit = LimitWatch(limits, label, rules)
        # A rate of 0 is apnoea, never quiet: a respiration channel's quiet range starts
        # above 0 whatever its low limit.
        floor = max(limit.floor, _SMALLEST) if breathing else limit.floor
        channel = _Channel(
            parameter,
            obs.sub_id,
            parameter.unit,
            obs.device,
            limit,
            InvalidWatch(label, rules),
            ApnoeaWatch(rules) if breathing else None,
            f"{base}|low",
            f"{base}|high",
            f"{base}|invalid",
            f"{base}|apnoea",
            floor,
            limit.ceiling,
        )
        channel.low_condition = condition_key(state.bed, obs.code, "low")
        channel.high_condition = condition_key(state.bed, obs.code, "high")
        state.channels[obs.code, obs.sub_id] = channel
        state.by_code.setdefault(obs.code, channel)
        if breathing:
            state.breathing.append(channel)
        return channel

    def _breathing(self, state: _Bed, device: DeviceId, now: int) -> None:
        """The respiration channels of ``device`` that this report did not carry."""
        for channel in state.breathing:
            # seen_ns first: an int comparison spares the record comparison in the common
            # case (the report carried the rate).
            if channel.seen_ns != now and channel.device == device and channel.apnoea is not None:
                channel.calm = False  # breathing may no longer be seen
                channel.apnoea.device_spoke(now)
                condition = channel.apnoea.tick(now)
                if condition.priority is None and channel.apnoea_key not in self._alarms:
                    continue
                self._apply(
                    channel.apnoea_key,
                    condition,
                    now,
                    bed=state.bed,
                    label=state.label,
                    channel=channel,
                )

    def _device_alarm(self, bed: BedId | None, bed_label: str, event: AlarmEvent, now: int) -> None:
        ident = event.alarm_id or f"{event.code or event.source_code or event.text}"
        key = f"{bed.key if bed else WARD}|device|{event.device.key}|{ident}"
        text = event.text or event.parameter_label or "device alarm"
        if isinstance(event.value, float) and event.value == event.value:
            text = f"{text} {event.value:g}"
        kind = event.kind
        ended = event.phase in _ENDED_PHASES or event.state == "inactive" or event.priority is NONE
        if ended:
            self._set(key, _NO, now, bed=bed, label=bed_label, kind=kind, source=DEVICE)
            return
        known = self._alarms.get(key)
        if event.state == "latched" and known is not None and known.latched_ns is not None:
            return  # the device repeats a latched alarm: already shown as latched
        present = Condition(event.priority, text)
        of = None if bed is None else device_condition(bed, event)
        expires = now + self._present_ns if event.phase in _PRESENCE_PHASES else None
        silenced = event.inactivation in _SILENCING or event.inactivation in _ACKNOWLEDGING
        silenced = silenced or event.phase in ("acknowledged", "inactivate")
        self._set(
            key,
            present,
            now,
            bed=bed,
            label=bed_label,
            kind=kind,
            source=DEVICE,
            device=event.device,
            parameter_code=event.parameter_code,
            silenced=silenced,
            expires_ns=expires,
            of=of,
        )
        if event.state == "latched":  # the device latches it: its condition has ended
            self._set(key, _NO, now, bed=bed, label=bed_label, kind=kind, source=DEVICE, latch=True)

    def _stray(self, report: DeviceReport, now: int) -> None:
        device = report.device
        stray = self._strays.get(device)
        where = report.location.label if report.location is not None else report.peer
        text = f"UNASSIGNED {device} {where}".rstrip()
        if stray is None:
            if len(self._strays) >= MAX_UNASSIGNED:
                return  # as many as the ward lists; the hub tells of the others (a fault)
            stray = self._strays[device] = _Stray(device, text, now)
        stray.text, stray.last_ns = text, now
        condition = Condition(LOW, text)
        self._set(_stray_key(device), condition, now, kind=TECHNICAL, device=device)

    # ---------------------------------------------------------------- the timer

    def tick(self, now_ns: int | None = None) -> None:
        """Move every time-driven rule on to ``now_ns`` (the clock's now by default):
        condition delays, stale readings, lost devices, expired device alarms, the end of
        an audio pause. Never raises."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        for state in self._beds.values():
            try:
                self._tick_bed(state, now)
            except Exception as exc:
                self._bug("timer", exc)
        try:
            self._tick_ward(now)
        except Exception as exc:
            self._bug("timer", exc)
        self.check_conflicts(now)

    def check_conflicts(self, now_ns: int | None = None) -> None:
        """Raise BED CONFLICT for every location in conflict now (medium, technical, on the
        location's own bed, naming every source), and end those no longer in conflict.
        Never raises."""
        if self.bed_conflicts is None:
            return
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        try:
            current = {
                _conflict_key(conflict.bed): conflict
                for conflict in self.bed_conflicts(now).values()
            }
            for key, conflict in current.items():
                self._apply(
                    key,
                    Condition(MEDIUM, conflict.text),
                    now,
                    bed=conflict.bed,
                    label=conflict.label,
                    kind=TECHNICAL,
                )
            for key in self._conflict_keys - current.keys():
                alarm = self._alarms.get(key)
                if alarm is not None:
                    self._apply(key, _NO, now, bed=alarm.bed, label=alarm.bed_label, kind=TECHNICAL)
            self._conflict_keys = set(current)
        except Exception as exc:
            self._bug("bed conflict", exc)

    def _tick_bed(self, state: _Bed, now: int) -> None:
        bed, label = state.bed, state.label
        since_start = self._started_ns
        for link in state.links.values():
            device = link.device
            silent = now - max(link.last_ns, since_start)  # no blame for the time we were down
            if silent > self._lost_ns:  # lost: the word the header and the tile use
                condition = Condition(HIGH, f"DEVICE LOST {device}")
            elif silent > self._stale_ns:  # no data yet lost: as the header counts it
                condition = Condition(MEDIUM, f"NO DATA {device}")
            else:
                condition = _NO
            self._apply(
                link.lost_key,
                condition,
                now,
                bed=bed,
                label=label,
                kind=TECHNICAL,
                device=device,
            )
        for channel in state.channels.values():
            if not channel.limit.quiet:  # kept as ``not busy`` by every change of it
                low, high = channel.limit.tick(now)
                self._apply(channel.low_key, low, now, bed=bed, label=label, channel=channel)
                self._apply(channel.high_key, high, now, bed=bed, label=label, channel=channel)
            if channel.invalid.since is not None:
                invalid = channel.invalid.tick(now)
                self._apply(
                    channel.invalid_key,
                    invalid,
                    now,
                    bed=bed,
                    label=label,
                    kind=TECHNICAL,
                    channel=channel,
                )
            if channel.apnoea is not None and channel.apnoea.since is not None:
                apnoea = channel.apnoea.tick(now)
                self._apply(channel.apnoea_key, apnoea, now, bed=bed, label=label, channel=channel)

    def _tick_ward(self, now: int) -> None:
        for stray in self._strays.values():
            if now - stray.last_ns > self._stale_ns:
                key = _stray_key(stray.device)
                if key in self._alarms:
                    self._set(key, _NO, now, kind=TECHNICAL)
        expired = [
            alarm
            for alarm in self._alarms.values()
            if alarm.expires_ns is not None and alarm.expires_ns < now and alarm.latched_ns is None
        ]
        for alarm in expired:
            self._set(
                alarm.key,
                _NO,
                now,
                bed=alarm.bed,
                label=alarm.bed_label,
                kind=alarm.kind,
                source=alarm.source,
            )
        if self._paused_until_ns is not None and now >= self._paused_until_ns:
            self._paused_ns = self._paused_until_ns = None
            self._pause_ceiling = NONE
            self._note(now, AlarmChange.AUDIO_RESUMED, NONE, "audio pause over")
            self._version += 1

    def set_recording_failed(self, reason: str | None, now_ns: int | None = None) -> None:
        """The journal cannot store (``reason``), or stores again (None): RECORDING FAILED,
        a high-priority technical alarm of the whole ward."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        try:
            if reason == self._recording:
                return
            self._recording = reason
            condition = _NO if reason is None else Condition(HIGH, "RECORDING FAILED")
            self._set(_RECORDING_KEY, condition, now, kind=TECHNICAL)
        except Exception as exc:
            self._bug("recording", exc)

    def set_admission_limit(self, host: str, refusing: bool, now_ns: int | None = None) -> None:
        """Peer ``host`` is being refused new beds or devices (``refusing``), or has been
        quiet long enough: ADMISSION LIMIT <host>, a medium-priority technical alarm of the
        whole ward — one per peer, however many identities it invents."""
        now = self.clock.now_ns() if now_ns is None else now_ns
        try:
            condition = Condition(MEDIUM, f"ADMISSION LIMIT {host}") if refusing else _NO
            self._set(f"{WARD}|admission|{host}", condition, now, kind=TECHNICAL)
        except Exception as exc:
            self._bug("admission", exc)

    # ---------------------------------------------------------------- operator actions

    def acknowledge(self, bed: BedId | None, now_ns: int | None = None) -> int:
        """Acknowledge a bed's alarms (None: the ward-wide ones): active ones stop sounding
        and stay shown while their condition holds; latched ones are cleared. Returns how
        many alarms it touched."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        return self._acknowledge([a for a in self._alarms.values() if a.bed == bed], now)

    def acknowledge_alarms(
        self, keys: Collection[str], operator: str, now_ns: int | None = None
    ) -> int:
        """Acknowledge the alarms named by their keys (those still held), as ``operator``
        rather than the one at this screen: a remote screen's request, naming what it
        showed (:mod:`gateway.mqtt.remote_ack`). Returns how many it touched."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        held = [self._alarms[key] for key in dict.fromkeys(keys) if key in self._alarms]
        return self._acknowledge(held, now, operator.strip() or UNKNOWN_OPERATOR)

    def _acknowledge(self, alarms: list[_Alarm], now: int, operator: str | None = None) -> int:
        touched = 0
        for alarm in alarms:
            if alarm.latched_ns is not None:
                del self._alarms[alarm.key]
                self._transition(alarm, AlarmChange.CLEARED, now, operator=operator)
            elif not alarm.acknowledged:
                alarm.acknowledged = True
                self._transition(alarm, AlarmChange.ACKNOWLEDGED, now, operator=operator)
            else:
                continue
            touched += 1
        if touched:
            self._version += 1
        return touched

    def pause_audio(self, now_ns: int | None = None) -> bool:
        """Pause the sound for ``audio_pause_s``, or end a pause already running. Returns
        whether the sound is paused now."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        self._version += 1
        if self.paused(now):
            self._paused_ns = self._paused_until_ns = None
            self._pause_ceiling = NONE
            self._note(now, AlarmChange.AUDIO_RESUMED, NONE, "audio pause ended")
            return False
        self._paused_ns = now
        self._paused_until_ns = now + round(self.settings.audio_pause_s * NS_PER_S)
        # "Higher" than every alarm staff have in front of them, acknowledged or not.
        self._pause_ceiling = max((a.priority for a in self._alarms.values()), default=NONE)
        text = f"audio paused for {self.settings.audio_pause_s:g} s"
        if self._pause_ceiling is NONE:
            text += "; every new alarm sounds"
        elif self._pause_ceiling is HIGH:
            text += "; every new !!! alarm sounds"
        else:
            text += f"; new alarms above {MARKERS[self._pause_ceiling]} and every new !!! sound"
        self._note(now, AlarmChange.AUDIO_PAUSED, NONE, text)
        return True

    def paused(self, now_ns: int) -> bool:
        return self._paused_until_ns is not None and now_ns < self._paused_until_ns

    def sign_in(self, operator: str, now_ns: int | None = None) -> None:
        """Who is at the dashboard from now on (empty: ``unknown``); journaled."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        self.operator = operator.strip() or UNKNOWN_OPERATOR
        self._note(now, AlarmChange.OPERATOR, NONE, f"operator {self.operator}")
        self._version += 1

    def note_configuration(
        self,
        text: str,
        operator: str | None = None,
        now_ns: int | None = None,
        *,
        bed: BedId | None = None,
        bed_label: str = "",
        key: str = "",
    ) -> None:
        """A change of the ward's beds while running (a device bound, a bed renamed, the
        configuration reloaded): a ward-wide entry of the journal, signed by ``operator``
        (None: the one at this screen). With ``bed``, the entry is that bed's (a patient
        admitted or discharged), under the alarm key ``key``."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        wall = now + wall_offset_ns(self.clock)
        who = self.operator if operator is None else (operator.strip() or UNKNOWN_OPERATOR)
        change = AlarmChange.CONFIGURATION
        self._record(
            AlarmTransition(wall, bed, bed_label, key, change, NONE, TECHNICAL, GATEWAY, text, who)
        )
        self._version += 1

    def leave(self, bed: BedId | None, device: DeviceId, now_ns: int | None = None) -> None:
        """``device`` was moved off ``bed`` (None: the unassigned list) by a change of the
        bindings: it is no longer watched there — no DEVICE LOST for a device that only
        moved, and its UNASSIGNED alarm ends. Never raises."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        try:
            if bed is None:
                stray = self._strays.pop(device, None)
                key = _stray_key(device)
                if stray is not None and key in self._alarms:
                    self._set(key, _NO, now, kind=TECHNICAL)
                return
            state = self._beds.get(bed.key)
            link = None if state is None else state.links.pop(device.key, None)
            if state is not None and link is not None and link.lost_key in self._alarms:
                self._set(link.lost_key, _NO, now, bed=bed, label=state.label, kind=TECHNICAL)
        except Exception as exc:
            self._bug("device moved", exc)

    # ---------------------------------------------------------------- the sound

    def audible(self, now_ns: int | None = None) -> Audible:
        """What should sound now. New low-priority alarms are reported once (and marked as
        announced): call this from the one place that sounds."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        top: AlarmPriority | None = None
        new_low = False
        paused = self.paused(now)
        for alarm in self._alarms.values():
            if not self._audible(alarm):
                continue
            if paused and not self._breaks_through(alarm):
                continue
            if top is None or alarm.priority > top:
                top = alarm.priority
            if alarm.priority is LOW and not alarm.announced:
                alarm.announced = new_low = True
        return Audible(top, new_low)

    def _audible(self, alarm: _Alarm) -> bool:
        return not alarm.acknowledged and not alarm.silenced and alarm.priority > NONE

    def _breaks_through(self, alarm: _Alarm) -> bool:
        """A new alarm (since the pause began) of a higher priority, or any new high one."""
        paused = self._paused_ns
        if paused is None or alarm.audible_ns <= paused:
            return False
        return alarm.priority > self._pause_ceiling or alarm.priority is HIGH

    # ---------------------------------------------------------------- views and journal

    def snapshot(self, now_ns: int | None = None) -> AlarmSnapshot:
        """Every alarm shown, sorted; rebuilt only when something changed."""
        now = self.clock.monotonic_ns() if now_ns is None else now_ns
        version, alarms = self._cached
        if version != self._version:
            alarms = tuple(sorted(self._shown(), key=lambda a: (-a.priority, a.onset_ns)))
            self._cached = (self._version, alarms)
        paused = self._paused_until_ns if self.paused(now) else None
        return AlarmSnapshot(
            now, alarms, paused, self.settings.audio, self.settings.muted, self.operator
        )

    def _shown(self) -> list[ActiveAlarm]:
        """One line per condition: an alarm alone as it is, the alarms of one condition
        as one (see :func:`_merged`)."""
        places: list[_Alarm | list[_Alarm]] = []  # in the order they were raised
        conditions: dict[str, list[_Alarm]] = {}
        for alarm in self._alarms.values():
            if alarm.condition is None:
                places.append(alarm)
                continue
            members = conditions.get(alarm.condition)
            if members is None:
                members = conditions[alarm.condition] = []
                places.append(members)
            members.append(alarm)
        return [
            _shown(place)
            if isinstance(place, _Alarm)
            else _shown(place[0])
            if len(place) == 1
            else _merged(place)
            for place in places
        ]

    def history(self, bed: BedId | None = None, *, ward: bool = False) -> list[AlarmTransition]:
        """Recent transitions, newest first: of one bed, of the ward-wide alarms and audio
        (``bed`` None), or all of them (``ward``)."""
        if ward:
            return list(reversed(self._history))
        return [t for t in reversed(self._history) if t.bed == bed]

    def load_history(self, transitions: Iterable[AlarmTransition]) -> None:
        """Transitions read back from the journal after a restart, oldest first."""
        self._history.extend(transitions)

    def take_transitions(self) -> list[AlarmTransition]:
        """The transitions not yet handed to the journal, oldest first (they leave the
        engine: give them back with :meth:`return_transitions` if they were not stored)."""
        taken = list(self._outbox)
        self._outbox.clear()
        return taken

    def return_transitions(self, transitions: list[AlarmTransition]) -> None:
        """Transitions the journal could not store, to be tried again first."""
        self._outbox.extendleft(reversed(transitions))
        self._trim_outbox()

    @contextlib.contextmanager
    def restoring(self) -> Iterator[None]:
        """Feed the journal's recent reports back after a restart without journaling or
        latching what ended before it; alarms still active afterwards are raised again,
        unacknowledged (an acknowledgement does not survive a restart)."""
        self._restoring = True
        try:
            yield
            self._hold_open_limits()
            self.tick()
        finally:
            self._restoring = False
        now = self.clock.monotonic_ns()
        for alarm in self._alarms.values():
            alarm.audible_ns = now
            self._transition(alarm, AlarmChange.RAISED, now, " (after a restart)")

    def _hold_open_limits(self) -> None:
        """A limit alarm the journal says still held at the stop holds on while the value
        read back has not come back inside by the hysteresis: the minutes read back may
        not reach the moment it began (a value 0.5 below its limit for an hour), and its
        condition must not end merely because the gateway restarted."""
        still: dict[str, AlarmPriority] = {}
        for transition in self._history:  # oldest first: the last one of each alarm wins
            if transition.change in _CONDITION_HOLDS:
                still[transition.alarm] = transition.priority
            elif transition.change in _CONDITION_ENDED:
                still.pop(transition.alarm, None)
        if not still:
            return
        for state in self._beds.values():
            for channel in state.channels.values():
                limit = channel.limit
                for side, key in ((limit.low, channel.low_key), (limit.high, channel.high_key)):
                    priority = still.get(key)
                    if priority is not None and side is not None and limit.value is not None:
                        side.hold(limit.value, priority)
                limit.quiet = not limit.busy
                if not limit.quiet:  # its next reading takes the long way, and may end it
                    channel.limited, channel.calm = True, False

    # ---------------------------------------------------------------- the lifecycle

    def _apply(
        self,
        key: str,
        condition: Condition,
        now: int,
        *,
        bed: BedId | None,
        label: str,
        kind: AlarmKind = PHYSIOLOGICAL,
        channel: _Channel | None = None,
        device: DeviceId | None = None,
    ) -> None:
        """A rule's verdict: the fast path when nothing changes, else :meth:`_set`."""
        alarm = self._alarms.get(key)
        priority = condition.priority
        if priority is None:
            if alarm is not None and alarm.latched_ns is None:
                self._set(key, condition, now, bed=bed, label=label, kind=kind)
            return
        if alarm is not None and alarm.latched_ns is None and alarm.priority == priority:
            if alarm.text != condition.text:
                alarm.text = condition.text
                self._version += 1
            return
        code = None
        of: str | None = None
        if channel is not None:
            device = device or channel.device
            code = channel.parameter.codes[0]
            if key == channel.low_key:
                of = channel.low_condition
            elif key == channel.high_key:
                of = channel.high_condition
        self._set(
            key,
            condition,
            now,
            bed=bed,
            label=label,
            kind=kind,
            device=device,
            parameter_code=code,
            of=of,
        )

    def _set(
        self,
        key: str,
        condition: Condition,
        now: int,
        *,
        bed: BedId | None = None,
        label: str = "",
        kind: AlarmKind,
        source: AlarmSource = GATEWAY,
        device: DeviceId | None = None,
        parameter_code: int | None = None,
        silenced: bool = False,
        expires_ns: int | None = None,
        latch: bool | None = None,
        of: str | None = None,
    ) -> None:
        """Move the alarm ``key`` to what its rule (or device) says now. ``of``: the
        condition it is of, when it may be one with another alarm."""
        alarm = self._alarms.get(key)
        priority = condition.priority
        if priority is None:
            if alarm is None or alarm.latched_ns is not None:
                return
            latches = (
                (alarm.priority is HIGH and alarm.kind is PHYSIOLOGICAL) if latch is None else latch
            )
            if latches and not alarm.acknowledged and not self._restoring:
                alarm.latched_ns = now
                self._transition(alarm, AlarmChange.LATCHED, now)
            else:
                del self._alarms[key]
                self._transition(alarm, AlarmChange.ENDED, now)
            self._version += 1
            return
        if alarm is None or alarm.latched_ns is not None:
            alarm = _Alarm(
                key, bed, label, priority, kind, source, condition.text, now, now,
                device, parameter_code,
            )  # fmt: skip
            self._alarms[key] = alarm
            alarm.condition = of
            self._transition(alarm, AlarmChange.RAISED, now)
            if of is not None:
                self._join(alarm, now)
        else:
            if of is not None:
                alarm.condition = of
            if priority > alarm.priority:
                alarm.priority = priority
                alarm.acknowledged = alarm.announced = alarm.broke_through = False
                alarm.audible_ns = now
                self._transition(alarm, AlarmChange.ESCALATED, now)
                if alarm.condition is not None:
                    self._join(alarm, now)
            elif priority < alarm.priority:
                alarm.priority = priority
                self._transition(alarm, AlarmChange.DEESCALATED, now)
            alarm.text, alarm.kind = condition.text, kind
        alarm.silenced = silenced
        alarm.expires_ns = expires_ns
        alarm.bed_label = label or alarm.bed_label
        if (
            not alarm.broke_through
            and self.paused(now)
            and self._audible(alarm)
            and self._breaks_through(alarm)
        ):
            alarm.broke_through = True
            self._transition(alarm, AlarmChange.BROKE_THROUGH, now)
        self._version += 1

    def _join(self, alarm: _Alarm, now: int) -> None:
        """``alarm`` was just raised or escalated, and other alarms of its condition are
        shown: unless it makes the condition more urgent, it is no news to staff — it
        takes the condition's acknowledgement and its place in the sound (an audio pause,
        a low alarm's single bell) from the alarm the condition is shown as."""
        peers = [
            other
            for other in self._alarms.values()
            if other.condition == alarm.condition and other is not alarm
        ]
        if not peers:
            return
        lead = max(peers, key=_precedence)
        if alarm.priority > lead.priority:
            return  # the condition escalates: new, it sounds and needs acknowledging
        alarm.audible_ns = lead.audible_ns
        alarm.announced = alarm.announced or lead.announced
        alarm.broke_through = alarm.broke_through or lead.broke_through
        active = [peer for peer in peers if peer.latched_ns is None]
        if active and all(peer.acknowledged for peer in active) and not alarm.acknowledged:
            alarm.acknowledged = True
            self._transition(
                alarm, AlarmChange.ACKNOWLEDGED, now, f" (shown as one with {lead.text})"
            )

    def _transition(
        self,
        alarm: _Alarm,
        change: AlarmChange,
        now: int,
        note: str = "",
        *,
        operator: str | None = None,
    ) -> None:
        if self._restoring:
            return
        if operator is None:
            operator = self.operator if change in _OPERATOR_ACTIONS else alarm.source.value
        if change in _NEW and self.on_new_alarm is not None:
            try:
                self.on_new_alarm()
            except Exception as exc:
                self._bug("new alarm hook", exc)
        wall = now + wall_offset_ns(self.clock)  # journaled and shown: wall time
        transition = AlarmTransition(
            wall, alarm.bed, alarm.bed_label, alarm.key, change, alarm.priority, alarm.kind,
            alarm.source, alarm.text + note, operator, alarm.device,
        )  # fmt: skip
        self._record(transition)

    def _note(self, now: int, change: AlarmChange, priority: AlarmPriority, text: str) -> None:
        """A ward-wide entry of the journal: the audio pause, the operator."""
        wall = now + wall_offset_ns(self.clock)
        self._record(
            AlarmTransition(
                wall, None, "", "", change, priority, TECHNICAL, GATEWAY, text, self.operator
            )
        )

    def _record(self, transition: AlarmTransition) -> None:
        self._history.append(transition)
        self._outbox.append(transition)
        self._trim_outbox()
        log.info(
            "alarm %s: %s %s %s (%s)",
            transition.change.value,
            transition.bed_label or WARD,
            MARKERS.get(transition.priority, "-"),
            transition.text,
            transition.operator,
        )

    def _trim_outbox(self) -> None:
        excess = len(self._outbox) - MAX_OUTBOX
        if excess > 0:
            for _ in range(excess):
                self._outbox.popleft()
            self.on_fault("alarms", f"{excess} alarm transitions could not be journaled")

    # ---------------------------------------------------------------- faults

    def _bug(self, where: str, exc: Exception) -> None:
        """A rule failed: a fault, at most once a minute per rule, with a count."""
        now = self.clock.monotonic_ns()
        last, count = self._failures.get(where, (0, 0))
        count += 1
        if last and now - last < FAULT_EVERY_S * NS_PER_S:
            self._failures[where] = (last, count)
            return
        self._failures[where] = (now, 0)
        log.error("alarm rule %s failed", where, exc_info=exc)
        again = f" ({count} times)" if count > 1 else ""
        self.on_fault(
            "alarms", f"alarm rule {where} failed{again}: {exc!r}; the other rules keep running"
        )

    def _warn(self, state: _Bed, parameter: WatchedParameter, unit: str) -> None:
        """A value in a unit the limits cannot be compared with: said once, never guessed."""
        key = (state.bed.key, parameter.name, unit)
        if key in self._warned:
            return
        self._warned.add(key)
        self.on_fault(
            "alarms",
            f"{state.label}: {parameter.label} comes in {unit!r}, not {parameter.unit}:"
            " its limits are not checked",
        )


_NO = Condition(None)
_SMALLEST = sys.float_info.min
_BY_CODE: dict[int, WatchedParameter] = dict(BY_CODE)
"""The watched parameters by MDC code, as a plain dict (a lookup per reading)."""
_NEW = frozenset((AlarmChange.RAISED, AlarmChange.ESCALATED))
_OPERATOR_ACTIONS = frozenset((AlarmChange.ACKNOWLEDGED, AlarmChange.CLEARED))
"""Transitions an operator makes (signed with the operator's name); every other one the
engine makes on its own (signed ``gateway`` or ``device``, by the alarm's source)."""
_RECORDING_KEY = f"{WARD}|recording"


def _shown(alarm: _Alarm) -> ActiveAlarm:
    return ActiveAlarm(
        alarm.key,
        alarm.bed,
        alarm.bed_label,
        alarm.priority,
        alarm.kind,
        alarm.source,
        alarm.text,
        alarm.onset_ns,
        latched=alarm.latched_ns is not None,
        acknowledged=alarm.acknowledged,
        silenced=alarm.silenced,
        device=alarm.device,
        parameter_code=alarm.parameter_code,
        members=(alarm.key,),
    )


def _precedence(alarm: _Alarm) -> tuple[AlarmPriority, bool, int]:
    """Which alarm of a condition it is shown as: the most urgent; of equal ones the
    device's (the monitor at the bedside is the primary alarm system), then the oldest."""
    return alarm.priority, alarm.source is DEVICE, -alarm.onset_ns


def _merged(members: list[_Alarm]) -> ActiveAlarm:
    """Alarms of one condition as one: the text, source and device of the one it is shown
    as (:func:`_precedence`) at its priority; since the first began; active while any is
    (latched once all are); acknowledged once every active one is; silenced only if every
    active one is (the gateway's own never is)."""
    lead = max(members, key=_precedence)
    active = [alarm for alarm in members if alarm.latched_ns is None]
    return ActiveAlarm(
        lead.key,
        lead.bed,
        lead.bed_label,
        lead.priority,
        lead.kind,
        lead.source,
        lead.text,
        min(alarm.onset_ns for alarm in members),
        latched=not active,
        acknowledged=bool(active) and all(alarm.acknowledged for alarm in active),
        silenced=bool(active) and all(alarm.silenced for alarm in active),
        device=lead.device,
        parameter_code=next(
            (alarm.parameter_code for alarm in members if alarm.source is DEVICE),
            lead.parameter_code,
        ),
        members=tuple(sorted(alarm.key for alarm in members)),
    )


def _lost_key(bed: BedId, device: DeviceId) -> str:
    return f"{bed.key}|lost|{device.key}"


def _conflict_key(bed: BedId) -> str:
    return f"{bed.key}|conflict"


def _stray_key(device: DeviceId) -> str:
    return f"{WARD}|unassigned|{device.key}"


def _log_fault(source: str, text: str) -> None:
    log.warning("%s: %s", source, text)

"""A device's status flags as device alarms: present while a flag is up, ended when it clears.

Serial devices have no alarm messages: they raise a bit (Masimo's EXC word, Nonin's status
byte) or a text (Ivy's ``LEADS OFF``) in every record while a condition holds. The alarm
engine needs a lifecycle, so :class:`StatusAlarms` turns the flags of each record into
:class:`~gateway.domain.AlarmEvent` records:

* phase ``present`` for every flag up, repeated with every record: the engine keeps the
  alarm while it is repeated and lets it expire on its own once the device falls silent
  (a pulled cable must not leave SENSOR OFF on screen as if it were known; DEVICE LOST
  takes over);
* phase ``end`` (state ``inactive``) once, in the first record where the flag is down —
  or, with ``clear_after`` > 1, down for that many records in a row (a flag that flickers
  frame by frame, like an artefact bit, ends once it has settled).

The tracker survives a reconnection: a flag that is still up afterwards continues, one that
cleared meanwhile ends with the first record. It must not know wire formats.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from gateway.domain import AlarmEvent, AlarmKind, AlarmPriority, AlarmSource, DeviceId

PRESENT = "present"
END = "end"


@dataclass(frozen=True, slots=True)
class StatusFlag:
    """One alarm condition a device signals in its status."""

    name: str
    """Stable id of the condition for this device (the alarm's id): ``sensor-off``."""
    text: str
    """What the dashboard shows: ``SpO2 SENSOR OFF``."""
    priority: AlarmPriority
    kind: AlarmKind = AlarmKind.TECHNICAL
    code: int = 0
    """The MDC event code when one fits (196916 MDC_EVT_SENSOR_DISCONN), else 0."""
    source_code: str | None = None
    """The device's own name for it (``MASIMO-EXC:0x020``)."""
    parameter_code: int | None = None
    parameter_label: str = ""
    invalidates: bool = False
    """Values sent while it is up are not measurements (sensor off, no sensor)."""


class StatusAlarms:
    """The flags of one device, record after record (see the module docstring)."""

    __slots__ = ("_clear_after", "_device", "_up")

    def __init__(self, device: DeviceId, *, clear_after: int = 1) -> None:
        self._device = device
        self._clear_after = max(1, clear_after)
        self._up: dict[str, tuple[StatusFlag, int]] = {}
        """Each flag shown as up, and for how many records in a row it has been down."""

    @property
    def up(self) -> tuple[StatusFlag, ...]:
        """The flags currently shown as up."""
        return tuple(flag for flag, _ in self._up.values())

    def update(
        self,
        flags: Iterable[StatusFlag],
        time_ns: int,
        message_id: str = "",
        *,
        inactivation: str = "enabled",
    ) -> tuple[AlarmEvent, ...]:
        """The alarm events of one record whose status shows ``flags`` up; ``inactivation``
        is the device's alarm-silence state (IHE ACM: ``audio-paused`` …), when it says one."""
        events: list[AlarmEvent] = []
        seen: set[str] = set()
        for flag in flags:
            if flag.name in seen:
                continue
            seen.add(flag.name)
            self._up[flag.name] = (flag, 0)
            events.append(
                self._event(flag, PRESENT, "active", time_ns, message_id, inactivation=inactivation)
            )
        for name, (flag, down_before) in list(self._up.items()):
            if name in seen:
                continue
            down = down_before + 1
            if down >= self._clear_after:
                del self._up[name]
                events.append(self._event(flag, END, "inactive", time_ns, message_id))
            else:
                self._up[name] = (flag, down)
                events.append(
                    self._event(
                        flag, PRESENT, "active", time_ns, message_id, inactivation=inactivation
                    )
                )
        return tuple(events)

    def _event(
        self,
        flag: StatusFlag,
        phase: str,
        state: str,
        time_ns: int,
        message_id: str,
        *,
        inactivation: str = "enabled",
    ) -> AlarmEvent:
        return AlarmEvent(
            device=self._device,
            code=flag.code,
            text=flag.text,
            priority=flag.priority,
            kind=flag.kind,
            phase=phase,
            state=state,
            inactivation=inactivation,
            source=AlarmSource.DEVICE,
            time_ns=time_ns,
            alarm_id=flag.name,
            parameter_code=flag.parameter_code,
            parameter_label=flag.parameter_label,
            source_code=flag.source_code,
            message_id=message_id,
        )

"""The domain model: the contracts between adapters, the core and the views.

Adapters turn wire bytes into these records; nothing downstream of an adapter sees HL7,
serial frames or sockets. Records are small, immutable and cheap to build: the ingest path
makes tens of thousands of them a second. Times are UTC nanoseconds since the epoch.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class BedId:
    """A bed of the ward, after routing: the key staff and configuration know it by."""

    key: str

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True, slots=True)
class DeviceId:
    """A stable identity for a sender.

    ``key`` is what identifies it across connections: ``EUI-64:<hex>`` (MSH-3 or OBX-18),
    ``app:<MSH-3/4>`` when a sender gives no hardware id, ``serial:<port>`` or
    ``tcp:<address>``. ``label`` is for people and does not take part in equality.
    """

    key: str
    label: str = field(default="", compare=False)

    def __str__(self) -> str:
        return self.label or self.key


@dataclass(frozen=True, slots=True)
class Location:
    """A point of care as the device sent it (HL7 PV1-3, type PL).

    Devices disagree on which component holds what (``ICU^12^1``, ``CU1^^Bed001^TAM``,
    ``^^Doc1&5&1``), so the parts are kept as sent and ``raw`` is the routing key.
    """

    raw: str
    point_of_care: str = ""
    room: str = ""
    bed: str = ""
    facility: str = ""

    @property
    def label(self) -> str:
        """The location as staff read it: ``ICU^12^1`` → ``ICU 12-1``."""
        place = "-".join(part for part in (self.room, self.bed) if part)
        return " ".join(part for part in (self.point_of_care, place) if part) or self.raw


class ObservationStatus(enum.Enum):
    """Whether a value may be trusted (HL7 OBX-11, serial status flags)."""

    VALID = "valid"
    INVALID = "invalid"
    QUESTIONABLE = "questionable"


@dataclass(frozen=True, slots=True)
class Observation:
    """One measured or set value from a device.

    ``code`` is the MDC context-free code (block × 65536 + term) when the sender used MDC
    or a code we map to it; otherwise 0, and ``source_code`` keeps the sender's own code
    (``99MNDRY:1234``) so nothing is dropped. ``sub_id`` (OBX-4) tells two channels of the
    same parameter apart. ``value`` is a float for numbers, text for ST/TX/CWE rows.
    """

    device: DeviceId
    code: int
    label: str
    value: float | str
    unit: str
    status: ObservationStatus
    receive_time_ns: int
    device_time_ns: int | None = None
    sub_id: str = ""
    source_code: str | None = None
    message_id: str = ""
    reason: str = ""
    """Why the value is not valid, when it is not (``no-value marker -999``, ``outside
    the physiological range 0–100 %``, the device's own words): shown, exported, kept."""
    demo: bool = False
    """Demo, test or simulation data (OBX-8 ``DEMO``, MSH-11 ``T``/``D``, a monitor in demo
    mode): never a patient's value, never alarmed as physiological, marked wherever shown."""

    @property
    def time_ns(self) -> int:
        """When the value was measured: the device's time when it gave one."""
        return self.device_time_ns if self.device_time_ns is not None else self.receive_time_ns


@dataclass(frozen=True, slots=True, eq=False)
class WaveformChunk:
    """A run of samples of one waveform at a fixed rate, starting at ``start_time_ns``."""

    device: DeviceId
    code: int
    label: str
    sample_rate_hz: float
    start_time_ns: int
    samples: npt.NDArray[np.float32]
    unit: str = ""
    message_id: str = ""
    sub_id: str = ""
    """The sender's channel (HL7 OBX-4): two leads of one code are told apart by it."""
    source_code: str | None = None
    """The sender's own code when it is not MDC (``99MNDRY:…``), as for observations."""


class AlarmPriority(enum.IntEnum):
    """IEC 60601-1-8 priorities; comparable, higher is more urgent."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class AlarmKind(enum.Enum):
    PHYSIOLOGICAL = "physiological"
    TECHNICAL = "technical"
    ADVISORY = "advisory"


class AlarmSource(enum.Enum):
    DEVICE = "device"
    GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """A transition of one alarm condition, from a device (PCD-04, serial flags) or ours.

    ``alarm_id`` ties the updates of one alarm together (for PCD-04: OBR-29, the first
    occurrence, when sent, else OBR-3; see docs/hl7.md). ``phase``,
    ``state`` and ``inactivation`` carry the IHE ACM vocabulary as sent (``start``,
    ``active``, ``enabled`` …).
    """

    device: DeviceId
    code: int
    text: str
    priority: AlarmPriority
    kind: AlarmKind
    phase: str
    state: str
    inactivation: str
    source: AlarmSource
    time_ns: int
    alarm_id: str = ""
    parameter_code: int | None = None
    parameter_label: str = ""
    """The alarming parameter or device as a person reads it (``SpO2``), when sent."""
    value: float | str | None = None
    """The value that raised the alarm, when the device sent it (PCD-04 facet 2)."""
    unit: str = ""
    limits: str = ""
    """The limits as the device sent them (HL7 OBX-7, ``90-96``)."""
    source_code: str | None = None
    """The sender's own event code when it is not MDC (``MDIL-ALERT:2``)."""
    sub_id: str = ""
    """Where in the device the alarm sits (HL7 OBX-4 without its facet number)."""
    message_id: str = ""


class AlarmChange(enum.Enum):
    """What happened to an alarm at the gateway (the alarm engine's journal vocabulary)."""

    RAISED = "raised"
    ESCALATED = "escalated"
    DEESCALATED = "deescalated"
    LATCHED = "latched"
    """The condition ended; a high-priority physiological alarm stays shown until acknowledged."""
    ENDED = "ended"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"
    """A latched alarm acknowledged: gone from the screen."""
    AUDIO_PAUSED = "audio-paused"
    AUDIO_RESUMED = "audio-resumed"
    BROKE_THROUGH = "broke-through"
    """A new alarm sounded through an audio pause."""
    OPERATOR = "operator"
    """Who is at the dashboard (asked once when it starts)."""
    CONFIGURATION = "configuration"
    """The ward's beds changed while running: a device bound to a bed, a bed renamed, the
    configuration reloaded (:mod:`gateway.app.bindings`), signed by who did it."""


@dataclass(frozen=True, slots=True)
class AlarmTransition:
    """One change of an alarm's state at the gateway, with its time and the operator.

    ``alarm`` is the alarm's key, the same in every transition of one alarm (empty for the
    ward-wide audio and operator entries). ``bed`` is None for ward-wide alarms (recording
    failure, unassigned devices).
    """

    time_ns: int
    bed: BedId | None
    bed_label: str
    alarm: str
    change: AlarmChange
    priority: AlarmPriority
    kind: AlarmKind
    source: AlarmSource
    text: str
    operator: str
    device: DeviceId | None = None


class Connectivity(enum.Enum):
    CONNECTED = "connected"
    STALE = "stale"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """What the gateway knows of a sender's link."""

    device: DeviceId
    connectivity: Connectivity
    last_seen_ns: int
    transport: str
    peer: str


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One message as it came off the wire, whatever became of its decoding.

    This is what the journal keeps of every message — accepted or rejected — so a bad one
    can be inspected later and an accepted one exported or replayed. ``raw`` is the frame's
    payload as received (empty for an oversize frame, which is never buffered).
    """

    raw: bytes
    transport: str
    peer: str
    receive_time_ns: int
    control_id: str = ""
    device: DeviceId | None = None


@dataclass(frozen=True, slots=True)
class DeviceReport:
    """Everything one message from one device says about one patient.

    This is what an adapter hands to the core. It names the device and where the device
    says it is (``location``, ``peer``), never the bed: routing is the core's job.
    """

    device: DeviceId
    transport: str
    peer: str
    receive_time_ns: int
    message_id: str = ""
    location: Location | None = None
    patient_id: str = ""
    observations: tuple[Observation, ...] = ()
    waveforms: tuple[WaveformChunk, ...] = ()
    alarms: tuple[AlarmEvent, ...] = ()
    patient_name: str = ""
    """The patient's name as the device sent it (HL7 PID-5, IntelliVue demographics),
    written ``Family, Given``; empty when it sent none. Last so positional builders stay."""


@dataclass(frozen=True, slots=True)
class Fault:
    """Something went wrong that staff or an engineer must be able to see (never silent)."""

    time_ns: int
    source: str
    text: str

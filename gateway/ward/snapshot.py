"""What views see of the ward: a :class:`WardSnapshot` of small frozen records — each bed's
readings aged at snapshot time, its devices and waves, the unassigned senders, the faults
and rejects — and a :class:`WaveWindow` of one wave's newest samples.

:class:`~gateway.ward.state.WardState` makes them (freshness is judged there, in one
place); a view reads them and never holds a reference into the ward state.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from gateway.domain import (
    BedId,
    Connectivity,
    DeviceId,
    DeviceStatus,
    Fault,
    Location,
    ObservationStatus,
)
from gateway.plausibility import RejectedValues
from gateway.ward.bed_conflicts import BedConflict

if TYPE_CHECKING:  # at run time a cycle: gateway.alarms → its engine → config → the ward
    from gateway.alarms.snapshot import AlarmSnapshot


WaveKey = tuple[int, str]
"""A wave of a bed: its MDC code and channel (OBX-4), or (0, the sender's own code)."""


@dataclass(frozen=True, slots=True)
class Reading:
    """A parameter's latest value as a view shows it, aged at snapshot time.

    ``age_s`` counts from when the gateway last *received* the value: past the stale timeout
    it is ``stale`` and must be shown greyed with its age. ``measured_age_s`` counts from
    the device's own measurement time (an NIBP taken 12 minutes ago and re-sent every
    second is live, and 12 minutes old).
    """

    code: int
    label: str
    value: float | str
    unit: str
    status: ObservationStatus
    age_s: float
    measured_age_s: float
    stale: bool
    demo: bool = False
    """Demo or test data (a monitor in demo mode): shown marked DEMO, never as the
    patient's, and kept out of the trends."""


@dataclass(frozen=True, slots=True)
class DeviceLink(DeviceStatus):
    """A device of a bed as the screens list it: its link, and how much it is saying."""

    messages: int
    """Reports received from it since start."""
    rate_per_s: float
    """Reports per second over the last :data:`~gateway.ward.state.RATE_WINDOW_S` seconds (0
    when silent)."""
    closed: bool = False
    """The connection it came on closed since its last report (or the gateway restarted):
    not a device that fell silent on an open link."""


@dataclass(frozen=True, slots=True)
class WaveInfo:
    """A wave a bed has (no samples: those are read with
    :meth:`~gateway.ward.state.WardState.waveform`)."""

    key: WaveKey
    label: str
    unit: str
    sample_rate_hz: float
    age_s: float
    """Seconds since its last chunk was received."""
    stale: bool

    @property
    def code(self) -> int:
        return self.key[0]


@dataclass(frozen=True, slots=True, eq=False)
class WaveWindow:
    """The newest seconds of one wave, oldest sample first; NaN where samples are missing.

    ``end_ns`` is the device time just after the newest sample; ``age_s`` and ``stale``
    are judged by receive time, as for readings.
    """

    key: WaveKey
    label: str
    unit: str
    sample_rate_hz: float
    samples: npt.NDArray[np.float32]
    end_ns: int
    age_s: float
    stale: bool

    @property
    def code(self) -> int:
        return self.key[0]


@dataclass(frozen=True, slots=True)
class BedSnapshot:
    bed: BedId
    label: str
    patient_id: str
    readings: Mapping[int, Reading]
    devices: tuple[DeviceLink, ...]
    connectivity: Connectivity
    """CONNECTED while some device of the bed spoke within the stale timeout, STALE past
    it, LOST past ``lost_after_s`` or when no device ever spoke."""
    silent_s: float | None
    """Seconds since any device of this bed last spoke; None if none ever has."""
    waves: tuple[WaveInfo, ...] = ()
    """The waves this bed has, in the order they first arrived."""
    notes: tuple[str, ...] = ()
    """What the ward could not keep for this bed (a trend or wave past its cap)."""
    conflict: BedConflict | None = None
    """Its location is in conflict: live devices of different patients send it, each
    shown on a bed of its own (BED CONFLICT). Set by the hub, not by the ward."""
    patient_name: str = ""
    """As the devices sent it (HL7 PID-5, IntelliVue PT_DEMOG), "Family, Given", or as
    entered at admission (``patient_entered``); empty when none did. Cleared when the
    patient id changes."""
    patient_entered: bool = False
    """The patient id and name are the admission entered at the gateway (devices screen,
    ``a``): no device of the bed sends a patient id."""
    patient_mismatch: str = ""
    """A device of the bed sends a patient id other than the one admitted at the gateway:
    what to say (``patient id mismatch: entered X, device sends Y``). The device's id is the
    one shown; the two are never mixed."""


@dataclass(frozen=True, slots=True)
class UnassignedDevice:
    """A sender that matched no bed: shown so an engineer can bind it, never dropped."""

    device: DeviceId
    transport: str
    peer: str
    location: Location | None
    last_seen_ns: int
    reports: int
    patient_id: str = ""
    rate_per_s: float = 0.0


@dataclass(frozen=True, slots=True)
class PeerRejects:
    """Messages refused from one sender (answered AR/CR): what a biomed looks at first.

    A sender is the device the message named when it could be read that far, otherwise
    the connection (``host:port``): garbage from one monitor behind a vendor gateway or a
    serial hub is never counted against the healthy monitors at the same address."""

    transport: str
    host: str
    rejected: int
    last_reason: str
    last_time_ns: int
    last_peer: str
    """The full peer (``host:port``) of the last rejected message."""
    device: str = ""
    """The device key the messages named; empty: unreadable that far (a connection's)."""


@dataclass(frozen=True, slots=True)
class GatewaySource:
    """A gateway a remote screen hears over the broker, with the beds it publishes (a
    gateway's own screen has none: its beds are its own)."""

    key: str
    """Its topic base; its beds' and alarms' keys start with it and ``/``."""
    site: str
    ward: str
    gateway: str
    """Its own topic level (``gw-icu3n``): what tells two gateways of one name apart."""
    name: str
    beds: tuple[BedId, ...]
    dark: str | None
    """Why its beds are NO DATA now; None while its heartbeat proves it live."""


@dataclass(frozen=True, slots=True)
class WardSnapshot:
    time_ns: int
    stale_timeout_s: float
    beds: tuple[BedSnapshot, ...]
    unassigned: tuple[UnassignedDevice, ...]
    faults: tuple[Fault, ...] = ()
    """The most recent faults (bad messages, refused peers, lost links), oldest first."""
    fault_count: int = 0
    """Every fault since start, including those no longer in ``faults``."""
    rejects: tuple[PeerRejects, ...] = ()
    """Rejected messages per sending address, in the order the addresses first failed."""
    recording_failed: str | None = None
    """Why the journal cannot store what arrives (shown as RECORDING FAILED, devices get
    negative ACKs); None while recording works. Set by the hub, not by the ward."""
    alarms: AlarmSnapshot | None = None
    """Every alarm shown and the state of the sound, at ``time_ns``; None when no alarm
    engine is attached (a bare ward state). Set by the hub, not by the ward."""
    rejected_values: tuple[RejectedValues, ...] = ()
    """Per device, the values no patient can have that it sent (``***`` on screen), for the
    devices screen. Set by the hub, not by the ward."""
    sources: tuple[GatewaySource, ...] = ()
    """The gateways a remote screen hears, in screen order (empty on a gateway's own)."""

    @property
    def beds_live(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.CONNECTED)

    @property
    def beds_stale(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.STALE)

    @property
    def beds_lost(self) -> int:
        return sum(1 for b in self.beds if b.connectivity is Connectivity.LOST)

    def bed(self, bed: BedId) -> BedSnapshot | None:
        return next((b for b in self.beds if b.bed == bed), None)

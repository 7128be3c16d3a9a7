"""One Data Export association with one monitor: a state machine with no I/O.

The transports (:mod:`lan`, :mod:`mib`) feed it every datagram with :meth:`Session.receive`
and call :meth:`Session.tick` a few times a second; both return what to send. The
sequence (shared/reference/bedside-protocols.md §1.6, §1.7, §1.12):

1. Association Request (CN) — repeated every :data:`RETRY_S` until an answer;
2. Association Result (AC) from the monitor, then its MDS Create event, which the client
   must answer (the result echoes its invoke id) before any data flows;
3. extended polls, each with a period: numerics, waves (RTSA) and the alert monitor, each
   re-issued before its period runs out; a single poll of the patient demographics, again
   every minute; a single poll of the MDS as keep-alive every :data:`KEEPALIVE_S` (the
   monitor drops a client it hears nothing from for 10 s at our 500 ms minimum poll);
4. nothing received for ``lost_after_s``: the association is lost — a Release Request (the
   monitor may still hold it) and a new Association Request, every :data:`RETRY_S`.

Read-only: :data:`SENDS` is everything it can send; a test holds the encoders to it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from adapters.intellivue import ids, pdu
from adapters.intellivue.linked import LinkedResults
from adapters.intellivue.mapping import MonitorData
from adapters.intellivue.pdu import MdsCreate, PollReply, RemoteError, SessionPdu
from adapters.intellivue.wire import DecodeError
from gateway.clock import NS_PER_S
from gateway.domain import DeviceId, DeviceReport, Location

SENDS = frozenset(
    {
        "association-request",
        "mds-create-result",
        "event-result",
        "poll",
        "extended-poll",
        "release-request",
    }
)
"""Every kind of message the client may send a monitor. None changes a setting."""

RETRY_S = 2.0
KEEPALIVE_S = 3.0
LOST_AFTER_S = 5.0
DEMOGRAPHICS_EVERY_S = 60.0
POLL_PERIOD_S = 600.0
"""The period asked of every extended poll (10 min, as OpenICE); renewed at 90 %."""
MIN_POLL_TICKS = 4000
"""500 ms: the shortest poll period we announce (the monitor's time-out follows from it)."""
RESCALE_EVERY_S = 10.0
TICKS_PER_S = 8000

_ERRORS = {
    0: "no such object class",
    1: "no such object instance",
    2: "access denied",
    7: "get-list error",
    8: "set-list error",
    9: "no such action",
    10: "processing failure",
    15: "invalid argument",
    16: "invalid scope",
    17: "invalid object instance",
}
_ERROR_HINT = {2: " (another client may be reading this monitor)"}
_CLASS_NAMES = {
    ids.MOC_NU: "numerics",
    ids.MOC_SA_RT: "waves",
    ids.MOC_AL_MON: "alarms",
    ids.MOC_PT_DEMOG: "patient demographics",
    ids.MOC_MDS: "keep-alive",
}


class State(enum.Enum):
    IDLE = "idle"
    ASSOCIATING = "associating"
    WAITING_FOR_MDS = "waiting for the MDS Create event"
    ASSOCIATED = "associated"
    RELEASED = "released"


@dataclass(slots=True)
class Outcome:
    """What one received datagram made: what to send back, the reports, the notes."""

    message: pdu.Message | None = None
    reports: list[DeviceReport] = field(default_factory=list)
    send: list[bytes] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Faults to show (the association refused, lost; a part lost …)."""
    rejected: str = ""
    """Why the datagram is not a Data Export message (journaled as rejected)."""


class Session:
    """The client side of one association (see the module docstring)."""

    def __init__(
        self,
        *,
        transport: str,
        peer: str,
        waves: bool = True,
        poll_period_s: float = POLL_PERIOD_S,
        lost_after_s: float = LOST_AFTER_S,
        system_id: bytes = b"",
        label: str = "",
    ) -> None:
        self.transport = transport
        self.peer = peer
        self.waves = waves
        self.poll_period_s = poll_period_s
        self.lost_after_s = lost_after_s
        self.state = State.IDLE
        self.device = _device(system_id, label or f"IntelliVue {peer}")
        self.data = MonitorData(self.device, transport=transport, peer=peer)
        self.linked = LinkedResults()
        self.sent: list[str] = []
        """The kinds of everything sent, in order (bounded: the last 256)."""
        self.associations = 0
        """Times an association was completed (1 + re-associations)."""
        self.datagrams = 0
        self._invoke = 0
        self._last_rx = 0
        self._last_tx = 0
        self._next_try = 0
        self._polls_due: dict[int, int] = {}
        self._rescale_after = 0
        self._messages = 0

    @property
    def associated(self) -> bool:
        return self.state is State.ASSOCIATED

    # --- what to send, when ------------------------------------------------------------

    def start(self, now_ns: int) -> list[bytes]:
        """Begin (or begin again): the Association Request."""
        self.state = State.ASSOCIATING
        self._last_rx = now_ns
        self._next_try = now_ns + round(RETRY_S * NS_PER_S)
        self.linked.clear()
        return [self._send("association-request", pdu.association_request(MIN_POLL_TICKS), now_ns)]

    def tick(self, now_ns: int) -> tuple[list[bytes], list[str]]:
        """What is due at ``now_ns`` (monotonic), and notes (an association lost)."""
        notes: list[str] = []
        if self.state is State.RELEASED:
            return [], notes
        silent_s = (now_ns - self._last_rx) / NS_PER_S
        if self.state is State.ASSOCIATED and silent_s >= self.lost_after_s:
            notes.append(
                f"nothing from the monitor for {silent_s:.0f} s: association lost;"
                " associating again (its values go stale, then DEVICE LOST)"
            )
            self.state = State.ASSOCIATING
            self._next_try = now_ns
        if self.state in (State.ASSOCIATING, State.WAITING_FOR_MDS):
            if now_ns < self._next_try:
                return [], notes
            again = [self._send("release-request", pdu.RELEASE_REQUEST, now_ns)]
            return again + self.start(now_ns), notes
        out: list[bytes] = []
        for obj_class, due in list(self._polls_due.items()):
            if now_ns >= due:
                out.append(self._poll(obj_class, now_ns))
        if self.data.missing_scale and self.waves and now_ns >= self._rescale_after:
            self.data.missing_scale = False
            self._rescale_after = now_ns + round(RESCALE_EVERY_S * NS_PER_S)
            out.append(self._poll(ids.MOC_SA_RT, now_ns))
        if now_ns - self._last_tx >= KEEPALIVE_S * NS_PER_S:
            out.append(self._send("poll", pdu.poll(self._next_invoke(), 1, ids.MOC_MDS), now_ns))
        return out, notes

    def release(self, now_ns: int) -> list[bytes]:
        """End the association (the gateway stops)."""
        was = self.state
        self.state = State.RELEASED
        if was is State.IDLE:
            return []
        return [self._send("release-request", pdu.RELEASE_REQUEST, now_ns)]

    # --- what came ---------------------------------------------------------------------

    def receive(self, data: bytes, now_ns: int, receive_time_ns: int) -> Outcome:
        """One datagram from the monitor (``now_ns`` monotonic, ``receive_time_ns`` wall)."""
        self.datagrams += 1
        try:
            message = pdu.decode(data)
        except DecodeError as exc:
            return Outcome(rejected=str(exc))
        outcome = Outcome(message)
        if self.state is State.RELEASED:
            return outcome
        self._last_rx = now_ns
        if isinstance(message, SessionPdu):
            self._session(message.spdu, now_ns, outcome)
        elif isinstance(message, MdsCreate):
            self._mds_create(message, now_ns, outcome)
        elif isinstance(message, PollReply):
            self._reply(message, receive_time_ns, outcome)
        elif isinstance(message, RemoteError):
            text = _ERRORS.get(message.error, f"error {message.error}")
            outcome.notes.append(
                f"the monitor refused request {message.invoke_id}: {text}"
                f"{_ERROR_HINT.get(message.error, '')}"
            )
        elif isinstance(message, pdu.Other) and message.confirmed_event is not None:
            invoke, event, _time = message.confirmed_event
            outcome.send.append(
                self._send(
                    "event-result", pdu.event_result(invoke, event, self._rel(now_ns)), now_ns
                )
            )
        return outcome

    def _session(self, spdu: int, now_ns: int, outcome: Outcome) -> None:
        if spdu == ids.SPDU_ACCEPT and self.state is State.ASSOCIATING:
            self.state = State.WAITING_FOR_MDS
            self._next_try = now_ns + round(RETRY_S * 2 * NS_PER_S)
        elif spdu == ids.SPDU_REFUSE:
            outcome.notes.append(
                "the monitor refused the association (is another client reading it, or LAN"
                f" Data Export off?); trying again in {RETRY_S:g} s"
            )
            self.state = State.ASSOCIATING
        elif spdu in (ids.SPDU_ABORT, ids.SPDU_FINISH, ids.SPDU_DISCONNECT) and self.state in (
            State.ASSOCIATED,
            State.WAITING_FOR_MDS,
        ):
            name = "aborted" if spdu == ids.SPDU_ABORT else "released"
            outcome.notes.append(f"the monitor {name} the association; associating again")
            self.state = State.ASSOCIATING
            self._next_try = now_ns + round(RETRY_S * NS_PER_S)

    def _mds_create(self, event: MdsCreate, now_ns: int, outcome: Outcome) -> None:
        system_id = pdu.system_id(event.attributes)
        manufacturer, model = pdu.model_strings(event.attributes.get(ids.ATTR_ID_MODEL, b""))
        serial = pdu.serial_number(event.attributes.get(ids.ATTR_ID_PROD_SPECN, b""))
        name = " ".join(part for part in (manufacturer, model, serial) if part)
        device = _device(system_id, name) if system_id else DeviceId(self.device.key, name)
        if name and (device.key, device.label) != (self.device.key, self.device.label):
            self.device = device  # a new identity: what was known of the old one goes
            self.data = MonitorData(device, transport=self.transport, peer=self.peer)
        self.data.identify(event.attributes)
        if self.data.location is None and name:
            self.data.location = Location(name, point_of_care=name)  # no bed label
        outcome.send.append(
            self._send(
                "mds-create-result",
                pdu.event_result(event.invoke_id, ids.EVT_MDS_CREATE, self._rel(now_ns)),
                now_ns,
            )
        )
        if self.state is not State.ASSOCIATED:
            self.state = State.ASSOCIATED
            self.associations += 1
            self._polls_due = {ids.MOC_NU: 0, ids.MOC_AL_MON: 0, ids.MOC_PT_DEMOG: 0}
            if self.waves:
                self._polls_due[ids.MOC_SA_RT] = 0
            for obj_class in list(self._polls_due):
                outcome.send.append(self._poll(obj_class, now_ns))

    def _reply(self, reply: PollReply, receive_time_ns: int, outcome: Outcome) -> None:
        whole, problem = self.linked.take(reply)
        if problem:
            outcome.notes.append(problem)
        if whole is None or whole.obj_class == ids.MOC_MDS:
            return
        self._messages += 1
        report = self.data.report(whole, receive_time_ns, f"{self.associations}-{self._messages}")
        outcome.notes.extend(self.data.problems())
        if report is not None:
            outcome.reports.append(report)

    # --- helpers -----------------------------------------------------------------------

    def _poll(self, obj_class: int, now_ns: int) -> bytes:
        invoke = self._next_invoke()
        if obj_class == ids.MOC_PT_DEMOG:
            self._polls_due[obj_class] = now_ns + round(DEMOGRAPHICS_EVERY_S * NS_PER_S)
            return self._send(
                "poll", pdu.poll(invoke, obj_class, obj_class, ids.GRP_PT_DEMOG), now_ns
            )
        self._polls_due[obj_class] = now_ns + round(self.poll_period_s * 0.9 * NS_PER_S)
        group = ids.GRP_AL_MON if obj_class == ids.MOC_AL_MON else 0
        period = round(self.poll_period_s * TICKS_PER_S)
        request = pdu.poll_extended(invoke, obj_class, obj_class, group, period)
        return self._send("extended-poll", request, now_ns)

    def _next_invoke(self) -> int:
        self._invoke = (self._invoke + 1) & 0xFFFF
        return self._invoke

    def _send(self, kind: str, data: bytes, now_ns: int) -> bytes:
        assert kind in SENDS, kind
        self._last_tx = now_ns
        self.sent.append(kind)
        if len(self.sent) > 256:
            del self.sent[:128]
        return data

    def _rel(self, now_ns: int) -> int:
        return (now_ns // 125_000) & 0xFFFFFFFF


def _device(system_id: bytes, label: str) -> DeviceId:
    if system_id:
        return DeviceId(f"EUI-64:{system_id.hex().upper()}", label)
    return DeviceId(f"intellivue:{label}", label)

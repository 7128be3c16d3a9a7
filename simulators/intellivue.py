"""A simulated Philips IntelliVue: one monitor's Data Export session, transport aside.

:class:`SimulatedIntellivue` plays a :class:`~simulators.monitor.MonitorModel` and answers a
client the way ``/work/wt/intellivue-wire.md`` says a monitor does: an Association
Request gets the Association Result and the MDS Create event; once the client has answered
that event, single polls (the MDS as a keep-alive, the patient's demographics, anything
else the MDIB has) get one reply and extended polls with a period start replies of their
own — numerics and alarms every second, waves every 256 ms — until the period ends. A
reply bigger than the association's MTU goes out as linked results (RORLS). A release is
answered, an abort forgotten, and a client silent for the connection time-out is dropped.
Garbage, and polls before the association, are ignored and counted.

Everything is driven from outside with the time ``now_s`` (any monotonic clock, seconds):
:meth:`SimulatedIntellivue.receive` for a client's datagram, :meth:`SimulatedIntellivue.tick`
for what is due; both return the datagrams to send. Time stamps use the wall clock
(``abs_time``) and the time since the monitor started (``rel_time``). The transports
(``intellivue_emitter``) own sockets and ptys; this module must not touch either, nor
import the gateway or its adapters.
"""

from __future__ import annotations

import enum
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from simulators import intellivue_wire as wire
from simulators.intellivue_objects import (
    AlarmEntry,
    Demographics,
    MonitorIdentity,
    alarm_entry,
    alarm_observation,
    demographics_observation,
    numeric_observations,
    wave_observations,
)
from simulators.monitor import MonitorModel, Readout
from simulators.scenario import WardScenario
from simulators.signals import WaveRates
from simulators.ward import build_monitors

WAVE_PERIOD_S = 0.256
"""The model advances, and waves are sent, in steps of this (128 ECG samples at 500 Hz)."""
UPDATE_PERIOD_S = {wire.NU: 1.0, wire.AL_MON: 1.0, wire.SA_RT: WAVE_PERIOD_S}
"""How often an extended poll of each class is answered."""
INTELLIVUE_RATES = WaveRates(ecg=500.0, pleth=125.0, resp=62.5, abp=125.0)
_MAX_CATCH_UP_STEPS = 8
"""After a longer stall the patient lives through the gap but its waves are not sent."""
_CATCH_UP_CHUNK_STEPS = 40


def connection_timeout_s(min_poll_period: int) -> float:
    """How long the monitor keeps a silent client, from the association's min_poll_period."""
    period_s = min_poll_period / wire.TICKS_PER_S
    if period_s < 3.3:
        return 10.0
    if period_s < 43.0:
        return 3.0 * period_s
    return 130.0


class Session(enum.Enum):
    IDLE = "idle"
    CREATING = "waiting for the MDS Create result"
    ASSOCIATED = "associated"


@dataclass(slots=True)
class PeriodicPoll:
    """An extended poll being answered: by itself, every update period, until ``until_s``."""

    request: wire.PollRequest
    until_s: float
    next_due_s: float
    sequence_no: int = 0


class SimulatedIntellivue:
    """One simulated IntelliVue monitor (see the module docstring)."""

    def __init__(
        self,
        identity: MonitorIdentity,
        model: MonitorModel,
        patient: Demographics,
        *,
        demo: bool = False,
        started_s: float = 0.0,
        connection_timeout_s: float | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.identity = identity
        self.model = model
        self.patient = patient
        self.demo = demo
        self.started_s = started_s
        self.timeout_override_s = connection_timeout_s
        """None: the spec's rule from the client's min_poll_period."""
        self._wall = wall_clock
        self._now = started_s
        """The latest time seen (``receive``/``tick``)."""
        self.session = Session.IDLE
        self.commands: Counter[str] = Counter()
        """Every kind of PDU received (``CN``, ``FN``, ``ROIV CONFIRMED_ACTION POLL_EXT``…)."""
        self.polls: Counter[tuple[int, int]] = Counter()
        """(action type, polled object class) of every poll received."""
        self.ignored = 0
        """Datagrams not acted on: garbage, polls before the association, stray results."""
        self.timeouts = 0
        self.refused = 0
        self.timeout_s = 10.0
        self._mtu = wire.MTU
        self._last_heard_s = started_s
        self._invoke_id = 0
        self._periodic: dict[int, PeriodicPoll] = {}
        self._alarms: dict[str, AlarmEntry] = {}
        self._unreported: set[str] = set()
        self._alarm_changes = 0
        # The model's time 0 is one wave step before the monitor starts, so that the first
        # step is taken now and every poll finds numbers to report.
        self._origin_s = started_s - WAVE_PERIOD_S
        self.readout = self._step(WAVE_PERIOD_S)
        """The model's last step."""

    # ---------------------------------------------------------------- state seen outside

    @property
    def silent(self) -> bool:
        """A scenario's ``disconnect``: the monitor is off the network (sends nothing)."""
        return not self.readout.connected

    @property
    def associated(self) -> bool:
        """A client holds the association (or is completing it)."""
        return self.session is not Session.IDLE

    def connect_indication(self) -> bytes:
        """The beacon a monitor sends every 5 s, naming its session address."""
        info = wire.attribute_list(self.identity.connect_indication_avas())
        argument = wire.event_report(
            wire.managed_object(wire.CONNECT_INDICATION_CLASS),
            self._rel_time(self._now_s()),
            wire.EVENT_CONNECT_INDICATION,
            info,
        )
        roiv = wire.u16(0) + wire.u16(wire.EVENT_REPORT) + wire.u16(len(argument)) + argument
        return wire.NOMENCLATURE_HEADER + wire.u16(wire.ROIV) + wire.u16(len(roiv)) + roiv

    # ---------------------------------------------------------------- what comes in

    def receive(self, datagram: bytes, now_s: float) -> list[bytes]:
        """The answers to one datagram of the client."""
        self._now = now_s
        if self.silent:
            return []
        request = wire.decode_request(datagram)
        if request is None:
            self.ignored += 1
            return []
        self.commands[request.name] += 1
        if isinstance(request, wire.AssociationRequest):
            return self._associate(request, now_s)
        if self.session is Session.IDLE:
            self.ignored += 1
            return []
        self._last_heard_s = now_s
        if isinstance(request, wire.SessionRequest):
            return self._session_request(request)
        if isinstance(request, wire.MdsCreateResult):
            if (
                self.session is Session.CREATING
                and request.invoke_id == self._invoke_id
                and request.event_type == wire.EVENT_MDS_CREATE
            ):
                self.session = Session.ASSOCIATED
            else:
                self.ignored += 1
            return []
        if self.session is not Session.ASSOCIATED:
            self.ignored += 1
            return []
        if isinstance(request, wire.PollRequest):
            self.polls[request.action_type, request.obj_class] += 1
            return self._poll(request, now_s)
        return self._unserved(request)

    def refuse(self, datagram: bytes) -> list[bytes]:
        """Another client's datagram while one is associated: a CN is refused, the rest
        ignored."""
        request = wire.decode_request(datagram)
        if isinstance(request, wire.AssociationRequest) and not self.silent:
            self.commands[request.name] += 1
            self.refused += 1
            return [wire.REFUSE]
        self.ignored += 1
        return []

    def drop(self, *, abort: bool = False) -> list[bytes]:
        """Forget the client on purpose; ``abort``: tell it with an Abort SPDU."""
        was = self.associated
        self._forget()
        return [wire.ABORT] if abort and was else []

    def _associate(self, request: wire.AssociationRequest, now_s: float) -> list[bytes]:
        # A CN while associated is the same client starting over (it lost us): serve it anew.
        self._forget()
        self.session = Session.CREATING
        self._last_heard_s = now_s
        self._mtu = min(wire.MTU, request.max_mtu_rx)
        self.timeout_s = (
            self.timeout_override_s
            if self.timeout_override_s is not None
            else connection_timeout_s(request.min_poll_period)
        )
        self._invoke_id = (self._invoke_id + 1) & 0xFFFF
        rel = self._rel_time(now_s)
        info = wire.attribute_list(self.identity.mds_avas(rel, self._wall()))
        argument = wire.event_report(
            wire.managed_object(wire.MDS), rel, wire.EVENT_MDS_CREATE, info
        )
        create = wire.invoke(self._invoke_id, wire.CONFIRMED_EVENT_REPORT, argument)
        return [wire.association_result(request.data), create]

    def _session_request(self, request: wire.SessionRequest) -> list[bytes]:
        if request.kind == wire.SPDU_FN:
            self._forget()
            return [wire.RELEASE_RESULT]
        if request.kind == wire.SPDU_AB:
            self._forget()
            return []
        self.ignored += 1
        return []

    def _unserved(self, request: wire.Request) -> list[bytes]:
        """A GET, a SET or an unknown action: refused with a ROER, so no client waits."""
        if not isinstance(request, wire.OtherOperation) or request.ro_type != wire.ROIV:
            self.ignored += 1
            return []
        if request.command in (wire.GET, wire.SET, wire.CONFIRMED_SET):
            return [wire.error(request.invoke_id, wire.ERR_ACCESS_DENIED)]
        if request.command == wire.CONFIRMED_ACTION:
            return [wire.error(request.invoke_id, wire.ERR_NO_SUCH_ACTION)]
        self.ignored += 1
        return []

    def _forget(self) -> None:
        self.session = Session.IDLE
        self._periodic.clear()
        self._mtu = wire.MTU

    # ---------------------------------------------------------------- polls

    def _poll(self, request: wire.PollRequest, now_s: float) -> list[bytes]:
        period = UPDATE_PERIOD_S.get(request.obj_class)
        if request.extended and request.period and period is not None:
            poll = PeriodicPoll(
                request, now_s + request.period / wire.TICKS_PER_S, next_due_s=now_s + period
            )
            self._periodic[request.obj_class] = poll
            if request.obj_class == wire.SA_RT:
                return []  # the first reply comes with the next wave step
            return self._periodic_reply(poll, now_s, self.readout)
        sequence_no = 0 if request.extended else None
        return self._reply(request, sequence_no, now_s, self._observations(request, self.readout))

    def _observations(self, request: wire.PollRequest, readout: Readout) -> list[bytes]:
        kind = request.obj_class
        if kind == wire.MDS:
            avas = self.identity.mds_avas(self._rel_time(self._now_s()), self._wall())
            return [wire.observation(0, avas)]
        if kind == wire.NU:
            return self._numerics()
        if kind == wire.SA_RT:
            return wave_observations(readout, with_specs=True, demo=self.demo)
        if kind == wire.AL_MON:
            return [self._alert_monitor()]
        if kind == wire.PT_DEMOG:
            return [demographics_observation(self.patient)]
        return []  # an object class this monitor does not have: an empty poll result

    def _periodic_reply(self, poll: PeriodicPoll, now_s: float, readout: Readout) -> list[bytes]:
        request = poll.request
        if request.obj_class == wire.SA_RT:
            obs = wave_observations(readout, with_specs=poll.sequence_no == 0, demo=self.demo)
            stamp_s = self._origin_s + readout.t0
        elif request.obj_class == wire.NU:
            obs, stamp_s = self._numerics(), now_s
        else:
            obs, stamp_s = [self._alert_monitor()], now_s
        out = self._reply(request, poll.sequence_no, stamp_s, obs)
        poll.sequence_no = (poll.sequence_no + 1) & 0xFFFF
        return out

    def _numerics(self) -> list[bytes]:
        vitals = self.readout.vitals
        alarmed = {
            e.numeric_handle
            for e in self._alarms.values()
            if e.numeric_handle is not None and not e.technical
        }
        model_now = self.readout.t1
        nibp_epoch_s = self._wall() - (model_now - vitals.nibp_time_s)
        return numeric_observations(
            vitals, nibp_epoch_s=nibp_epoch_s, alarmed=alarmed, demo=self.demo
        )

    def _alert_monitor(self) -> bytes:
        entries = [(e, alarm_id in self._unreported) for alarm_id, e in self._alarms.items()]
        self._unreported.clear()
        return alarm_observation(entries, self._alarm_changes, demo=self.demo)

    def _reply(
        self,
        request: wire.PollRequest,
        sequence_no: int | None,
        stamp_s: float,
        observations: Sequence[bytes],
    ) -> list[bytes]:
        """The poll result; as linked parts when it would not fit in one datagram."""
        epoch_s = self._wall() - (self._now_s() - stamp_s)
        header = wire.poll_reply_header(
            request.poll_number,
            sequence_no,
            rel_time=self._rel_time(stamp_s),
            abs_time=wire.absolute_time(epoch_s),
            obj_class=request.obj_class,
            attr_group=request.attr_group,
        )

        def body(part: Sequence[bytes]) -> bytes:
            return wire.action_result(request.action_type, header + wire.poll_info_list(part))

        whole = wire.result(request.invoke_id, wire.CONFIRMED_ACTION, body(observations))
        if len(whole) <= self._mtu:
            return [whole]
        parts = _split(observations, self._mtu - wire.LINKED_PART_OVERHEAD - len(header))
        return [
            wire.linked_result(
                3 if i == len(parts) - 1 else (1 if i == 0 else 2),
                i + 1,
                request.invoke_id,
                wire.CONFIRMED_ACTION,
                body(part),
            )
            for i, part in enumerate(parts)
        ]

    # ---------------------------------------------------------------- time passing

    def tick(self, now_s: float) -> list[bytes]:
        """Advance the patient to ``now_s``; the periodic replies that are due."""
        self._now = now_s
        if self.associated and now_s - self._last_heard_s > self.timeout_s:
            self.timeouts += 1
            self._forget()
        out: list[bytes] = []
        for readout in self._advance(now_s):
            wave_poll = self._periodic.get(wire.SA_RT)
            if wave_poll is not None and readout.connected:
                out += self._periodic_reply(wave_poll, now_s, readout)
        if self.silent:
            return []
        for obj_class, poll in list(self._periodic.items()):
            if now_s >= poll.until_s:
                del self._periodic[obj_class]
            elif obj_class != wire.SA_RT and now_s >= poll.next_due_s:
                out += self._periodic_reply(poll, now_s, self.readout)
                period = UPDATE_PERIOD_S[obj_class]
                missed = math.floor((now_s - poll.next_due_s) / period)
                poll.next_due_s += (missed + 1) * period
        return out

    def _advance(self, now_s: float) -> list[Readout]:
        steps = math.floor((now_s - self._origin_s - self.model.time_s) / WAVE_PERIOD_S + 1e-9)
        if steps <= 0:
            return []
        skipped = steps - _MAX_CATCH_UP_STEPS
        while skipped > 0:  # in pieces: the model holds a whole step's waves at once
            chunk = min(skipped, _CATCH_UP_CHUNK_STEPS)
            self._step(chunk * WAVE_PERIOD_S)
            skipped -= chunk
            steps -= chunk
        return [self._step(WAVE_PERIOD_S) for _ in range(steps)]

    def _step(self, dt: float) -> Readout:
        readout = self.model.advance(dt)
        for update in readout.alarms:
            if update.phase == "end":
                self._alarms.pop(update.alarm_id, None)
                self._unreported.discard(update.alarm_id)
                self._alarm_changes += 1
            elif update.alarm_id not in self._alarms:
                self._alarms[update.alarm_id] = alarm_entry(update)
                self._unreported.add(update.alarm_id)
                self._alarm_changes += 1
        self.readout = readout
        return readout

    def _now_s(self) -> float:
        return self._now

    def _rel_time(self, at_s: float) -> int:
        return wire.relative_time(at_s - self.started_s)


def _split(observations: Sequence[bytes], room: int) -> list[list[bytes]]:
    """Observations in groups of at most ``room`` bytes (one alone if it is bigger)."""
    parts: list[list[bytes]] = [[]]
    used = 0
    for obs in observations:
        if parts[-1] and used + len(obs) > room:
            parts.append([])
            used = 0
        parts[-1].append(obs)
        used += len(obs)
    return parts


def build_intellivues(
    n: int,
    seed: int = 0,
    scenario: WardScenario | None = None,
    *,
    demo: bool = False,
    started_s: float = 0.0,
    connection_timeout_s: float | None = None,
) -> list[SimulatedIntellivue]:
    """``n`` monitors for the beds ``ICU^1^1``… of the simulated ward (same patients, same
    identities as the other simulators' beds for the same seed)."""
    monitors = []
    for _, device, bed, model, _ in build_monitors(n, seed, scenario, rates=INTELLIVUE_RATES):
        family, given = [*bed.patient_name.split("^"), ""][:2]
        mrn = int(bed.patient_id)
        # A stable made-up birth date, so the demographics poll has one to report.
        dob = (1935 + mrn % 60, 1 + mrn % 12, 1 + mrn % 28)
        identity = MonitorIdentity(
            system_id=bytes.fromhex(device.eui64),
            serial_number=f"SIM{device.eui64[10:]}",
            bed_label=bed.location,
        )
        monitors.append(
            SimulatedIntellivue(
                identity,
                model,
                Demographics(bed.patient_id, given.title(), family.title(), dob),
                demo=demo,
                started_s=started_s,
                connection_timeout_s=connection_timeout_s,
            )
        )
    return monitors

"""A remote screen's ward: what arrives from one or more gateways over the broker, made a
:class:`~gateway.ward.WardSnapshot` the dashboard shows as it shows a local one, and the
wave windows of its :class:`~tui.view.TraceSource`.

Liveness is proved from the gateway's own heartbeat, never from the broker's wills or
retained copies (a clustered broker loses both). A heartbeat proves it only when it follows
another of the same session heard on this connection: the first status after connecting
may be the broker's retained copy of a gateway long dead (over MQTT 3.1.1 — NATS,
RabbitMQ — no expiry removes it, and a crashed node's will is never sent). A gateway's
beds show NO DATA, and a high-priority technical alarm says why, when — at the time of the
snapshot — this screen has no broker connection, the gateway's status says ``offline``, no
heartbeat arrived for :data:`NO_DATA_AFTER_S` (or only one since connecting), or its
session changed and no birth of the new session has come (then a rebirth is asked for).
Alarms stay on screen, "last known", while it is dark.

Values are aged by their own times: the age the gateway gave a value when it sent it, plus
the time since — the gateway's send time against this screen's clock, corrected by the
clock offset its heartbeats show (the least seen), never less than the time since arrival.
So a skewed clock makes values older, never younger.

The alarm set is proved by the heartbeat's digest; two heartbeats in a row that disagree
with what this screen holds ask the gateway for a rebirth. Anything unreadable is a fault
(counted, summarised), never an exception: a bad message costs itself only.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gateway.alarms.snapshot import ActiveAlarm, AlarmSnapshot
from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.domain import (
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    Connectivity,
    DeviceId,
    Fault,
    WaveformChunk,
)
from gateway.fault_summary import FaultSummary
from gateway.mqtt import payloads
from gateway.mqtt.payloads import OFFLINE, PayloadError, Status
from gateway.mqtt.topics import GatewayTopics, level, parse
from gateway.ward.snapshot import (
    BedSnapshot,
    DeviceLink,
    GatewaySource,
    Reading,
    WardSnapshot,
    WaveInfo,
    WaveKey,
    WaveWindow,
)
from gateway.ward.state import WAVE_STALE_S
from gateway.ward.trends import TrendEnvelope
from gateway.ward.waveforms import WaveBuffer

log = logging.getLogger(__name__)

NO_DATA_AFTER_S = 3.0
"""A gateway whose heartbeat is this old is dark."""
MISMATCHES_FOR_REBIRTH = 2
LATE_WAVE_S = 1.0
"""A wave chunk older than this on arrival is dropped, never drawn."""
REBIRTH_AT_MOST_S = 1.0
MAX_GATEWAYS = 64
MAX_BEDS = 256
"""Per gateway; what a broker can make this screen hold is bounded."""
MAX_ALARMS = 1024


@dataclass(slots=True)
class _Heard:
    """When something arrived: the gateway's send time, and ours."""

    ts_ns: int
    mono_ns: int
    wall_ns: int


@dataclass(slots=True)
class _Bed:
    data: dict[str, Any]
    heard: _Heard


@dataclass(slots=True)
class _Wave:
    buffer: WaveBuffer
    age_s: float
    heard: _Heard


@dataclass(slots=True)
class _Alarm:
    sess: int
    aseq: int
    data: dict[str, Any]
    heard: _Heard


@dataclass(slots=True)
class _Gateway:
    topics: GatewayTopics
    name: str = ""
    status: Status | None = None
    status_mono: int = 0
    beat_mono: int = 0
    """When the last heartbeat that proves the gateway alive arrived (one that followed
    another of its session on this connection)."""
    birth_sess: int | None = None
    order: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    beds: dict[str, _Bed] = field(default_factory=dict)
    waves: dict[tuple[str, WaveKey], _Wave] = field(default_factory=dict)
    alarms: dict[str, _Alarm] = field(default_factory=dict)
    skew_ns: int | None = None
    mismatches: int = 0
    dark_since: int | None = None
    rebirth_asked: int | None = None

    @property
    def sess(self) -> int | None:
        return self.birth_sess

    def bed_id(self, slug: str) -> str | None:
        return next((bed for bed in self.order if level(bed) == slug), None)

    def forget(self) -> None:
        """A new session: nothing of the old one is shown as this one's."""
        self.beds.clear()
        self.waves.clear()
        self.alarms.clear()
        self.skew_ns = None
        self.mismatches = 0

    def versions(self) -> dict[str, int]:
        return {uid: a.aseq for uid, a in self.alarms.items() if a.sess == self.birth_sess}


class RemoteWard:
    """The ward as a remote screen knows it; fed by :meth:`receive`, read by :meth:`snapshot`."""

    def __init__(self, prefix: str, clock: Clock | None = None, *, title: str = "") -> None:
        self.prefix = prefix
        self.clock = clock or SystemClock()
        self.title = title
        self.connected = False
        """This screen's own broker connection (set by the link)."""
        self.connection_note = "not connected yet"
        self._connected_mono = 0
        self._gateways: dict[str, _Gateway] = {}
        self._rebirths: list[GatewayTopics] = []
        self.faults: deque[Fault] = deque(maxlen=200)
        self.fault_count = 0
        self._summary = FaultSummary()
        self.received = 0

    # ------------------------------------------------------------------ the link's side

    def link_up(self) -> None:
        self.connected = True
        self._connected_mono = self.clock.monotonic_ns()
        self.connection_note = ""

    def link_down(self, reason: str) -> None:
        if self.connected or not self.connection_note:
            self.fault("broker", f"remote screen: no broker connection: {reason}")
        self.connected = False
        self.connection_note = reason

    def take_rebirths(self) -> list[GatewayTopics]:
        """The gateways to ask for a rebirth now (the link publishes the requests)."""
        asked, self._rebirths = self._rebirths, []
        return asked

    def receive(self, topic: str, payload: bytes) -> None:
        """Take one message; never raises (a bad one is a fault)."""
        self.received += 1
        parsed = parse(self.prefix, topic)
        if parsed is None:
            return
        gw = self._gateways.get(parsed.gateway.base)
        if gw is None:
            if len(self._gateways) >= MAX_GATEWAYS:
                self.fault("broker", f"more than {MAX_GATEWAYS} gateways; {topic} ignored")
                return
            gw = self._gateways[parsed.gateway.base] = _Gateway(parsed.gateway)
        mono, wall = self.clock.monotonic_ns(), self.clock.now_ns()
        rest = parsed.rest
        try:
            if rest == ("status",):
                self._status(gw, payloads.read_status(payload), mono, wall)
            elif rest == ("birth",):
                self._birth(gw, payloads.read_birth(payload))
            elif len(rest) == 3 and rest[0] == "bed" and rest[2] == "num":
                self._numerics(gw, payloads.read_json(payload), mono, wall)
            elif len(rest) == 3 and rest[0] == "bed" and rest[2] == "wave":
                self._waves(gw, rest[1], payloads.unpack_waves(payload), mono, wall)
            elif (len(rest) == 2 and rest[0] == "alarm") or (
                len(rest) == 4 and rest[0] == "bed" and rest[2] == "alarm"
            ):
                self._alarm(gw, rest[-1], payload, mono, wall)
        except PayloadError as exc:
            self.fault(f"mqtt {gw.topics.base}", f"unreadable {'/'.join(rest)}: {exc}")

    # ------------------------------------------------------------------ messages

    def _status(self, gw: _Gateway, status: Status, mono: int, wall: int) -> None:
        held = gw.status
        if held is not None and status.sess < held.sess:
            return  # an old session's will or status, overtaken by the new one
        if (
            held is not None
            and held.state != OFFLINE
            and held.sess == status.sess
            and status.seq > held.seq
            and gw.status_mono >= self._connected_mono
        ):
            gw.beat_mono = mono  # a second heartbeat on this connection: not a retained copy
        gw.status, gw.status_mono = status, mono
        if status.state == OFFLINE:
            return
        gw.name = status.name or gw.name
        if gw.birth_sess != status.sess:
            if gw.birth_sess is not None and status.sess > gw.birth_sess:
                gw.forget()
            self._want_rebirth(gw, mono)
            return
        offset = wall - status.ts_ns
        gw.skew_ns = offset if gw.skew_ns is None else min(gw.skew_ns, offset)
        if payloads.alarm_digest(gw.versions()) == status.digest:
            gw.mismatches = 0
            return
        gw.mismatches += 1
        if gw.mismatches >= MISMATCHES_FOR_REBIRTH:
            gw.mismatches = 0
            self.fault(
                f"mqtt {gw.topics.base}",
                f"{gw.name}: alarm list differs from the gateway's; asked for a rebirth",
            )
            self._want_rebirth(gw, mono, always=True)

    def _birth(self, gw: _Gateway, birth: payloads.Birth) -> None:
        status = gw.status
        if status is not None and birth.sess < status.sess:
            return  # an old retained birth; the new session's follows
        if gw.birth_sess is not None and birth.sess > gw.birth_sess:
            gw.forget()
        gw.birth_sess = birth.sess
        gw.name = birth.name
        beds = birth.beds[:MAX_BEDS]
        gw.order = [bed for bed, _ in beds]
        gw.labels = dict(beds)
        for uid in [uid for uid in gw.alarms if uid not in birth.alarms]:
            del gw.alarms[uid]  # the birth says which alarms there are
        for uid in [uid for uid, a in gw.alarms.items() if a.sess != birth.sess]:
            del gw.alarms[uid]
        for bed in [bed for bed, b in gw.beds.items() if b.data.get("sess") != birth.sess]:
            del gw.beds[bed]

    def _numerics(self, gw: _Gateway, data: dict[str, Any], mono: int, wall: int) -> None:
        sess = payloads.field(data, "sess", int)
        if sess != gw.birth_sess:
            if gw.birth_sess is None or sess > gw.birth_sess:
                self._want_rebirth(gw, mono)
            return
        bed = payloads.field(data, "bed", str)
        _check_numerics(data)
        if bed not in gw.labels:
            if len(gw.order) >= MAX_BEDS:
                return
            gw.order.append(bed)
            gw.labels[bed] = payloads.field(data, "label", str)
            self._want_rebirth(gw, mono)  # a bed the birth did not list: its devices too
        gw.beds[bed] = _Bed(data, _Heard(payloads.field(data, "ts", int), mono, wall))

    def _waves(
        self, gw: _Gateway, slug: str, packet: payloads.WavePacket, mono: int, wall: int
    ) -> None:
        if packet.sess != gw.birth_sess:
            return
        bed = gw.bed_id(slug)
        if bed is None:
            return
        heard = _Heard(packet.ts_ns, mono, wall)
        for item in packet.slices:
            age = item.age_s + self._transit_s(gw, heard)
            if age > LATE_WAVE_S + WAVE_STALE_S:
                continue
            key = (bed, (item.code, item.channel))
            held = gw.waves.get(key)
            if held is None or held.buffer.sample_rate_hz != item.sample_rate_hz:
                try:
                    buffer = WaveBuffer(item.code, item.label, item.unit, item.sample_rate_hz)
                except ValueError as exc:
                    raise PayloadError(str(exc)) from None
                held = gw.waves[key] = _Wave(buffer, item.age_s, heard)
            chunk = WaveformChunk(
                DeviceId("mqtt"),
                item.code,
                item.label,
                item.sample_rate_hz,
                item.start_ns,
                item.samples,
                item.unit,
            )
            held.buffer.add(chunk, mono)
            held.age_s, held.heard = item.age_s, heard

    def _alarm(self, gw: _Gateway, uid: str, payload: bytes, mono: int, wall: int) -> None:
        if not payload:
            gw.alarms.pop(uid, None)
            return
        data = payloads.read_json(payload)
        sess = payloads.field(data, "sess", int)
        aseq = payloads.field(data, "aseq", int)
        state = payloads.field(data, "state", str)
        if gw.birth_sess is not None and sess < gw.birth_sess:
            return  # retained from an earlier session; this one's is sent anew
        held = gw.alarms.get(uid)
        if held is not None and held.sess == sess and held.aseq >= aseq:
            return
        if state == "ended":
            gw.alarms.pop(uid, None)
            return
        _check_alarm(data)
        if held is None and len(gw.alarms) >= MAX_ALARMS:
            return
        gw.alarms[uid] = _Alarm(
            sess, aseq, data, _Heard(payloads.field(data, "ts", int), mono, wall)
        )

    def _want_rebirth(self, gw: _Gateway, mono: int, *, always: bool = False) -> None:
        last = gw.rebirth_asked
        if always or last is None or mono - last >= REBIRTH_AT_MOST_S * NS_PER_S:
            gw.rebirth_asked = mono
            self._rebirths.append(gw.topics)

    # ------------------------------------------------------------------ judging

    def _transit_s(self, gw: _Gateway, heard: _Heard) -> float:
        """How long it took from the gateway's send to our arrival, as best we know."""
        transit = heard.wall_ns - heard.ts_ns - (gw.skew_ns or 0)
        return max(0, transit) / NS_PER_S

    def _elapsed_s(self, gw: _Gateway, heard: _Heard, now_mono: int) -> float:
        return (now_mono - heard.mono_ns) / NS_PER_S + self._transit_s(gw, heard)

    def dark_reason(self, gw: _Gateway, now_mono: int) -> str | None:
        """Why ``gw`` is not live now; None when it is."""
        if not self.connected:
            return f"this screen has no broker connection ({self.connection_note})"
        status = gw.status
        if status is None or gw.status_mono < self._connected_mono:
            return "no status from it since this screen connected"
        if status.state == OFFLINE:
            return f"it says it is offline ({status.reason or 'no reason given'})"
        if gw.beat_mono < self._connected_mono or gw.beat_mono == 0:
            silent = (now_mono - gw.status_mono) / NS_PER_S
            if silent > NO_DATA_AFTER_S:
                return f"no heartbeat for {silent:.0f} s"
            return "waiting for a heartbeat (a first status may be a retained copy)"
        silent = (now_mono - gw.beat_mono) / NS_PER_S
        if silent > NO_DATA_AFTER_S:
            return f"no heartbeat for {silent:.0f} s"
        if gw.birth_sess != status.sess:
            return "it started a new session; waiting for its birth"
        return None

    def shown_alarms(self, bed: BedId | None) -> list[tuple[GatewayTopics, int, dict[str, int]]]:
        """The alarms this screen shows now of ``bed`` (None: the ward-wide ones), per live
        gateway: its topics, its session and uid → alarm sequence number — all that a remote
        acknowledgement may name (a dark gateway's alarms are only last known)."""
        now = self.clock.monotonic_ns()
        shown = []
        for gw in self._ordered():
            sess = gw.birth_sess
            if sess is None or self.dark_reason(gw, now) is not None:
                continue
            prefix = gw.topics.base + "/"
            if bed is not None and not bed.key.startswith(prefix):
                continue
            local = None if bed is None else bed.key.removeprefix(prefix)
            named = {
                uid: held.aseq
                for uid, held in gw.alarms.items()
                if held.sess == sess and held.data["bed"] == local
            }
            if named:
                shown.append((gw.topics, sess, named))
        return shown

    def gateways(self) -> list[tuple[str, str | None]]:
        """(name, why dark or None) per gateway, in screen order."""
        now = self.clock.monotonic_ns()
        return [(gw.name or gw.topics.gateway, self.dark_reason(gw, now)) for gw in self._ordered()]

    def _ordered(self) -> list[_Gateway]:
        return sorted(
            self._gateways.values(), key=lambda g: (g.topics.site, g.topics.ward, g.topics.gateway)
        )

    def snapshot(self) -> WardSnapshot:
        now_mono, now_wall = self.clock.monotonic_ns(), self.clock.now_ns()
        self._summarise(time.monotonic())
        gateways = self._ordered()
        several = len(gateways) > 1
        beds: list[BedSnapshot] = []
        alarms: list[ActiveAlarm] = []
        sources: list[GatewaySource] = []
        stale_timeout = 10.0
        for gw in gateways:
            reason = self.dark_reason(gw, now_mono)
            sources.append(
                GatewaySource(
                    gw.topics.base,
                    gw.topics.site,
                    gw.topics.ward,
                    gw.topics.gateway,
                    gw.name or gw.topics.gateway,
                    tuple(BedId(f"{gw.topics.base}/{bed_id}") for bed_id in gw.order),
                    reason,
                )
            )
            if gw.status is not None and gw.status.state != OFFLINE:
                stale_timeout = gw.status.stale_timeout_s
            timeouts = (
                (gw.status.stale_timeout_s, gw.status.lost_after_s)
                if gw.status is not None and gw.status.state != OFFLINE
                else (10.0, 60.0)
            )
            if reason is None:
                gw.dark_since = None
            elif gw.dark_since is None:
                gw.dark_since = max(gw.status_mono, self._connected_mono) or now_mono
            dark_s = None if gw.dark_since is None else (now_mono - gw.dark_since) / NS_PER_S
            prefix = f"{gw.topics.ward} " if several else ""
            for bed_id in gw.order:
                beds.append(
                    self._bed(
                        gw,
                        bed_id,
                        prefix,
                        now_mono=now_mono,
                        now_wall=now_wall,
                        timeouts=timeouts,
                        dark_s=dark_s,
                    )
                )
            alarms += self._alarms(gw, now_mono)
            if reason is not None:
                alarms.append(
                    ActiveAlarm(
                        key=f"{gw.topics.base}/no-data",
                        bed=None,
                        bed_label="",
                        priority=AlarmPriority.HIGH,
                        kind=AlarmKind.TECHNICAL,
                        source=AlarmSource.GATEWAY,
                        text=f"NO DATA from {gw.name or gw.topics.gateway}: {reason}",
                        onset_ns=gw.dark_since or now_mono,
                        latched=False,
                        acknowledged=False,
                        # not "silenced at bed": a remote screen has no sound at all
                        silenced=False,
                    )
                )
        alarms.sort(key=lambda a: (-a.priority, a.onset_ns))
        return WardSnapshot(
            now_wall,
            stale_timeout,
            tuple(beds),
            (),
            tuple(self.faults),
            self.fault_count,
            alarms=AlarmSnapshot(now_mono, tuple(alarms), audio="off", muted=True),
            sources=tuple(sources),
        )

    def _bed(
        self,
        gw: _Gateway,
        bed_id: str,
        prefix: str,
        *,
        now_mono: int,
        now_wall: int,
        timeouts: tuple[float, float],
        dark_s: float | None,
    ) -> BedSnapshot:
        key = BedId(f"{gw.topics.base}/{bed_id}")
        label = prefix + gw.labels.get(bed_id, bed_id)
        held = gw.beds.get(bed_id)
        if held is None:
            return BedSnapshot(key, label, "", MappingProxyType({}), (), Connectivity.LOST, dark_s)
        stale_timeout, lost_after = timeouts
        data = held.data
        elapsed = self._elapsed_s(gw, held.heard, now_mono)
        dark = dark_s is not None
        readings = {}
        for code, text, value, unit, status, age, measured, stale, demo in data["obs"]:
            aged = age + elapsed
            readings[code] = Reading(
                code,
                text,
                float("nan") if value is None else value,
                unit,
                payloads.choice(payloads.STATUSES, status, "status"),
                aged,
                measured + elapsed,
                stale or dark or aged > stale_timeout,
                demo,
            )
        devices = tuple(
            DeviceLink(
                DeviceId(dev_key, dev_label),
                _aged(payloads.CONNECTIVITY[conn], age + elapsed, stale_timeout, lost_after, dark),
                now_wall - round((age + elapsed) * NS_PER_S),
                transport,
                peer,
                messages,
                0.0 if dark else rate,
            )
            for dev_key, dev_label, conn, age, transport, peer, messages, rate in data["dev"]
        )
        waves = tuple(
            WaveInfo((code, chan), text, unit, fs, age + elapsed, stale or dark)
            for code, chan, text, unit, fs, age, stale in data["waves"]
        )
        silent = data["silent_s"]
        if silent is not None:
            silent += elapsed
            if dark_s is not None:
                silent = max(silent, dark_s)
        connectivity = _aged(
            payloads.CONNECTIVITY[data["conn"]],
            silent,
            stale_timeout,
            lost_after,
            dark,
        )
        return BedSnapshot(
            key,
            label,
            data["patient"],
            MappingProxyType(readings),
            devices,
            connectivity,
            silent,
            waves,
            patient_name=name if isinstance(name := data.get("patient_name"), str) else "",
            patient_entered=data.get("patient_entered") is True,
            patient_mismatch=text if isinstance(text := data.get("patient_mismatch"), str) else "",
        )

    def _alarms(self, gw: _Gateway, now_mono: int) -> Iterable[ActiveAlarm]:
        for uid, held in gw.alarms.items():
            if held.sess != gw.birth_sess:
                continue
            data = held.data
            age = (data["age_s"] or 0.0) + self._elapsed_s(gw, held.heard, now_mono)
            bed = data["bed"]
            device = data["device"]
            yield ActiveAlarm(
                key=f"{gw.topics.base}/{uid}",
                bed=None if bed is None else BedId(f"{gw.topics.base}/{bed}"),
                bed_label=data["bed_label"],
                priority=payloads.PRIORITIES[data["priority"]],
                kind=payloads.KINDS[data["kind"]],
                source=payloads.SOURCES[data["source"]],
                text=data["text"],
                onset_ns=now_mono - round(age * NS_PER_S),
                latched=data["latched"],
                acknowledged=data["acknowledged"],
                silenced=data["silenced"],
                device=None if device is None else DeviceId(device[0], device[1]),
                parameter_code=data["parameter"],
            )

    # ------------------------------------------------------------------ TraceSource

    def trend(
        self, bed: BedId, code: int, span_s: float, columns: int, now_ns: int
    ) -> TrendEnvelope | None:
        """No trends on a remote screen (the gateway's journal holds them)."""
        return None

    def waveform(self, bed: BedId, key: WaveKey, seconds: float, now_ns: int) -> WaveWindow | None:
        base, _, bed_id = bed.key.rpartition("/")
        gw = self._gateways.get(base)
        held = None if gw is None else gw.waves.get((bed_id, key))
        if gw is None or held is None or held.buffer.end_ns is None:
            return None
        now_mono = self.clock.monotonic_ns()
        age = held.age_s + self._elapsed_s(gw, held.heard, now_mono)
        dark = self.dark_reason(gw, now_mono) is not None
        buffer = held.buffer
        assert buffer.end_ns is not None  # looked at above
        return WaveWindow(
            key,
            buffer.label,
            buffer.unit,
            buffer.sample_rate_hz,
            buffer.window(seconds),
            buffer.end_ns,
            age,
            dark or age > WAVE_STALE_S,
        )

    # ------------------------------------------------------------------ faults

    def fault(self, source: str, text: str) -> None:
        self.fault_count += 1
        now_s = time.monotonic()
        self._summarise(now_s)
        if self._summary.note(source, text, now_s):
            self._show(source, text)

    def _summarise(self, now_s: float) -> None:
        for summary in self._summary.due(now_s):
            self._show(summary.source, summary.text)

    def _show(self, source: str, text: str) -> None:
        log.warning("%s: %s", source, text)
        self.faults.append(Fault(self.clock.now_ns(), source, text))


def _aged(
    said: Connectivity, silent_s: float | None, stale_s: float, lost_s: float, dark: bool
) -> Connectivity:
    """A bed's or device's link as the gateway said it, aged since, and never CONNECTED
    while its gateway is dark."""
    if said is Connectivity.LOST or silent_s is None or silent_s > lost_s:
        return Connectivity.LOST
    if dark or said is Connectivity.STALE or silent_s > stale_s:
        return Connectivity.STALE
    return Connectivity.CONNECTED


def _rows(data: Mapping[str, Any], name: str, width: int) -> list[list[Any]]:
    rows: list[list[Any]] = payloads.field(data, name, list)
    if not all(isinstance(row, list) and len(row) == width for row in rows):
        raise PayloadError(f"{name}: rows of {width} expected")
    return rows


def _number(value: object, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_numerics(data: Mapping[str, Any]) -> None:
    """Every field :meth:`RemoteWard._bed` reads, of the type it reads it as."""
    payloads.field(data, "ts", int)
    payloads.field(data, "label", str)
    payloads.field(data, "patient", str)
    payloads.choice(payloads.CONNECTIVITY, data.get("conn"), "conn")
    if not _number(data.get("silent_s"), nullable=True):
        raise PayloadError("silent_s")
    for code, text, value, unit, status, age, measured, stale, demo in _rows(data, "obs", 9):
        ok = (
            isinstance(code, int)
            and isinstance(text, str)
            and (isinstance(value, str) or _number(value, nullable=True))
            and isinstance(unit, str)
            and status in payloads.STATUSES
            and _number(age)
            and _number(measured)
            and isinstance(stale, bool)
            and isinstance(demo, bool)
        )
        if not ok:
            raise PayloadError(f"obs: {code!r}")
    for key, label, conn, age, transport, peer, messages, rate in _rows(data, "dev", 8):
        ok = (
            isinstance(key, str)
            and isinstance(label, str)
            and conn in payloads.CONNECTIVITY
            and _number(age)
            and isinstance(transport, str)
            and isinstance(peer, str)
            and isinstance(messages, int)
            and _number(rate)
        )
        if not ok:
            raise PayloadError(f"dev: {key!r}")
    for code, chan, text, unit, fs, age, stale in _rows(data, "waves", 7):
        ok = (
            isinstance(code, int)
            and isinstance(chan, str)
            and isinstance(text, str)
            and isinstance(unit, str)
            and _number(fs)
            and _number(age)
            and isinstance(stale, bool)
        )
        if not ok:
            raise PayloadError(f"waves: {code!r}")


def _check_alarm(data: Mapping[str, Any]) -> None:
    payloads.field(data, "ts", int)
    payloads.field(data, "text", str)
    payloads.field(data, "bed_label", str)
    payloads.choice(payloads.PRIORITIES, data.get("priority"), "priority")
    payloads.choice(payloads.KINDS, data.get("kind"), "kind")
    payloads.choice(payloads.SOURCES, data.get("source"), "source")
    for flag in ("latched", "acknowledged", "silenced"):
        payloads.field(data, flag, bool)
    if not (data.get("bed") is None or isinstance(data.get("bed"), str)):
        raise PayloadError("bed")
    if not _number(data.get("age_s"), nullable=True):
        raise PayloadError("age_s")
    device = data.get("device")
    if not (device is None or (isinstance(device, list) and len(device) == 2)):
        raise PayloadError("device")
    if device is not None and not all(isinstance(part, str) for part in device):
        raise PayloadError("device")
    parameter = data.get("parameter")
    if not (parameter is None or (isinstance(parameter, int) and not isinstance(parameter, bool))):
        raise PayloadError("parameter")

"""Dräger MEDIBUS (Evita, Evita XL/Infinity V500, Savina, Oxylog, Fabius, Primus, Perseus …)
→ ventilation values, the ventilator's alarms, its settings and text messages.

MEDIBUS is a dialogue between peers, so the gateway is a :class:`SerialConversation`:

* it starts the link with ICC (Initialise Communication) when the port opens; the link is
  up once the ventilator answers it or sends an ICC of its own;
* it then asks, one request at a time, for the device's identification (once), and each
  :data:`CYCLE_S` for the measured data (code page 1), the current alarms (code page 1),
  the device settings and the text messages;
* it sends NOP when it has sent nothing for :data:`NOP_AFTER_S` (the device drops a link
  silent for more than 3 s, and expects a command at least every 2 s);
* it answers what the ventilator asks — ICC, NOP, STOP and the other control commands with
  an empty echo, the device-identification request with the gateway's identity, a data
  request with an empty response (it has no data to give), anything else (and a corrupt
  command) with the NAK response;
* when the ventilator has said nothing for :data:`TIMEOUT_S` it takes the link as lost
  (a fault, once) and starts it again with ICC, every 3 s until answered;
* when the gateway stops it sends STOP.

That is all it ever sends (:data:`SENDS`): requests for data and protocol replies. It never
sends Configure Data Response, realtime configuration, a time, or anything that changes
what the ventilator does; settings are read, never written.

What is read:

* measured data (``code value`` pairs, the value 4 characters): the common ICU ventilation
  values with their MDC codes (Ppeak, PEEP, Pplat, VT, MV, the ventilator's RR, FiO2, FeO2,
  EtCO2 in mmHg, kPa or %, SpO2 and pulse of a built-in oximeter, the agents and N2O of an
  anaesthesia machine); every other code with Dräger's name and code kept (``source_code``
  ``MEDIBUS-CP1:73``), journaled. A value that is not a number is INVALID with its text;
  a value that a reply stops giving is reported INVALID once, never kept as measured.
  Pressures are in mbar as the ventilator sends them (1 mbar = 1.02 cmH2O).
* alarms (priority 1–31, highest 31; code; a 12-character phrase): a device alarm each,
  present while listed — priority 21–31 high, 11–20 medium, 1–10 low (a choice: MEDIBUS
  names no classes; docs/serial.md) — physiological, so a high one latches until
  acknowledged.
* device settings (code, 5 characters) and text messages (ventilation mode, …): kept in the
  journal as read-only information (code 0, Dräger's code), not shown as measurements.

The realtime (waveform) channel is not configured: bytes with bit 7 set are counted as
discarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.serial import medibus_wire as wire
from adapters.serial.device import (
    TRANSPORT,
    Accepted,
    Decoded,
    DeviceProtocol,
    Outgoing,
    Rejected,
    Turn,
)
from adapters.serial.device import SerialSource as Source
from adapters.serial.records import PULSE_RATE, SPO2, Parameter, measured, unmeasured
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway.clock import NS_PER_S
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
)
from gateway.errors import ParseError

KIND = "medibus"
TIMEOUT_S = 3.0
NOP_AFTER_S = 1.5
CYCLE_S = 1.0
REPLY_WITHIN_S = 10.0
"""A request unanswered this long is given up (the device answers within 10 s)."""
GATEWAY_ID = b"0161'ICU-GATEWAY'01.00:06.00"
"""Our answer to the device-identification request: the device number the published
clients send, our name in quotes, our revision and the MEDIBUS version."""

# The commands this protocol sends (DeviceProtocol.sends); nothing else is ever written.
SEND_ICC = "ICC"
SEND_NOP = "NOP"
SEND_STOP = "STOP"
REQUEST_DEVICE_ID = "request device id"
REQUEST_MEASURED = "request measured data CP1"
REQUEST_ALARMS = "request alarms CP1"
REQUEST_SETTINGS = "request device settings"
REQUEST_TEXTS = "request text messages"
REPLY_ECHO = "reply echo"
REPLY_DEVICE_ID = "reply device id"
REPLY_NAK = "reply NAK"
SENDS = frozenset(
    (
        SEND_ICC,
        SEND_NOP,
        SEND_STOP,
        REQUEST_DEVICE_ID,
        REQUEST_MEASURED,
        REQUEST_ALARMS,
        REQUEST_SETTINGS,
        REQUEST_TEXTS,
        REPLY_ECHO,
        REPLY_DEVICE_ID,
        REPLY_NAK,
    )
)
REQUESTS = {
    wire.DEVICE_ID: REQUEST_DEVICE_ID,
    wire.MEASURED_CP1: REQUEST_MEASURED,
    wire.ALARMS_CP1: REQUEST_ALARMS,
    wire.SETTINGS: REQUEST_SETTINGS,
    wire.TEXT_MESSAGES: REQUEST_TEXTS,
}
CYCLE = (wire.MEASURED_CP1, wire.ALARMS_CP1, wire.SETTINGS, wire.TEXT_MESSAGES)
ECHOED = frozenset(
    (
        wire.NOP,
        wire.ICC,
        wire.STOP,
        wire.TIME_CHANGED,
        wire.REALTIME_CHANGED,
        *range(0x23, 0x2F),  # data requests: we have none to give, the response is empty
        wire.REALTIME_CONFIG,
    )
)


def _p(code: int, label: str, unit: str) -> Parameter:
    return Parameter(code, label, unit, None, -1e9, 1e9)


def _draeger(code: int, label: str, unit: str = "") -> Parameter:
    return Parameter(0, label, unit, f"MEDIBUS-CP1:{code:02X}", -1e9, 1e9)


MEASURED: dict[int, Parameter] = {
    # Ventilation, with MDC codes (see docs/serial.md for their sources).
    0x7D: _p(151817, "Ppeak", "mbar"),  # MDC_PRESS_AWAY_INSP_PEAK
    0x78: _p(151976, "PEEP", "mbar"),  # MDC_VENT_PRESS_AWAY_END_EXP_POS
    0x74: _p(151784, "Pplat", "mbar"),  # MDC_PRESS_RESP_PLAT
    0x88: _p(151868, "VT", "mL"),  # MDC_VOL_AWAY_TIDAL
    0xB8: _p(151880, "MV", "L/min"),  # MDC_VOL_MINUTE_AWAY
    0xD6: _p(151586, "RR (vent)", "/min"),  # MDC_VENT_RESP_RATE
    0xF0: _p(152196, "FiO2", "%"),  # MDC_CONC_AWAY_O2_INSP
    0xEF: _p(152440, "etO2", "%"),
    0xE6: _p(151708, "EtCO2", "mmHg"),
    0xE3: _p(151708, "EtCO2", "kPa"),
    0xDB: _p(151708, "EtCO2", "%"),
    0xEB: SPO2,
    0xE1: PULSE_RATE,
    0xFB: _p(152192, "inN2O", "%"),
    0xFC: _p(152108, "etN2O", "%"),
    0xF4: _p(152176, "inHAL", "%"),
    0xF5: _p(152092, "etHAL", "%"),
    0xF6: _p(152172, "inENF", "%"),
    0xF7: _p(152088, "etENF", "%"),
    0xF8: _p(152184, "inISO", "%"),
    0xF9: _p(152100, "etISO", "%"),
    0xAE: _p(152168, "inDES", "%"),
    0xAF: _p(152084, "etDES", "%"),
    0xB0: _p(152180, "inSEV", "%"),
    0xB1: _p(152096, "etSEV", "%"),
    # Dräger's own: no MDC code the gateway is sure of.
    0x05: _draeger(0x05, "Paw", "mbar"),
    0x06: _draeger(0x06, "Compliance", "mL/mbar"),
    0x08: _draeger(0x08, "Resistance", "mbar/L/s"),
    0x71: _draeger(0x71, "Pmin", "mbar"),
    0x73: _draeger(0x73, "Pmean", "mbar"),
    0x79: _draeger(0x79, "PEEPi", "mbar"),
    0xB2: _draeger(0xB2, "Leakage", "mL/min"),
    0xB5: _draeger(0xB5, "RRspon", "/min"),
    0xB7: _draeger(0xB7, "MVspon", "L/min"),
    0xBD: _draeger(0xBD, "Apnoea time", "s"),
    0xC1: _draeger(0xC1, "Airway temp", "°C"),
    0xC9: _draeger(0xC9, "RSB", "/min/L"),
    0x6B: _draeger(0x6B, "Ambient pressure", "mbar"),
}
SETTINGS: dict[int, tuple[str, str]] = {
    0x01: ("FiO2 set", "%"),
    0x04: ("VT set", "L"),
    0x05: ("Ti set", "s"),
    0x09: ("fIMV set", "/min"),
    0x0A: ("fIPPV set", "/min"),
    0x0B: ("PEEP set", "mbar"),
    0x12: ("Psupp set", "mbar"),
    0x13: ("Pmax set", "mbar"),
    0x45: ("Pinsp set", "mbar"),
}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_HEX2 = re.compile(rb"[0-9A-Fa-f]{2}")


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    number: str
    name: str
    revision: str


def _code(data: bytes, at: int) -> int:
    pair = data[at : at + 2]
    if not _HEX2.fullmatch(pair):
        raise ParseError(f"{pair!r} at {at} is not a 2-digit hex code")
    return int(pair, 16)


def _text(data: bytes) -> str:
    return data.decode("ascii", "replace").strip()


def measured_pairs(data: bytes) -> list[tuple[int, str]]:
    """``code value`` pairs of a measured-data (or limits) response."""
    if len(data) % 6:
        raise ParseError(f"{len(data)} bytes of measured data: not 6-byte code/value pairs")
    return [(_code(data, at), _text(data[at + 2 : at + 6])) for at in range(0, len(data), 6)]


def alarm_entries(data: bytes) -> list[tuple[int, int, str]]:
    """``(priority, code, phrase)`` of an alarms response."""
    if len(data) % 15:
        raise ParseError(f"{len(data)} bytes of alarms: not 15-byte entries")
    out = []
    for at in range(0, len(data), 15):
        priority = data[at] - 0x30
        if not 1 <= priority <= 31:
            raise ParseError(f"alarm priority byte {data[at]:02X}: not 1–31")
        out.append((priority, _code(data, at + 1), _text(data[at + 3 : at + 15])))
    return out


def setting_pairs(data: bytes) -> list[tuple[int, str]]:
    if len(data) % 7:
        raise ParseError(f"{len(data)} bytes of settings: not 7-byte code/value pairs")
    return [(_code(data, at), _text(data[at + 2 : at + 7])) for at in range(0, len(data), 7)]


def text_messages(data: bytes) -> list[tuple[int, str]]:
    out = []
    at = 0
    while at < len(data):
        if at + 3 > len(data):
            raise ParseError("a text message cut short")
        code, length = _code(data, at), data[at + 2] - 0x30
        end = at + 3 + length
        if length < 0 or end >= len(data) or data[end] != wire.ETX:
            raise ParseError(f"text message {code:02X}: length {length} does not end at ETX")
        out.append((code, _text(data[at + 3 : end])))
        at = end + 1
    return out


def identity(data: bytes) -> DeviceIdentity:
    """The device-identification response: number, 'name', revision."""
    text = data.decode("ascii", "replace")
    number, _, rest = text.partition("'")
    name, _, revision = rest.partition("'")
    return DeviceIdentity(number.strip(), name.strip(), revision.strip())


def alarm_priority(priority: int) -> AlarmPriority:
    if priority >= 21:
        return AlarmPriority.HIGH
    if priority >= 11:
        return AlarmPriority.MEDIUM
    return AlarmPriority.LOW


class Decoder:
    """A MEDIBUS link (see the module docstring): messages in, reports and replies out, and
    the requests and keep-alives the ventilator needs (a SerialConversation)."""

    def __init__(
        self,
        source: Source,
        *,
        timeout_s: float = TIMEOUT_S,
        nop_after_s: float = NOP_AFTER_S,
        cycle_s: float = CYCLE_S,
    ) -> None:
        self.source = source
        self.device = source.device
        self._timeout_ns = round(timeout_s * NS_PER_S)
        self._nop_ns = round(nop_after_s * NS_PER_S)
        self._cycle_ns = round(cycle_s * NS_PER_S)
        self._reply_ns = round(REPLY_WITHIN_S * NS_PER_S)
        self._messages = wire.MessageSplitter()
        self._status = StatusAlarms(source.device)
        self._reported: dict[int, Parameter] = {}
        self.up = False
        """Whether the link is initialised (our ICC answered, or the device's received)."""
        self._heard = False
        self._identified = False
        self._outstanding: int | None = None
        self._outstanding_ns = 0
        self._cycle_at = 0
        self._cycle_start_ns = 0
        self._next_request_ns = 0
        self._last_heard_ns = 0
        self._last_sent_ns = 0
        self._icc_ns = 0
        self._told_down = False

    @property
    def discarded(self) -> int:
        return self._messages.discarded

    @property
    def pending(self) -> int:
        return self._messages.pending

    def restart(self) -> None:
        self._messages.restart()
        self.up = False
        self._outstanding = None

    # -------------------------------------------------------------- the conversation

    def opening(self, monotonic_ns: int) -> Turn:
        self.up = False
        self._identified = False
        self._outstanding = None
        self._last_heard_ns = monotonic_ns
        return Turn((self._icc(monotonic_ns),))

    def due(self, monotonic_ns: int) -> Turn:
        now = monotonic_ns
        if self._heard:
            self._heard = False
            self._last_heard_ns = now
        sends: list[Outgoing] = []
        problems: list[str] = []
        if self.up and now - self._last_heard_ns >= self._timeout_ns:
            self.up = False
            self._outstanding = None
            problems.append(
                f"the ventilator said nothing for {self._timeout_ns / NS_PER_S:g} s:"
                " communication initialised again (ICC)"
            )
            sends.append(self._icc(now))
        elif not self.up:
            if now - self._icc_ns >= self._timeout_ns:
                sends.append(self._icc(now))
        else:
            if self._outstanding is not None and now - self._outstanding_ns >= self._reply_ns:
                problems.append(f"no answer to {REQUESTS[self._outstanding]} within 10 s")
                self._outstanding = None
            if self._outstanding is None and now >= self._next_request_ns:
                sends.append(self._request(now))
            if not sends and now - self._last_sent_ns >= self._nop_ns:
                sends.append(self._sent(now, Outgoing(SEND_NOP, wire.command(wire.NOP))))
        return Turn(tuple(sends), tuple(problems))

    def next_due_ns(self) -> int | None:
        if not self.up:
            return self._icc_ns + self._timeout_ns
        times = [self._last_heard_ns + self._timeout_ns, self._last_sent_ns + self._nop_ns]
        if self._outstanding is None:
            times.append(self._next_request_ns)
        else:
            times.append(self._outstanding_ns + self._reply_ns)
        return min(times)

    def closing(self) -> Turn:
        return Turn((Outgoing(SEND_STOP, wire.command(wire.STOP)),))

    def _icc(self, now: int) -> Outgoing:
        self._icc_ns = now
        return self._sent(now, Outgoing(SEND_ICC, wire.command(wire.ICC)))

    def _sent(self, now: int, outgoing: Outgoing) -> Outgoing:
        self._last_sent_ns = now
        return outgoing

    def _request(self, now: int) -> Outgoing:
        if not self._identified:
            code = wire.DEVICE_ID  # once a link: a device without it answers NAK
            self._identified = True
        else:
            code = CYCLE[self._cycle_at]
            self._cycle_at = (self._cycle_at + 1) % len(CYCLE)
            if self._cycle_at == 0:  # a cycle's last request: the next cycle in CYCLE_S
                self._next_request_ns = self._cycle_start_ns + self._cycle_ns
            elif self._cycle_at == 1:
                self._cycle_start_ns = now
        self._outstanding, self._outstanding_ns = code, now
        return self._sent(now, Outgoing(REQUESTS[code], wire.command(code)))

    def _link_up(self) -> None:
        if not self.up:
            self.up = True
            self._outstanding = None
            self._cycle_at = 0
            self._next_request_ns = 0
            self._cycle_start_ns = 0

    # -------------------------------------------------------------- decoding

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        out: list[Decoded] = []
        for item in self._messages.feed(data):
            if isinstance(item, wire.Oversize):
                out.append(Rejected(item.head, "a message longer than MEDIBUS allows"))
                continue
            try:
                out.append(self.decode(item, receive_time_ns))
            except ParseError as exc:
                nak = None
                if item[:1] == bytes((wire.ESC,)):  # a corrupt command is answered NAK
                    nak = Outgoing(REPLY_NAK, wire.response(wire.CORRUPT))
                out.append(Rejected(item, str(exc), reply=nak))
        return out

    def decode(self, raw: bytes, receive_time_ns: int) -> Accepted:
        """One message (ESC/SOH … CR). Raises ParseError, changing nothing."""
        message = wire.parse(raw)
        if message.command:
            self._heard = True
            return Accepted(raw, (), reply=self._answer(message))
        observations: tuple[Observation, ...] = ()
        alarms: tuple[AlarmEvent, ...] = ()
        problems: tuple[str, ...] = ()
        code = message.code
        if code == wire.MEASURED_CP1:
            observations = self._measured(message.data, receive_time_ns)
        elif code == wire.ALARMS_CP1:
            alarms = self._alarms(message.data, receive_time_ns)
        elif code == wire.SETTINGS:
            observations = self._settings(message.data, receive_time_ns)
        elif code == wire.TEXT_MESSAGES:
            observations = self._texts(message.data, receive_time_ns)
        elif code == wire.DEVICE_ID:
            found = identity(message.data)
            if found.name:
                self.device = DeviceId(self.source.device.key, f"Dräger {found.name}")
        elif code == wire.CORRUPT:
            problems = ("the ventilator answered NAK: it found a command of ours corrupt",)
        self._heard = True
        if code == wire.ICC:
            self._link_up()
        if code in (self._outstanding, wire.CORRUPT):
            self._outstanding = None
        if not (observations or alarms):
            return Accepted(raw, (), problems=problems)
        report = DeviceReport(
            device=self.device,
            transport=TRANSPORT,
            peer=self.source.port,
            receive_time_ns=receive_time_ns,
            observations=observations,
            alarms=alarms,
        )
        return Accepted(raw, (report,), problems=problems)

    def _answer(self, message: wire.Message) -> Outgoing:
        """The reply the ventilator's own command demands."""
        code = message.code
        if code == wire.ICC:
            self._link_up()
        elif code == wire.STOP:
            self.up = False
            self._outstanding = None
        if code == wire.DEVICE_ID:
            return Outgoing(REPLY_DEVICE_ID, wire.response(code, GATEWAY_ID))
        if code in ECHOED:
            return Outgoing(REPLY_ECHO, wire.response(code))
        return Outgoing(REPLY_NAK, wire.response(wire.CORRUPT))

    def _measured(self, data: bytes, time_ns: int) -> tuple[Observation, ...]:
        out = []
        seen = set()
        for code, text in measured_pairs(data):
            parameter = MEASURED.get(code) or _draeger(code, f"MEDIBUS {code:02X}")
            seen.add(code)
            self._reported[code] = parameter
            if _NUMBER.fullmatch(text):
                out.append(measured(self.device, parameter, float(text), time_ns))
            else:
                why = f"the ventilator sent {text!r}, not a number"
                out.append(unmeasured(self.device, parameter, text, time_ns, reason=why))
        for code in [c for c in self._reported if c not in seen]:
            parameter = self._reported.pop(code)
            why = "the ventilator no longer sends this value"
            out.append(unmeasured(self.device, parameter, "GONE", time_ns, reason=why))
        return tuple(out)

    def _alarms(self, data: bytes, time_ns: int) -> tuple[AlarmEvent, ...]:
        flags = [
            StatusFlag(
                f"medibus-alarm:{code:02X}",
                phrase or f"DRÄGER ALARM {code:02X}",
                alarm_priority(priority),
                AlarmKind.PHYSIOLOGICAL,
                source_code=f"MEDIBUS-ALARM-CP1:{code:02X}:P{priority}",
            )
            for priority, code, phrase in alarm_entries(data)
        ]
        return self._status.update(flags, time_ns)

    def _settings(self, data: bytes, time_ns: int) -> tuple[Observation, ...]:
        out = []
        for code, text in setting_pairs(data):
            label, unit = SETTINGS.get(code, (f"setting {code:02X}", ""))
            value: float | str = float(text) if _NUMBER.fullmatch(text) else text
            out.append(
                _information(
                    self.device, f"MEDIBUS-SET:{code:02X}", label, unit, value, time_ns=time_ns
                )
            )
        return tuple(out)

    def _texts(self, data: bytes, time_ns: int) -> tuple[Observation, ...]:
        return tuple(
            _information(
                self.device,
                f"MEDIBUS-TXT:{code:02X}",
                f"text {code:02X}",
                "",
                text,
                time_ns=time_ns,
            )
            for code, text in text_messages(data)
        )


def _information(
    device: DeviceId, source_code: str, label: str, unit: str, value: float | str, *, time_ns: int
) -> Observation:
    """A setting or text message: read-only information kept in the journal (code 0)."""
    return Observation(
        device, 0, label, value, unit, ObservationStatus.VALID, time_ns, source_code=source_code
    )


PROTOCOL = DeviceProtocol(
    KIND,
    "Dräger",
    "Dräger MEDIBUS (Evita, V500, Savina, Fabius, Primus …)",
    Decoder,
    sends=SENDS,
)

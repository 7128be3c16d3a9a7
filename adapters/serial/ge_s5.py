"""GE Datex-Ohmeda S/5 Computer Interface (CARESCAPE B450/B650/B850, B1x5, B20–B40, S/5, AS/3,
CS/3) → vital signs, waves and the monitor's alarm display.

The monitor sends nothing until asked. When the port opens the gateway sends three request
records (``ge_s5_wire``): displayed values every :data:`DISPLAYED_EVERY_S` (basic class),
the waves of :data:`REQUESTED_WAVES` (550 samples/s, under the 600 a 19200-baud line
carries) and, for CARESCAPE, the alarm display on every change. Requests are sent once —
the protocol has no keep-alive — so they are sent again after every reopen, when no record
came for :data:`RESEND_AFTER_S` (the monitor restarted, the cable was swapped), and the wave
request alone when waves stopped for :data:`WAVES_RESEND_AFTER_S` while values still come
(the monitor stops waves after its RTS/CTS handshake was blocked for 2 s). When the gateway
stops it sends the three stop requests. Nothing else is ever sent: no setting of the
monitor can be changed through these records.

Displayed values (main type 0, the basic class of each ``dri_phdb`` subrecord): a group is
read only when its "exists" status bit is set, and each value is a 16-bit integer in the
group's unit (1/100 mmHg, 1/100 °C, 1/100 % …). Values at or below −32001 are the
monitor's markers (−32767 invalid, −32766 not updated, −32765 discontinuity, −32764 under
range, −32763 over range, −32762 not calibrated): an INVALID observation naming the
marker, never a number. A value that a record stops sending (its module unplugged, its
group gone) is reported INVALID once, so the tile never keeps it as if still measured.

* ECG: HR with its source (status bits 3–6: ECG, a pressure channel, the pleth), the
  impedance respiration rate; ST values are journaled with GE's names only (their leads are
  set on the monitor and not sent).
* Invasive pressures P1–P6 by their label: ART and ABP as arterial, PA, CVP, ICP with their
  MDC codes; the other sites (RAP, RVP, LAP, FEM …, P1–P8) with GE's names, journaled.
* NIBP, timed by when a measurement was first seen; with the "older than 60 s" status bit
  on a first sight, timed 60 s back (at least that old).
* Temperatures T1–T4 by site: oesophageal, rectal, core, skin with their own codes, the
  other body sites as a temperature; airway and room temperatures are not a patient's
  temperature and are journaled only.
* SpO2 and its pulse rate; CO2 et/fi converted to mmHg with the ambient pressure (in % when
  the monitor sends no ambient pressure), the airway respiration rate; O2 and N2O et/fi;
  the anaesthetic agent by its label (halothane, enflurane, isoflurane, desflurane,
  sevoflurane); the spirometry group (Ppeak, PEEP, Pplat, VT, MV) in the ventilator codes.

Waves (main type 1): each subrecord is one wave's samples since the last, with a status
word: GAP (samples were lost before these: the wave's clock is anchored again), lead off
(ECG: the samples are not a signal, NaN) and control codes (≤ −32000, NaN). Units as
published: ECG µV (shown in mV), pressures 1/100 mmHg, pleth and gases 1/100 %.

Alarms (main type 4, CARESCAPE): up to five alarm texts sorted by colour — red high,
yellow medium, white low — and the monitor's silence state (audio paused or off). The
texts are the monitor's, in its language, and cannot be classified: each is a device alarm
of its own (physiological, so a red one latches until acknowledged), present while the
monitor shows it. The monitor sends them only on change, so the current list is repeated
with every displayed-values record: a pulled cable lets them expire with the device.

Mapping facts come from the published specification (see docs/serial.md); HR source bits,
the spirometry scales and the alarm enum widths are NOT verified on a monitor.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from adapters.serial import ge_s5_wire as wire
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
from adapters.serial.records import (
    PLETH_WAVE,
    PULSE_RATE,
    SPO2,
    FirstSeen,
    Parameter,
    SampleClock,
    measured,
    unmeasured,
)
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway.clock import NS_PER_S
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    DeviceReport,
    Observation,
    WaveformChunk,
)
from gateway.errors import ParseError

KIND = "ge-s5"
DISPLAYED_EVERY_S = 5
RESEND_AFTER_S = 15.0
"""No record for this long (three displayed-value periods): every request again."""
WAVES_RESEND_AFTER_S = 5.0
REQUESTED_WAVES = (1, 4, 8, 9, 15)
"""ECG1 (300/s), INVP1 (100/s), PLETH (100/s), CO2 (25/s), RESP (25/s): 550 samples/s."""

# The commands this protocol sends (DeviceProtocol.sends); nothing else is ever written.
PHDB_REQUEST = "phdb-request"
PHDB_STOP = "phdb-stop"
WAVE_REQUEST = "wave-request"
WAVE_STOP = "wave-stop"
ALARM_REQUEST = "alarm-request"
ALARM_STOP = "alarm-stop"
SENDS = frozenset((PHDB_REQUEST, PHDB_STOP, WAVE_REQUEST, WAVE_STOP, ALARM_REQUEST, ALARM_STOP))

MARKERS = {
    -32767: "DATA_INVALID",
    -32766: "NOT_UPDATED",
    -32765: "DISCONTINUITY",
    -32764: "UNDER_RANGE",
    -32763: "OVER_RANGE",
    -32762: "NOT_CALIBRATED",
}
INVALID_LIMIT = -32001
"""Values at or below this are markers, not values (the smallest valid one is −32000)."""
EXISTS = 0x0001
PHDB_BYTES = 278
CLASS_AREA = 270

# ------------------------------------------------------------------- basic class layout

ECG_AT, PRESSURES_AT, NIBP_AT, TEMPS_AT = 0, (16, 30, 44, 58, 240, 254), 72, (86, 94, 102, 110)
SPO2_AT, CO2_AT, O2_AT, N2O_AT, AA_AT, FLOW_VOL_AT = 118, 132, 146, 156, 166, 178
GROUP_HEADER = struct.Struct("<IH")

_HR_SOURCES = {1: "ECG", 2: "P1", 3: "P2", 4: "P3", 5: "P4", 6: "pleth"}
_MMHG = "mmHg"


def _p(code: int, label: str, unit: str, source: str = "", low: float = -1e9) -> Parameter:
    return Parameter(code, label, unit, source or None, low, 1e9)


def _local(name: str, label: str, unit: str) -> Parameter:
    """A value with no MDC code the gateway is sure of: journaled with GE's name."""
    return _p(0, label, unit, f"GE-S5:{name}")


ECG_HR = _p(147842, "HR", "/min")
IMPEDANCE_RR = _p(151578, "RR", "/min")
NIBP = (
    _p(150021, "NIBP sys", _MMHG),
    _p(150022, "NIBP dia", _MMHG),
    _p(150023, "NIBP mean", _MMHG),
)
NIBP_PULSE = _p(149546, "PR (NIBP)", "/min")

# Invasive pressure labels → (name, sys, dia, mean codes); 0: no MDC code for that value.
PRESSURE_LABELS: dict[int, tuple[str, int, int, int]] = {
    1: ("ART", 150033, 150034, 150035),
    2: ("CVP", 0, 0, 150087),
    3: ("PA", 150045, 150046, 150047),
    4: ("RAP", 0, 0, 0),
    5: ("RVP", 0, 0, 0),
    6: ("LAP", 0, 0, 0),
    7: ("ICP", 0, 0, 153611),
    8: ("ABP", 150037, 150038, 150039),
    **{label: (f"P{label - 8}", 0, 0, 0) for label in range(9, 15)},
    15: ("SP", 0, 0, 0),
    16: ("FEM", 0, 0, 0),
    17: ("UAC", 0, 0, 0),
    18: ("UVC", 0, 0, 0),
    19: ("ICP2", 0, 0, 0),
    20: ("P7", 0, 0, 0),
    21: ("P8", 0, 0, 0),
    22: ("FEMV", 0, 0, 0),
}

# Temperature sites → (name, MDC code or 0).
TEMPERATURE_SITES: dict[int, tuple[str, int]] = {
    1: ("ESO", 150372),
    2: ("NASO", 150344),
    3: ("TYMP", 150344),
    4: ("RECT", 188420),
    5: ("BLAD", 150344),
    6: ("AXIL", 150344),
    7: ("SKIN", 150388),
    8: ("AIRW", 0),  # the airway gas, not the patient
    9: ("ROOM", 0),
    10: ("MYO", 150344),
    11: ("T1", 150344),
    12: ("T2", 150344),
    13: ("T3", 150344),
    14: ("T4", 150344),
    15: ("CORE", 150368),
    16: ("SURF", 150388),
}

# Anaesthetic agent labels → (name, et code, fi code).
AGENTS: dict[int, tuple[str, int, int]] = {
    0: ("AA", 152460, 152464),
    2: ("HAL", 152092, 152176),
    3: ("ENF", 152088, 152172),
    4: ("ISO", 152100, 152184),
    5: ("DES", 152084, 152168),
    6: ("SEV", 152096, 152180),
}
AGENT_NONE = 1

ETCO2 = _p(151708, "EtCO2", _MMHG)
FICO2 = _p(151716, "FiCO2", _MMHG)
AIRWAY_RR = _p(151570, "awRR", "/min")
ETO2, FIO2 = _p(152440, "etO2", "%"), _p(152196, "FiO2", "%")
ETN2O, FIN2O = _p(152108, "etN2O", "%"), _p(152192, "inN2O", "%")

# The spirometry group: (offset of the value in the group, scale, parameter).
SPIROMETRY: tuple[tuple[int, float, Parameter], ...] = (
    (0, 1.0, _p(151586, "RR (vent)", "/min")),
    (1, 0.01, _p(151817, "Ppeak", "cmH2O")),
    (2, 0.01, _p(151976, "PEEP", "cmH2O")),
    (3, 0.01, _p(151784, "Pplat", "cmH2O")),
    (4, 0.1, _local("TV_INSP", "VTi", "mL")),
    (5, 0.1, _p(151868, "VT", "mL")),
    (6, 0.01, _local("COMPLIANCE", "Compl", "mL/cmH2O")),
    (7, 0.01, _p(151880, "MV", "L/min")),
)


@dataclass(frozen=True, slots=True)
class WaveType:
    name: str
    code: int
    rate_hz: float
    unit: str
    scale: float


WAVE_TYPES: dict[int, WaveType] = {
    1: WaveType("ECG1", 131328, 300.0, "mV", 0.001),
    2: WaveType("ECG2", 131328, 300.0, "mV", 0.001),
    3: WaveType("ECG3", 131328, 300.0, "mV", 0.001),
    4: WaveType("INVP1", 150016, 100.0, _MMHG, 0.01),
    5: WaveType("INVP2", 150016, 100.0, _MMHG, 0.01),
    6: WaveType("INVP3", 150016, 100.0, _MMHG, 0.01),
    7: WaveType("INVP4", 150016, 100.0, _MMHG, 0.01),
    8: WaveType("PLETH", PLETH_WAVE, 100.0, "%", 0.01),
    9: WaveType("CO2", 0, 25.0, "%", 0.01),
    10: WaveType("O2", 0, 25.0, "%", 0.01),
    11: WaveType("N2O", 0, 25.0, "%", 0.01),
    12: WaveType("AA", 0, 25.0, "%", 0.01),
    13: WaveType("AWP", 0, 25.0, "cmH2O", 0.1),
    14: WaveType("FLOW", 0, 25.0, "L/min", 0.1),
    15: WaveType("RESP", 151780, 25.0, "", 1.0),
    16: WaveType("INVP5", 150016, 100.0, _MMHG, 0.01),
    17: WaveType("INVP6", 150016, 100.0, _MMHG, 0.01),
    23: WaveType("VOL", 0, 25.0, "mL", 1.0),
    36: WaveType("INVP7", 150016, 100.0, _MMHG, 0.01),
    37: WaveType("INVP8", 150016, 100.0, _MMHG, 0.01),
    38: WaveType("PLETH2", PLETH_WAVE, 100.0, "%", 0.01),
}
WAVE_HEADER = struct.Struct("<hHH")
WAVE_GAP = 0x0001
WAVE_LEAD_OFF = 0x0008
CONTROL_CODE = -32000

# Alarm display (dri_al_msg): 5 × al_disp_al {char text[80], i16 text_changed, i16 color,
# i16 color_changed, i16 reserved[6]} after five 16-bit fields.
ALARM_STATUS = 1
ALARM_HEAD = struct.Struct("<hhhhh")
ALARM_ENTRY = struct.Struct("<80shhh12x")
ALARM_ENTRIES = 5
ALARM_BYTES = ALARM_HEAD.size + ALARM_ENTRIES * ALARM_ENTRY.size + 10
COLOURS = {1: AlarmPriority.LOW, 2: AlarmPriority.MEDIUM, 3: AlarmPriority.HIGH}
SILENCE = {
    0: "enabled",
    1: "audio-paused",  # apnoea alarm silenced
    2: "audio-paused",  # asystole alarm silenced
    3: "audio-paused",
    4: "audio-off",
    5: "audio-paused",  # 2 min
    6: "audio-paused",  # 5 min
    7: "audio-paused",  # 20 s
}


@dataclass(slots=True)
class _Values:
    """What one displayed-values record says, as it is read."""

    time_ns: int
    out: list[Observation] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)


def _i16(data: bytes, at: int, count: int) -> tuple[int, ...]:
    return struct.unpack_from(f"<{count}h", data, at)


class Decoder:
    """A GE S/5 stream (see the module docstring): frames in, reports out; and the
    requests the monitor needs to send anything (a SerialConversation)."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._frames = wire.FrameSplitter()
        self._status = StatusAlarms(source.device)
        self._alarm_flags: tuple[StatusFlag, ...] = ()
        self._silence = "enabled"
        self._first_seen = FirstSeen()
        self._clocks: dict[int, SampleClock] = {}
        self._reported: dict[str, Parameter] = {}
        """Every value a displayed-values record gave, by key: one it stops giving is
        reported INVALID once."""
        self._heard = False
        self._heard_wave = False
        self._last_record_ns = 0
        self._last_wave_ns = 0
        self._requested_ns = 0
        self._waves_requested_ns = 0

    @property
    def discarded(self) -> int:
        return self._frames.discarded

    @property
    def pending(self) -> int:
        return self._frames.pending

    def restart(self) -> None:
        self._frames.restart()
        self._clocks.clear()  # each wave anchored again at its next chunk

    # -------------------------------------------------------------- the conversation

    def opening(self, monotonic_ns: int) -> Turn:
        self._last_record_ns = self._last_wave_ns = monotonic_ns
        return Turn(self._requests(monotonic_ns))

    def due(self, monotonic_ns: int) -> Turn:
        now = monotonic_ns
        if self._heard:
            self._heard = False
            self._last_record_ns = now
        if self._heard_wave:
            self._heard_wave = False
            self._last_wave_ns = now
        resend = round(RESEND_AFTER_S * NS_PER_S)
        if now - max(self._last_record_ns, self._requested_ns) >= resend:
            return Turn(
                self._requests(now),
                (f"no record for {RESEND_AFTER_S:g} s: the requests sent again",),
            )
        waves = round(WAVES_RESEND_AFTER_S * NS_PER_S)
        if now - max(self._last_wave_ns, self._waves_requested_ns) >= waves:
            self._waves_requested_ns = now
            return Turn(
                (Outgoing(WAVE_REQUEST, wire.frame(wire.wave_request(REQUESTED_WAVES))),),
                (f"no wave for {WAVES_RESEND_AFTER_S:g} s: the wave request sent again",),
            )
        return Turn()

    def next_due_ns(self) -> int | None:
        all_at = max(self._last_record_ns, self._requested_ns) + round(RESEND_AFTER_S * NS_PER_S)
        waves_at = max(self._last_wave_ns, self._waves_requested_ns) + round(
            WAVES_RESEND_AFTER_S * NS_PER_S
        )
        return min(all_at, waves_at)

    def closing(self) -> Turn:
        return Turn(
            (
                Outgoing(PHDB_STOP, wire.frame(wire.displayed_values_request(0))),
                Outgoing(WAVE_STOP, wire.frame(wire.wave_request(()))),
                Outgoing(ALARM_STOP, wire.frame(wire.alarm_request(wire.ALARM_EXIT_DIFFMODE))),
            )
        )

    def _requests(self, now: int) -> tuple[Outgoing, ...]:
        self._requested_ns = self._waves_requested_ns = now
        return (
            Outgoing(PHDB_REQUEST, wire.frame(wire.displayed_values_request(DISPLAYED_EVERY_S))),
            Outgoing(WAVE_REQUEST, wire.frame(wire.wave_request(REQUESTED_WAVES))),
            Outgoing(ALARM_REQUEST, wire.frame(wire.alarm_request(wire.ALARM_ENTER_DIFFMODE))),
        )

    # -------------------------------------------------------------- decoding

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        out: list[Decoded] = []
        for body, oversize in self._frames.feed(data):
            raw = b"\x7e" + body + (b"" if oversize else b"\x7e")
            if oversize:
                out.append(Rejected(raw, f"no frame end within {wire.MAX_FRAME_BYTES} bytes"))
                continue
            try:
                out.append(self.decode(body, raw, receive_time_ns))
            except ParseError as exc:
                out.append(Rejected(raw, str(exc)))
        return out

    def decode(self, body: bytes, raw: bytes, receive_time_ns: int) -> Accepted:
        """One frame body (escaped, between its flags). Raises ParseError, changing nothing."""
        record = wire.parse_record(wire.unescape(body))
        observations: tuple[Observation, ...] = ()
        waves: tuple[WaveformChunk, ...] = ()
        alarms: tuple[AlarmEvent, ...] = ()
        if record.maintype == wire.PHDB:
            observations = self._displayed(record, receive_time_ns)
            alarms = self._status.update(
                self._alarm_flags, receive_time_ns, inactivation=self._silence
            )
        elif record.maintype == wire.WAVE:
            waves = self._waves(record, receive_time_ns)
            self._heard_wave = True
        elif record.maintype == wire.ALARM:
            alarms = self._alarms(record, receive_time_ns)
        self._heard = True
        if not (observations or waves or alarms):
            return Accepted(raw, ())
        report = DeviceReport(
            device=self.source.device,
            transport=TRANSPORT,
            peer=self.source.port,
            receive_time_ns=receive_time_ns,
            observations=observations,
            waveforms=waves,
            alarms=alarms,
        )
        return Accepted(raw, (report,))

    # ------------------------------------------------------------ displayed values

    def _displayed(self, record: wire.Record, time_ns: int) -> tuple[Observation, ...]:
        basic = [
            payload[4 : 4 + CLASS_AREA]
            for kind, payload in record.subrecords
            if kind == wire.DISPLAYED
            and len(payload) >= PHDB_BYTES
            and (struct.unpack_from("<H", payload, 276)[0] >> 8) & 0x0F == 0
        ]
        if not basic:
            return ()
        values = _Values(time_ns)
        area = basic[-1]
        self._ecg(area, values)
        for slot, at in enumerate(PRESSURES_AT, 1):
            self._pressure(area, at, slot, values)
        self._nibp(area, values)
        for slot, at in enumerate(TEMPS_AT, 1):
            self._temperature(area, at, slot, values)
        self._spo2(area, values)
        self._gases(area, values)
        self._spirometry(area, values)
        for key in [k for k in self._reported if k not in values.keys]:
            parameter = self._reported.pop(key)
            values.out.append(
                self._void(parameter, "GONE", "the monitor no longer sends this value", time_ns)
            )
            if parameter is NIBP[0]:
                self._first_seen.forget("NIBP")
        return tuple(values.out)

    @staticmethod
    def _group(area: bytes, at: int) -> tuple[int, int] | None:
        """The group's status and label, or None when the monitor has no such group."""
        status, label = GROUP_HEADER.unpack_from(area, at)
        return (status, label) if status & EXISTS else None

    def _value(
        self,
        values: _Values,
        key: str,
        parameter: Parameter,
        raw: int,
        scale: float = 1.0,
        *,
        sub_id: str = "",
        device_time_ns: int | None = None,
    ) -> None:
        values.keys.add(key)
        self._reported[key] = parameter
        if raw <= INVALID_LIMIT:
            name = MARKERS.get(raw, "INVALID")
            why = f"GE S/5 marker {raw} ({name})"
            values.out.append(self._void(parameter, name, why, values.time_ns, sub_id))
            return
        value = round(raw * scale, 6)
        values.out.append(
            measured(
                self.source.device,
                parameter,
                value,
                values.time_ns,
                sub_id=sub_id,
                device_time_ns=device_time_ns,
            )
        )

    def _void(
        self, parameter: Parameter, text: str, why: str, time_ns: int, sub_id: str = ""
    ) -> Observation:
        return unmeasured(self.source.device, parameter, text, time_ns, sub_id=sub_id, reason=why)

    def _ecg(self, area: bytes, values: _Values) -> None:
        group = self._group(area, ECG_AT)
        if group is None:
            return
        status, _ = group
        hr, st1, st2, st3, imp_rr = _i16(area, ECG_AT + 6, 5)
        source = _HR_SOURCES.get((status >> 3) & 0x0F, "")
        if source == "ECG" or not source:
            parameter = ECG_HR
        elif source == "pleth":
            parameter = _p(149538, "HR (pleth)", "/min")
        else:
            parameter = _p(149514, f"HR ({source})", "/min")
        self._value(values, "ECG HR", parameter, hr)
        for index, st in enumerate((st1, st2, st3), 1):
            self._value(values, f"ST{index}", _local(f"ST{index}", f"ST{index}", "mm"), st, 0.01)
        self._value(values, "IMP RR", IMPEDANCE_RR, imp_rr)

    def _pressure(self, area: bytes, at: int, slot: int, values: _Values) -> None:
        group = self._group(area, at)
        if group is None:
            return
        _, label = group
        name, *codes = PRESSURE_LABELS.get(label, (f"P{slot}", 0, 0, 0))
        sys_, dia, mean, hr = _i16(area, at + 6, 4)
        for part, raw, code in zip(("sys", "dia", "mean"), (sys_, dia, mean), codes, strict=True):
            label_text = f"{name} {part}"
            parameter = (
                _p(code, label_text, _MMHG)
                if code
                else _local(f"P{slot}:{name}:{part}", label_text, _MMHG)
            )
            self._value(values, f"P{slot} {part}", parameter, raw, 0.01, sub_id=f"P{slot}")
        pulse = _local(f"P{slot}:{name}:HR", f"{name} PR", "/min")
        self._value(values, f"P{slot} hr", pulse, hr, sub_id=f"P{slot}")

    def _nibp(self, area: bytes, values: _Values) -> None:
        group = self._group(area, NIBP_AT)
        if group is None:
            return
        status, _ = group
        raws = _i16(area, NIBP_AT + 6, 4)
        older = bool(status & (1 << 8))
        measured_at = None
        if all(raw > INVALID_LIMIT for raw in raws[:3]):
            numbers = tuple(float(raw) for raw in raws[:3])
            since = values.time_ns - (60 * NS_PER_S if older else 0)
            measured_at = self._first_seen.time_of("NIBP", numbers, since)
        else:
            self._first_seen.forget("NIBP")
        for parameter, raw in zip(NIBP, raws[:3], strict=True):
            self._value(values, parameter.label, parameter, raw, 0.01, device_time_ns=measured_at)
        self._value(values, "NIBP hr", NIBP_PULSE, raws[3], device_time_ns=measured_at)

    def _temperature(self, area: bytes, at: int, slot: int, values: _Values) -> None:
        group = self._group(area, at)
        if group is None:
            return
        _, site = group
        name, code = TEMPERATURE_SITES.get(site, (f"T{slot}", 150344))
        label = f"T{slot} {name}"
        parameter = _p(code, label, "°C") if code else _local(f"T{slot}:{name}", label, "°C")
        (raw,) = _i16(area, at + 6, 1)
        self._value(values, f"T{slot}", parameter, raw, 0.01, sub_id=f"T{slot}")

    def _spo2(self, area: bytes, values: _Values) -> None:
        if self._group(area, SPO2_AT) is None:
            return
        spo2, pulse, ir_amp, _ = _i16(area, SPO2_AT + 6, 4)
        self._value(values, "SpO2", SPO2, spo2, 0.01)
        self._value(values, "PR", PULSE_RATE, pulse)
        self._value(values, "IR amp", _local("SPO2:IR_AMP", "IR amp", "%"), ir_amp, 0.01)

    def _gases(self, area: bytes, values: _Values) -> None:
        if self._group(area, CO2_AT) is not None:
            et, fi, rr, ambient = _i16(area, CO2_AT + 6, 4)
            if ambient > 0:  # a fraction of the ambient pressure, in mmHg
                scale = ambient * 1e-5
                self._value(values, "EtCO2", ETCO2, et, scale)
                self._value(values, "FiCO2", FICO2, fi, scale)
            else:
                self._value(values, "EtCO2", _p(151708, "EtCO2", "%"), et, 0.01)
                self._value(values, "FiCO2", _p(151716, "FiCO2", "%"), fi, 0.01)
            self._value(values, "awRR", AIRWAY_RR, rr)
        for at, et_parameter, fi_parameter, name in (
            (O2_AT, ETO2, FIO2, "O2"),
            (N2O_AT, ETN2O, FIN2O, "N2O"),
        ):
            if self._group(area, at) is not None:
                et, fi = _i16(area, at + 6, 2)
                self._value(values, f"et{name}", et_parameter, et, 0.01)
                self._value(values, f"fi{name}", fi_parameter, fi, 0.01)
        group = self._group(area, AA_AT)
        if group is not None and group[1] != AGENT_NONE:
            name, et_code, fi_code = AGENTS.get(group[1], AGENTS[0])
            et, fi, mac = _i16(area, AA_AT + 6, 3)
            self._value(values, "etAA", _p(et_code, f"et{name}", "%"), et, 0.01)
            self._value(values, "fiAA", _p(fi_code, f"in{name}", "%"), fi, 0.01)
            self._value(values, "MAC", _local("AA:MAC", "MAC", ""), mac, 0.01)

    def _spirometry(self, area: bytes, values: _Values) -> None:
        if self._group(area, FLOW_VOL_AT) is None:
            return
        raws = _i16(area, FLOW_VOL_AT + 6, 8)
        for index, scale, parameter in SPIROMETRY:
            self._value(values, f"spiro {index}", parameter, raws[index], scale)

    # ------------------------------------------------------------------- waves

    def _waves(self, record: wire.Record, time_ns: int) -> tuple[WaveformChunk, ...]:
        chunks = []
        for kind, payload in record.subrecords:
            wave = WAVE_TYPES.get(kind)
            if wave is None or len(payload) < WAVE_HEADER.size:
                continue
            count, status, _ = WAVE_HEADER.unpack_from(payload)
            if count <= 0 or WAVE_HEADER.size + 2 * count > len(payload):
                raise ParseError(
                    f"wave {wave.name}: {count} samples in a {len(payload)}-byte subrecord"
                )
            samples = np.frombuffer(payload, dtype="<i2", count=count, offset=WAVE_HEADER.size)
            values = samples.astype(np.float32) * np.float32(wave.scale)
            values[samples <= CONTROL_CODE] = np.nan
            if status & WAVE_LEAD_OFF and wave.name.startswith("ECG"):
                values[:] = np.nan
            clock = self._clocks.get(kind)
            if clock is None or status & WAVE_GAP:
                clock = self._clocks[kind] = SampleClock(wave.rate_hz)
            chunks.append(
                WaveformChunk(
                    self.source.device,
                    wave.code,
                    wave.name,
                    wave.rate_hz,
                    clock.start_of(count, time_ns),
                    values,
                    unit=wave.unit,
                    sub_id=wave.name,
                    source_code=None if wave.code else f"GE-S5:WF:{wave.name}",
                )
            )
        return tuple(chunks)

    # ------------------------------------------------------------------ alarms

    def _alarms(self, record: wire.Record, time_ns: int) -> tuple[AlarmEvent, ...]:
        status = [payload for kind, payload in record.subrecords if kind == ALARM_STATUS]
        if not status:
            return ()
        payload = status[-1]
        if len(payload) < ALARM_BYTES:
            raise ParseError(f"alarm status of {len(payload)} bytes, {ALARM_BYTES} expected")
        _, _, _, _, silence = ALARM_HEAD.unpack_from(payload)
        flags = []
        for index in range(ALARM_ENTRIES):
            text_bytes, _, colour, _ = ALARM_ENTRY.unpack_from(
                payload, ALARM_HEAD.size + index * ALARM_ENTRY.size
            )
            text = _text(text_bytes)
            priority = COLOURS.get(colour)
            if not text or priority is None:
                continue
            flags.append(
                StatusFlag(
                    f"ge-alarm:{text}",
                    text,
                    priority,
                    AlarmKind.PHYSIOLOGICAL,
                    source_code=f"GE-S5-ALARM:{colour}",
                )
            )
        self._alarm_flags = tuple(flags)
        self._silence = SILENCE.get(silence, "enabled")
        return self._status.update(flags, time_ns, inactivation=self._silence)


def _text(data: bytes) -> str:
    """An alarm text as the monitor wrote it: up to its NUL, in the monitor's language."""
    text = data.split(b"\x00", 1)[0].decode("latin-1")
    return " ".join(text.split()) if text.isprintable() else ""


PROTOCOL = DeviceProtocol(
    KIND,
    "GE S/5",
    "GE Datex-Ohmeda S/5 Computer Interface (CARESCAPE, S/5, AS/3, CS/3)",
    Decoder,
    sends=SENDS,
)

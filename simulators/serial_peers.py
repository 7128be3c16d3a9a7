"""Simulated devices that must be spoken to: a GE S/5 monitor and a Dräger ventilator.

Unlike the one-way serial devices, these answer what they hear. Each is fed what the
gateway wrote (:meth:`hear`, which returns the device's answer) and moved on in time with
the bed's readout (:meth:`step`, which returns what the device sends on its own):

* :class:`GeS5Monitor` sends nothing until asked: displayed values every requested
  interval (the first at once), the requested waves every step, the alarm display on every
  change (2 s apart at least) once asked to; each stop request ends its stream.
* :class:`MedibusVentilator` answers ICC, NOP, STOP, the device-identification request
  and the data requests (measured data with breathing numbers, alarms, settings, text
  messages) — data only once the link is initialised; it starts the link itself with ICC
  every 3 s while it is down, keeps it alive with NOP every 2 s, asks for the gateway's
  identity once, and takes a peer silent for 3 s as gone (:attr:`timeouts`).

While a scenario keeps the bed's device disconnected (a pulled cable) both say nothing
and hear nothing. Every message heard is counted by what it is (:attr:`heard`), so tests
can check that the gateway sends only requests and protocol replies. Encoding is
``ge_s5_format``'s and ``medibus_format``'s; physiology is the monitor model's.
"""

from __future__ import annotations

import numpy as np

from simulators import ge_s5_format as ge
from simulators import medibus_format as mb
from simulators.monitor import Readout

ALARM_GAP_S = 2.0
MEDIBUS_TIMEOUT_S = 3.0
MEDIBUS_NOP_EVERY_S = 2.0
APNOEA_ALARM = (31, 0x2B, "APNEA")


class GeS5Monitor:
    """The monitor's side of an S/5 Computer Interface (see the module docstring)."""

    period_s = 0.25

    def __init__(self, seed: int = 0) -> None:
        self.heard: dict[str, int] = {}
        self.unknown: list[str] = []
        self.interval_s: int | None = None
        self.waves: tuple[int, ...] = ()
        self.alarms_on = False
        self._buffer = b""
        self._next_values_s = 0.0
        self._alarms: dict[str, tuple[str, str]] = {}
        self._alarms_sent: tuple[tuple[str, str], ...] | None = None
        self._alarms_sent_s = -ALARM_GAP_S
        self._connected = True
        self._rng = np.random.default_rng(seed)

    def hear(self, data: bytes, now_s: float) -> bytes:
        if not self._connected:
            return b""
        data = self._buffer + data
        cut = data.rfind(bytes((ge.FLAG,)))
        complete, self._buffer = data[: cut + 1], data[cut + 1 :]
        if len(self._buffer) > 4096:
            self._buffer = b""
        for request in ge.read_requests(complete):
            self.heard[request.command] = self.heard.get(request.command, 0) + 1
            if request.command == "phdb-request":
                self.interval_s = request.interval_s
                self._next_values_s = now_s
            elif request.command == "phdb-stop":
                self.interval_s = None
            elif request.command == "wave-request":
                self.waves = request.waves
            elif request.command == "wave-stop":
                self.waves = ()
            elif request.command == "alarm-request":
                self.alarms_on = True
                self._alarms_sent = None  # the current status at once
            elif request.command == "alarm-stop":
                self.alarms_on = False
            else:
                self.unknown.append(request.why)
        return b""

    def step(self, readout: Readout, now_s: float) -> bytes:
        self._connected = readout.connected
        for alarm in readout.alarms:
            if alarm.phase == "end" or alarm.state == "inactive":
                self._alarms.pop(alarm.alarm_id, None)
            else:
                self._alarms[alarm.alarm_id] = (alarm.text, alarm.priority)
        if not readout.connected:
            return b""
        etco2 = 36.0 + float(self._rng.normal(0.0, 0.5))
        out = b""
        if self.waves:
            record = ge.waves(readout, self.waves, etco2_mmhg=etco2)
            if record is not None:
                out += ge.frame(record)
        if self.interval_s is not None and now_s >= self._next_values_s:
            out += ge.frame(ge.displayed_values(readout, etco2_mmhg=etco2))
            self._next_values_s = now_s + self.interval_s
        shown = tuple(sorted(self._alarms.values()))
        if (
            self.alarms_on
            and shown != self._alarms_sent
            and now_s - self._alarms_sent_s >= ALARM_GAP_S
        ):
            out += ge.frame(ge.alarm_display(shown))
            self._alarms_sent, self._alarms_sent_s = shown, now_s
        return out


class MedibusVentilator:
    """The ventilator's side of a MEDIBUS link (see the module docstring)."""

    period_s = 0.1

    def __init__(self, seed: int = 0, *, timeout_s: float = MEDIBUS_TIMEOUT_S) -> None:
        self.heard: dict[str, int] = {}
        self.up = False
        self.timeouts = 0
        """Times the ventilator gave up on a silent peer."""
        self.timeout_s = timeout_s
        self._buffer = b""
        self._last_heard_s = 0.0
        self._last_command_s = -MEDIBUS_NOP_EVERY_S
        self._icc_s = -timeout_s
        self._asked_id = False
        self._connected = True
        self._readout: Readout | None = None
        self._rng = np.random.default_rng(seed)

    def hear(self, data: bytes, now_s: float) -> bytes:
        if not self._connected:
            return b""
        messages, self._buffer = mb.read_messages(self._buffer + data)
        if len(self._buffer) > 4096:
            self._buffer = b""
        out = b""
        for message in messages:
            self.heard[message.name] = self.heard.get(message.name, 0) + 1
            self._last_heard_s = now_s
            if message.command:
                out += self._answer(message)
            elif message.code == 0x51:
                self.up = True  # our ICC answered
        return out

    def _answer(self, message: mb.Message) -> bytes:
        code = message.code
        if message.name == "unknown":
            return mb.response(mb.NAK)
        if code == 0x51:
            self.up = True
            self._asked_id = False
            return mb.response(code)
        if code == 0x55:
            self.up = False
            return mb.response(code)
        if code == 0x30:
            return mb.response(code)
        if not self.up:
            return b""  # data only on an initialised link
        if code == 0x52:
            return mb.device_id("0181", "Evita 4", "04.20:04.03")
        if code == 0x24:
            return mb.measured_data(self._values())
        if code == 0x27:
            return mb.alarms([APNOEA_ALARM] if self._breaths() == 0 else [])
        if code == 0x29:
            return mb.settings([(0x01, "40"), (0x0B, "5.0"), (0x04, "0.45"), (0x0A, "14")])
        if code == 0x2A:
            return mb.text_messages([(0x01, "IPPV")])
        return mb.response(mb.NAK)

    def step(self, readout: Readout, now_s: float) -> bytes:
        self._connected = readout.connected
        self._readout = readout
        if not readout.connected:
            self.up = False
            return b""
        if self.up and now_s - self._last_heard_s > self.timeout_s:
            self.up = False
            self.timeouts += 1
        if not self.up:
            if now_s - self._icc_s >= self.timeout_s:
                self._icc_s = self._last_command_s = now_s
                return mb.command(0x51)
            return b""
        if not self._asked_id:
            self._asked_id = True
            self._last_command_s = now_s
            return mb.command(0x52)
        if now_s - self._last_command_s >= MEDIBUS_NOP_EVERY_S:
            self._last_command_s = now_s
            return mb.command(0x30)
        return b""

    def _breaths(self) -> int:
        readout = self._readout
        if readout is None or readout.vitals.resp_rate is None:
            return 14
        return readout.vitals.resp_rate

    def _values(self) -> list[tuple[int, float | None]]:
        rr = self._breaths()
        noise = self._rng.normal(0.0, 1.0, 4)
        vt = 0.0 if rr == 0 else round(450.0 + 15.0 * float(noise[0]))
        return [
            (0x7D, round(21.0 + float(noise[1]), 1)),  # Ppeak mbar
            (0x78, 5.0),  # PEEP
            (0x74, round(17.0 + 0.5 * float(noise[2]), 1)),  # Pplat
            (0x73, 10.0),  # Pmean
            (0x88, vt),  # VT mL
            (0xB8, round(rr * vt / 1000.0, 1)),  # MV L/min
            (0xD6, float(rr)),  # RR
            (0xF0, 40.0),  # FiO2 %
            (0xE6, None if rr == 0 else round(37.0 + float(noise[3]))),  # EtCO2 mmHg
        ]

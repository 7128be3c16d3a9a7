"""Masimo Radical-7 / Rad-8 / Rad-97 "ASCII 1" serial output → SpO2, pulse rate, PI, alarms.

One line a second, ended by CR LF (CR or LF alone is taken too)::

    02/22/16 22:47:45 SN=0000056661 SPO2=098% BPM=097 PI=03.60% SPCO=--.-% SPMET=--.-%
    DESAT=-- PIDELTA=+-- ALARM=0000 EXC=000800                               (one line)

Fields are read by key, never by position: the set differs by model and firmware (PVI,
SPHB, SPOC, EXC1 …; older units send only ``SPO2= BPM= PI= ALARM= EXC=``). Dashes are "no
valid value": an INVALID observation, never a number. A value that is neither a number nor
dashes, or a number no oximeter can show (SpO2 140), means the line was damaged on the wire
(it has no checksum): the whole line is rejected rather than trusted in part.

EXC exception bits (published): 001 no sensor, 020 sensor off (both: the values are not
measurements), 008 pulse search, 004 low perfusion, 400 low signal IQ — each a device
alarm while set; 800 is "SET" mode, a setting. Other EXC bits have no published meaning:
each is reported once as a fault, never guessed. ALARM bits are proprietary: any non-zero
ALARM is shown as a medium-priority device alarm naming its code, so the device's alarm is
never hidden. The device's date stamp is not used (no zone, clock set by hand).

The first line after the port opens is usually a tail (the reader joined mid-line): when it
does not parse it is discarded, not reported. This module never writes to the port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from adapters.serial.device import TRANSPORT, Accepted, Decoded, DeviceProtocol, Rejected
from adapters.serial.device import SerialSource as Source
from adapters.serial.records import (
    PULSE_RATE,
    SENSOR_DISCONNECTED,
    SPO2,
    Parameter,
    measured,
    unmeasured,
)
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway.domain import AlarmKind, AlarmPriority, DeviceId, DeviceReport, Observation
from gateway.errors import ParseError

KIND = "masimo"
MAX_LINE_BYTES = 512
"""A longer run without a line end is noise (the longest real line is ~200 bytes)."""

_PARAMETERS: dict[str, Parameter] = {
    "SPO2": SPO2,
    "BPM": PULSE_RATE,
    "PI": Parameter(150448, "PI", "%", low=0, high=100),
    # No MDC code the gateway is sure of: journaled with the device's name, not on tiles.
    "SPCO": Parameter(0, "SpCO", "%", "MASIMO:SPCO", 0, 100),
    "SPMET": Parameter(0, "SpMet", "%", "MASIMO:SPMET", 0, 100),
    "SPHB": Parameter(0, "SpHb", "g/dL", "MASIMO:SPHB", 0, 30),
    "SPOC": Parameter(0, "SpOC", "mL/dL", "MASIMO:SPOC", 0, 50),
    "PVI": Parameter(0, "PVI", "%", "MASIMO:PVI", 0, 100),
    "DESAT": Parameter(0, "Desat", "", "MASIMO:DESAT", -100, 100),
    "PIDELTA": Parameter(0, "PI delta", "%", "MASIMO:PIDELTA", -100, 100),
}
_MEASUREMENTS = frozenset(("SPO2", "BPM", "PI"))

_MEDIUM, _LOW = AlarmPriority.MEDIUM, AlarmPriority.LOW


def _exc(
    bit: int, name: str, text: str, priority: AlarmPriority, *, disconnected: bool = False
) -> StatusFlag:
    """An EXC bit's alarm; ``disconnected``: no sensor on the patient, values are void."""
    return StatusFlag(
        name,
        text,
        priority,
        code=SENSOR_DISCONNECTED if disconnected else 0,
        source_code=f"MASIMO-EXC:0x{bit:03X}",
        parameter_code=SPO2.code,
        parameter_label="SpO2",
        invalidates=disconnected,
    )


EXC_FLAGS: tuple[tuple[int, StatusFlag], ...] = (
    (0x001, _exc(0x001, "no-sensor", "SpO2 NO SENSOR", _MEDIUM, disconnected=True)),
    (0x020, _exc(0x020, "sensor-off", "SpO2 SENSOR OFF", _MEDIUM, disconnected=True)),
    (0x008, _exc(0x008, "pulse-search", "SpO2 PULSE SEARCH", _LOW)),
    (0x004, _exc(0x004, "low-perfusion", "SpO2 LOW PERFUSION", _LOW)),
    (0x400, _exc(0x400, "low-signal-iq", "SpO2 LOW SIGNAL IQ", _LOW)),
)  # fmt: skip
EXC_SET_MODE = 0x800
EXC_KNOWN = EXC_SET_MODE | sum(bit for bit, _ in EXC_FLAGS)

_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_DASHES = re.compile(r"[+-]?[-.]*-[-.]*")
_HEX = re.compile(r"[0-9A-Fa-f]{1,8}")
_DATE = re.compile(r"\d\d/\d\d/\d\d")
_TIME = re.compile(r"\d\d:\d\d:\d\d")


@dataclass(frozen=True, slots=True)
class MasimoLine:
    """One ASCII 1 line, read by key (values as sent)."""

    fields: dict[str, str]
    exc: int
    alarm: int

    @property
    def serial_number(self) -> str:
        return self.fields.get("SN", "")


def parse_line(line: bytes) -> MasimoLine:
    """Read one line (without its line end). Raises ParseError for anything else."""
    try:
        text = line.decode("ascii")
    except UnicodeDecodeError:
        raise ParseError("not an ASCII line (wrong baud rate or parity?)") from None
    if not text.isprintable():
        raise ParseError("control characters in the line (wrong baud rate or parity?)")
    fields: dict[str, str] = {}
    for index, token in enumerate(text.split()):
        key, sep, value = token.partition("=")
        if not sep:
            if (index == 0 and _DATE.fullmatch(token)) or (index == 1 and _TIME.fullmatch(token)):
                continue  # the device's date stamp
            raise ParseError(f"{token[:20]!r} is not KEY=VALUE")
        if not key.isalnum() or not key.isupper():
            raise ParseError(f"{key[:20]!r} is not a field name")
        if key in fields:
            raise ParseError(f"{key} appears twice")
        fields[key] = value
    if not fields.keys() & _MEASUREMENTS:
        raise ParseError("no SPO2, BPM or PI field: not a Masimo ASCII 1 line")
    return MasimoLine(fields, _hex_field(fields, "EXC"), _hex_field(fields, "ALARM"))


def _hex_field(fields: dict[str, str], key: str) -> int:
    text = fields.get(key)
    if text is None:
        return 0
    if not _HEX.fullmatch(text):
        raise ParseError(f"{key}={text[:20]} is not hexadecimal")
    return int(text, 16)


def reading(key: str, text: str) -> float | None:
    """A field's value: a number, or None for dashes. Raises ParseError for anything else."""
    parameter = _PARAMETERS[key]
    value_text = text.removesuffix("%")
    if _DASHES.fullmatch(value_text):
        return None
    if not _NUMBER.fullmatch(value_text):
        raise ParseError(f"{key}={text[:20]} is neither a number nor dashes")
    value = float(value_text)
    if not parameter.low <= value <= parameter.high:
        raise ParseError(f"{key}={text} is outside {parameter.low:g}…{parameter.high:g}")
    return value


class Decoder:
    """A Masimo ASCII 1 stream: lines in, one report per line out."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._buffer = bytearray()
        self._skipping = False
        self._joined = False
        self._status = StatusAlarms(source.device)
        self._unknown_told = 0
        self.discarded = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def restart(self) -> None:
        self._buffer.clear()
        self._skipping = False
        self._joined = False

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        out: list[Decoded] = []
        pieces = data.replace(b"\r", b"\n").split(b"\n")
        for piece in pieces[:-1]:
            self._take(piece, out)
            self._line_end(out, receive_time_ns)
        self._take(pieces[-1], out)
        return out

    def _take(self, piece: bytes, out: list[Decoded]) -> None:
        if self._skipping:
            self.discarded += len(piece)
            return
        self._buffer += piece
        if len(self._buffer) > MAX_LINE_BYTES:
            out.append(
                Rejected(
                    bytes(self._buffer[:MAX_LINE_BYTES]),
                    f"no line end within {MAX_LINE_BYTES} bytes",
                )
            )
            self.discarded += len(self._buffer) - MAX_LINE_BYTES
            self._buffer.clear()
            self._skipping = self._joined = True

    def _line_end(self, out: list[Decoded], receive_time_ns: int) -> None:
        line = bytes(self._buffer)
        self._buffer.clear()
        if self._skipping:  # the end of an over-long run: already rejected
            self._skipping = False
            return
        if not line.strip():
            return  # the blank line between records, or a CR LF
        first = not self._joined
        self._joined = True
        try:
            out.append(self.decode(line, receive_time_ns))
        except ParseError as exc:
            if first:
                self.discarded += len(line)  # joined mid-line: the tail of a record
            else:
                out.append(Rejected(line, str(exc)))

    def decode(self, line: bytes, receive_time_ns: int) -> Accepted:
        """One line's report. Raises ParseError (and changes nothing) for a bad line."""
        parsed = parse_line(line)
        values = {
            key: reading(key, text) for key, text in parsed.fields.items() if key in _PARAMETERS
        }
        flags = [flag for bit, flag in EXC_FLAGS if parsed.exc & bit]
        problems = self._unknown_bits(parsed.exc)
        if parsed.alarm:
            width = len(parsed.fields.get("ALARM", "")) or 4
            flags.append(
                StatusFlag(
                    "device-alarm",
                    f"MASIMO ALARM {parsed.alarm:0{width}X} (see the device)",
                    _MEDIUM,
                    AlarmKind.PHYSIOLOGICAL,
                    source_code=f"MASIMO-ALARM:{parsed.alarm:X}",
                    parameter_code=SPO2.code,
                    parameter_label="SpO2",
                )
            )
        invalid = any(flag.invalidates for flag in flags)
        device = self._device(parsed.serial_number)
        observations: list[Observation] = []
        for key, value in values.items():
            parameter = _PARAMETERS[key]
            text = parsed.fields[key].removesuffix("%")
            if value is None or invalid:
                observations.append(unmeasured(device, parameter, text, receive_time_ns))
            else:
                observations.append(measured(device, parameter, value, receive_time_ns))
        report = DeviceReport(
            device=device,
            transport=TRANSPORT,
            peer=self.source.port,
            receive_time_ns=receive_time_ns,
            observations=tuple(observations),
            alarms=self._status.update(flags, receive_time_ns),
        )
        return Accepted(line, (report,), problems=problems)

    def _device(self, serial_number: str) -> DeviceId:
        device = self.source.device
        label = f"Masimo SN {serial_number}" if serial_number else device.label
        return device if label == device.label else DeviceId(device.key, label)

    def _unknown_bits(self, exc: int) -> tuple[str, ...]:
        """Each EXC bit without a published meaning, once per port (a fault, not an alarm)."""
        new = exc & ~EXC_KNOWN & ~self._unknown_told
        if not new:
            return ()
        self._unknown_told |= new
        return tuple(
            f"EXC bit 0x{bit:X} set: its meaning is not published, it is not shown as an alarm"
            for bit in (1 << n for n in range(new.bit_length()))
            if new & bit
        )


PROTOCOL = DeviceProtocol(KIND, "Masimo", "Masimo ASCII 1 (Radical-7, Rad-8, Rad-97)", Decoder)

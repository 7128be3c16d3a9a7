"""Ivy 450C patient monitor, ANSAR-B protocol → vital signs, five waves, technical alarms.

A frame a second (verified against a byte-exact capture of a real monitor)::

    FF "ANSAR-B " | 400 wave bytes | NAME=n;v1;…;vn;message;\\r … | FE

The wave bytes are ECG (200 samples, 200 Hz), RESP, PLETH, P1, P2 (50 samples each, 50 Hz),
read by position — they may hold any value, so the frame end is searched only after them.
``FB`` in a wave is "no signal" (the capture's unused P2 is all ``FB``): a gap (NaN), never
a sample. Their scale is not published: samples are the device's raw units.

Each parameter line gives ``n`` values then a message, e.g. ``HR=1;80;ECG-II-DIAG;``,
``NIBP=4;121;75;92;80;;`` (sys, dia, mean, pulse), ``SPO2=1;100;PR=80 ;`` (the pulse rate
rides in the message), ``P2=3;;;;NO TRANSDUCER;``. An empty value is "no valid value".
Messages that name a technical condition become device alarms, present while sent:
``LEADS OFF`` (ECG), a sensor or probe off (SpO2), and ``NO TRANSDUCER`` — the last only
for a channel that has measured since the gateway started (the capture's P2 says it all
day: a channel nobody uses is not an alarm). An unused channel (never a value) gives no
observations; a used one that loses its value gives INVALID ones, never its old number.
Other messages (``ECG-II-DIAG``, ``APNEA: 20 SEC``: settings) stay in the journal's raw
frame. The frame has no checksum: a damaged parameter line rejects the whole frame.

Mapping (NOT verified: the channel labels set on the monitor are not sent): P1 is taken
as arterial (ABP, so the ABP limits apply), P2 as an unspecified blood pressure (no
limits); T1 is the body temperature (°C), T2 is kept with Ivy's own name; EtCO2 in mmHg.
Never writes to the port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from adapters.serial.device import TRANSPORT, Accepted, Decoded, DeviceProtocol, Rejected
from adapters.serial.device import SerialSource as Source
from adapters.serial.records import (
    PLETH_WAVE,
    PULSE_RATE,
    SENSOR_DISCONNECTED,
    SPO2,
    FirstSeen,
    Parameter,
    SampleClock,
    measured,
    unmeasured,
)
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway.domain import AlarmPriority, DeviceReport, Observation, WaveformChunk
from gateway.errors import ParseError

KIND = "ivy"
HEADER = b"\xffANSAR-B "
END = 0xFE
NO_SIGNAL = 0xFB
WAVE_BYTES = 400
PARAMS_AT = len(HEADER) + WAVE_BYTES
MAX_PARAM_BYTES = 2048
"""Parameter lines longer than this are not a frame (the capture's are 196 bytes)."""
MAX_FRAME_BYTES = PARAMS_AT + MAX_PARAM_BYTES + 1
MAX_REJECT_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Wave:
    name: str
    code: int
    label: str
    offset: int
    count: int
    rate_hz: float


ECG_LEADS = {"I": 131329, "II": 131330}
"""MDC_ECG_ELEC_POTL_I/_II; another lead is sent as MDC_ECG_ELEC_POTL (131328)."""
WAVES = (
    Wave("ECG", 131330, "ECG", 0, 200, 200.0),
    Wave("RESP", 151780, "Resp", 200, 50, 50.0),  # MDC_IMPED_TTHOR
    Wave("PLETH", PLETH_WAVE, "Pleth", 250, 50, 50.0),
    Wave("P1", 150036, "P1", 300, 50, 50.0),  # MDC_PRESS_BLD_ART_ABP
    Wave("P2", 150016, "P2", 350, 50, 50.0),  # MDC_PRESS_BLD
)

_NIBP_PULSE = Parameter(149546, "PR (NIBP)", "/min", high=400)
CHANNELS: dict[str, tuple[Parameter, ...]] = {
    "HR": (Parameter(147842, "HR", "/min", high=400),),
    "RR": (Parameter(151562, "RR", "/min", high=200),),
    "ETCO2": (Parameter(151708, "EtCO2", "mmHg", high=200),),
    "SPO2": (SPO2,),
    "NIBP": (
        Parameter(150021, "NIBP sys", "mmHg", high=400),
        Parameter(150022, "NIBP dia", "mmHg", high=400),
        Parameter(150023, "NIBP mean", "mmHg", high=400),
        _NIBP_PULSE,
    ),
    "P1": (
        Parameter(150033, "P1 sys", "mmHg", low=-50, high=400),
        Parameter(150034, "P1 dia", "mmHg", low=-50, high=400),
        Parameter(150035, "P1 mean", "mmHg", low=-50, high=400),
    ),
    "P2": (
        Parameter(150017, "P2 sys", "mmHg", low=-50, high=400),  # MDC_PRESS_BLD_SYS
        Parameter(150018, "P2 dia", "mmHg", low=-50, high=400),
        Parameter(150019, "P2 mean", "mmHg", low=-50, high=400),
    ),
    "T1": (Parameter(150344, "Temp", "°C", high=50),),
    "T2": (Parameter(0, "T2", "°C", "IVY:T2", high=50),),
}
_FIRST_SEEN_ONCE = frozenset(("NIBP",))
"""Channels the monitor re-sends between measurements: timed by when first seen."""

_NAME = re.compile(r"[A-Z][A-Z0-9]*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_DASHES = re.compile(r"-+(?:\.-+)?")
_LEAD = re.compile(r"ECG-([A-Z0-9]+)-")
_PULSE = re.compile(r"PR=\s*(\S*)\s*")


@dataclass(frozen=True, slots=True)
class ParameterLine:
    name: str
    values: tuple[str, ...]
    message: str


def parse_parameters(data: bytes) -> list[ParameterLine]:
    """The parameter lines of a frame. Raises ParseError for a damaged one."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ParseError("parameter lines are not ASCII (a damaged frame)") from None
    lines = []
    for line in text.split("\r"):
        if not line:
            continue
        if not line.isprintable():
            raise ParseError(f"control characters in {line[:20]!r} (a damaged frame)")
        name, sep, rest = line.partition("=")
        fields = rest.split(";")
        # ASCII and short: "²".isdigit() holds, and int() of 4,300 digits raises ValueError.
        count_text = fields[0]
        if (
            not sep
            or not _NAME.fullmatch(name)
            or not (count_text.isascii() and count_text.isdigit() and len(count_text) <= 4)
        ):
            raise ParseError(f"{line[:30]!r} is not NAME=n;values;message;")
        count = int(fields[0])
        if len(fields) < count + 1:
            raise ParseError(f"{line[:30]!r} has fewer than its {count} values")
        values = tuple(field.strip() for field in fields[1 : count + 1])
        lines.append(ParameterLine(name, values, ";".join(fields[count + 1 :]).strip("; ")))
    return lines


def number(name: str, text: str, parameter: Parameter) -> float | None:
    """A value: a number, or None when empty or dashes. Raises ParseError otherwise."""
    if not text or _DASHES.fullmatch(text):
        return None
    if not _NUMBER.fullmatch(text):
        raise ParseError(f"{name}: {text[:20]!r} is neither a number nor empty")
    value = float(text)
    if not parameter.low <= value <= parameter.high:
        raise ParseError(f"{name}: {text} is outside {parameter.low:g}…{parameter.high:g}")
    return value


_SHOWN_AS = {"SPO2": "SpO2", "ETCO2": "EtCO2"}


def _condition(channel: str, message: str, *, used: bool) -> StatusFlag | None:
    """The technical alarm a channel's message names, if any."""
    text = message.upper()
    shown = _SHOWN_AS.get(channel, channel)
    if "LEAD" in text and "OFF" in text:
        return StatusFlag(
            f"{channel}-leads-off",
            "ECG LEADS OFF",
            AlarmPriority.MEDIUM,
            source_code=f"IVY:{channel}:{message}",
            parameter_code=147842,
            parameter_label="ECG",
            invalidates=True,
        )
    if ("SENSOR" in text or "PROBE" in text) and ("OFF" in text or "NO " in text):
        return StatusFlag(
            f"{channel}-sensor-off",
            f"{shown} {text}",
            AlarmPriority.MEDIUM,
            code=SENSOR_DISCONNECTED,
            source_code=f"IVY:{channel}:{message}",
            parameter_label=shown,
            invalidates=True,
        )
    if "NO TRANSDUCER" in text and used:
        return StatusFlag(
            f"{channel}-no-transducer",
            f"{shown} NO TRANSDUCER",
            AlarmPriority.MEDIUM,
            code=SENSOR_DISCONNECTED,
            source_code=f"IVY:{channel}:{message}",
            parameter_label=shown,
            invalidates=True,
        )
    return None


class Decoder:
    """An ANSAR-B stream: frames in, one report per frame out."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._buffer = bytearray()
        self._synced = False
        self._noise = bytearray()
        self._noise_count = 0
        self._status = StatusAlarms(source.device)
        self._used: set[str] = set()
        """Channels (and waves) that have measured since the gateway started."""
        self._first_seen = FirstSeen()
        self._lead = ""
        """The ECG lead the monitor last named (``ECG-II-DIAG``): kept while leads are off."""
        self._clocks = {wave.name: SampleClock(wave.rate_hz) for wave in WAVES}
        self.discarded = 0

    @property
    def pending(self) -> int:
        return len(self._buffer) + len(self._noise)

    def restart(self) -> None:
        self._buffer.clear()
        self._synced = False
        self._noise.clear()
        self._noise_count = 0

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        out: list[Decoded] = []
        buffer = self._buffer
        buffer += data
        while buffer:
            start = buffer.find(HEADER)
            if start < 0:
                keep = len(HEADER) - 1  # it may be the beginning of a header
                if len(buffer) > keep:
                    self._noise_bytes(bytes(buffer[:-keep]), out)
                    del buffer[:-keep]
                break
            if start:
                self._noise_bytes(bytes(buffer[:start]), out)
                del buffer[:start]
            self._flush_noise(out)
            self._synced = True
            limit = min(len(buffer), MAX_FRAME_BYTES)
            end = buffer.find(END, PARAMS_AT, limit)
            cut = buffer.find(HEADER, 1, end if end >= 0 else limit)
            if cut >= 0:
                out.append(Rejected(bytes(buffer[:cut]), "frame cut short: a new frame began"))
                del buffer[:cut]
                continue
            if end < 0:
                if len(buffer) >= MAX_FRAME_BYTES:
                    out.append(
                        Rejected(
                            bytes(buffer[:MAX_FRAME_BYTES]),
                            f"no frame end within {MAX_FRAME_BYTES} bytes",
                        )
                    )
                    del buffer[: len(HEADER)]
                    continue
                break  # wait for the rest of the frame
            frame = bytes(buffer[: end + 1])
            del buffer[: end + 1]
            try:
                out.append(self.decode(frame, receive_time_ns))
            except ParseError as exc:
                out.append(Rejected(frame, str(exc)))
        return out

    def _noise_bytes(self, data: bytes, out: list[Decoded]) -> None:
        if not self._synced:
            self.discarded += len(data)  # joined mid-frame
            return
        room = MAX_REJECT_BYTES - len(self._noise)
        self._noise += data[:room]
        self._noise_count += len(data)
        if self._noise_count >= MAX_REJECT_BYTES:
            self._flush_noise(out)

    def _flush_noise(self, out: list[Decoded]) -> None:
        if self._noise_count:
            out.append(
                Rejected(bytes(self._noise), f"{self._noise_count} bytes between frames skipped")
            )
            self._noise.clear()
            self._noise_count = 0

    def decode(self, frame: bytes, receive_time_ns: int) -> Accepted:
        """One whole frame (header to end byte). Raises ParseError, changing nothing."""
        if not frame.startswith(HEADER) or frame[-1] != END or len(frame) <= PARAMS_AT:
            raise ParseError("not an ANSAR-B frame")
        lines = parse_parameters(frame[PARAMS_AT:-1])
        known = [line for line in lines if line.name in CHANNELS]
        readings = {line.name: self._numbers(line) for line in known}
        pulse = self._pulse(lines)  # every check passed: from here on, state may change
        device = self.source.device
        observations: list[Observation] = []
        flags: list[StatusFlag] = []
        lead = self._lead
        for line in known:
            values = readings[line.name]
            flag = _condition(line.name, line.message, used=line.name in self._used)
            if flag is not None:
                flags.append(flag)
            if any(value is not None for value in values):
                self._used.add(line.name)
            said = self._observations(line, values, flag, receive_time_ns)
            observations += said
            if line.name == "HR" and (found := _LEAD.match(line.message.upper())):
                lead = found.group(1)
            if line.name == "SPO2" and pulse is not None and said:
                # The oximeter's pulse rate shares the SpO2 channel's fate.
                text, rate = pulse
                if rate is None or (flag is not None and flag.invalidates):
                    observations.append(unmeasured(device, PULSE_RATE, text, receive_time_ns))
                else:
                    observations.append(measured(device, PULSE_RATE, rate, receive_time_ns))
        self._lead = lead
        report = DeviceReport(
            device=device,
            transport=TRANSPORT,
            peer=self.source.port,
            receive_time_ns=receive_time_ns,
            observations=tuple(observations),
            waveforms=self._waves(frame[len(HEADER) : PARAMS_AT], lead, receive_time_ns),
            alarms=self._status.update(flags, receive_time_ns),
        )
        return Accepted(frame, (report,))

    @staticmethod
    def _numbers(line: ParameterLine) -> tuple[float | None, ...]:
        parameters = CHANNELS[line.name]
        return tuple(
            number(f"{line.name} value {index + 1}", text, parameter)
            for index, (text, parameter) in enumerate(zip(line.values, parameters, strict=False))
        )

    @staticmethod
    def _pulse(lines: list[ParameterLine]) -> tuple[str, float | None] | None:
        """The oximeter's pulse rate, sent in the SPO2 line's message (``PR=80 ``)."""
        for line in lines:
            if line.name == "SPO2" and (found := _PULSE.search(line.message)):
                text = found.group(1)
                return text, number("SPO2 PR", text, PULSE_RATE)
        return None

    def _observations(
        self,
        line: ParameterLine,
        values: tuple[float | None, ...],
        flag: StatusFlag | None,
        receive_time_ns: int,
    ) -> list[Observation]:
        if line.name not in self._used and flag is None:
            return []  # a channel nobody uses
        device = self.source.device
        void = flag is not None and flag.invalidates
        measured_at = None
        if line.name in _FIRST_SEEN_ONCE and not void and None not in values:
            measured_at = self._first_seen.time_of(
                line.name, tuple(v for v in values if v is not None), receive_time_ns
            )
        elif line.name in _FIRST_SEEN_ONCE:
            self._first_seen.forget(line.name)
        out = []
        for text, value, parameter in zip(line.values, values, CHANNELS[line.name], strict=False):
            if value is None or void:
                out.append(unmeasured(device, parameter, text, receive_time_ns))
            else:
                out.append(
                    measured(device, parameter, value, receive_time_ns, device_time_ns=measured_at)
                )
        return out

    def _waves(self, data: bytes, lead: str, receive_time_ns: int) -> tuple[WaveformChunk, ...]:
        raw = np.frombuffer(data, dtype=np.uint8)
        chunks = []
        for wave in WAVES:
            samples = raw[wave.offset : wave.offset + wave.count]
            signal = samples < NO_SIGNAL
            name = f"wave {wave.name}"
            if signal.any():
                self._used.add(name)
            elif name not in self._used:
                continue  # a channel with nothing connected since the gateway started
            values = np.where(signal, samples.astype(np.float32), np.float32(np.nan))
            code, label = wave.code, wave.label
            if wave.name == "ECG":
                code = ECG_LEADS.get(lead, 131328)
                label = f"ECG {lead}" if lead else "ECG"
            start = self._clocks[wave.name].start_of(wave.count, receive_time_ns)
            chunks.append(
                WaveformChunk(
                    self.source.device, code, label, wave.rate_hz, start, values.astype(np.float32)
                )
            )
        return tuple(chunks)


PROTOCOL = DeviceProtocol(KIND, "Ivy 450C", "Ivy 450C, ANSAR-B", Decoder)

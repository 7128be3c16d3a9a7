"""Nonin OEM III pulse oximeter, serial data format #2 → SpO2, pulse rate, pleth, alarms.

Framing (verified against public test vectors): 5-byte frames ``01 STATUS PLETH DATA CHK``,
STATUS bit 7 always set, CHK = (b0+b1+b2+b3) mod 256; bit 0 of STATUS (SYNC) marks the
first of the 25 frames of a packet; 3 packets a second, so the pleth is 75 Hz. The receiver
slides byte by byte after noise until a frame checks again.

Values (NOT verified for format #2 — the published table is format #7's): DATA of frame 0
holds heart-rate bits 7-8, frame 1 bits 0-6, frame 2 the SpO2; 511 and 127 mean "missing".
Status bits (format #7's table): 3 sensor alarm, 4 out of track (both: the values are not
measurements), 5 artefact — each a device alarm while set, ended after a second (three
packets) without it, as the artefact bit flickers frame by frame. Bits 1-2 grade the
perfusion (no alarm); bit 6 has no published meaning and is reported once as a fault.

One report per complete packet. A packet cut short (a SYNC before its 25th frame), frames
outside a packet, and noise are each rejected (journaled, a fault); frames before the first
SYNC after the port opened are discarded (the reader joined mid-packet). Never writes.
"""

from __future__ import annotations

import numpy as np

from adapters.serial.device import TRANSPORT, Accepted, Decoded, DeviceProtocol, Rejected
from adapters.serial.device import SerialSource as Source
from adapters.serial.records import (
    PLETH_WAVE,
    PULSE_RATE,
    SPO2,
    SampleClock,
    measured,
    unmeasured,
)
from adapters.serial.status import StatusAlarms, StatusFlag
from gateway.domain import AlarmPriority, DeviceReport, Observation, WaveformChunk

KIND = "nonin"
FRAME_BYTES = 5
START = 0x01
STATUS_ALWAYS = 0x80
SYNC = 0x01
FRAMES_PER_PACKET = 25
PACKETS_PER_S = 3
PLETH_RATE_HZ = float(FRAMES_PER_PACKET * PACKETS_PER_S)
HR_MISSING = 511
SPO2_MISSING = 127
MAX_REJECT_BYTES = 1024
"""Noise (or frames outside a packet) is journaled in runs of at most this many bytes."""

_SENSOR_ALARM, _OUT_OF_TRACK, _ARTEFACT = 0x08, 0x10, 0x20
_PERFUSION = 0x06
_KNOWN = STATUS_ALWAYS | SYNC | _PERFUSION | _SENSOR_ALARM | _OUT_OF_TRACK | _ARTEFACT


def _flag(bit: int, name: str, text: str, priority: AlarmPriority, invalidates: bool) -> StatusFlag:
    return StatusFlag(
        name,
        text,
        priority,
        source_code=f"NONIN-STATUS:0x{bit:02X}",
        parameter_code=SPO2.code,
        parameter_label="SpO2",
        invalidates=invalidates,
    )


STATUS_FLAGS: tuple[tuple[int, StatusFlag], ...] = (
    (_SENSOR_ALARM, _flag(_SENSOR_ALARM, "sensor-alarm", "SpO2 SENSOR ALARM",
                          AlarmPriority.MEDIUM, True)),
    (_OUT_OF_TRACK, _flag(_OUT_OF_TRACK, "out-of-track", "SpO2 OUT OF TRACK",
                          AlarmPriority.LOW, True)),
    (_ARTEFACT, _flag(_ARTEFACT, "artefact", "SpO2 ARTEFACT", AlarmPriority.LOW, False)),
)  # fmt: skip


def is_frame(data: bytes | bytearray, at: int = 0) -> bool:
    """Whether the 5 bytes at ``at`` are a frame: start byte, status bit 7, checksum."""
    b0, b1, b2, b3, b4 = data[at : at + FRAME_BYTES]
    return b0 == START and b1 & STATUS_ALWAYS != 0 and (b0 + b1 + b2 + b3) & 0xFF == b4


class Decoder:
    """A Nonin format #2 stream: frames in, one report per 25-frame packet out."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self._buffer = bytearray()
        self._noise = bytearray()
        self._noise_count = 0
        self._packet: list[bytes] = []
        self._stray = bytearray()
        """Frames that arrived where a packet should have begun (no SYNC)."""
        self._synced = False
        self._status = StatusAlarms(source.device, clear_after=PACKETS_PER_S)
        self._pleth = SampleClock(PLETH_RATE_HZ)
        self._told = 0
        self.discarded = 0

    @property
    def pending(self) -> int:
        held = len(self._buffer) + len(self._noise) + len(self._stray)
        return held + FRAME_BYTES * len(self._packet)

    def restart(self) -> None:
        self._buffer.clear()
        self._noise.clear()
        self._noise_count = 0
        self._packet.clear()
        self._stray.clear()
        self._synced = False

    def feed(self, data: bytes, receive_time_ns: int) -> list[Decoded]:
        out: list[Decoded] = []
        buffer = self._buffer
        buffer += data
        at, end = 0, len(buffer) - FRAME_BYTES
        while at <= end:
            if is_frame(buffer, at):
                self._flush_noise(out)
                self._frame(bytes(buffer[at : at + FRAME_BYTES]), out, receive_time_ns)
                at += FRAME_BYTES
            else:
                self._skip(buffer[at], out)
                at += 1
        del buffer[:at]
        return out

    def _skip(self, byte: int, out: list[Decoded]) -> None:
        if not self._synced:
            self.discarded += 1
            return
        if len(self._noise) < MAX_REJECT_BYTES:
            self._noise.append(byte)
        self._noise_count += 1
        if self._noise_count >= MAX_REJECT_BYTES:
            self._flush_noise(out)

    def _flush_noise(self, out: list[Decoded]) -> None:
        if self._noise_count:
            out.append(
                Rejected(
                    bytes(self._noise),
                    f"{self._noise_count} bytes of noise or damaged frames skipped",
                )
            )
            self._noise.clear()
            self._noise_count = 0

    def _frame(self, frame: bytes, out: list[Decoded], receive_time_ns: int) -> None:
        packet = self._packet
        if frame[1] & SYNC:
            self._flush_stray(out)
            if packet:
                out.append(
                    Rejected(
                        b"".join(packet),
                        f"packet cut short: {len(packet)} of {FRAMES_PER_PACKET} frames",
                    )
                )
                packet.clear()
            self._synced = True
            packet.append(frame)
        elif not self._synced:
            self.discarded += FRAME_BYTES  # joined mid-packet
            return
        elif not packet:
            self._stray += frame
            if len(self._stray) >= MAX_REJECT_BYTES:
                self._flush_stray(out)
            return
        else:
            packet.append(frame)
        if len(packet) == FRAMES_PER_PACKET:
            out.append(self.decode(packet, receive_time_ns))
            packet.clear()

    def _flush_stray(self, out: list[Decoded]) -> None:
        if self._stray:
            count = len(self._stray) // FRAME_BYTES
            out.append(Rejected(bytes(self._stray), f"{count} frames outside a packet (no SYNC)"))
            self._stray.clear()

    def decode(self, frames: list[bytes], receive_time_ns: int) -> Accepted:
        """One complete packet's report (the frames are checked already)."""
        status = 0
        for frame in frames:
            status |= frame[1]
        flags = [flag for bit, flag in STATUS_FLAGS if status & bit]
        invalid = any(flag.invalidates for flag in flags)
        problems: list[str] = []
        unknown = status & ~_KNOWN & ~self._told
        if unknown:
            self._told |= unknown
            problems.append(
                f"status bits 0x{unknown:02X} set: their meaning is not published,"
                " not shown as an alarm"
            )
        device = self.source.device
        heart_rate = ((frames[0][3] & 0x03) << 7) | (frames[1][3] & 0x7F)
        spo2 = frames[2][3] & 0x7F
        observations: list[Observation] = []
        if spo2 > SPO2.high and spo2 != SPO2_MISSING:
            problems.append(f"SpO2 {spo2} is outside 0…100: not shown")
        for parameter, value, missing in (
            (SPO2, spo2, spo2 == SPO2_MISSING or spo2 > SPO2.high),
            (PULSE_RATE, heart_rate, heart_rate == HR_MISSING),
        ):
            if missing:
                observations.append(unmeasured(device, parameter, "---", receive_time_ns))
            elif invalid:
                observations.append(unmeasured(device, parameter, str(value), receive_time_ns))
            else:
                observations.append(measured(device, parameter, float(value), receive_time_ns))
        samples = np.frombuffer(b"".join(frame[2:3] for frame in frames), dtype=np.uint8)
        pleth = WaveformChunk(
            device,
            PLETH_WAVE,
            "Pleth",
            PLETH_RATE_HZ,
            self._pleth.start_of(len(samples), receive_time_ns),
            samples.astype(np.float32),
        )
        report = DeviceReport(
            device=device,
            transport=TRANSPORT,
            peer=self.source.port,
            receive_time_ns=receive_time_ns,
            observations=tuple(observations),
            waveforms=(pleth,),
            alarms=self._status.update(flags, receive_time_ns),
        )
        return Accepted(b"".join(frames), (report,), problems=tuple(problems))


PROTOCOL = DeviceProtocol(KIND, "Nonin", "Nonin OEM III, serial data format #2", Decoder)

"""Byte formats of bedside devices' serial outputs, made from a simulated monitor's readout.

- Masimo Radical-7/Rad-8 "ASCII 1": one line per second, CR LF, fields by key
  (``SPO2=098% BPM=097 PI=03.60% … ALARM=0000 EXC=000800``); dashes for a value the
  device cannot give; EXC bits as published (020 sensor off, 004 low perfusion, 008 pulse
  search, 800 "SET" mode). The ALARM bits are not published: always ``0000`` here.
- Nonin OEM III "format #2": 5-byte frames ``01 STATUS PLETH DATA CHK``, 25 frames a
  packet, 3 packets a second; STATUS bit 7 always set, bit 0 (SYNC) on a packet's first
  frame, bit 3 (sensor alarm) when the probe is off. The framing is verified against public
  test vectors; the meaning of DATA by frame index follows the published format #7 table
  (HR high/low bits at frames 0/1, SpO2 at 2) and is NOT verified for format #2.
- Ivy 450C "ANSAR-B": ``FF "ANSAR-B "``, 400 wave bytes (ECG 200 at 200 Hz, RESP 50,
  PLETH 50, P1 50, P2 50), parameter lines ``NAME=n;v1;v2;…;\\r``, ``FE``; one frame a
  second, shaped on the public capture. Wave bytes stay below ``FB`` so they never look
  like a frame boundary; ``FB`` is what the capture shows for a channel with no transducer.
- HL7 over RS-232: the same PCD-01/PCD-04 messages, MLLP-framed.
- GE S/5 Computer Interface and Dräger MEDIBUS: devices that must be asked, so their
  bytes are made by the peers of ``serial_peers`` (``ge_s5_format``, ``medibus_format``).

Pure functions of a readout: this module must not open ports or keep time.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt

from adapters.hl7.mllp import frame
from simulators.monitor import Readout
from simulators.physiology import Vitals
from simulators.signals import Wave

SERIAL_KINDS = ("masimo", "nonin", "ivy", "hl7", "ge-s5", "medibus")
TALKING_KINDS = ("ge-s5", "medibus")
"""Devices that send only what they are asked for (``serial_peers``)."""

# Masimo EXC exception bits (hex), as published.
EXC_NO_SENSOR = 0x001
EXC_LOW_PERFUSION = 0x004
EXC_PULSE_SEARCH = 0x008
EXC_SENSOR_OFF = 0x020
EXC_SET_MODE = 0x800


def masimo_line(vitals: Vitals, readout: Readout, serial_number: str, now_s: float) -> bytes:
    """One Masimo ASCII 1 record (Rad-8 field set), CR LF terminated."""
    stamp = time.strftime("%m/%d/%y %H:%M:%S", time.gmtime(now_s))
    exc = EXC_SET_MODE
    spo2 = vitals.spo2
    pulse = vitals.pulse_rate
    pi = vitals.perfusion_index
    if readout.sensor_off:
        exc |= EXC_SENSOR_OFF
        spo2 = pulse = None
        pi = None
    elif spo2 is None:
        exc |= EXC_PULSE_SEARCH
    if pi is not None and pi < 0.5:
        exc |= EXC_LOW_PERFUSION
    spo2_text = "---" if spo2 is None else f"{spo2:03d}"
    bpm_text = "---" if pulse is None else f"{pulse:03d}"
    pi_text = "--.--" if pi is None else f"{min(pi, 99.99):05.2f}"
    return (
        f"{stamp} SN={serial_number} SPO2={spo2_text}% BPM={bpm_text} PI={pi_text}%"
        f" SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+-- ALARM=0000 EXC={exc:06X}\r\n"
    ).encode("ascii")


def masimo_serial_number(eui64: str) -> str:
    """A 10-digit serial number made from the device's EUI-64 (the format the samples show)."""
    return f"{int(eui64[-6:], 16) % 10**10:010d}"


# --------------------------------------------------------------------------- Nonin


NONIN_FRAMES_PER_PACKET = 25
NONIN_PACKETS_PER_S = 3
NONIN_FRAME_RATE = NONIN_FRAMES_PER_PACKET * NONIN_PACKETS_PER_S
_NONIN_SNSA = 0x08  # sensor alarm


class NoninStream:
    """Nonin format #2 frames for consecutive readouts; keeps the frame count across calls."""

    def __init__(self) -> None:
        self.frame_index = 0
        """Frames sent so far: the next frame's place in its packet is this modulo 25."""

    def frames(self, readout: Readout) -> bytes:
        vitals = readout.vitals
        pleth = _resample(readout.pleth, NONIN_FRAME_RATE)
        peak = max(float(np.abs(pleth).max()) if pleth.size else 0.0, 1.0)
        pleth_bytes = np.clip(np.rint(pleth / peak * 100.0 + 128.0), 1, 254).astype(np.uint8)
        hr = 511 if vitals.pulse_rate is None else min(vitals.pulse_rate, 510)
        spo2 = 127 if vitals.spo2 is None else vitals.spo2
        out = bytearray()
        for sample in pleth_bytes:
            position = self.frame_index % NONIN_FRAMES_PER_PACKET
            status = 0x80 | (0x01 if position == 0 else 0)
            if readout.sensor_off:
                status |= _NONIN_SNSA
            data = {0: (hr >> 7) & 0x03, 1: hr & 0x7F, 2: spo2 & 0x7F}.get(position, 0)
            body = (0x01, status, int(sample), data)
            out += bytes((*body, sum(body) % 256))
            self.frame_index += 1
        return bytes(out)


# --------------------------------------------------------------------------- Ivy ANSAR-B


ANSAR_B_START = b"\xffANSAR-B "
ANSAR_B_END = b"\xfe"
_NO_TRANSDUCER = 0xFB


def ansar_b_frame(readout: Readout) -> bytes:
    """One ANSAR-B frame of the last second of ``readout`` (ECG 200 Hz, others 50 Hz)."""
    v = readout.vitals
    ecg = _wave_bytes(_resample(readout.ecg, 200.0, last_s=1.0, count=200), 0x80, 60.0)
    resp = _wave_bytes(_resample(readout.resp, 50.0, last_s=1.0, count=50), 0x60, 60.0)
    pleth_raw = _resample(readout.pleth, 50.0, last_s=1.0, count=50)
    pleth = _wave_bytes(pleth_raw, 0x40, 120.0 / max(float(np.abs(pleth_raw).max()), 1.0))
    if readout.abp is not None:
        p1 = _wave_bytes(_resample(readout.abp, 50.0, last_s=1.0, count=50), 0, 1.0)
    else:
        p1 = bytes([_NO_TRANSDUCER]) * 50
    p2 = bytes([_NO_TRANSDUCER]) * 50
    if readout.lead_off:
        ecg = bytes([_NO_TRANSDUCER]) * 200

    def num(value: int | None) -> str:
        return "" if value is None else str(value)

    lines = [
        f"HR=1;{num(v.heart_rate)};{'LEADS OFF' if readout.lead_off else 'ECG-II-DIAG'};",
        f"RR=1;{num(v.resp_rate)};{'APNEA' if v.resp_rate == 0 else ''};",
        "ETCO2=1;;;",
        f"SPO2=1;{num(v.spo2)};PR={num(v.pulse_rate)} ;",
        f"NIBP=4;{v.nibp_sys};{v.nibp_dia};{v.nibp_mean};{num(v.pulse_rate)};;",
        (f"P1=3;{v.abp[0]};{v.abp[1]};{v.abp[2]};;" if v.abp else "P1=3;;;;NO TRANSDUCER;"),
        "P2=3;;;;NO TRANSDUCER;",
        f"T1=1;{v.temperature_c:.1f};;",
        "T2=1;;;",
    ]
    params = "".join(f"{line}\r" for line in lines).encode("ascii")
    return ANSAR_B_START + ecg + resp + pleth + p1 + p2 + params + ANSAR_B_END


def _wave_bytes(samples: npt.NDArray[np.float64], offset: float, gain: float) -> bytes:
    scaled = np.clip(np.rint(samples * gain + offset), 0, _NO_TRANSDUCER - 1)
    return scaled.astype(np.uint8).tobytes()


def _resample(
    wave: Wave, rate: float, *, last_s: float | None = None, count: int | None = None
) -> npt.NDArray[np.float64]:
    """``wave`` at ``rate`` by linear interpolation; the last ``last_s`` seconds only if
    given, and exactly ``count`` samples if given (a fixed-size frame)."""
    n = wave.samples.size
    if n == 0:
        return np.zeros(count or 0)
    t_wave = (np.arange(n) + wave.first_index) / wave.rate
    end = t_wave[-1] + 1.0 / wave.rate
    start = t_wave[0] if last_s is None else max(t_wave[0], end - last_s)
    if count is None:
        count = max(0, round((end - start) * rate))
    t = start + np.arange(count) / rate
    return np.asarray(np.interp(t, t_wave, wave.samples), dtype=np.float64)


# --------------------------------------------------------------------------- HL7 over RS-232


def hl7_over_serial(messages: list[bytes]) -> bytes:
    """The messages as the serial line carries them: each in its MLLP frame."""
    return b"".join(frame(m) for m in messages)

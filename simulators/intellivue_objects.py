"""What a simulated IntelliVue holds in its MDIB, as Data Export attributes.

The monitor's identity (:class:`MonitorIdentity`: system id, model, serial number, bed
label, network address), and the observation polls it answers with: numerics from the
model's :class:`~simulators.physiology.Vitals`, the real-time waves of a
:class:`~simulators.monitor.Readout` scaled into 16-bit samples, the alert monitor with its
patient and technical (INOP) alarm lists, the patient's demographics, and the attribute
lists of the Connect Indication and of the MDS. Demo mode marks every numeric and wave
DEMO_DATA and every alarm demo, as a real monitor in demo mode does.

This module chooses content and handles; it must not know the session or the transport
(``intellivue`` does), nor invent physiology (``monitor`` does).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulators.alarms import PRIORITY_HIGH, PRIORITY_MEDIUM, AlarmUpdate
from simulators.intellivue_wire import (
    AL_STATE_DEMO,
    AL_STATE_NEW,
    APPL_ACSE,
    APPL_DATA_OUT,
    ATTR_AL_MON_P_AL_LIST,
    ATTR_AL_MON_T_AL_LIST,
    ATTR_DEV_AL_COND,
    ATTR_ID_BED_LABEL,
    ATTR_ID_LABEL,
    ATTR_ID_LABEL_STRING,
    ATTR_ID_MODEL,
    ATTR_LOCALIZN,
    ATTR_NET_ADDR_INFO,
    ATTR_NU_CMPD_VAL_OBS,
    ATTR_NU_VAL_OBS,
    ATTR_PCOL_SUPPORT,
    ATTR_PROD_SPECN,
    ATTR_PT_DOB,
    ATTR_PT_ID,
    ATTR_PT_NAME_FAMILY,
    ATTR_PT_NAME_GIVEN,
    ATTR_SA_SPECN,
    ATTR_SA_VAL_OBS,
    ATTR_SCALE_SPECN_I16,
    ATTR_SYS_ID,
    ATTR_SYS_TYPE,
    ATTR_TIME_ABS,
    ATTR_TIME_PD_SAMP,
    ATTR_TIME_REL,
    ATTR_TIME_STAMP_ABS,
    ATTR_UNIT_CODE,
    MDS,
    MEAS_DEMO_DATA,
    MEAS_IN_ALARM,
    MEAS_INVALID,
    NU,
    STR_ALMON_INFO,
    SYS_TYPE_MULTI_PARAM,
    TRANS_UDP,
    absolute_time,
    ascii_text,
    counted,
    date_bcd,
    encode_float,
    managed_object,
    observation,
    text,
    u16,
    u32,
)
from simulators.monitor import Readout
from simulators.physiology import Vitals
from simulators.signals import Wave

Avas = list[tuple[int, bytes]]

# Units (partition DIM).
PERCENT, DIMLESS, BPM, RPM, MMHG, CELSIUS, MILLIVOLT = (
    0x0220, 0x0200, 0x0AA0, 0x0AE0, 0x0F20, 0x17A0, 0x10B2,
)  # fmt: skip
AL_MON_HANDLE, PT_DEMOG_HANDLE = 0x0010, 0x0011


def label(physio_id: int) -> bytes:
    """ID_LABEL: the TextId of a SCADA code."""
    return u32(0x0002 << 16 | physio_id)


@dataclass(frozen=True, slots=True)
class MonitorIdentity:
    """Who the monitor says it is, in its Connect Indication and its MDS."""

    system_id: bytes
    """EUI-64, 8 bytes."""
    serial_number: str
    bed_label: str
    manufacturer: str = "Philips"
    model: str = "MX450"
    software: str = "L.01.18"
    ip: str = "127.0.0.1"
    port: int = 24105
    """The UDP port of the Data Export session, advertised in PCOL_SUPPORT."""

    @property
    def mac(self) -> bytes:
        """The MAC the EUI-64 was made from (its FFFE middle taken out)."""
        return self.system_id[:3] + self.system_id[5:]

    def connect_indication_avas(self) -> Avas:
        """The 16 attributes of the real MX450 capture, in its order and shapes."""
        net = self.mac + bytes(int(part) for part in self.ip.split(".")) + b"\xff\xff\x00\x00"
        protocols = [
            struct.pack(">HHHH", 1, 3, 24000, 0x4000),
            struct.pack(">HHHH", 2, 3, 24000, 0x4000),
            struct.pack(">HHHH", APPL_ACSE, TRANS_UDP, self.port, 0),
            struct.pack(">HHHH", APPL_DATA_OUT, TRANS_UDP, self.port, 0),
            struct.pack(">HHHH", 10, TRANS_UDP, 24012, 0),
        ]
        mac = self.mac
        # IPv6 link-local: the modified EUI-64 of the MAC (universal/local bit flipped).
        link_local = b"\xfe\x80" + bytes(6) + bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]
        return [
            (0x0920, u16(3) + u16(0)),
            (ATTR_SYS_TYPE, u16(1) + u16(SYS_TYPE_MULTI_PARAM)),
            (ATTR_LOCALIZN, bytes.fromhex("06080608000F000B")),
            (0xF136, u32(0x20000000)),
            (0xF27C, u16(1) + u16(0x8000) + u16(1) + u16(18) + _ava(ATTR_NET_ADDR_INFO, net)),
            (0xF135, bytes(34)),
            (ATTR_NET_ADDR_INFO, net),
            (ATTR_PCOL_SUPPORT, counted(protocols)),
            (0xF35E, link_local),
            (ATTR_SYS_ID, u16(8) + self.system_id),
            (ATTR_ID_MODEL, self._model()),
            (ATTR_PROD_SPECN, self._prod_specn()),
            (0xF12E, u16(1) + u16(14) + u16(2) + u16(10) + struct.pack(">HHHHH", 1, 6, 81, 0, 193)),
            (0xF45B, u32(0)),
            (0xF39C, bytes.fromhex("0800002008000009")),
            (0xF15A, u32(2)),
        ]

    def mds_avas(self, rel_time: int, epoch_s: float) -> Avas:
        """The MDS attributes of the MDS Create event and of an MDS poll."""
        return [
            (ATTR_SYS_ID, u16(8) + self.system_id),
            (ATTR_ID_MODEL, self._model()),
            (ATTR_ID_BED_LABEL, text(self.bed_label)),
            (ATTR_TIME_ABS, absolute_time(epoch_s)),
            (ATTR_TIME_REL, u32(rel_time)),
            (ATTR_SYS_TYPE, u16(1) + u16(SYS_TYPE_MULTI_PARAM)),
            (ATTR_PROD_SPECN, self._prod_specn()),
        ]

    def _model(self) -> bytes:
        return ascii_text(self.manufacturer) + ascii_text(self.model)

    def _prod_specn(self) -> bytes:
        """Serial number (spec type 1) and software revision (4), as the capture has them."""
        entries = [
            struct.pack(">HH", 1, 8) + ascii_text(self.serial_number),
            struct.pack(">HH", 4, 0x58) + ascii_text(self.software),
        ]
        return counted(entries)


def _ava(attr_id: int, value: bytes) -> bytes:
    return u16(attr_id) + u16(len(value)) + value


# ---------------------------------------------------------------- numerics


@dataclass(frozen=True, slots=True)
class Numeric:
    handle: int
    physio_id: int
    label_string: str
    unit: int
    decimals: int = 0
    parts: tuple[int, ...] = ()
    """Compound (sys, dia, mean) physio ids; empty: a single NU_VAL_OBS."""


HR = Numeric(0x0101, 0x4182, "HR", BPM)
PULSE = Numeric(0x0102, 0x4822, "Pulse", BPM)
SPO2 = Numeric(0x0103, 0x4BB8, "SpO2", PERCENT)
PERF = Numeric(0x0104, 0x4BB0, "Perf", DIMLESS, decimals=2)
RR = Numeric(0x0105, 0x500A, "RR", RPM)
TEMP = Numeric(0x0106, 0x4B48, "Temp", CELSIUS, decimals=1)
NBP = Numeric(0x0107, 0x4A04, "NBP", MMHG, parts=(0x4A05, 0x4A06, 0x4A07))
ABP = Numeric(0x0108, 0x4A14, "ABP", MMHG, parts=(0x4A15, 0x4A16, 0x4A17))

_ALARMED_NUMERIC = {
    HR.physio_id: HR,
    SPO2.physio_id: SPO2,
    RR.physio_id: RR,
    0x4A05: NBP,
    0x4A15: ABP,
}
"""The numeric an alarm's source (a SCADA code) is about."""


def numeric_observations(
    vitals: Vitals,
    *,
    nibp_epoch_s: float,
    alarmed: set[int],
    demo: bool,
) -> list[bytes]:
    """One ObservationPoll per numeric the monitor shows; ``alarmed``: handles in alarm."""
    flags = MEAS_DEMO_DATA if demo else 0
    singles: list[tuple[Numeric, float | None]] = [
        (HR, vitals.heart_rate),
        (PULSE, vitals.pulse_rate),
        (SPO2, vitals.spo2),
        (PERF, vitals.perfusion_index),
        (RR, vitals.resp_rate),
        (TEMP, vitals.temperature_c),
    ]
    out = []
    for numeric, value in singles:
        state = flags | (MEAS_IN_ALARM if numeric.handle in alarmed else 0)
        obs = _nu_value(numeric.physio_id, numeric.unit, value, numeric.decimals, state)
        out.append(observation(numeric.handle, [*_labels(numeric), (ATTR_NU_VAL_OBS, obs)]))
    compounds: list[tuple[Numeric, tuple[int, int, int] | None]] = [
        (NBP, (vitals.nibp_sys, vitals.nibp_dia, vitals.nibp_mean) if vitals.nibp_sys else None),
        (ABP, vitals.abp),
    ]
    for numeric, values in compounds:
        if numeric is ABP and values is None:
            continue  # no arterial line: the monitor has no ABP object
        state = flags | (MEAS_IN_ALARM if numeric.handle in alarmed else 0)
        parts = [
            _nu_value(physio, numeric.unit, None if values is None else values[i], 0, state)
            for i, physio in enumerate(numeric.parts)
        ]
        avas = [*_labels(numeric), (ATTR_NU_CMPD_VAL_OBS, counted(parts))]
        if numeric is NBP:
            avas.append((ATTR_TIME_STAMP_ABS, absolute_time(nibp_epoch_s)))
        out.append(observation(numeric.handle, avas))
    return out


def _labels(numeric: Numeric) -> Avas:
    return [
        (ATTR_ID_LABEL, label(numeric.physio_id)),
        (ATTR_ID_LABEL_STRING, text(numeric.label_string)),
    ]


def _nu_value(physio_id: int, unit: int, value: float | None, decimals: int, state: int) -> bytes:
    """NuObsValue; a value the monitor cannot measure is NaN and INVALID."""
    if value is None:
        return struct.pack(">HHH", physio_id, state | MEAS_INVALID, unit) + encode_float(
            float("nan")
        )
    return struct.pack(">HHH", physio_id, state, unit) + encode_float(value, decimals)


# ---------------------------------------------------------------- waves


@dataclass(frozen=True, slots=True)
class WaveObject:
    handle: int
    physio_id: int
    unit: int
    sample_period: int
    """TIME_PD_SAMP, RelativeTime ticks."""
    significant_bits: int
    lower_abs: tuple[float, int]
    upper_abs: tuple[float, int]
    """(value, decimals) of the scale's physical ends."""
    lower_scaled: int
    upper_scaled: int

    def scaled(self, samples: np.ndarray) -> bytes:
        """Physical samples as big-endian u16, clipped to the scale's range."""
        low, high = self.lower_abs[0], self.upper_abs[0]
        span = self.upper_scaled - self.lower_scaled
        raw = np.rint(self.lower_scaled + (samples - low) * span / (high - low))
        clipped = np.clip(raw, self.lower_scaled, self.upper_scaled)
        return clipped.astype(">u2").tobytes()

    def specs(self, array_size: int) -> Avas:
        """The static attributes a client caches by handle."""
        scale = (
            encode_float(*self.lower_abs)
            + encode_float(*self.upper_abs)
            + u16(self.lower_scaled)
            + u16(self.upper_scaled)
        )
        return [
            (ATTR_SA_SPECN, struct.pack(">HBBH", array_size, 16, self.significant_bits, 0)),
            (ATTR_SCALE_SPECN_I16, scale),
            (ATTR_TIME_PD_SAMP, u32(self.sample_period)),
            (ATTR_UNIT_CODE, u16(self.unit)),
        ]


ECG_II = WaveObject(0x0201, 0x0102, MILLIVOLT, 16, 14, (-40.96, 2), (40.955, 3), 0, 0x3FFF)
PLETH = WaveObject(0x0202, 0x4BB4, DIMLESS, 64, 12, (0.0, 0), (100.0, 0), 0, 0x0FFF)
RESP = WaveObject(0x0203, 0x5000, DIMLESS, 128, 12, (-0.6, 1), (1.9, 1), 0, 0x0FFF)
ABP_WAVE = WaveObject(0x0204, 0x4A14, MMHG, 64, 14, (-40.0, 0), (520.0, 0), 0x00A0, 0x23A0)


def wave_observations(readout: Readout, *, with_specs: bool, demo: bool) -> list[bytes]:
    """One ObservationPoll per wave of ``readout``; a flat wave (leads or probe off) INVALID."""
    flags = MEAS_DEMO_DATA if demo else 0
    waves: list[tuple[WaveObject, Wave, bool]] = [
        (ECG_II, readout.ecg, not readout.lead_off),
        (PLETH, readout.pleth, not readout.sensor_off),
        (RESP, readout.resp, not readout.lead_off),
    ]
    if readout.abp is not None:
        waves.append((ABP_WAVE, readout.abp, True))
    out = []
    for wave_object, wave, valid in waves:
        samples = wave_object.scaled(wave.samples)
        state = flags | (0 if valid else MEAS_INVALID)
        value = struct.pack(">HHH", wave_object.physio_id, state, len(samples)) + samples
        avas = [(ATTR_ID_LABEL, label(wave_object.physio_id)), (ATTR_SA_VAL_OBS, value)]
        if with_specs:
            avas += wave_object.specs(len(wave.samples))
        out.append(observation(wave_object.handle, avas))
    return out


# ---------------------------------------------------------------- alarms

_PATIENT_TYPE = {PRIORITY_HIGH: 1024, PRIORITY_MEDIUM: 512}  # else low: 256
_TECHNICAL_TYPE = {PRIORITY_HIGH: 4, PRIORITY_MEDIUM: 2}  # else low: 1
_STARS = {PRIORITY_HIGH: "***", PRIORITY_MEDIUM: "**"}  # else low: "*"
_INFO_PRIORITY = {PRIORITY_HIGH: 2, PRIORITY_MEDIUM: 1}  # else low: 0
_INOPS = {
    # key: (al_source, al_code, text): NOM_ECG_ELEC_POTL_II / NOM_EVT_LEADS_OFF, SpO2 /
    # NOM_EVT_SENSOR_DISCONN.
    "leads_off": (0x0102, 274, "LEADS OFF"),
    "spo2_sensor_off": (0x4BB8, 308, "SpO2 SENSOR OFF"),
}


@dataclass(frozen=True, slots=True)
class AlarmEntry:
    """One alarm as the alert monitor lists it."""

    source: int
    code: int
    alarm_type: int
    text: str
    priority: str
    technical: bool
    numeric_handle: int | None


def alarm_entry(update: AlarmUpdate) -> AlarmEntry:
    """How the monitor lists an alarm of the model: SCADA source, event code, type, text."""
    if update.key in _INOPS:
        source, code, message = _INOPS[update.key]
    else:
        source = update.source.code & 0xFFFF
        code = update.event.code & 0xFFFF
        message = _STARS.get(update.priority, "*") + update.text
    table = _TECHNICAL_TYPE if update.technical else _PATIENT_TYPE
    alarm_type = table.get(update.priority, 1 if update.technical else 256)
    numeric = _ALARMED_NUMERIC.get(source)
    return AlarmEntry(
        source,
        code,
        alarm_type,
        message,
        update.priority,
        update.technical,
        None if numeric is None else numeric.handle,
    )


def alarm_observation(
    entries: Sequence[tuple[AlarmEntry, bool]], changes: int, *, demo: bool
) -> bytes:
    """The alert monitor: DEV_AL_COND and both lists; ``entries``: (alarm, is it new)."""
    patient = [(e, new) for e, new in entries if not e.technical]
    technical = [(e, new) for e, new in entries if e.technical]
    max_p = max((e.alarm_type for e, _ in patient), default=0)
    max_t = max((e.alarm_type for e, _ in technical), default=0)
    device_state = AL_STATE_DEMO if demo else 0
    condition = struct.pack(
        ">HHHHH", device_state, changes & 0xFFFF, max_p, max_t, max(max_p, max_t)
    )
    return observation(
        AL_MON_HANDLE,
        [
            (ATTR_DEV_AL_COND, condition),
            (ATTR_AL_MON_P_AL_LIST, counted([_alarm_entry(e, new, demo) for e, new in patient])),
            (ATTR_AL_MON_T_AL_LIST, counted([_alarm_entry(e, new, demo) for e, new in technical])),
        ],
    )


def _alarm_entry(entry: AlarmEntry, new: bool, demo: bool) -> bytes:
    state = (AL_STATE_DEMO if demo else 0) | (AL_STATE_NEW if new else 0)
    if entry.numeric_handle is None:
        obj = managed_object(MDS)
    else:
        obj = managed_object(NU, entry.numeric_handle)
    info = (
        struct.pack(">H", 0)
        + label(entry.source)
        + struct.pack(">HH", _INFO_PRIORITY.get(entry.priority, 0), 0)
        + text(entry.text)
    )
    return (
        struct.pack(">HHHH", entry.source, entry.code, entry.alarm_type, state)
        + obj
        + struct.pack(">HH", STR_ALMON_INFO, len(info))
        + info
    )


# ---------------------------------------------------------------- demographics


@dataclass(frozen=True, slots=True)
class Demographics:
    """The patient as the monitor's admission has them (PT_DEMOG)."""

    patient_id: str
    given_name: str
    family_name: str
    date_of_birth: tuple[int, int, int]
    """Year, month, day."""


def demographics_observation(patient: Demographics) -> bytes:
    return observation(
        PT_DEMOG_HANDLE,
        [
            (ATTR_PT_ID, text(patient.patient_id)),
            (ATTR_PT_NAME_GIVEN, text(patient.given_name)),
            (ATTR_PT_NAME_FAMILY, text(patient.family_name)),
            (ATTR_PT_DOB, date_bcd(*patient.date_of_birth)),
        ],
    )

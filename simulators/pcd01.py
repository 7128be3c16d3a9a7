"""IHE PCD-01 ORU^R01 (HL7 v2.6) encoding of a simulated monitor's vitals and waves.

Built from string templates, not from an HL7 object model: a simulated ward of 64 beds,
and the benchmarks that flood the gateway, need tens of thousands of messages a second,
and hl7apy is hundreds of times too slow for that (it is the tests' conformance oracle
instead). What never changes between two messages of a bed — MSH-3, PID, PV1, the device
rows — is rendered once per (device, bed) and cached; a wave's samples are formatted by
looking each one up in a table of every value it can take, then joined.

The output is strict: standard delimiters, CR after every segment, UTC times with their
``+0000`` offset, MDC codes and units, the MDS/VMD/CHAN containment in OBX-4. This module
must not do I/O, keep counters or pick control ids: callers own those.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from adapters.hl7.er7 import escape
from simulators.physiology import Vitals

NS_PER_S = 1_000_000_000

_EUI64 = re.compile(r"[0-9A-F]{16}")
_PROFILE = "IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
_MONITORING = "182777000^monitoring of patient^SCT"

# MDC codes of the device hierarchy and of the units (ISO/IEEE 11073-10101).
_MDS = "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC"
_ECG_VMD = "69798^MDC_DEV_ECG_VMD^MDC"
_ECG_CHAN = "69799^MDC_DEV_ECG_CHAN^MDC"
_SPO2_VMD = "69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC"
_SPO2_CHAN = "69643^MDC_DEV_ANALY_SAT_O2_CHAN^MDC"
_NIBP_VMD = "70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC"
_NIBP_CHAN = "70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC"
_TEMP_VMD = "69902^MDC_DEV_METER_TEMP_VMD^MDC"
_TEMP_CHAN = "69903^MDC_DEV_METER_TEMP_CHAN^MDC"
_BEAT_PER_MIN = "264864^MDC_DIM_BEAT_PER_MIN^MDC"
_RESP_PER_MIN = "264928^MDC_DIM_RESP_PER_MIN^MDC"
_PERCENT = "262688^MDC_DIM_PERCENT^MDC"
_MMHG = "266016^MDC_DIM_MMHG^MDC"
_DEGC = "268192^MDC_DIM_DEGC^MDC"
_ABP_VMD = "69854^MDC_DEV_PRESS_BLD_VMD^MDC"
_ABP_CHAN = "69855^MDC_DEV_PRESS_BLD_CHAN^MDC"


@dataclass(frozen=True, slots=True)
class DeviceProfile:
    """Who the monitor is: MSH-3 ``<name>^<eui64>^EUI-64`` and OBX-18 of the MDS row."""

    name: str
    eui64: str
    """16 upper-case hex digits."""

    def __post_init__(self) -> None:
        if not _EUI64.fullmatch(self.eui64):
            raise ValueError(f"eui64 must be 16 upper-case hex digits, not {self.eui64!r}")


@dataclass(frozen=True, slots=True)
class BedProfile:
    """Where the monitor is and whom it watches.

    ``location`` is PV1-3 exactly as sent (``ICU^12^1``) and ``patient_name`` PID-5 exactly
    as sent (``DOE^JANE^^^^^L``): both are ER7 already, components and all. ``patient_id``
    is plain text (PID-3.1).
    """

    location: str
    patient_id: str
    patient_name: str


@lru_cache(maxsize=4096)
def _fixed_parts(
    device: DeviceProfile, bed: BedProfile, sender: DeviceProfile | None = None
) -> tuple[str, str, str, str]:
    """MSH-3, the PID+PV1 segments, the order's EI suffix, the MDS row (all per bed).

    ``sender`` is who speaks on the wire (MSH-3) when it is not the monitor itself: a
    vendor gateway carrying many beds; the MDS row's OBX-18 always names the monitor.
    """
    name = escape(device.name)
    speaker = sender or device
    sender_name = escape(speaker.name)
    msh3 = f"{sender_name}^{speaker.eui64}^EUI-64"
    patient = f"PID|||{escape(bed.patient_id)}^^^^MR||{bed.patient_name}\rPV1||I|{bed.location}\r"
    mds = f"OBX|1||{_MDS}|1.0.0.0|||||||X|||||||{device.eui64}^{name}^{device.eui64}^EUI-64\r"
    return msh3, patient, f"^{msh3}", mds


@lru_cache(maxsize=4096)
def format_time(seconds: int) -> str:
    """HL7 DTM to the second, UTC, with its offset: ``20240131235959+0000``."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds)) + "+0000"


def format_time_ms(time_ns: int) -> str:
    """HL7 DTM to the millisecond, UTC: ``20240131235959.125+0000`` (a wave's first sample)."""
    seconds, rest = divmod(time_ns, NS_PER_S)
    return f"{format_time(seconds)[:14]}.{rest // 1_000_000:03d}+0000"


def _nm(value: float | None, text: str | None = None) -> tuple[str, str]:
    """OBX-5 and OBX-11 of a numeric: an unmeasurable value goes empty, status X."""
    if value is None:
        return "", "X"
    return (text if text is not None else str(value)), "R"


def _header(kind: str, msh3: str, now: str, cid: str, profile: str) -> str:
    return f"MSH|^~\\&|{msh3}||||{now}||{kind}|{cid}|P|2.6|||AL|NE||UNICODE UTF-8|||{profile}\r"


def encode_oru_r01(
    vitals: Vitals,
    *,
    device: DeviceProfile,
    bed: BedProfile,
    control_id: str,
    now_ns: int,
    sender: DeviceProfile | None = None,
) -> bytes:
    """One PCD-01 observation report of ``vitals``, unframed, UTF-8, CR after each segment.

    ``now_ns`` (UTC) gives MSH-7 and OBR-7; the NIBP rows carry their own measurement time
    in OBX-14 (``vitals.nibp_time_s``, epoch seconds). ``control_id`` is MSH-10, and the
    order's filler number (OBR-3) too, so every report is its own order. A value the
    monitor cannot measure (``None``) is sent with an empty OBX-5 and OBX-11 ``X``. With an
    arterial line (``vitals.abp``), the ABP rows follow the temperature.
    """
    msh3, patient, order_suffix, mds = _fixed_parts(device, bed, sender)
    now = format_time(now_ns // NS_PER_S)
    nibp_time = format_time(int(vitals.nibp_time_s))
    cid = escape(control_id)
    hr, hr_status = _nm(vitals.heart_rate)
    rr, rr_status = _nm(vitals.resp_rate)
    spo2, spo2_status = _nm(vitals.spo2)
    pr, pr_status = _nm(vitals.pulse_rate)
    text = (
        f"{_header('ORU^R01^ORU_R01', msh3, now, cid, _PROFILE)}"
        f"{patient}"
        f"OBR|1||{cid}{order_suffix}|{_MONITORING}|||{now}\r"
        f"{mds}"
        f"OBX|2||{_ECG_VMD}|1.1.0.0|||||||X\r"
        f"OBX|3||{_ECG_CHAN}|1.1.1.0|||||||X\r"
        f"OBX|4|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|{hr}|{_BEAT_PER_MIN}|||||{hr_status}\r"
        f"OBX|5|NM|151562^MDC_RESP_RATE^MDC|1.1.1.2|{rr}|{_RESP_PER_MIN}|||||{rr_status}\r"
        f"OBX|6||{_SPO2_VMD}|1.2.0.0|||||||X\r"
        f"OBX|7||{_SPO2_CHAN}|1.2.1.0|||||||X\r"
        f"OBX|8|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|{spo2}|{_PERCENT}|||||{spo2_status}\r"
        f"OBX|9|NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.2.1.2|{pr}"
        f"|{_BEAT_PER_MIN}|||||{pr_status}\r"
        f"OBX|10||{_NIBP_VMD}|1.3.0.0|||||||X\r"
        f"OBX|11||{_NIBP_CHAN}|1.3.1.0|||||||X\r"
        f"OBX|12|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.3.1.1|{vitals.nibp_sys}|{_MMHG}"
        f"|||||R|||{nibp_time}\r"
        f"OBX|13|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.3.1.2|{vitals.nibp_dia}|{_MMHG}"
        f"|||||R|||{nibp_time}\r"
        f"OBX|14|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.3.1.3|{vitals.nibp_mean}|{_MMHG}"
        f"|||||R|||{nibp_time}\r"
        f"OBX|15||{_TEMP_VMD}|1.4.0.0|||||||X\r"
        f"OBX|16||{_TEMP_CHAN}|1.4.1.0|||||||X\r"
        f"OBX|17|NM|150344^MDC_TEMP^MDC|1.4.1.1|{vitals.temperature_c:.1f}|{_DEGC}|||||R\r"
    )
    if vitals.abp is not None:
        sys, dia, mean = vitals.abp
        text += (
            f"OBX|18||{_ABP_VMD}|1.5.0.0|||||||X\r"
            f"OBX|19||{_ABP_CHAN}|1.5.1.0|||||||X\r"
            f"OBX|20|NM|150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC|1.5.1.1|{sys}|{_MMHG}|||||R\r"
            f"OBX|21|NM|150038^MDC_PRESS_BLD_ART_ABP_DIA^MDC|1.5.1.2|{dia}|{_MMHG}|||||R\r"
            f"OBX|22|NM|150039^MDC_PRESS_BLD_ART_ABP_MEAN^MDC|1.5.1.3|{mean}|{_MMHG}|||||R\r"
        )
    return text.encode()


@dataclass(frozen=True, slots=True)
class WaveKind:
    """How one wave is sent: its MDC code, where it sits, its unit and its resolution."""

    name: str
    code: str
    """OBX-3 of the NA row."""
    vmd: str
    chan: str
    sub_id: str
    """OBX-4 of the NA row (MDS.VMD.CHAN.METRIC); the sample rate row is ``<sub_id>.1``."""
    unit: str
    decimals: int
    low: float
    high: float
    """Samples are clipped to [low, high] (a monitor's A/D range)."""


ECG_II = WaveKind(
    "ecg", "131330^MDC_ECG_ELEC_POTL_II^MDC", _ECG_VMD, _ECG_CHAN, "1.1.1.3",
    "266418^MDC_DIM_MILLI_VOLT^MDC", 3, -10.0, 10.0,
)  # fmt: skip
RESP = WaveKind(
    "resp", "151780^MDC_IMPED_TTHOR^MDC", _ECG_VMD, _ECG_CHAN, "1.1.1.4",
    "262656^MDC_DIM_DIMLESS^MDC", 3, -5.0, 5.0,
)  # fmt: skip
PLETH = WaveKind(
    "pleth", "150452^MDC_PULS_OXIM_PLETH^MDC", _SPO2_VMD, _SPO2_CHAN, "1.2.1.3",
    "262656^MDC_DIM_DIMLESS^MDC", 1, -300.0, 500.0,
)  # fmt: skip
ABP = WaveKind(
    "abp", "150036^MDC_PRESS_BLD_ART_ABP^MDC", _ABP_VMD, _ABP_CHAN, "1.5.1.4",
    _MMHG, 1, -20.0, 300.0,
)  # fmt: skip
WAVE_KINDS = {w.name: w for w in (ECG_II, PLETH, RESP, ABP)}
_SAMPLE_RATE = "0^MDC_ATTR_SAMP_RATE^MDC"
_PER_SEC = "264608^MDC_DIM_PER_SEC^MDC"


@lru_cache(maxsize=16)
def _table(kind: WaveKind) -> tuple[npt.NDArray[np.object_], int]:
    """Every value a sample can take, formatted once: encoding is then a lookup and a join."""
    step = 10**kind.decimals
    low, high = round(kind.low * step), round(kind.high * step)
    texts = [f"{i / step:.{kind.decimals}f}" for i in range(low, high + 1)]
    if kind.decimals == 0:
        texts = [str(i) for i in range(low, high + 1)]
    return np.array(texts, dtype=object), low


for _kind in WAVE_KINDS.values():
    _table(_kind)  # built at import, not on the first message


def format_samples(kind: WaveKind, samples: npt.NDArray[np.float64]) -> str:
    """The samples as OBX-5 of an NA row: ``^``-separated, rounded to the kind's resolution."""
    table, low = _table(kind)
    index = np.rint(samples * 10**kind.decimals).astype(np.int64) - low
    np.clip(index, 0, table.size - 1, out=index)
    return "^".join(table[index].tolist())


def format_rate(rate: float) -> str:
    return f"{rate:g}"


def encode_waveform(
    kind: WaveKind,
    samples: npt.NDArray[np.float64],
    rate: float,
    start_ns: int,
    *,
    device: DeviceProfile,
    bed: BedProfile,
    control_id: str,
    now_ns: int,
    sender: DeviceProfile | None = None,
    valid: bool = True,
) -> bytes:
    """One ORU^R01 carrying one wave's samples as an NA row, with its sample rate row.

    ``start_ns`` (UTC) is the time of the first sample (OBX-14, to the millisecond).
    ``valid`` False (leads off, probe off) marks the row ``X``: the samples are a flat line
    the monitor draws, not a signal.
    """
    msh3, patient, order_suffix, mds = _fixed_parts(device, bed, sender)
    now = format_time(now_ns // NS_PER_S)
    cid = escape(control_id)
    vmd_sub = kind.sub_id.rsplit(".", 2)[0] + ".0.0"
    chan_sub = kind.sub_id.rsplit(".", 1)[0] + ".0"
    return (
        f"{_header('ORU^R01^ORU_R01', msh3, now, cid, _PROFILE)}"
        f"{patient}"
        f"OBR|1||{cid}{order_suffix}|{_MONITORING}|||{now}\r"
        f"{mds}"
        f"OBX|2||{kind.vmd}|{vmd_sub}|||||||X\r"
        f"OBX|3||{kind.chan}|{chan_sub}|||||||X\r"
        f"OBX|4|NA|{kind.code}|{kind.sub_id}|{format_samples(kind, samples)}|{kind.unit}"
        f"|||||{'R' if valid else 'X'}|||{format_time_ms(start_ns)}\r"
        f"OBX|5|NM|{_SAMPLE_RATE}|{kind.sub_id}.1|{format_rate(rate)}|{_PER_SEC}|||||R\r"
    ).encode()


_GIVEN_NAMES = (
    "Alice", "Bernard", "Camille", "Daniel", "Elise", "Farid", "Giulia", "Hugo", "Ines",
    "Jonas", "Karima", "Louis", "Maya", "Nadia", "Olivier", "Paula", "Quentin", "Rosa",
    "Samuel", "Thea", "Ugo", "Valerie", "William", "Yasmine", "Zoe",
)  # fmt: skip
_FAMILY_NAMES = (
    "Arnaud", "Bertin", "Chevalier", "Dumont", "Etienne", "Fabre", "Garnier", "Hamel",
    "Izard", "Joly", "Kessler", "Lambert", "Marchand", "Noel", "Olivier", "Perrin", "Renaud",
    "Sauvage", "Tessier", "Vidal", "Weber", "Yilmaz", "Zimmer",
)  # fmt: skip
# A locally administered OUI (bit 0x02 of the first octet set): no real vendor's block,
# so a simulated device can never be mistaken for, or collide with, a real one.
_SIMULATED_OUI = "02A0C9"


def ward_profiles(n: int, seed: int = 0) -> list[tuple[DeviceProfile, BedProfile]]:
    """``n`` monitors for beds ``ICU^1^1`` … ``ICU^n^1``: distinct EUI-64s, made-up patients.

    The same ``(n, seed)`` always gives the same profiles, and the first k of n beds are
    the same whatever n is, so adding beds to a demo does not rename the others.
    """
    if n < 0:
        raise ValueError(f"the number of beds cannot be negative: {n}")
    profiles: list[tuple[DeviceProfile, BedProfile]] = []
    seen_nics: set[int] = set()
    seen_ids: set[int] = set()
    for index in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))
        nic = int(rng.integers(1 << 24))
        while nic in seen_nics:
            nic = (nic + 1) % (1 << 24)
        seen_nics.add(nic)
        mrn = int(rng.integers(1_000_000, 10_000_000))
        while mrn in seen_ids:
            mrn += 1
        seen_ids.add(mrn)
        given = _GIVEN_NAMES[int(rng.integers(len(_GIVEN_NAMES)))]
        family = _FAMILY_NAMES[int(rng.integers(len(_FAMILY_NAMES)))]
        device = DeviceProfile(f"SIM_MONITOR_{index + 1:02d}", f"{_SIMULATED_OUI}FFFE{nic:06X}")
        bed = BedProfile(
            location=f"ICU^{index + 1}^1",
            patient_id=f"{mrn}",
            patient_name=f"{family.upper()}^{given}^^^^^L",
        )
        profiles.append((device, bed))
    return profiles

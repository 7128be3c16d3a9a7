"""PCD-01 ORU^R01 from the simulator: conformant for hl7apy, and read back as encoded."""

from __future__ import annotations

import calendar

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7 import er7, pcd
from simulators.pcd01 import BedProfile, DeviceProfile, encode_oru_r01, ward_profiles
from simulators.physiology import Patient, Vitals

NOW_NS = calendar.timegm((2024, 3, 9, 14, 39, 5)) * 1_000_000_000 + 250_000_000
VITALS = Vitals(
    time_s=NOW_NS / 1e9,
    heart_rate=72,
    pulse_rate=71,
    spo2=97,
    resp_rate=16,
    temperature_c=37.0,
    nibp_sys=121,
    nibp_dia=79,
    nibp_mean=93,
    nibp_time_s=calendar.timegm((2024, 3, 9, 14, 35, 0)),
)
DEVICE = DeviceProfile("SIM_MONITOR_12", "02A0C9FFFE0B4020")
BED = BedProfile("ICU^12^1", "7654321", "DUMONT^Camille^^^^^L")


def encode(
    vitals: Vitals = VITALS,
    device: DeviceProfile = DEVICE,
    bed: BedProfile = BED,
    control_id: str = "0B402000000042",
    now_ns: int = NOW_NS,
) -> bytes:
    return encode_oru_r01(vitals, device=device, bed=bed, control_id=control_id, now_ns=now_ns)


def hl7apy_strict(message: bytes) -> None:
    parsed = parse_message(
        message.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    parsed.validate()
    assert parsed.name == "ORU_R01"


def test_the_oru_r01_passes_hl7apy_strict_validation() -> None:
    hl7apy_strict(encode())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), beds=st.integers(1, 16), elapsed=st.integers(0, 7200))
def test_every_bed_and_moment_passes_hl7apy_strict_validation(
    seed: int, beds: int, elapsed: int
) -> None:
    device, bed = ward_profiles(beds, seed)[-1]
    now_ns = NOW_NS + elapsed * 1_000_000_000
    vitals = Patient(seed).step(now_ns / 1e9)
    hl7apy_strict(encode(vitals, device, bed, f"{seed}-{elapsed}", now_ns))


def test_segments_are_cr_terminated_and_in_pcd01_order() -> None:
    message = encode()
    assert message.endswith(b"\r")
    assert b"\n" not in message
    names = [line[:3] for line in message.decode().split("\r") if line]
    assert names == ["MSH", "PID", "PV1", "OBR"] + ["OBX"] * 17


def test_header_patient_visit_and_order_read_back_with_er7() -> None:
    message = er7.parse(encode())
    msh = message.msh
    assert msh.components(3) == ["SIM_MONITOR_12", "02A0C9FFFE0B4020", "EUI-64"]
    assert msh.get(7) == "20240309143905+0000"
    assert message.message_type == ("ORU", "R01", "ORU_R01")
    assert message.control_id == "0B402000000042"
    assert (msh.get(11), msh.get(12), msh.get(15), msh.get(16)) == ("P", "2.6", "AL", "NE")
    assert msh.get(18) == "UNICODE UTF-8"
    assert msh.components(21) == ["IHE_PCD_001", "IHE PCD", "1.3.6.1.4.1.19376.1.6.1.1.1", "ISO"]
    pid = message.first("PID")
    assert pid is not None
    assert pid.get(3) == "7654321"
    assert pid.components(5)[:2] == ["DUMONT", "Camille"]
    pv1 = message.first("PV1")
    assert pv1 is not None
    assert (pv1.get(2), pv1.raw(3)) == ("I", "ICU^12^1")
    obr = message.first("OBR")
    assert obr is not None
    assert obr.get(1) == "1"
    assert obr.components(3) == ["0B402000000042", "SIM_MONITOR_12", "02A0C9FFFE0B4020", "EUI-64"]
    assert obr.raw(4) == "182777000^monitoring of patient^SCT"
    assert obr.get(7) == "20240309143905+0000"


def test_observations_carry_mdc_codes_containment_values_and_units() -> None:
    rows = {
        obx.get(4): (obx.get(2), obx.raw(3), obx.get(5), obx.raw(6), obx.get(11), obx.get(14))
        for obx in er7.parse(encode()).all("OBX")
    }
    bpm, mmhg = "264864^MDC_DIM_BEAT_PER_MIN^MDC", "266016^MDC_DIM_MMHG^MDC"
    per_min, percent = "264928^MDC_DIM_RESP_PER_MIN^MDC", "262688^MDC_DIM_PERCENT^MDC"
    nibp_time = "20240309143500+0000"
    assert rows == {
        "1.0.0.0": ("", "69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC", "", "", "X", ""),
        "1.1.0.0": ("", "69798^MDC_DEV_ECG_VMD^MDC", "", "", "X", ""),
        "1.1.1.0": ("", "69799^MDC_DEV_ECG_CHAN^MDC", "", "", "X", ""),
        "1.1.1.1": ("NM", "147842^MDC_ECG_HEART_RATE^MDC", "72", bpm, "R", ""),
        "1.1.1.2": ("NM", "151562^MDC_RESP_RATE^MDC", "16", per_min, "R", ""),
        "1.2.0.0": ("", "69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC", "", "", "X", ""),
        "1.2.1.0": ("", "69643^MDC_DEV_ANALY_SAT_O2_CHAN^MDC", "", "", "X", ""),
        "1.2.1.1": ("NM", "150456^MDC_PULS_OXIM_SAT_O2^MDC", "97", percent, "R", ""),
        "1.2.1.2": ("NM", "149530^MDC_PULS_OXIM_PULS_RATE^MDC", "71", bpm, "R", ""),
        "1.3.0.0": ("", "70686^MDC_DEV_PRESS_BLD_NONINV_VMD^MDC", "", "", "X", ""),
        "1.3.1.0": ("", "70687^MDC_DEV_PRESS_BLD_NONINV_CHAN^MDC", "", "", "X", ""),
        "1.3.1.1": ("NM", "150021^MDC_PRESS_BLD_NONINV_SYS^MDC", "121", mmhg, "R", nibp_time),
        "1.3.1.2": ("NM", "150022^MDC_PRESS_BLD_NONINV_DIA^MDC", "79", mmhg, "R", nibp_time),
        "1.3.1.3": ("NM", "150023^MDC_PRESS_BLD_NONINV_MEAN^MDC", "93", mmhg, "R", nibp_time),
        "1.4.0.0": ("", "69902^MDC_DEV_METER_TEMP_VMD^MDC", "", "", "X", ""),
        "1.4.1.0": ("", "69903^MDC_DEV_METER_TEMP_CHAN^MDC", "", "", "X", ""),
        "1.4.1.1": ("NM", "150344^MDC_TEMP^MDC", "37.0", "268192^MDC_DIM_DEGC^MDC", "R", ""),
    }  # fmt: skip
    obx = er7.parse(encode()).all("OBX")
    assert [o.get(1) for o in obx] == [str(n) for n in range(1, 18)]
    assert obx[0].components(18) == [
        "02A0C9FFFE0B4020",
        "SIM_MONITOR_12",
        "02A0C9FFFE0B4020",
        "EUI-64",
    ]
    assert all(o.raw(18) == "" for o in obx[1:])


def test_the_gateways_pcd_decoder_reads_what_the_simulator_sends() -> None:
    receive_ns = NOW_NS + 5_000_000
    [report] = pcd.decode(
        er7.parse(encode()), transport="mllp", peer="127.0.0.1:5000", receive_time_ns=receive_ns
    )
    assert report.device.key == "EUI-64:02A0C9FFFE0B4020"
    assert report.location is not None and report.location.raw == "ICU^12^1"
    assert report.patient_id == "7654321"
    values = {o.code: (o.value, o.unit, o.device_time_ns) for o in report.observations}
    msh_time = NOW_NS - 250_000_000  # MSH-7 is to the second
    nibp_time = int(VITALS.nibp_time_s) * 1_000_000_000
    assert values == {
        147842: (72.0, "/min", msh_time),
        151562: (16.0, "/min", msh_time),
        150456: (97.0, "%", msh_time),
        149530: (71.0, "/min", msh_time),
        150021: (121.0, "mmHg", nibp_time),
        150022: (79.0, "mmHg", nibp_time),
        150023: (93.0, "mmHg", nibp_time),
        150344: (37.0, "°C", msh_time),
    }


def test_text_that_looks_like_delimiters_is_escaped() -> None:
    device = DeviceProfile("ACME|MON^2", "02A0C9FFFE000001")
    bed = BedProfile("ICU^1^1", "12|34", "DOE^JANE")
    message = er7.parse(encode(device=device, bed=bed, control_id="A|1"))
    assert message.msh.components(3) == ["ACME|MON^2", "02A0C9FFFE000001", "EUI-64"]
    assert message.control_id == "A|1"
    pid = message.first("PID")
    assert pid is not None and pid.get(3) == "12|34"


def test_ward_profiles_are_distinct_deterministic_and_stable_as_beds_are_added() -> None:
    profiles = ward_profiles(16, seed=4)
    assert [bed.location for _, bed in profiles] == [f"ICU^{n}^1" for n in range(1, 17)]
    assert len({device.eui64 for device, _ in profiles}) == 16
    assert len({device.name for device, _ in profiles}) == 16
    assert len({bed.patient_id for _, bed in profiles}) == 16
    assert all(bed.patient_name.count("^") == 6 for _, bed in profiles)
    assert ward_profiles(16, seed=4) == profiles
    assert ward_profiles(5, seed=4) == profiles[:5]
    assert ward_profiles(16, seed=5) != profiles


@pytest.mark.parametrize("eui64", ["02a0c9fffe000001", "02A0C9FFFE00001", "02A0C9FFFE00000G"])
def test_a_device_profile_refuses_a_malformed_eui64(eui64: str) -> None:
    with pytest.raises(ValueError, match="eui64"):
        DeviceProfile("SIM", eui64)

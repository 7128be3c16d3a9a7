"""IHE PCD-01 decoding: every reference sample and fixture decodes to what it carries —
values, units, status, times, location, device."""

from __future__ import annotations

import calendar
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.domain import DeviceId, DeviceReport, Observation, ObservationStatus
from gateway.errors import ParseError

VALID, INVALID, QUESTIONABLE = (
    ObservationStatus.VALID,
    ObservationStatus.INVALID,
    ObservationStatus.QUESTIONABLE,
)


def decode(name: str) -> list[DeviceReport]:
    return pcd.decode(
        er7.parse(load_sample(name)), transport="mllp", peer="10.1.2.3:4001", receive_time_ns=5
    )


def decode_bytes(data: bytes) -> list[DeviceReport]:
    return pcd.decode(er7.parse(data), transport="mllp", peer="10.1.2.3:4001", receive_time_ns=5)


def by_code(name: str) -> dict[int, Observation]:
    (report,) = decode(name)
    return {o.code: o for o in report.observations}


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1_000_000_000


def local(*fields: int) -> int:
    year, month, day, hour, minute, second = fields
    return int(time.mktime((year, month, day, hour, minute, second, 0, 0, -1))) * 1_000_000_000


def values(report: DeviceReport) -> list[tuple[int, float | str, str, ObservationStatus]]:
    return [(o.code, o.value, o.unit, o.status) for o in report.observations]


# ---- the reference samples ----------------------------------------------------------------------


def test_philips_pcd01_values_units_location_and_the_device_named_by_its_mds_row() -> None:
    (report,) = decode("01")
    assert report.location is not None
    assert report.location.raw == "HO Surgery^OR^1"
    assert report.location.label == "HO Surgery OR-1"
    assert report.patient_id == "HO2009001"
    assert report.message_id == "HP0122182658686QQ000CND119C0WS61"
    # MSH-3 (PAT_DEVICE_PHILIPS_C) names an application every Philips monitor shares; the
    # MDS row's OBX-18 names this monitor.
    assert report.device.key == "app:e86c094f-f751-4acf-92b2-38f11c1f6f57-Device"
    assert report.device.label == "PAT_DEVICE_PHILIPS_C"
    # OBX-11 = X marks every value of this sample invalid (IHE PCD, Philips Efficia).
    assert values(report) == [
        (150021, 117.0, "mmHg", INVALID),
        (150022, 82.0, "mmHg", INVALID),
        (150023, 90.0, "mmHg", INVALID),
        (147842, 80.0, "/min", INVALID),
        (147232, 360.0, "ms", INVALID),
        (147236, 416.0, "ms", INVALID),
        (151562, 30.0, "/min", INVALID),
        (184327, "MDC_ECG_SINUS_RHY", "", INVALID),
        (150456, 99.0, "%", INVALID),
        (150448, 3.9, "", INVALID),
    ]
    obs = {o.code: o for o in report.observations}
    assert (obs[147842].label, obs[150021].label, obs[150456].label) == ("HR", "NIBP sys", "SpO2")
    assert obs[147842].sub_id == "1.2.1.1"
    assert not report.alarms and not report.waveforms


def test_device_hierarchy_rows_never_become_observations() -> None:
    (report,) = decode("01")
    hierarchy = {69965, 70686, 70675, 4262, 4263, 69642, 70771}
    assert not hierarchy & {o.code for o in report.observations}


def test_time_precedence_is_obx14_then_obr7_then_msh7() -> None:
    obs = by_code("01")
    assert obs[150021].device_time_ns == local(2015, 1, 22, 11, 50, 0)  # OBX-14, no zone
    assert obs[147842].device_time_ns == local(2015, 1, 22, 18, 26, 56)  # OBR-7, no zone
    data = (
        b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101120000+0100||ORU^R01|1|P|2.6\r"
        b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R"
    )
    (report,) = decode_bytes(data)
    assert report.observations[0].device_time_ns == utc(2024, 1, 1, 11, 0, 0)  # MSH-7


def test_times_with_zones_fractions_unknown_offsets_and_bad_values() -> None:
    (report,) = decode("34")
    obs = {o.code: o for o in report.observations}
    assert obs[147842].device_time_ns == utc(2024, 3, 5, 9, 14, 55) + 250_000_000
    assert obs[150456].device_time_ns == local(2024, 3, 5, 10, 14, 55)  # -0000: unknown
    assert obs[151562].device_time_ns == local(2024, 3, 5, 10, 14, 55)  # no zone
    assert obs[150021].device_time_ns == utc(2024, 3, 5, 10, 12, 0)  # minutes, -0600
    assert obs[150344].device_time_ns == utc(2024, 3, 5, 9, 14, 58)  # unreadable → OBR-7


def test_parse_time_reads_every_precision_and_zone() -> None:
    assert pcd.parse_time("20120111150457-0600") == utc(2012, 1, 11, 21, 4, 57)
    assert pcd.parse_time("20191127160543+0100") == utc(2019, 11, 27, 15, 5, 43)
    assert pcd.parse_time("20191127160543.25+0000") == utc(2019, 11, 27, 16, 5, 43) + 250_000_000
    assert pcd.parse_time("2019112716") == pcd.parse_time("20191127160000")
    assert pcd.parse_time("20191127+0000") == utc(2019, 11, 27, 0, 0, 0)
    assert pcd.parse_time("20080101123456- 0600") == utc(2008, 1, 1, 18, 34, 56)  # sample 10
    assert pcd.parse_time("20240305101459610") == local(2024, 3, 5, 10, 14, 59) + 610_000_000
    assert pcd.parse_time("20240305101459^S") == local(2024, 3, 5, 10, 14, 59)  # TS with DOP


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2019",
        "20191327160543",
        "20190230120000",
        "2019112x160543",
        "later",
        "20191127256000",
        "20191127160543.1234567890",
        "20191127.5",
        "20191127160543+01x0",
        "２０１９１１２７",
    ],
)
def test_unreadable_times_give_none(text: str) -> None:
    assert pcd.parse_time(text) is None


def test_ucum_units_and_eui64_sender() -> None:
    (report,) = decode("02")
    assert report.device == DeviceId("EUI-64:080019FFFE3ED02D")
    assert values(report) == [
        (150021, 111.0, "mmHg", VALID),
        (150022, 60.0, "mmHg", VALID),
        (150023, 80.0, "mmHg", VALID),
        (149546, 63.0, "/min", VALID),
    ]
    assert report.location is not None and report.location.label == "COLWELL SOLAR"
    assert report.patient_id == "12345"


def test_a_bp_device_behind_an_application_host_is_named_by_its_mds_row() -> None:
    (report,) = decode("07")
    assert report.location is None
    # MSH-3 is the host (AcmeInc); the MDS row's OBX-18 is the blood-pressure device.
    assert report.device.key == "EUI-64:0123456789ABCDEF"
    assert values(report) == [
        (150021, 120.0, "mmHg", VALID),
        (150022, 80.0, "mmHg", VALID),
        (150023, 100.0, "mmHg", VALID),
    ]


def test_infusion_pump_values_with_combined_mdc_and_ucum_units() -> None:
    (report,) = decode("11")
    assert report.device.key == "EUI-64:0012210000000000"  # the pump (MDS OBX-18)
    assert report.location is not None and report.location.label == "3 West ICU 3002-1"
    obs = {o.code: o for o in report.observations}
    assert (obs[158014].value, obs[158014].unit) == (15.4, "mL/h")
    assert (obs[157924].value, obs[157924].unit) == (5.0, "ug/kg/min")
    assert (obs[157884].value, obs[157884].unit) == (250.0, "mL")
    assert (obs[157916].value, obs[157916].unit) == (974.0, "min")
    assert obs[184514].value == "Dopamine"
    assert obs[184519].value == "pump-status-infusing"  # CWE: the text, not an empty code
    assert obs[68063].unit == "kg"


def test_draeger_bed_in_third_component_and_eui64_in_first() -> None:
    for name in ("12", "13"):
        (report,) = decode(name)
        assert report.device.key == "EUI-64:0000000000000001"
        assert report.location is not None
        assert (
            report.location.point_of_care,
            report.location.bed,
            report.location.facility,
            report.location.label,
        ) == ("CU1", "Bed001", "TAM", "CU1 Bed001")
        assert report.observations == ()  # alarm messages: facets are not observations


# ---- PCD-01 completeness ------------------------------------------------------------------------


def test_philips_mdil_ids_are_converted_to_mdc_and_unknown_ones_keep_their_label() -> None:
    (report,) = decode("16")
    assert report.device.key == "app:PIIC_iX|PHILIPS"
    assert values(report) == [
        (147842, 128.0, "/min", VALID),
        (150456, 86.0, "%", VALID),
        (151562, 22.0, "/min", VALID),
        (150021, 142.0, "mmHg", VALID),
        (150344, 38.6, "°C", VALID),  # 8859/1: the 0xB0 byte is a degree sign
        (2 * 65536 + 0xF0E5, 58.0, "mmHg", VALID),
    ]
    assert report.observations[-1].label == "Pulse Pressure"
    assert report.observations[3].device_time_ns == utc(2024, 3, 5, 9, 5, 0)


def test_local_code_systems_units_and_value_types() -> None:
    (report,) = decode("35")
    obs = report.observations
    assert [(o.code, o.label, o.source_code) for o in obs[:3]] == [
        (0, "Pulse Pressure", "99MNDRY:1234"),
        (0, "ST Index", "99COMEN:5001"),
        # A local primary code with an MDC alternate: MDC wins, the local code is kept.
        (150456, "SpO2", "99COMEN:SPO2-A"),
    ]
    assert [(o.value, o.unit) for o in obs[:3]] == [(40.0, "mmHg"), (0.15, "mV"), (96.0, "%")]
    assert (obs[3].code, obs[3].value, obs[3].unit) == (157784, 12.5, "mL/h")
    assert (obs[4].code, obs[4].value, obs[4].unit) == (150021, 121.0, "mmHg")  # SN "=^121"
    assert (obs[5].code, obs[5].value) == (184327, "Sinus")  # CWE original text
    assert (obs[6].code, obs[6].value, obs[6].unit) == (151562, 18.0, "/min")  # no OBX-6
    assert (obs[7].code, obs[7].status) == (150344, INVALID)  # OBX-11 X
    assert (obs[8].code, obs[8].status) == (149530, QUESTIONABLE)  # unknown OBX-11


def test_the_same_code_on_two_channels_is_kept_apart_by_sub_id() -> None:
    monitor, _pump = decode("22")
    spo2 = [(o.sub_id, o.value) for o in monitor.observations if o.code == 150456]
    assert spo2 == [("1.2.1.1", 97.0), ("1.3.1.1", 91.0)]


def test_a_gateway_message_is_split_by_the_device_each_mds_row_names() -> None:
    monitor, pump = decode("22")
    assert monitor.device == DeviceId("EUI-64:0012345678ABCDEF")
    assert monitor.device.label == "Neo Monitor"
    assert pump.device == DeviceId("EUI-64:0012210000000000")
    assert pump.device.label == "P6013"
    assert [(o.code, o.value, o.unit) for o in pump.observations] == [(157784, 4.5, "mL/h")]
    assert all(o.device == pump.device for o in pump.observations)
    assert monitor.location == pump.location and monitor.patient_id == pump.patient_id == "P-0003"


def test_a_gateway_carrying_two_beds_gives_a_report_per_bed_and_device() -> None:
    first, second = decode("21")
    assert [r.device.key for r in (first, second)] == [
        "EUI-64:00A037FFFE010001",
        "EUI-64:00A037FFFE010002",
    ]
    assert [r.location.label if r.location else None for r in (first, second)] == [
        "ICU 5",
        "ICU 6",
    ]
    assert [r.patient_id for r in (first, second)] == ["P-0001", "P-0002"]
    assert values(first) == [(147842, 80.0, "/min", VALID), (150456, 97.0, "%", VALID)]
    assert values(second) == [(147842, 112.0, "/min", VALID), (150456, 91.0, "%", VALID)]
    assert first.observations[0].sub_id == "1.3.1.147842"  # Mindray: the code last


def test_ge_b40_eui64_comes_from_obx18_in_eui_model_form() -> None:
    (report,) = decode("36")
    assert report.device == DeviceId("EUI-64:080019FFFE0B4020")
    assert report.device.label == "B40_GE"
    assert [o.label for o in report.observations] == ["HR", "ABP sys", "ABP dia", "ABP mean"]


def test_a_monitor_naming_itself_in_msh3_keeps_that_identity() -> None:
    # The simulator's MDS row repeats the EUI-64 of MSH-3: one device, not two.
    data = (
        b"MSH|^~\\&|MR^00A037EB2175780F^EUI-64|W|||20240101120000+0000||ORU^R01|1|P|2.6\r"
        b"PV1||I|ICU^1^1\rOBR|1\r"
        b"OBX|1||69965^MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS^MDC|1.0.0.0|||||||X|||||||"
        b"00A037EB2175780F^MR^00A037EB2175780F^EUI-64\r"
        b"OBX|2|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|70|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R"
    )
    (report,) = decode_bytes(data)
    assert report.device.key == "EUI-64:00A037EB2175780F"


def test_a_module_id_on_a_vmd_row_is_not_taken_for_the_device() -> None:
    (report,) = decode("01")  # VMD rows carry 0600dc750001 (a module): not the monitor
    assert "0600dc750001" not in report.device.key


# ---- PV1-3 in every form the reference lists ----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw", "parts", "label"),
    [
        ("23", "3 West ICU^3002^1", ("3 West ICU", "3002", "1", ""), "3 West ICU 3002-1"),
        ("24", "CU1^^Bed001^TAM", ("CU1", "", "Bed001", "TAM"), "CU1 Bed001"),
        ("25", "SURGERY^^V2", ("SURGERY", "", "V2", ""), "SURGERY V2"),
        (
            "26",
            "ICU^^5^XYZ HOSPITAL^^^^^00-0F-14-50-72-99",
            ("ICU", "", "5", "XYZ HOSPITAL"),
            "ICU 5",
        ),
        ("27", "^^Doc1&5&1", ("", "", "Doc1", ""), "Doc1"),
        ("28", "ICU/PCU^^pDemo6&0&0", ("ICU/PCU", "", "pDemo6", ""), "ICU/PCU pDemo6"),
        ("29", "^^&10", ("", "", "10", ""), "10"),
    ],
)
def test_every_pv1_3_form_gives_its_parts_and_a_readable_label(
    name: str, raw: str, parts: tuple[str, str, str, str], label: str
) -> None:
    (report,) = decode(name)
    location = report.location
    assert location is not None
    assert location.raw == raw  # the routing key: exactly as sent
    assert (location.point_of_care, location.room, location.bed, location.facility) == parts
    assert location.label == label
    assert report.observations[0].value == 60.0 + int(name) - 22


def test_an_empty_or_blank_pv1_3_is_no_location() -> None:
    for pv1 in (b"PV1||I", b"PV1||I|", b"PV1||I|^^", b"PV1||I|^^&&", b"PV1||I| ^ ^ "):
        data = b"MSH|^~\\&|M||||20240101||ORU^R01|1|P|2.6\r" + pv1 + b"\r"
        (report,) = decode_bytes(data)
        assert report.location is None, pv1


def test_escaped_delimiters_in_a_location_stay_text() -> None:
    data = b"MSH|^~\\&|M||||20240101||ORU^R01|1|P|2.6\rPV1||I|ICU\\T\\PCU^12^1\r"
    (report,) = decode_bytes(data)
    assert report.location is not None and report.location.label == "ICU&PCU 12-1"


# ---- character sets -----------------------------------------------------------------------------


CHARSET_CASES = [
    # sample, MSH-18, patient name, location, text value, unit, flagged as undecodable
    ("30", "8859/1", "MÜLLER", "RÉA 3-1", "Rythme sinusal régulier", "°C", False),
    ("31", "UNICODE UTF-8", "MÜLLER", "RÉA 3-1", "Rythme sinusal – régulier", "°C", False),
    ("32", "ASCII", "MULLER", "REA 3-1", "Sinus rhythm", "\ufffdC", True),
    ("33", "GB2312", "王", "重症监护 7-2", "窦性心律", "°C", False),
]


@pytest.mark.parametrize("case", CHARSET_CASES, ids=[c[0] for c in CHARSET_CASES])
def test_msh18_character_sets_decode_text_and_flag_undecodable_bytes(
    case: tuple[str, str, str, str, str, str, bool],
) -> None:
    name, charset, patient_name, location, text, unit, flagged = case
    message = er7.parse(load_sample(name))
    assert message.charset == charset
    assert message.decode_errors is flagged
    pid = message.first("PID")
    assert pid is not None and pid.get(5) == patient_name
    (report,) = pcd.decode(message, transport="mllp", peer="p", receive_time_ns=1)
    assert report.location is not None and report.location.label == location
    temperature, rhythm = report.observations
    assert (temperature.value, temperature.unit) == (37.5, unit)
    assert rhythm.value == text


# ---- values as devices send them ----------------------------------------------------------------


def test_unreadable_number_is_kept_as_questionable_text() -> None:
    for raw in (b"8O", b"nan", b"inf", b"1_000", b"--"):
        data = b"MSH|^~\\&|A||||||ORU^R01|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||" + raw
        (report,) = decode_bytes(data)
        (obs,) = report.observations
        assert (obs.value, obs.status) == (raw.decode(), QUESTIONABLE), raw


def test_text_values_keep_escapes_resolved_and_lines_joined() -> None:
    data = (
        b"MSH|^~\\&|A||||||ORU^R01|1\r"
        b"OBX|1|TX|184327^MDC_ECG_STAT_RHY^MDC|1.1.1.1|Sinus\\F\\brady~second line||||||R"
    )
    (report,) = decode_bytes(data)
    assert report.observations[0].value == "Sinus|brady\nsecond line"


def test_a_number_sent_without_unit_gets_the_parameters_usual_unit() -> None:
    data = b"MSH|^~\\&|A||||||ORU^R01|1\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.1.1.1|97"
    (report,) = decode_bytes(data)
    assert report.observations[0].unit == "%"


def test_a_misnumbered_code_is_read_by_its_refid() -> None:
    data = b"MSH|^~\\&|A||||||ORU^R01|1\rOBX|1|NM|1504560^MDC_PULS_OXIM_SAT_O2^MDC|1.1|97|%"
    (report,) = decode_bytes(data)
    assert (report.observations[0].code, report.observations[0].label) == (150456, "SpO2")


def test_several_patients_in_one_message_give_one_report_each() -> None:
    data = (
        b"MSH|^~\\&|GW^00A037EB2175780F^EUI-64|X|||20240101120000+0000||ORU^R01|9|P|2.6\r"
        b"PID|||P1\rPV1||I|ICU^1^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|71\r"
        b"PID|||P2\rPV1||I|ICU^2^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|92\r"
    )
    reports = decode_bytes(data)
    assert [(r.patient_id, r.location.raw if r.location else "") for r in reports] == [
        ("P1", "ICU^1^1"),
        ("P2", "ICU^2^1"),
    ]
    assert [r.observations[0].value for r in reports] == [71.0, 92.0]


def test_the_patients_name_pid5_is_decoded_family_given_per_patient() -> None:
    data = (
        b"MSH|^~\\&|GW^00A037EB2175780F^EUI-64|X|||20240101120000+0000||ORU^R01|9|P|2.6\r"
        b"PID|||P1^^^^MR||O\\S\\BRIEN^JANE^^^^^L~ALIAS^X\rPV1||I|ICU^1^1\r"
        b"OBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|71\r"
        b'PID|||P2||""\rPV1||I|ICU^2^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|92\r'
        b"PID|||P3||DOE\rPV1||I|ICU^3^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|60\r"
    )
    reports = decode_bytes(data)
    # The first name of PID-5 (not its alias), unescaped; HL7's null "" and no name are no name.
    assert [(r.patient_id, r.patient_name) for r in reports] == [
        ("P1", "O^BRIEN, JANE"),
        ("P2", ""),
        ("P3", "DOE"),
    ]
    (philips,) = decode("01")  # PID|||HO2009001^^^^MR||Hon^Albert^""^^^^L
    assert philips.patient_name == "Hon, Albert"


def test_a_message_with_nothing_measured_still_reports_the_device() -> None:
    (report,) = decode_bytes(b"MSH|^~\\&|MON^00A037EB2175780F^EUI-64||||||ORU^R01|1\rPV1||I|A^1^1")
    assert report.device.key == "EUI-64:00A037EB2175780F"
    assert (report.observations, report.waveforms, report.alarms) == ((), (), ())


def test_a_sender_with_no_identity_is_known_by_its_address() -> None:
    (report,) = decode_bytes(b"MSH|^~\\&|||||||ORU^R01|1")
    assert report.device == DeviceId("tcp:10.1.2.3")


def test_the_fast_observation_constructor_builds_the_real_frozen_record() -> None:
    device = DeviceId("EUI-64:0000000000000001")
    args = (device, 1, "HR", 72.0, "/min", VALID, 5, 6, "1.1", None, "m", "", True)
    made = pcd.new_observation(*args)
    assert type(made) is Observation
    assert made == Observation(*args)
    assert hash(made) == hash(Observation(*args))
    with pytest.raises(AttributeError):
        made.value = 80.0  # type: ignore[misc]


def test_non_observation_messages_are_refused() -> None:
    with pytest.raises(ParseError, match="unsupported message type ACK"):
        pcd.require_observation_report(er7.parse(load_sample("08")))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_obx_bytes_decode_or_raise_parse_error(tail: bytes) -> None:
    data = b"MSH|^~\\&|A||||20240101||ORU^R01|1|P|2.6\rPV1||I|ICU^1^1\rOBX|" + tail
    try:
        message = er7.parse(data)
    except ParseError:
        return
    for report in pcd.decode(message, transport="mllp", peer="p", receive_time_ns=1):
        for obs in report.observations:
            assert isinstance(obs.value, float | str)


def test_an_unmeasured_value_reaches_the_ward_as_invalid_not_as_nothing() -> None:
    # What a monitor sends with the SpO2 probe off: the row, no value, OBX-11 X.
    data = (
        b"MSH|^~\\&|MON^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|7|P|2.6\r"
        b"PV1||I|ICU^1^1\rOBR|1\r"
        b"OBX|1|ST|69642^MDC_DEV_ANALY_SAT_O2_VMD^MDC|1.3.0.0|||||||X\r"
        b"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1||262688^MDC_DIM_PERCENT^MDC|||||X\r"
    )
    (report,) = pcd.decode(er7.parse(data), transport="mllp", peer="p", receive_time_ns=1)
    (spo2,) = report.observations  # the VMD row is not an observation
    assert (spo2.code, spo2.value, spo2.status) == (150456, "", ObservationStatus.INVALID)


def _forget_rows_seen() -> None:
    """Empty the decoder's fast-path tables, so the next rows go the general way."""
    pcd._PLAIN_CODES.clear()
    pcd._NUMBERS.clear()


@pytest.mark.parametrize("name", [f"{n:02d}" for n in range(1, 37) if n not in (8, 9, 10, 14)])
def test_a_sample_decodes_the_same_the_first_time_and_once_its_rows_are_known(name: str) -> None:
    message = er7.parse(load_sample(name))

    def readings() -> list[tuple[object, ...]]:
        reports = pcd.decode(message, transport="mllp", peer="p", receive_time_ns=5)
        return [(r.device, r.location, r.patient_id, r.observations, r.alarms) for r in reports]

    _forget_rows_seen()
    first = readings()
    assert readings() == first  # the fast path now takes the rows it knows


# OBX-3 codes of every kind: known MDC, unknown MDC, by REFID only, an alarm facet, a
# waveform attribute, a local code, an MDIL id.
_CODES = [
    "147842^MDC_ECG_HEART_RATE^MDC",
    "150456^MDC_PULS_OXIM_SAT_O2^MDC",
    "999999^MDC_NOT_A_CODE^MDC",
    "^MDC_PULS_OXIM_SAT_O2^MDC",
    "68484^MDC_ATTR_ALARM_PRIORITY^MDC",
    "67981^MDC_ATTR_SAMP_RATE^MDC",
    "0^MDC_ATTR_SAMP_RATE^MDC",
    "1234^HR^99MNDRY",
    "0002-4182^HR^MDIL",
]
_VALUES = st.one_of(
    st.sampled_from(["72", " 72 ", "36.9", "-0", "1e3", "1_0", "nan", "inf", "-Infinity", ""]),
    st.sampled_from(["1^2", "A\\S\\B", "120^80", "abc", "0x10", "+5", ".5", "5."]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.text(alphabet="0123456789.-+eE_ ^\\", max_size=8),
)


def _read_cold_and_warm(
    code: str,
    value: str,
    *,
    status: str = "",
    unit: str = "",
    sub_id: str = "1.1.1.1",
    when: str = "",
    value_type: str = "NM",
) -> tuple[DeviceReport, DeviceReport]:
    """One row decoded when its code is new (the general path), then again once a message
    before it made the code known (the fast path, when the code may take it)."""
    head = b"MSH|^~\\&|MON^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|1|P|2.6\r"
    head += b"PV1||I|ICU^1^1\rOBR|1\r"
    row = f"OBX|1|{value_type}|{code}|{sub_id}|{value}|{unit}|||||{status}|||{when}\r"
    _forget_rows_seen()
    (cold,) = decode_bytes(head + row.encode())
    decode_bytes(head + f"OBX|1|NM|{code}|{sub_id}|1|{unit}|||||R\r".encode())
    if not code.startswith(("68484^", "0^", "1234^", "67981^")):
        assert code in pcd._PLAIN_CODES
    (warm,) = decode_bytes(head + row.encode())
    return cold, warm


@pytest.mark.parametrize(
    "value", ["72", " 72 ", "36.90", "-0", "1e3", "1_0", "nan", "inf", "", "1^2", "A\\S\\B", "x"]
)
@pytest.mark.parametrize("status", ["", "R", "X", " x ", "Q"])
@pytest.mark.parametrize("unit", ["", "266016^MDC_DIM_MMHG^MDC"])
def test_a_known_numeric_row_reads_as_it_did_when_new(value: str, status: str, unit: str) -> None:
    cold, warm = _read_cold_and_warm(
        "150021^MDC_PRESS_BLD_NONINV_SYS^MDC", value, status=status, unit=unit
    )
    assert warm.observations == cold.observations


@settings(max_examples=400, deadline=None)
@given(
    code=st.sampled_from(_CODES),
    value=_VALUES,
    status=st.sampled_from(["", "R", "F", "X", " x ", "P", "Q", "R "]),
    unit=st.sampled_from(["", "266016^MDC_DIM_MMHG^MDC", "mm[Hg]^mm[Hg]^UCUM", "bpm"]),
    sub_id=st.sampled_from(["1.1.1.1", " 1.2.1.1", "", "2.1.1.1"]),
    when=st.sampled_from(["", "20240101120005+0000", "garbage"]),
    value_type=st.sampled_from(["NM", "NM ", "ST"]),
)
def test_any_row_reads_the_same_whether_its_code_is_new_or_known(
    *, code: str, value: str, status: str, unit: str, sub_id: str, when: str, value_type: str
) -> None:
    cold, warm = _read_cold_and_warm(
        code, value, status=status, unit=unit, sub_id=sub_id, when=when, value_type=value_type
    )
    assert warm.observations == cold.observations
    assert warm.alarms == cold.alarms

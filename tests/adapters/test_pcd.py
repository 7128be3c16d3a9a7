"""IHE PCD-01 decoding of the reference samples: values, units, status, times, location."""

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


def decode(name: str) -> list[DeviceReport]:
    return pcd.decode(
        er7.parse(load_sample(name)), transport="mllp", peer="10.1.2.3:4001", receive_time_ns=5
    )


def by_code(name: str) -> dict[int, Observation]:
    (report,) = decode(name)
    return {o.code: o for o in report.observations}


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1_000_000_000


def test_philips_pcd01_values_units_and_location() -> None:
    (report,) = decode("01")
    assert report.location is not None
    assert report.location.raw == "HO Surgery^OR^1"
    assert report.location.label == "HO Surgery OR-1"
    assert report.patient_id == "HO2009001"
    assert report.message_id == "HP0122182658686QQ000CND119C0WS61"
    obs = {o.code: o for o in report.observations}
    assert (obs[150021].value, obs[150021].unit, obs[150021].label) == (117.0, "mmHg", "NIBP sys")
    assert (obs[150022].value, obs[150023].value) == (82.0, 90.0)
    assert (obs[147842].value, obs[147842].unit, obs[147842].label) == (80.0, "/min", "HR")
    assert (obs[150456].value, obs[150456].unit) == (99.0, "%")
    assert (obs[151562].value, obs[151562].unit) == (30.0, "/min")
    assert obs[184327].value == "MDC_ECG_SINUS_RHY"
    assert obs[147842].sub_id == "1.2.1.1"
    # OBX-11 = X marks a value invalid (IHE PCD, Philips Efficia): never shown as valid.
    assert obs[147842].status is ObservationStatus.INVALID


def test_time_precedence_is_obx14_then_obr7_then_msh7() -> None:
    obs = by_code("01")
    assert obs[150021].device_time_ns == utc(2015, 1, 22, 11, 50, 0)  # OBX-14 (no zone: local)
    if time.timezone == 0:
        assert obs[147842].device_time_ns == utc(2015, 1, 22, 18, 26, 56)  # OBR-7


def test_time_zones_are_applied() -> None:
    assert pcd.parse_time("20120111150457-0600") == utc(2012, 1, 11, 21, 4, 57)
    assert pcd.parse_time("20191127160543+0100") == utc(2019, 11, 27, 15, 5, 43)
    assert pcd.parse_time("20191127160543.25+0000") == utc(2019, 11, 27, 16, 5, 43) + 250_000_000
    assert pcd.parse_time("2019112716") == pcd.parse_time("20191127160000")


@pytest.mark.parametrize("text", ["", "2019", "20191327160543", "2019112x160543", "later"])
def test_unreadable_times_give_none(text: str) -> None:
    assert pcd.parse_time(text) is None


def test_ucum_units_and_eui64_sender() -> None:
    (report,) = decode("02")
    assert report.device == DeviceId("EUI-64:080019FFFE3ED02D")
    obs = {o.code: o for o in report.observations}
    assert (obs[150021].value, obs[150021].unit, obs[150021].status) == (
        111.0,
        "mmHg",
        ObservationStatus.VALID,
    )
    assert (obs[149546].value, obs[149546].unit) == (63.0, "/min")
    assert report.location is not None and report.location.label == "COLWELL SOLAR"


def test_combined_mdc_and_ucum_units_keep_the_value() -> None:
    obs = by_code("11")
    assert (obs[158014].value, obs[158014].unit) == (15.4, "mL/h")
    assert obs[157924].unit == "ug/kg/min"


def test_draeger_bed_in_third_component_and_eui64_in_first() -> None:
    (report,) = decode("12")
    assert report.device.key == "EUI-64:0000000000000001"
    assert report.location is not None
    assert (report.location.point_of_care, report.location.bed, report.location.facility) == (
        "CU1",
        "Bed001",
        "TAM",
    )


def test_sender_without_location_has_none() -> None:
    (report,) = decode("07")
    assert report.location is None
    assert report.device.key == "EUI-64:ACDE48234567ABCD"


def test_local_codes_are_kept_with_their_label() -> None:
    data = (
        b"MSH|^~\\&|MR|MINDRAY|||20240101120000+0000||ORU^R01^ORU_R01|9|P|2.6\r"
        b"PV1||I|ICU^^&10\r"
        b"OBX|1|NM|1234^Pulse Pressure^99MNDRY|1.1.1.1|40|mmHg||||||R\r"
        b"OBX|2|NM|0002-4bb8^SpO2^MDIL|0|97|%||||||R\r"
    )
    (report,) = pcd.decode(er7.parse(data), transport="mllp", peer="p", receive_time_ns=1)
    local, mdil = report.observations
    assert (local.code, local.label, local.source_code, local.value) == (
        0,
        "Pulse Pressure",
        "99MNDRY:1234",
        40.0,
    )
    assert (mdil.code, mdil.label) == (150456, "SpO2")
    assert report.location is not None and report.location.bed == "10"


def test_several_patients_in_one_message_give_one_report_each() -> None:
    data = (
        b"MSH|^~\\&|GW^00A037EB2175780F^EUI-64|X|||20240101120000+0000||ORU^R01|9|P|2.6\r"
        b"PID|||P1\rPV1||I|ICU^1^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|71\r"
        b"PID|||P2\rPV1||I|ICU^2^1\rOBR|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|92\r"
    )
    reports = pcd.decode(er7.parse(data), transport="mllp", peer="p", receive_time_ns=1)
    assert [(r.patient_id, r.location.raw if r.location else "") for r in reports] == [
        ("P1", "ICU^1^1"),
        ("P2", "ICU^2^1"),
    ]
    assert [r.observations[0].value for r in reports] == [71.0, 92.0]


def test_unreadable_number_is_kept_as_questionable_text() -> None:
    data = b"MSH|^~\\&|A||||||ORU^R01|1\rOBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC||8O\r"
    (report,) = pcd.decode(er7.parse(data), transport="mllp", peer="p", receive_time_ns=1)
    (obs,) = report.observations
    assert (obs.value, obs.status) == ("8O", ObservationStatus.QUESTIONABLE)


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

"""Device alarms: IHE PCD-04 facets (and the deprecated OBX-8 form), Philips MDIL-ALERT
text alarms, and Dräger's watchdog, which is a keep-alive and never an alarm."""

from __future__ import annotations

import calendar

import pytest
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.domain import AlarmEvent, AlarmKind, AlarmPriority, AlarmSource, DeviceReport

HIGH, MEDIUM, LOW, NONE = (
    AlarmPriority.HIGH,
    AlarmPriority.MEDIUM,
    AlarmPriority.LOW,
    AlarmPriority.NONE,
)
PHYSIOLOGICAL, TECHNICAL, ADVISORY = (
    AlarmKind.PHYSIOLOGICAL,
    AlarmKind.TECHNICAL,
    AlarmKind.ADVISORY,
)


def decode(data: bytes) -> pcd.Decoded:
    return pcd.decode_message(er7.parse(data), transport="mllp", peer="p:1", receive_time_ns=99)


def report_of(name: str) -> DeviceReport:
    (report,) = decode(load_sample(name)).reports
    return report


def alarm_of(name: str) -> AlarmEvent:
    (alarm,) = report_of(name).alarms
    return alarm


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1_000_000_000


R40 = (
    b"MSH|^~\\&|AR^0012211839000001^EUI-64|X|||20240101120000+0000||ORU^R40^ORU_R40|A1|P|2.6"
    b"|||AL|NE\rPID|||P1\rPV1||I|ICU^1^1\r"
    b"OBR|1||77^AR|196616^MDC_EVT_ALARM^MDC|||20240101120000+0000\r"
)


def test_mindray_low_spo2_deprecated_obx8_form_with_the_value_that_alarmed() -> None:
    report = report_of("03")
    assert report.observations == ()  # facet 2 (SpO2 88) is the alarm's value, not a reading
    alarm = alarm_of("03")
    assert (alarm.code, alarm.text) == (196670, "Low SpO2")
    assert (alarm.priority, alarm.kind) == (MEDIUM, PHYSIOLOGICAL)  # OBX-8 L~PM~SP
    assert (alarm.phase, alarm.state, alarm.inactivation) == ("start", "active", "enabled")
    assert (alarm.parameter_code, alarm.parameter_label) == (150456, "SpO2")
    assert (alarm.value, alarm.unit, alarm.limits) == (88.0, "%", "90-96")
    assert alarm.alarm_id == "1^MINDRAY_EGATEWAY^00A037EB2175780F^EUI-64"
    assert alarm.sub_id == "1.3.1.150456"
    assert alarm.time_ns == utc(2012, 1, 11, 21, 4, 57)
    assert alarm.source is AlarmSource.DEVICE
    assert alarm.device == report.device
    assert alarm.message_id == "1"


def test_bbraun_occlusion_start_and_end_are_one_alarm() -> None:
    start, end = alarm_of("04"), alarm_of("05")
    for alarm in (start, end):
        # Technical form: 196616 MDC_EVT_ALARM with the event coded in OBX-5.
        assert (alarm.code, alarm.text) == (196940, "Occlusion")
        assert alarm.kind is TECHNICAL  # OBX-8 "ST"
        assert alarm.parameter_code == 69985  # the source facet: the pump itself
    assert (start.phase, start.state) == ("start", "active")
    assert (end.phase, end.state) == ("end", "inactive")
    assert start.alarm_id == end.alarm_id  # OBR-29, the first occurrence, ties them
    assert start.alarm_id == "E0001_27^PAT_DEVICE_BBRAUN^0012211839000001^EUI-64"
    assert end.time_ns - start.time_ns == 9 * 1_000_000_000


def test_livedata_advisory_with_misnumbered_facets_read_by_refid() -> None:
    report = report_of("06")
    assert report.observations == ()
    alarm = alarm_of("06")
    assert (alarm.code, alarm.source_code) == (0, "MDC:MDCX_DOCUMENTATION_ERROR")
    assert alarm.text == "Timeout not documented"
    assert (alarm.priority, alarm.kind) == (MEDIUM, ADVISORY)  # OBX-8 "SA~PM"
    assert (alarm.phase, alarm.state) == ("start", "active")
    # The source facet (684800, under another sub-id prefix) still belongs to this alarm.
    assert alarm.parameter_label == "Procedure not documented on time"
    assert alarm.alarm_id == "12345-2^LIVEDATA"


def draeger_in_production() -> bytes:
    """Dräger's reference alarm as a production gateway sends it: the reference message is
    MSH-11 ``D`` (debugging, a simulated patient), which the gateway takes as demo data."""
    return load_sample("12").replace(b"|ORU^R40^ORU_R40|0|D|2.6|", b"|ORU^R40^ORU_R40|0|P|2.6|")


def test_draeger_co2_sensor_facet_form() -> None:
    (report,) = decode(draeger_in_production()).reports
    assert report.observations == ()
    (alarm,) = report.alarms
    assert (alarm.code, alarm.text) == (196916, "CO2 Sensor unplugged")
    assert (alarm.priority, alarm.kind) == (LOW, PHYSIOLOGICAL)  # facets PL and SP, as sent
    assert (alarm.phase, alarm.state, alarm.inactivation) == ("start", "active", "enabled")
    assert alarm.alarm_id == "0^3d313edb-6fab-4718-9d38-82262c83aea5^0000000000000001^EUI-64"
    assert alarm.sub_id == "1.1.1"
    assert alarm.time_ns == utc(2019, 11, 27, 15, 5, 43)


def test_draeger_reference_alarm_sent_as_debugging_data_is_a_demo_advisory() -> None:
    alarm = alarm_of("12")  # MSH-11 D, as Dräger's reference implementation sends it
    assert (alarm.code, alarm.text) == (196916, "DEMO CO2 Sensor unplugged")
    assert (alarm.priority, alarm.kind) == (LOW, ADVISORY)
    assert (alarm.phase, alarm.state) == ("start", "active")


def test_draeger_watchdog_is_a_keep_alive_and_raises_no_alarm() -> None:
    decoded = decode(load_sample("13"))
    assert decoded.keep_alive
    assert decoded.confirm_timeout_s == 5.0
    (report,) = decoded.reports
    assert report.alarms == () and report.observations == ()
    assert report.device.key == "EUI-64:0000000000000001"  # the device still spoke


def test_philips_mdil_alert_text_alarms() -> None:
    report = report_of("16")
    assert [(a.text, a.priority, a.kind) for a in report.alarms] == [
        ("HR 128 > 120", HIGH, PHYSIOLOGICAL),
        ("SpO2 low 86 < 90", MEDIUM, PHYSIOLOGICAL),
        ("NBP CUFF OVERPRESS", MEDIUM, TECHNICAL),
        ("SpO2 NOISY SIGNAL", LOW, TECHNICAL),
    ]
    assert [a.parameter_code for a in report.alarms] == [147842, 150456, None, 150456]
    assert [a.source_code for a in report.alarms] == [f"MDIL-ALERT:{n}" for n in range(1, 5)]
    assert all((a.phase, a.state) == ("present", "active") for a in report.alarms)
    assert report.alarms[1].alarm_id == "MDIL-ALERT:SpO2 low"
    assert not any(o.source_code and "MDIL-ALERT" in o.source_code for o in report.observations)


def test_an_mdil_alert_repeated_with_a_new_value_keeps_its_alarm_id() -> None:
    def alert(text: bytes) -> AlarmEvent:
        data = b"MSH|^~\\&|P||||||ORU^R01|1\rOBX||TX|2^Yellow Alarm^MDIL-ALERT||" + text
        (report,) = decode(data).reports
        return report.alarms[0]

    assert alert(b"**SpO2 low 86 < 90").alarm_id == alert(b"**SpO2 low 84 < 90").alarm_id


def test_separate_facets_win_over_obx8() -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high|||H~PL~ST|||F\r"
        b"OBX|2|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.2|PH||||||F\r"
        b"OBX|3|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.3|SP||||||F\r"
    )
    (report,) = decode(data).reports
    (alarm,) = report.alarms
    assert (alarm.priority, alarm.kind) == (HIGH, PHYSIOLOGICAL)


@pytest.mark.parametrize(
    ("value", "priority"), [("PN", NONE), ("PL", LOW), ("PM", MEDIUM), ("PH", HIGH)]
)
def test_every_priority_facet(value: str, priority: AlarmPriority) -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r"
        b"OBX|2|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.2|" + value.encode() + b"||||||F\r"
    )
    (report,) = decode(data).reports
    assert report.alarms[0].priority is priority


@pytest.mark.parametrize(
    ("value", "kind"), [("SP", PHYSIOLOGICAL), ("ST", TECHNICAL), ("SA", ADVISORY)]
)
def test_every_type_facet(value: str, kind: AlarmKind) -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r"
        b"OBX|2|ST|68485^MDC_ATTR_ALERT_TYPE^MDC|1.1.1.2|" + value.encode() + b"||||||F\r"
    )
    (report,) = decode(data).reports
    assert report.alarms[0].kind is kind


@pytest.mark.parametrize(
    "phase",
    [
        "start",
        "start_only",
        "continue",
        "end",
        "present",
        "update",
        "escalate",
        "inactivate",
        "acknowledged",
        "deescalate",
        "reset",
        "stop",
        "tpoint",
    ],
)
def test_every_phase_is_carried_as_sent(phase: str) -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r"
        b"OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.2|" + phase.encode() + b"||||||F\r"
    )
    (report,) = decode(data).reports
    alarm = report.alarms[0]
    assert alarm.phase == phase
    assert alarm.state == ("inactive" if phase in ("end", "stop", "reset") else "active")


@pytest.mark.parametrize(
    ("state", "inactivation"),
    [("latched", "audio-paused"), ("inactive", "alarm-off"), ("active", "alert-acknowledged")],
)
def test_states_and_inactivation_states_are_carried(state: str, inactivation: str) -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r"
        b"OBX|2|ST|68482^MDC_ATTR_ALARM_STATE^MDC|1.1.1.2|" + state.encode() + b"||||||F\r"
        b"OBX|3|ST|68483^MDC_ATTR_ALARM_INACTIVATION_STATE^MDC|1.1.1.3|"
        + inactivation.encode()
        + b"||||||F\r"
    )
    (report,) = decode(data).reports
    assert (report.alarms[0].state, report.alarms[0].inactivation) == (state, inactivation)


def test_what_a_sender_leaves_out_is_filled_on_the_safe_side() -> None:
    (report,) = decode(R40 + b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r").reports
    (alarm,) = report.alarms
    assert alarm.priority is MEDIUM  # never "none" for want of a priority
    assert (alarm.phase, alarm.state, alarm.inactivation) == ("present", "active", "enabled")
    assert alarm.kind is PHYSIOLOGICAL
    assert alarm.alarm_id == "77^AR"  # OBR-3 when there is no OBR-29
    assert alarm.time_ns == utc(2024, 1, 1, 12, 0, 0)  # OBR-7


def test_a_technical_event_code_without_a_type_is_technical() -> None:
    data = R40 + b"OBX|1|ST|196916^MDC_EVT_SENSOR_DISCONN^MDC|1.1.1.1|Probe off||||||F\r"
    (report,) = decode(data).reports
    assert report.alarms[0].kind is TECHNICAL


def test_facets_without_an_event_row_still_give_an_alarm_and_a_problem() -> None:
    data = R40 + (
        b"OBX|1|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.1.1.3|start||||||F\r"
        b"OBX|2|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.6|PH||||||F\r"
    )
    decoded = decode(data)
    (alarm,) = decoded.reports[0].alarms
    assert (alarm.code, alarm.priority, alarm.phase) == (196616, HIGH, "start")
    assert any("without an event row" in p for p in decoded.problems)


def test_two_alarms_under_one_obr_are_told_apart_by_their_prefix() -> None:
    data = R40 + (
        b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1.1.1|HR high||||||F\r"
        b"OBX|2|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.1.1.2|PH||||||F\r"
        b"OBX|3|ST|196670^MDC_EVT_LO^MDC|1.2.1.1|SpO2 low||||||F\r"
        b"OBX|4|ST|68484^MDC_ATTR_ALARM_PRIORITY^MDC|1.2.1.2|PL||||||F\r"
    )
    (report,) = decode(data).reports
    first, second = report.alarms
    assert [(a.text, a.priority, a.alarm_id) for a in (first, second)] == [
        ("HR high", HIGH, "77^AR/1.1.1"),
        ("SpO2 low", LOW, "77^AR/1.2.1"),
    ]


def test_alarm_facets_in_an_observation_report_are_still_an_alarm() -> None:
    data = (
        b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|1|P|2.6\r"
        b"OBR|1||5|182777000^monitoring of patient^SCT\r"
        b"OBX|1|ST|196670^MDC_EVT_LO^MDC|1.3.1.1|SpO2 low||||||F\r"
        b"OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.2|start||||||F\r"
        b"OBR|2||6|182777000^monitoring of patient^SCT\r"
        b"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|84|262688^MDC_DIM_PERCENT^MDC|||||R\r"
    )
    (report,) = decode(data).reports
    assert [a.text for a in report.alarms] == ["SpO2 low"]
    assert [(o.code, o.value) for o in report.observations] == [(150456, 84.0)]


def test_every_reference_alarm_message_carries_its_alarms_and_no_facet_observations() -> None:
    expected = {"03": 1, "04": 1, "05": 1, "06": 1, "12": 1, "13": 0}
    for name, count in expected.items():
        report = report_of(name)
        assert len(report.alarms) == count, name
        assert report.observations == (), name

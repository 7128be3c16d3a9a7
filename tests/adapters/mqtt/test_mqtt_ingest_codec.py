"""The ingest schema v1, from bytes: what a device may publish, what is refused and why,
and that any bytes on any topic give an observation set or a DecodeError, nothing else."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.mqtt import codec
from adapters.mqtt.mapping import report_of
from gateway.domain import AlarmKind, AlarmPriority, ObservationStatus

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "mqtt"
PREFIX = codec.DEFAULT_PREFIX
TOPIC = f"{PREFIX}/h1/icu3/mon-7/obs"
T0 = 1_765_100_000_000_000_000


def message(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "v": 1,
        "device": {"id": "00A037EB2175780F", "label": "Bedside 7"},
        "time": T0,
        "obs": [{"code": 147842, "value": 72, "unit": "/min"}],
    }
    document.update(changes)
    return document


def decode(document: Any, topic: str = TOPIC) -> codec.ObservationSet:
    return codec.decode(PREFIX, topic, json.dumps(document).encode())


def refused(document: Any, topic: str = TOPIC) -> str:
    with pytest.raises(codec.DecodeError) as caught:
        decode(document, topic)
    return str(caught.value)


def test_the_documented_example_decodes_to_a_report_with_values_alarms_and_a_wave() -> None:
    raw = (FIXTURES / "example-v1.json").read_bytes()
    decoded = codec.decode(PREFIX, "icu/in/v1/h1/icu3/bedside-12/obs", raw)
    report = report_of(decoded, "icu/in/v1/h1/icu3/bedside-12/obs", T0 + 10**8)
    assert report.device.key == "EUI-64:00A037EB2175780F"
    assert report.device.label == "IntelliVue bridge, bed 12"
    assert report.location is not None and (report.location.room, report.location.bed) == (
        "12",
        "1",
    )
    assert report.patient_id == "P-0042"
    assert report.message_id == "4711"
    by_code = {o.code: o for o in report.observations}
    assert by_code[147842].value == 72.0 and by_code[147842].label == "HR"
    assert by_code[147842].device_time_ns == 1_765_100_000_000_000_000
    assert by_code[150456].unit == "%"
    nibp = by_code[150021]
    assert nibp.device_time_ns == 1_765_099_940_000_000_000  # its own time (ISO 8601)
    assert by_code[151562].status is ObservationStatus.INVALID
    assert math.isnan(float(by_code[151562].value))
    assert by_code[151562].reason == "leads off"
    (alarm,) = report.alarms
    assert alarm.priority is AlarmPriority.HIGH and alarm.kind is AlarmKind.PHYSIOLOGICAL
    assert alarm.alarm_id == "EUI-64:00A037EB2175780F:a17" and alarm.parameter_code == 147842
    (wave,) = report.waveforms
    assert wave.sample_rate_hz == 250.0 and len(wave.samples) == 6
    assert math.isnan(float(wave.samples[3]))  # a null sample is a gap


def test_a_device_id_that_is_no_eui64_is_keyed_as_mqtt() -> None:
    decoded = decode(message(device={"id": "vent-3"}))
    assert decoded.device_key == "mqtt:vent-3" and decoded.device_label == "vent-3"


def test_iso_times_need_an_offset_and_are_read_to_the_microsecond() -> None:
    assert decode(message(time="2025-12-07T10:00:00.123456Z")).time_ns == (
        1_765_101_600_123_456_000
    )
    assert "no UTC offset" in refused(message(time="2026-12-07T10:00:00"))


def test_demo_on_the_message_marks_every_value_and_makes_alarms_demo_advisories() -> None:
    alarm = {"id": "1", "text": "HR high", "priority": "high", "kind": "physiological",
             "phase": "start"}  # fmt: skip
    report = report_of(decode(message(demo=True, alarms=[alarm])), TOPIC, T0)
    assert all(o.demo for o in report.observations)
    (event,) = report.alarms
    assert event.kind is AlarmKind.ADVISORY and event.text.startswith("DEMO")
    assert event.priority is AlarmPriority.LOW


def test_a_null_value_is_invalid_never_a_number() -> None:
    report = report_of(decode(message(obs=[{"code": 150456, "value": None}])), TOPIC, T0)
    (obs,) = report.observations
    assert obs.status is ObservationStatus.INVALID and math.isnan(float(obs.value))


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\xff\xfe{}", "not UTF-8"),
        (b"not json", "not JSON"),
        (b'{"v":1,"device":{"id":"x"},"time":1765100000000000000,"obs":[{"code":1,"value":NaN}]}',
         "NaN"),
        (b'{"v":1,"device":{"id":"x"},"time":1765100000000000000,"obs":[{"code":1,'
         b'"value":Infinity}]}', "Infinity"),
        (b'{"v":1,"device":{"id":"x"},"time":1765100000000000000,"obs":[{"code":1,"value":1e400}]}',
         "beyond"),
        (b"[" * 30_000 + b"]" * 30_000, "RecursionError"),
        (b'{"v":1,"v":1}', "twice"),
        (b'{"v":1,"device":{"id":"x"},"time":1' + b"0" * 5000 + b"}", "not usable JSON"),
    ],
    ids=["not-utf8", "not-json", "nan", "infinity", "1e400", "deep", "twice", "long-int"],
)  # fmt: skip
def test_bytes_that_are_no_v1_json_are_refused_saying_why(raw: bytes, why: str) -> None:
    with pytest.raises(codec.DecodeError, match=why):
        codec.decode(PREFIX, TOPIC, raw)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"v": 2}, "reads v 1"),
        ({"v": True}, "reads v 1"),
        ({"device": "x"}, "device is not an object"),
        ({"device": {"id": "a/b"}}, "device.id"),
        ({"time": None}, "time is missing"),
        ({"time": 12}, "between 2000 and 2100"),
        ({"time": True}, "not a time"),
        ({"seq": -1}, "seq"),
        ({"obs": {"code": 1}}, "obs is not a list"),
        ({"obs": [{"code": "147842", "value": 1}]}, "not an MDC code"),
        ({"obs": [{"code": True, "value": 1}]}, "not an MDC code"),
        ({"obs": [{"code": 147842, "value": [1]}]}, "not a number"),
        ({"obs": [{"code": 147842, "value": True}]}, "not a number"),
        ({"obs": [{"code": 147842, "value": 1, "status": "ok"}]}, "expected one of"),
        ({"obs": [{"code": 147842, "value": 1, "unit": "x" * 200}]}, "longer than"),
        ({"obs": [{"code": 147842, "value": 1, "label": "a\u0007"}]}, "control character"),
        ({"obs": [{"code": 147842, "value": 1}] * 257}, "at most 256"),
        ({"alarms": [{"id": "1", "text": "x", "priority": "urgent", "kind": "technical",
                      "phase": "start"}]}, "priority"),
        ({"waves": [{"code": 131330, "rate": 0, "start": T0, "samples": []}]}, "rate"),
        ({"waves": [{"code": 131330, "rate": 250, "start": T0, "samples": ["1"]}]},
         "not a number"),
    ],
)  # fmt: skip
def test_wrong_types_values_and_words_are_refused_naming_the_field(
    change: dict[str, Any], why: str
) -> None:
    assert why in refused(message(**change))


def test_an_oversize_payload_is_refused_before_it_is_parsed() -> None:
    raw = b" " * (codec.MAX_PAYLOAD_BYTES + 1)
    with pytest.raises(codec.DecodeError, match="at most 65536"):
        codec.decode(PREFIX, TOPIC, raw)


@pytest.mark.parametrize(
    "topic",
    [
        "icu/v1/h1/icu3/mon-7/obs",
        f"{PREFIX}/h1/icu3/mon-7/num",
        f"{PREFIX}/h1/icu3/Mon_7/obs",
        f"{PREFIX}/h1/icu3/obs",
        f"{PREFIX}/h1/icu3/a/b/obs",
        f"{PREFIX}/h1/icu3/{'a' * 300}/obs",
    ],
)
def test_a_topic_outside_the_tree_is_refused(topic: str) -> None:
    with pytest.raises(codec.DecodeError, match="topic"):
        decode(message(), topic)


def test_keys_the_schema_does_not_know_are_ignored() -> None:
    assert decode(message(firmware="1.2", obs=[{"code": 147842, "value": 1, "x": 2}]))


def test_encode_refuses_nan_so_an_emitter_sends_null() -> None:
    with pytest.raises(ValueError):
        codec.encode({"obs": [{"code": 1, "value": math.nan}]})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_an_observation_set_or_a_decode_error(raw: bytes) -> None:
    try:
        decoded = codec.decode(PREFIX, TOPIC, raw)
    except codec.DecodeError:
        return
    report_of(decoded, TOPIC, T0)


_KEYS = ["v", "device", "id", "time", "obs", "code", "value", "alarms", "waves", "rate",
         "samples", "start", "phase", "priority", "kind", "text", "seq"]  # fmt: skip
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(_KEYS), children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(_json)
def test_any_json_shaped_document_gives_an_observation_set_or_a_decode_error(doc: Any) -> None:
    try:
        raw = json.dumps(doc).encode()
    except ValueError:
        return
    try:
        decoded = codec.decode(PREFIX, TOPIC, raw)
    except codec.DecodeError:
        return
    report_of(decoded, TOPIC, T0)

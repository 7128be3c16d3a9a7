"""ER7 parsing: reference samples, delimiters, escapes, character sets, bad input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import all_samples, load_sample

from adapters.hl7 import er7
from gateway.errors import ParseError

MINIMAL = b"MSH|^~\\&|MON|WARD|||20240101120000||ORU^R01^ORU_R01|42|P|2.6\rPID|||7\r"


@pytest.mark.parametrize("name", all_samples())
def test_every_reference_sample_parses(name: str) -> None:
    message = er7.parse(load_sample(name))
    assert message.msh.name == "MSH"
    assert message.message_type[0] in {"ORU", "ACK", "RRG", "ORA"}


@pytest.mark.parametrize("separator", [b"\r", b"\n", b"\r\n"])
def test_cr_lf_and_crlf_segment_separators_give_the_same_segments(separator: bytes) -> None:
    message = er7.parse(MINIMAL.replace(b"\r", separator))
    assert [s.name for s in message.segments] == ["MSH", "PID"]
    assert message.first("PID") is not None
    assert message.all("PID")[0].get(3) == "7"


def test_msh_fields_are_numbered_as_in_the_standard() -> None:
    msh = er7.parse(MINIMAL).msh
    assert msh.get(1) == "|"
    assert msh.get(2) == "^~\\&"
    assert msh.get(3) == "MON"
    assert msh.get(9, 2) == "R01"
    assert msh.get(10) == "42"


def test_five_character_encoding_field_sets_the_truncation_character() -> None:
    message = er7.parse(load_sample("14"))
    assert message.delimiters.truncation == "#"
    assert message.message_type == ("ACK", "R40", "")
    assert message.first("MSA") is not None


def test_custom_delimiters_are_read_from_msh() -> None:
    message = er7.parse(b"MSH#*!@%#A*B######ORU*R01#1\rPID###x*y%z!w")
    pid = message.segments[1]
    assert pid.get(3, 1) == "x"
    assert pid.get(3, 2, 2) == "z"
    assert pid.get(3, repetition=1) == "w"


@pytest.mark.parametrize(
    ("escaped", "plain"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b", "a^b"),
        ("a\\T\\b", "a&b"),
        ("a\\R\\b", "a~b"),
        ("a\\E\\b", "a\\b"),
        ("line1\\.br\\line2", "line1\nline2"),
        ("\\X41\\", "A"),
        ("\\H\\bold\\N\\", "bold"),
        ("unknown \\Q\\ kept", "unknown \\Q\\ kept"),
        ("dangling \\", "dangling \\"),
    ],
)
def test_escape_sequences_are_resolved(escaped: str, plain: str) -> None:
    assert er7.unescape(escaped) == plain


def test_escaped_values_are_resolved_on_access_not_in_raw() -> None:
    obx = er7.parse(MINIMAL + b"OBX|1|ST|x||SpO2 \\S\\ low\\F\\probe").segments[2]
    assert obx.get(5) == "SpO2 ^ low|probe"
    assert obx.raw(5) == "SpO2 \\S\\ low\\F\\probe"


@given(st.text(max_size=40))
def test_escape_then_unescape_gives_the_text_back(text: str) -> None:
    text = text.replace("\r", "").replace("\n", "")
    assert er7.unescape(er7.escape(text)) == text


def test_latin1_message_is_decoded_by_its_msh18() -> None:
    data = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||8859/1\rOBX|1|ST|x||Temp \xb0C"
    message = er7.parse(data)
    assert message.segments[1].get(5) == "Temp °C"
    assert not message.decode_errors


def test_undecodable_bytes_are_replaced_and_flagged_not_fatal() -> None:
    data = b"MSH|^~\\&|A||||||ORU^R01|1|P|2.6||||||UNICODE UTF-8\rOBX|1|ST|x||bad \xff byte"
    message = er7.parse(data)
    assert message.decode_errors
    assert message.segments[1].get(5) == "bad \ufffd byte"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no MSH"),
        (b"PID|||1\r", "no MSH"),
        (b"garbage MSH|^~\\&|A||||||ORU^R01|1", "before the MSH"),
        (b"MSH|^~", "too short"),
        (b"MSH|^~|A|B", "4 or 5 encoding"),
        (b"MSH|^^\\&|A|B||||ORU^R01|1", "not distinct"),
        (b"MSH|^~\\&|A||||||", "MSH-9"),
        (b"MSH|^~\\&|A||||||ORU^R01|1\rP!D|x", "bad segment name"),
        (b"MSH|^~\\&|A||||||ORU^R01|1\rMSH|^~\\&|B", "second MSH"),
    ],
)
def test_unusable_bytes_raise_parse_error_naming_the_problem(data: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        er7.parse(data)


def test_to_er7_round_trips_a_reference_sample() -> None:
    data = load_sample("01")
    message = er7.parse(data)
    assert message.to_er7() == data.decode("latin-1").rstrip("\r")


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_any_bytes_give_a_message_or_a_parse_error(data: bytes) -> None:
    try:
        message = er7.parse(data)
    except ParseError:
        return
    assert message.msh.name == "MSH"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_after_a_valid_msh_give_a_message_or_a_parse_error(tail: bytes) -> None:
    try:
        message = er7.parse(MINIMAL + tail)
    except ParseError:
        return
    for segment in message.segments:
        for index in range(len(segment.fields) + 2):
            segment.get(index, 2, 2)
            segment.components(index)

"""HL7 v2 over RS-232: MLLP frames on a serial line → the same reports as over TCP, owned by
the port's device, and the ACK the sender asked for — built only once storage is known."""

from __future__ import annotations

import pytest
from samples import FIXTURES, load_sample
from serial_support import PORT, accepted, feed, rejected, reports, source

from adapters.hl7 import er7, pcd
from adapters.hl7.mllp import MllpFramer, frame
from adapters.serial import hl7
from adapters.serial.device import Accepted

NO_ACK = (
    b"MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|n1|P|2.6"
    b"|||NE|NE\rPID|||P1\rPV1||I|ICU^1^1\rOBR|1\r"
    b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.1.1.1|61|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
)


def decoder() -> hl7.Decoder:
    return hl7.Decoder(source())


def answers(data: bytes) -> list[tuple[str, str, str]]:
    """(MSH-9, MSA-1, MSA-2) of each framed ACK in ``data``."""
    out = []
    for item in MllpFramer().feed(data):
        assert isinstance(item, bytes)
        message = er7.parse(item)
        msa = message.first("MSA")
        assert msa is not None
        out.append((message.msh.get(9), msa.get(1), msa.get(2)))
    return out


def test_a_pcd01_message_gives_the_tcp_reports_owned_by_the_port() -> None:
    raw = load_sample("01")
    [item] = accepted(feed(decoder(), frame(raw), chunk=13))
    over_tcp = pcd.decode(er7.parse(raw), transport="serial", peer=PORT, receive_time_ns=0)
    [report] = item.reports
    assert report.device.key == f"serial:{PORT}"
    assert report.device.label == str(over_tcp[0].device)  # who the message said it was
    assert {o.device for o in report.observations} == {report.device}
    assert [(o.code, o.value, o.unit) for o in report.observations] == [
        (o.code, o.value, o.unit) for o in over_tcp[0].observations
    ]
    assert report.location == over_tcp[0].location  # routing by PV1-3 still works
    assert (report.transport, report.peer) == ("serial", PORT)
    assert item.control_id == "HP0122182658686QQ000CND119C0WS61"


def test_a_pcd04_alarm_is_owned_by_the_port_too() -> None:
    [report] = reports(feed(decoder(), frame(load_sample("03"))))
    assert report.alarms and {a.device.key for a in report.alarms} == {f"serial:{PORT}"}


def test_the_ack_is_what_the_sender_asked_for_after_storage_or_its_failure() -> None:
    [item] = accepted(feed(decoder(), frame(load_sample("01"))))  # MSH-15/16 = AL|NE
    assert item.answer is not None
    control_id = "HP0122182658686QQ000CND119C0WS61"
    assert [msa[1:] for msa in answers(item.answer(None))] == [("CA", control_id)]
    assert [msa[1:] for msa in answers(item.answer("disk full"))] == [("CE", control_id)]
    [original] = accepted(feed(decoder(), frame(load_sample("36"))))  # NE|AL: original mode
    assert original.answer is not None
    assert [msa[1:] for msa in answers(original.answer(None))] == [("AA", "B40-000123")]


def test_a_sender_asking_for_no_acknowledgement_gets_none() -> None:
    [item] = accepted(feed(decoder(), frame(NO_ACK)))
    assert item.answer is not None and item.answer(None) == b""


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not hl7 at all", "no MSH segment: not an HL7 v2 message"),
        (
            b"MSH|^~\\&|X|Y|||20240101||ADT^A01|c7|P|2.6\rPID|||1\r",
            "unsupported message type ADT^A01",
        ),
    ],
)
def test_a_frame_that_is_no_observation_report_is_rejected_with_a_nak(
    raw: bytes, reason: str
) -> None:
    out = feed(decoder(), frame(raw) + frame(NO_ACK))
    [bad] = rejected(out)
    assert bad.reason == reason
    assert bad.raw == raw
    assert [msa[1] for msa in answers(bad.answer)] == ["AR"]
    assert len(accepted(out)) == 1  # the line goes on


def test_the_tail_of_a_message_at_opening_is_discarded() -> None:
    hl7_decoder = decoder()
    framed = frame(NO_ACK)
    out = feed(hl7_decoder, framed[40:] + framed)
    assert rejected(out) == [] and len(accepted(out)) == 1
    assert hl7_decoder.discarded == len(framed) - 40


def test_an_oversize_frame_is_rejected_without_being_held() -> None:
    small = hl7.Decoder(source(), max_frame_bytes=1024)
    out = feed(small, b"\x0b" + b"x" * 5000 + b"\x1c\r" + frame(NO_ACK), chunk=500)
    [big] = rejected(out)
    assert big.reason == "frame of 5000 bytes exceeds the 1024-byte limit" and big.raw == b""
    assert [msa[1] for msa in answers(big.answer)] == ["AR"]
    assert [type(i) for i in out][-1] is Accepted


def _shifted_mindray() -> bytes:
    data = next((FIXTURES / "bad").glob("20_*.hl7")).read_bytes()
    while data.startswith(b"#"):
        data = data.split(b"\n", 1)[1]
    return data


def test_a_shifted_mindray_header_over_serial_is_accepted_with_a_fault_and_its_control_id() -> None:
    [item] = accepted(feed(decoder(), frame(_shifted_mindray())))
    assert item.control_id == "375"
    assert [p for p in item.problems if "shifted MSH" in p] == [f"message 375: {er7.SHIFTED_MSH}"]
    assert item.answer is not None
    assert answers(item.answer(None)) == [("ACK", "CA", "375")]


def test_a_serial_nak_names_the_real_control_id_never_the_message_type() -> None:
    broken = _shifted_mindray().replace(b"\rPID|", b"\rP!D|")  # unreadable after the header
    [item] = rejected(feed(decoder(), frame(broken)))
    assert item.control_id == "375"
    assert [msa for _, msa, _ in answers(item.answer)] == ["AR"]
    assert [cid for _, _, cid in answers(item.answer)] == ["375"]
    assert b"ORU\\S\\R01" not in item.answer

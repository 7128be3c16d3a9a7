"""Acknowledgements: every MSH-15/16 combination and outcome, MSA-2 echoing MSH-10, an ERR
saying what and where, strict output whatever the sender's delimiters."""

from __future__ import annotations

import pytest
from samples import load_sample

from adapters.hl7 import er7
from adapters.hl7.ack import AckError, Outcome, acknowledgements

ACCEPTED, ERROR, REJECTED = Outcome.ACCEPTED, Outcome.ERROR, Outcome.REJECTED


def message(accept: str, application: str, control_id: str = "C-17") -> er7.Message:
    return er7.parse(
        b"MSH|^~\\&|MON^0012211839000001^EUI-64|WARD|||20240101120000+0000||ORU^R01^ORU_R01|"
        + control_id.encode()
        + b"|P|2.6|||"
        + accept.encode()
        + b"|"
        + application.encode()
        + b"\rPID|||1\r"
    )


def codes(acks: list[bytes]) -> list[str]:
    out = []
    for ack in acks:
        msa = er7.parse(ack).first("MSA")
        assert msa is not None
        out.append(msa.get(1))
    return out


# (MSH-15, MSH-16) → codes sent when accepted, when storage failed, when rejected.
MODES = [
    ("", "", ["AA"], ["AE"], ["AR"]),
    ("AL", "NE", ["CA"], ["CE"], ["CR"]),
    ("NE", "AL", ["AA"], ["AE"], ["AR"]),
    ("AL", "AL", ["CA", "AA"], ["CE", "AE"], ["CR", "AR"]),
    ("ER", "NE", [], ["CE"], ["CR"]),
    ("SU", "NE", ["CA"], [], []),
    ("NE", "ER", [], ["AE"], ["AR"]),
    ("NE", "SU", ["AA"], [], []),
    ("AL", "ER", ["CA"], ["CE", "AE"], ["CR", "AR"]),
    ("ER", "SU", ["AA"], ["CE"], ["CR"]),
    ("NE", "NE", [], [], []),
    ("", "AL", ["CA", "AA"], ["CE", "AE"], ["CR", "AR"]),
]


@pytest.mark.parametrize(("accept", "application", "accepted", "failed", "rejected"), MODES)
def test_acknowledgement_mode_follows_msh15_and_msh16(
    accept: str, application: str, accepted: list[str], failed: list[str], rejected: list[str]
) -> None:
    msg = message(accept, application)
    error = AckError(207, "disk full")
    assert codes(acknowledgements(msg, ACCEPTED)) == accepted
    assert codes(acknowledgements(msg, ERROR, error=error)) == failed
    assert codes(acknowledgements(msg, REJECTED, error=error)) == rejected


@pytest.mark.parametrize(("accept", "application"), [(a, b) for a, b, *_ in MODES])
def test_a_keep_alive_gets_exactly_one_commit_ack_whatever_the_mode(
    accept: str, application: str
) -> None:
    msg = message(accept, application)
    assert codes(acknowledgements(msg, ACCEPTED, commit_only=True)) == ["CA"]
    assert codes(acknowledgements(msg, ERROR, commit_only=True)) == ["CE"]


def test_msa2_echoes_msh10_even_padded_or_with_delimiters() -> None:
    padded = er7.parse(load_sample("06"))  # MSH-10 " 1233532926265-02" (leading space)
    (ack,) = acknowledgements(padded, ACCEPTED)
    msa = er7.parse(ack).first("MSA")
    assert msa is not None and msa.get(2) == "1233532926265-02"
    (ack,) = acknowledgements(message("AL", "NE", control_id="A\\F\\1"), ACCEPTED)
    assert b"MSA|CA|A\\F\\1" in ack
    msa = er7.parse(ack).first("MSA")
    assert msa is not None and msa.get(2) == "A|1"


def test_the_ack_header_answers_the_sender() -> None:
    (ack,) = acknowledgements(
        er7.parse(load_sample("13")), ACCEPTED, sender="ICU-GW", facility="ICU", commit_only=True
    )
    parsed = er7.parse(ack)
    assert parsed.message_type == ("ACK", "R40", "ACK")  # what Dräger's watchdog expects
    msh = parsed.msh
    assert (msh.get(3), msh.get(4), msh.get(5), msh.get(6)) == (
        "ICU-GW",
        "ICU",
        "0000000000000001",
        "IHE_AR",
    )
    assert msh.get(5, 2) == "EUI-64"
    assert (msh.get(11), msh.get(12)) == ("D", "2.6")  # processing id and version echoed
    assert parsed.delimiters == er7.STANDARD
    assert msh.get(10)  # an ACK has its own control id


def test_acks_are_strict_er7_even_for_a_sender_with_other_delimiters() -> None:
    odd = er7.parse(b"MSH#*!@%#MON*X*EUI######ORU*R01#77#P#2.6###AL#NE\rPID###1")
    (ack,) = acknowledgements(odd, ACCEPTED)
    assert ack.startswith(b"MSH|^~\\&|")
    assert ack.endswith(b"\r")
    assert b"\n" not in ack
    assert er7.parse(ack).first("MSA") is not None
    assert b"MSA|CA|77" in ack


def test_a_negative_ack_says_what_and_where_in_err_and_msa3() -> None:
    error = AckError(102, "OBX-5 is not a number", "OBX", 5)
    (ack,) = acknowledgements(message("AL", "NE"), REJECTED, error=error)
    parsed = er7.parse(ack)
    msa, err = parsed.first("MSA"), parsed.first("ERR")
    assert msa is not None and err is not None
    assert (msa.get(1), msa.get(2), msa.get(3)) == ("CR", "C-17", "OBX-5 is not a number")
    assert (err.get(2, 1), err.get(2, 2), err.get(2, 3)) == ("OBX", "1", "5")  # ERR-2 (ERL)
    assert (err.get(3, 1), err.get(3, 2), err.get(3, 3)) == ("102", "Data type error", "HL70357")
    assert err.get(4) == "E"
    assert err.get(8) == "OBX-5 is not a number"


def test_text_with_delimiters_is_escaped_in_the_err() -> None:
    error = AckError(100, "bad segment name 'P|D^'", "")
    (ack,) = acknowledgements(message("", ""), REJECTED, error=error)
    err = er7.parse(ack).first("ERR")
    assert err is not None and err.get(8) == "bad segment name 'P|D^'"


def test_bytes_that_are_no_message_get_an_original_mode_reject_echoing_a_salvaged_id() -> None:
    (ack,) = acknowledgements(None, REJECTED, error=AckError(100, "no MSH"), control_id="X9")
    parsed = er7.parse(ack)
    msa = parsed.first("MSA")
    assert msa is not None and (msa.get(1), msa.get(2)) == ("AR", "X9")
    assert parsed.first("ERR") is not None


def test_a_positive_ack_has_no_err() -> None:
    (ack,) = acknowledgements(message("AL", "NE"), ACCEPTED)
    assert er7.parse(ack).first("ERR") is None
    assert b"MSA|CA|C-17\r" in ack

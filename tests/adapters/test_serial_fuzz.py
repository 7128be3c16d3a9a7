"""Any bytes, in any pieces, into every serial decoder: records or rejections, never an
exception; never a number that is not a valid measurement; memory held stays bounded.
And the parsers under them: a record or the project's ParseError, nothing else."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serial_support import feed, ivy_capture, sample_text, source

from adapters.hl7.mllp import frame
from adapters.serial import ge_s5_wire, hl7, ivy, masimo, medibus_wire, nonin
from adapters.serial.device import Accepted, Decoded, Rejected, SerialDecoder
from adapters.serial.registry import PROTOCOLS
from gateway.domain import ObservationStatus
from gateway.errors import ParseError
from simulators import ge_s5_format as ge
from simulators import medibus_format as mb

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HELD_AT_MOST = {
    "masimo": masimo.MAX_LINE_BYTES,
    "nonin": nonin.FRAME_BYTES * nonin.FRAMES_PER_PACKET + 2 * nonin.MAX_REJECT_BYTES,
    "ivy": ivy.MAX_FRAME_BYTES + ivy.MAX_REJECT_BYTES,
    "hl7": 1 << 20,
    "ge-s5": ge_s5_wire.MAX_FRAME_BYTES + 1,
    "medibus": medibus_wire.MAX_RESPONSE_BYTES + medibus_wire.MAX_COMMAND_BYTES,
}
NONIN_PACKET = b"".join(
    bytes((1, s, 100, d, (1 + s + 100 + d) % 256))
    for s, d in [(0x81, 0), (0x80, 72), (0x80, 97)] + [(0x80, 0)] * 22
)
GOOD = {
    "masimo": sample_text("S01"),
    "nonin": NONIN_PACKET * 3,
    "ivy": ivy_capture()[:3000],
    "hl7": frame(
        b"MSH|^~\\&|MON|W|||20240101120000||ORU^R01|m1|P|2.6|||AL|NE\rPV1||I|ICU^1^1\rOBR|1\r"
        b"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R\r"
    ),
    # Made by the simulators' own encoders (simulators/ge_s5_format.py, medibus_format.py).
    "ge-s5": ge.frame(ge.record(1, [(8, struct.pack("<hHH3h", 3, 0, 0, 100, -5, 0x7E7D))])),
    "medibus": mb.measured_data([(0x78, 5.0), (0x7D, 21.5)]) + mb.command(0x30),
}
chunks = st.lists(st.binary(max_size=800), max_size=12)


def decoder(kind: str) -> SerialDecoder:
    return PROTOCOLS[kind].decoder(source())


def check(kind: str, dec: SerialDecoder, items: list[Decoded]) -> None:
    """What must hold of any output, whatever the input."""
    assert dec.pending <= HELD_AT_MOST[kind]
    for item in items:
        assert isinstance(item, Accepted | Rejected)
        if isinstance(item, Rejected):
            assert item.reason
            assert len(item.raw) <= HELD_AT_MOST[kind] + 1
            continue
        for report in item.reports:
            assert report.transport == "serial" and report.device.key == "serial:/dev/ttyUSB0"
            if kind == "hl7":
                continue  # values and alarms as HL7 says them (the PCD decoder's tests)
            for obs in report.observations:
                assert obs.status is not ObservationStatus.QUESTIONABLE
                if obs.status is ObservationStatus.VALID:
                    assert isinstance(obs.value, float) and math.isfinite(obs.value)
                else:
                    assert isinstance(obs.value, str)  # never a number
            assert all(a.phase in ("present", "end") for a in report.alarms)


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
@given(pieces=chunks)
@FUZZ
def test_any_bytes_give_records_or_rejections(kind: str, pieces: list[bytes]) -> None:
    dec = decoder(kind)
    for piece in pieces:
        check(kind, dec, dec.feed(piece, 1))


@pytest.mark.parametrize("kind", sorted(PROTOCOLS))
@given(data=st.data())
@FUZZ
def test_a_good_stream_damaged_anywhere_never_stops_the_decoder(
    kind: str, data: st.DataObject
) -> None:
    stream = bytearray(GOOD[kind])
    for _ in range(data.draw(st.integers(0, 6))):
        at = data.draw(st.integers(0, len(stream)))
        action = data.draw(st.sampled_from(("insert", "delete", "flip")))
        if action == "insert":
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=20))
        elif at < len(stream):
            if action == "delete":
                del stream[at : at + data.draw(st.integers(1, 20))]
            else:
                stream[at] ^= 1 << data.draw(st.integers(0, 7))
    chunk = data.draw(st.integers(1, 600))
    dec = decoder(kind)
    check(kind, dec, feed(dec, bytes(stream), chunk=chunk))
    # ... and whatever it went through, a good record afterwards is read.
    dec.restart()
    assert any(isinstance(i, Accepted) for i in feed(dec, GOOD[kind] + GOOD[kind]))


@given(st.binary(max_size=600))
@FUZZ
def test_a_masimo_line_is_read_or_refused_with_a_parse_error(line: bytes) -> None:
    try:
        decoded = masimo.Decoder(source()).decode(line, 1)
    except ParseError as exc:
        assert str(exc)  # says what was wrong
        return
    [report] = decoded.reports
    assert report.observations  # a Masimo line has at least one of SPO2, BPM, PI


@given(st.binary(max_size=1200))
@FUZZ
def test_an_ansar_b_frame_is_read_or_refused_with_a_parse_error(body: bytes) -> None:
    try:
        decoded = ivy.Decoder(source()).decode(ivy.HEADER + body + b"\xfe", 1)
    except ParseError as exc:
        assert str(exc)
        return
    assert len(decoded.reports) == 1


@given(st.text(alphabet=st.sampled_from("HRSPO2NIB=;0123456789.-\r ABC"), max_size=200))
@FUZZ
def test_ansar_b_parameter_lines_are_read_or_refused_with_a_parse_error(text: str) -> None:
    try:
        lines = ivy.parse_parameters(text.encode())
    except ParseError:
        return
    assert all(line.name and line.name.isupper() for line in lines)


@given(pieces=chunks)
@FUZZ
def test_hl7_answers_are_always_bytes(pieces: list[bytes]) -> None:
    dec = hl7.Decoder(source())
    for piece in pieces:
        for item in dec.feed(b"\x0b" + piece + b"\x1c\r", 1):
            answer = item.answer(None) if isinstance(item, Accepted) and item.answer else b""
            assert isinstance(answer, bytes)

"""Bad input never stops the gateway: any bytes give events or a ParseError, in bounded
memory; every bad input found so far (tests/fixtures/bad/) is replayed."""

from __future__ import annotations

import asyncio
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from samples import FIXTURES, all_samples, bad_input, load_sample

from adapters.hl7 import er7, pcd, validate
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer, OversizeFrame
from gateway.clock import ManualClock
from gateway.errors import ParseError
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState

BAD = FIXTURES / "bad"


def bad_files(prefix: str = "") -> list[str]:
    names = sorted(p.name for p in BAD.glob("*.hl7"))
    return (
        [n for n in names if n.startswith(prefix)]
        if prefix
        else [n for n in names if not n.startswith("stream_")]
    )


def msa_codes(acks: list[bytes]) -> list[str]:
    codes = []
    for ack in acks:
        msa = er7.parse(ack).first("MSA")
        assert msa is not None
        codes.append(msa.get(1))
    return codes


@pytest.fixture
def hub() -> Hub:
    return Hub(WardState(), Router(), ManualClock())


@pytest.mark.parametrize("name", bad_files())
async def test_every_bad_frame_found_is_answered_as_expected(name: str, hub: Hub) -> None:
    expect, data = bad_input(BAD / name)
    verdict, _, detail = expect.partition(" ")
    listener = MllpListener(hub, clock=hub.clock)
    acks = await listener.handle(data, "10.0.0.9:4000")
    codes = msa_codes(acks)
    if verdict == "reject":
        assert codes in (["AR"], ["CR"]), codes
        err = er7.parse(acks[0]).first("ERR")
        assert err is not None and detail in err.get(8)
    else:
        assert verdict == "accept", expect
        assert codes and codes[0] in ("CA", "AA"), codes
        if detail.startswith("fault "):
            assert any(detail.removeprefix("fault ") in f.text for f in hub.faults)


@pytest.mark.parametrize("name", bad_files("stream_"))
async def test_every_bad_stream_found_is_answered_frame_by_frame(name: str, hub: Hub) -> None:
    expect, data = bad_input(BAD / name)
    wanted = expect.removeprefix("stream ").split(",")
    async with MllpListener(hub, host="127.0.0.1", port=0, max_frame_bytes=4096) as listener:
        reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        writer.write(data)
        await writer.drain()
        framer, got = MllpFramer(), list[bytes]()
        while len(got) < len(wanted):
            chunk = await asyncio.wait_for(reader.read(65536), 5)
            assert chunk, "the listener closed the connection"
            got += [i for i in framer.feed(chunk) if isinstance(i, bytes)]
        assert msa_codes(got) == wanted
        writer.close()
        await writer.wait_closed()


def test_the_waveform_sample_beyond_float32_is_a_gap() -> None:
    _, data = bad_input(BAD / "08_waveform_sample_beyond_float32.hl7")
    (report,) = pcd.decode(er7.parse(data), transport="t", peer="p", receive_time_ns=1)
    (wave,) = report.waveforms
    assert [str(v) for v in wave.samples] == ["1.0", "nan", "nan", "2.0"]


def test_the_none_priority_facet_gives_priority_none() -> None:
    _, data = bad_input(BAD / "09_priority_none_facet.hl7")
    (report,) = pcd.decode(er7.parse(data), transport="t", peer="p", receive_time_ns=1)
    assert report.alarms[0].priority == 0


def test_impossible_times_fall_back_to_the_receive_time() -> None:
    _, data = bad_input(BAD / "12_impossible_times.hl7")
    (report,) = pcd.decode(er7.parse(data), transport="t", peer="p", receive_time_ns=7)
    assert [o.device_time_ns for o in report.observations] == [7, 7]


# ---- properties ---------------------------------------------------------------------------------

SAMPLES = [load_sample(name) for name in all_samples()]
SPECIAL = b"|^~\\&\r\n\x0b\x1c#0123456789.-+ MSHOBXPV1NA"


@st.composite
def mutated_sample(draw: st.DrawFn) -> bytes:
    """A reference sample with a few bytes changed, inserted, deleted or cut: close enough
    to HL7 to reach the decoders, wrong enough to find their edges."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        kind = draw(st.integers(0, 4))
        byte = draw(st.sampled_from(list(SPECIAL)) | st.integers(0, 255))
        if kind == 0:
            data[at] = byte
        elif kind == 1:
            data.insert(at, byte)
        elif kind == 2:
            del data[at]
        elif kind == 3:
            del data[at:]
        else:
            data[at:at] = data[draw(st.integers(0, len(data) - 1)) :][:40]
    return bytes(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sample())
def test_mutated_samples_give_reports_or_a_parse_error(data: bytes) -> None:
    try:
        message = er7.parse(data)
        pcd.require_observation_report(message)
        decoded = pcd.decode_message(message, transport="t", peer="p", receive_time_ns=1)
    except ParseError:
        return
    for report in decoded.reports:
        for obs in report.observations:
            assert isinstance(obs.value, float | str)
        for wave in report.waveforms:
            assert wave.sample_rate_hz > 0 and wave.samples.ndim == 1
        for alarm in report.alarms:
            assert alarm.text or alarm.code or alarm.source_code


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sample() | st.binary(max_size=300))
async def test_any_frame_gets_strict_acknowledgements_and_never_an_exception(data: bytes) -> None:
    hub = Hub(WardState(), Router(), ManualClock())
    acks = await MllpListener(hub, clock=hub.clock).handle(data, "10.0.0.9:4000")
    for ack in acks:
        assert ack.startswith(b"MSH|^~\\&|") and ack.endswith(b"\r")
        assert er7.parse(ack).first("MSA") is not None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_sample() | st.binary(max_size=300))
def test_validate_reports_on_any_capture_without_failing(data: bytes) -> None:
    try:
        report = validate.validate_bytes(data)
    except validate.UnreadableCapture:
        return
    assert validate.render(report)


def _peak_bytes(work: object) -> int:
    tracemalloc.start()
    try:
        assert callable(work)
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


HEADER = b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101||ORU^R01|1|P|2.6\rOBR|1\r"
PATHOLOGICAL = {
    "a million field separators": HEADER + b"OBX" + b"|" * 1_000_000,
    "a million components": HEADER + b"OBX|1|ST|x|1|" + b"^" * 1_000_000,
    "a million escapes": HEADER + b"OBX|1|ST|x|1|" + b"\\F\\" * 330_000,
    "twenty-four thousand rows": HEADER + b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1|7\r" * 24_000,
    "thousands of waveforms and rate rows": HEADER
    + b"".join(
        b"OBX|1|NA|150452^^MDC|1.%d|1^2|\rOBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|9.%d.1|1\r" % (i, i)
        for i in range(12_000)
    ),
    "thousands of stray alarm facets": HEADER.replace(b"R01", b"R40")
    + b"OBX|1|ST|196648^MDC_EVT_HI^MDC|1.1|x\r" * 8_000
    + b"OBX|2|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|9.%d|start\r" * 8_000,
    "a million-sample waveform": HEADER
    + b"OBX|1|NA|150452^^MDC|1|"
    + b"^".join([b"1"] * 400_000)
    + b"\rOBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1|125\r",
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_messages_decode_in_bounded_memory(name: str) -> None:
    data = PATHOLOGICAL[name]
    assert len(data) <= 1 << 20  # what one frame can carry (the listener's default cap)

    def work() -> None:
        message = er7.parse(data)
        pcd.decode_message(message, transport="t", peer="p", receive_time_ns=1)

    # Fields are Python strings and records objects: tens of bytes for each byte sent at
    # worst; quadratic growth (or a runaway loop) would blow far past this.
    assert _peak_bytes(work) < 80 * len(data) + (8 << 20)


def test_a_flood_of_garbage_keeps_the_framer_within_its_cap() -> None:
    framer = MllpFramer(max_frame_bytes=4096)
    chunk = b"\x0b" + b"x" * 65_536  # frames that never end, each abandoned by the next
    for _ in range(200):
        for item in framer.feed(chunk):
            assert isinstance(item, OversizeFrame)
        assert framer.pending <= 4096

"""The MEDIBUS decoder and its conversation: the checksum against the protocol's published
corrupt-command response, the message splitter (realtime bytes, flow control, a command
inside a response, CAN), measured data / alarms / settings / text messages / device id
built here byte by byte, the replies the ventilator's own commands get, and the timers:
ICC at opening, one request at a time in cycles, NOP when idle, time-out and ICC again,
STOP at the end."""

from __future__ import annotations

import pytest
from serial_support import accepted, feed, rejected, reports, source

from adapters.serial import medibus
from adapters.serial import medibus_wire as wire
from adapters.serial.device import Outgoing
from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority, DeviceReport, ObservationStatus
from gateway.errors import ParseError

S = NS_PER_S
MS = NS_PER_S // 1000


def message(lead: int, code: int, data: bytes = b"") -> bytes:
    """A message built by hand: lead, code, data, the sum as two upper-case hex digits, CR."""
    body = bytes((lead, code)) + data
    return body + f"{sum(body) & 0xFF:02X}".encode() + b"\r"


def response(code: int, data: bytes = b"") -> bytes:
    return message(0x01, code, data)


def command(code: int, data: bytes = b"") -> bytes:
    return message(0x1B, code, data)


def sent(sends: tuple[Outgoing, ...]) -> list[str]:
    return [o.command for o in sends]


def test_the_checksum_gives_the_published_corrupt_command_response() -> None:
    assert wire.response(wire.CORRUPT) == bytes.fromhex("01 15 31 36 0d")
    assert wire.command(wire.ICC) == b"\x1bQ6C\r"  # 1B + 51 = 6C
    assert wire.command(wire.NOP) == command(0x30)
    assert wire.parse(b"\x1bQ6C\r") == wire.Message(True, 0x51, b"")


@pytest.mark.parametrize(
    ("raw", "why"),
    [(b"\x1bQ6D\r", "checksum 6D"), (b"\x1bQ6c\r", "upper-case"), (b"\x1bQ\r", "not a MEDIBUS")],
)
def test_a_bad_message_is_a_parse_error(raw: bytes, why: str) -> None:
    with pytest.raises(ParseError, match=why):
        wire.parse(raw)


def test_the_splitter_drops_realtime_bytes_and_flow_control_and_takes_a_nested_command() -> None:
    splitter = wire.MessageSplitter()
    head = response(0x24, b"78 5.0")[:5]
    rest = response(0x24, b"78 5.0")[5:]
    stream = b"tail\r" + head + b"\x11\x93\xd1" + command(0x30) + rest + b"\x13"
    out = splitter.feed(stream)
    assert out == [command(0x30), response(0x24, b"78 5.0")]
    assert splitter.discarded == len(b"tail\r") + 4  # the joined tail, DC1, 2 realtime, DC3
    assert splitter.pending == 0


def test_a_response_cut_by_can_or_a_new_response_is_returned_as_it_stood() -> None:
    splitter = wire.MessageSplitter()
    out = splitter.feed(b"\x01\x2478 5.\x18" + b"\x01\x2478" + response(0x30))
    assert out == [b"\x01\x2478 5.\x18", b"\x01\x2478", response(0x30)]
    for cut in out[:2]:
        assert isinstance(cut, bytes)
        with pytest.raises(ParseError):
            wire.parse(cut)


def test_a_run_longer_than_any_response_is_cut_and_memory_stays_bounded() -> None:
    splitter = wire.MessageSplitter()
    out = splitter.feed(b"\x01\x24" + b"7" * 10_000)
    assert len(out) == 1 and isinstance(out[0], wire.Oversize)
    assert len(out[0].head) == wire.MAX_RESPONSE_BYTES
    assert splitter.pending == 0
    assert splitter.feed(b"\r" + response(0x30)) == [response(0x30)]


def up(decoder: medibus.Decoder) -> medibus.Decoder:
    decoder.opening(0)
    feed(decoder, response(0x51))
    decoder.due(0)
    return decoder


def one_report(decoder: medibus.Decoder, data: bytes) -> DeviceReport:
    [report] = reports(feed(decoder, data))
    return report


def test_measured_data_become_ventilation_values_with_their_mdc_codes() -> None:
    data = b"7D21.5" + b"78 5.0" + b"88 450" + b"B8 6.3" + b"D6  14" + b"F0  40" + b"E6  38"
    report = one_report(up(medibus.Decoder(source())), response(0x24, data + b"73 9.5"))
    got = {o.label: (o.code, o.value, o.unit) for o in report.observations}
    assert got == {
        "Ppeak": (151817, 21.5, "mbar"),
        "PEEP": (151976, 5.0, "mbar"),
        "VT": (151868, 450.0, "mL"),
        "MV": (151880, 6.3, "L/min"),
        "RR (vent)": (151586, 14.0, "/min"),
        "FiO2": (152196, 40.0, "%"),
        "EtCO2": (151708, 38.0, "mmHg"),
        "Pmean": (0, 9.5, "mbar"),
    }
    [pmean] = [o for o in report.observations if o.label == "Pmean"]
    assert pmean.source_code == "MEDIBUS-CP1:73"  # Dräger's code kept
    unknown = one_report(medibus.Decoder(source()), response(0x24, b"C2  12"))
    [obs] = unknown.observations
    assert (obs.code, obs.source_code, obs.value) == (0, "MEDIBUS-CP1:C2", 12.0)


def test_a_value_that_is_not_a_number_is_invalid_and_one_no_longer_sent_too() -> None:
    decoder = up(medibus.Decoder(source()))
    first = one_report(decoder, response(0x24, b"78 5.0E6----"))
    got = {o.label: (o.status, o.value) for o in first.observations}
    assert got["PEEP"] == (ObservationStatus.VALID, 5.0)
    assert got["EtCO2"] == (ObservationStatus.INVALID, "----")
    second = one_report(decoder, response(0x24, b"E6  37"))
    gone = {o.label: (o.status, o.value, o.reason) for o in second.observations}
    assert gone["PEEP"] == (
        ObservationStatus.INVALID, "GONE", "the ventilator no longer sends this value"
    )  # fmt: skip


def test_alarms_are_device_alarms_with_their_priority_and_phrase_that_end_when_unlisted() -> None:
    decoder = up(medibus.Decoder(source()))
    listed = b"\x4f" + b"2BAPNEA       " + b"\x3c" + b"0APEEP HIGH   " + b"\x33" + b"41O2 SENSOR   "
    alarms = one_report(decoder, response(0x27, listed)).alarms
    assert [(a.text, a.priority, a.phase, a.source_code) for a in alarms] == [
        ("APNEA", AlarmPriority.HIGH, "present", "MEDIBUS-ALARM-CP1:2B:P31"),
        ("PEEP HIGH", AlarmPriority.MEDIUM, "present", "MEDIBUS-ALARM-CP1:0A:P12"),
        ("O2 SENSOR", AlarmPriority.LOW, "present", "MEDIBUS-ALARM-CP1:41:P3"),
    ]
    ended = one_report(decoder, response(0x27, b"\x4f2BAPNEA       ")).alarms
    assert [(a.text, a.phase) for a in ended] == [
        ("APNEA", "present"), ("PEEP HIGH", "end"), ("O2 SENSOR", "end")
    ]  # fmt: skip


def test_settings_and_text_messages_are_kept_as_read_only_information() -> None:
    decoder = up(medibus.Decoder(source()))
    settings = one_report(decoder, response(0x29, b"01   40" + b"0B  5.0"))
    assert [(o.code, o.label, o.value, o.source_code) for o in settings.observations] == [
        (0, "FiO2 set", 40.0, "MEDIBUS-SET:01"),
        (0, "PEEP set", 5.0, "MEDIBUS-SET:0B"),
    ]
    texts = one_report(decoder, response(0x2A, b"01" + b"\x34IPPV\x03"))
    assert [(o.code, o.value, o.source_code) for o in texts.observations] == [
        (0, "IPPV", "MEDIBUS-TXT:01")
    ]


def test_the_device_id_names_the_ventilator() -> None:
    decoder = up(medibus.Decoder(source()))
    feed(decoder, response(0x52, b"0181'Evita 4'04.20:04.03"))
    report = one_report(decoder, response(0x24, b"78 5.0"))
    assert report.device.label == "Dräger Evita 4"
    assert report.device.key == source().device.key  # what [[serial]] bed binds


@pytest.mark.parametrize(
    ("asked", "reply", "name"),
    [
        (command(0x51), response(0x51), "reply echo"),
        (command(0x30), response(0x30), "reply echo"),
        (command(0x55), response(0x55), "reply echo"),
        (command(0x24), response(0x24), "reply echo"),  # no data of ours to give
        (command(0x52), response(0x52, medibus.GATEWAY_ID), "reply device id"),
        (command(0x4A, b"24"), response(0x15), "reply NAK"),  # never configured by it
        (b"\x1bQ00\r", response(0x15), "reply NAK"),  # a corrupt command
    ],
)
def test_the_ventilators_own_commands_get_their_protocol_reply(
    asked: bytes, reply: bytes, name: str
) -> None:
    [item] = feed(medibus.Decoder(source()), asked)
    assert item.reply is not None
    assert (item.reply.command, item.reply.data) == (name, reply)
    assert item.reply.command in medibus.PROTOCOL.sends


def test_the_link_is_up_on_the_ventilators_icc_or_its_answer_to_ours() -> None:
    decoder = medibus.Decoder(source())
    assert sent(decoder.opening(0).sends) == ["ICC"] and not decoder.up
    feed(decoder, command(0x51))
    assert decoder.up
    other = medibus.Decoder(source())
    other.opening(0)
    feed(other, response(0x51))
    assert other.up
    feed(other, command(0x55))  # the ventilator stops the link
    assert not other.up


def test_requests_go_one_at_a_time_in_cycles_with_nop_when_idle() -> None:
    decoder = medibus.Decoder(source())
    decoder.opening(0)
    assert decoder.next_due_ns() == 3 * S  # ICC again if unanswered
    feed(decoder, response(0x51))
    order = []
    now = 10 * MS
    answers = {
        0x52: b"0181'Evita 4'04.20", 0x24: b"78 5.0", 0x27: b"", 0x29: b"", 0x2A: b"",
    }  # fmt: skip
    for _ in range(5):
        [request] = decoder.due(now).sends
        order.append(request.command)
        assert decoder.due(now).sends == ()  # one outstanding request at a time
        feed(decoder, response(request.data[1], answers[request.data[1]]))
        now += 10 * MS
    assert order == [
        "request device id", "request measured data CP1", "request alarms CP1",
        "request device settings", "request text messages",
    ]  # fmt: skip
    # The cycle is done: the next starts a second after the first began.
    assert decoder.due(now).sends == ()
    assert decoder.next_due_ns() == 20 * MS + S
    [again] = decoder.due(20 * MS + S).sends
    assert again.command == "request measured data CP1"
    feed(decoder, response(0x24, b"78 5.0"))
    # An unanswered request: after 1.5 s without sending, a NOP keeps the link.
    [request] = decoder.due(20 * MS + S + 1).sends
    assert decoder.due(20 * MS + S + 1 + 1499 * MS).sends == ()
    feed(decoder, response(0x30))  # the ventilator still talks
    [nop] = decoder.due(20 * MS + S + 1 + 1500 * MS).sends
    assert nop.command == "NOP" and nop.data == b"\x1b0" + b"4B\r"


def test_a_silent_ventilator_times_out_after_3_s_and_icc_starts_the_link_again() -> None:
    decoder = up(medibus.Decoder(source()))
    decoder.due(100 * MS)
    assert decoder.next_due_ns() is not None
    turn = decoder.due(3 * S - 1)
    assert "ICC" not in sent(turn.sends)
    turn = decoder.due(3 * S)
    assert sent(turn.sends) == ["ICC"] and not decoder.up
    assert turn.problems == (
        "the ventilator said nothing for 3 s: communication initialised again (ICC)",
    )
    assert decoder.due(5 * S).sends == ()  # ICC again only 3 s later, and no new fault
    turn = decoder.due(6 * S)
    assert sent(turn.sends) == ["ICC"] and turn.problems == ()
    feed(decoder, response(0x51))
    decoder.due(6 * S + MS)
    assert decoder.up


def test_it_sends_stop_when_the_gateway_stops() -> None:
    [stop] = medibus.Decoder(source()).closing().sends
    assert (stop.command, stop.data) == ("STOP", wire.command(0x55))


def test_what_it_can_send_is_listed_and_is_only_requests_and_protocol_replies() -> None:
    assert medibus.PROTOCOL.sends == {
        "ICC", "NOP", "STOP", "request device id", "request measured data CP1",
        "request alarms CP1", "request device settings", "request text messages",
        "reply echo", "reply device id", "reply NAK",
    }  # fmt: skip
    assert not medibus.PROTOCOL.answers


def test_a_corrupt_response_is_rejected_and_reading_goes_on() -> None:
    decoder = up(medibus.Decoder(source()))
    bad = response(0x24, b"78 5.0")[:-3] + b"00\r"
    items = feed(decoder, bad + response(0x24, b"78 6.0"), chunk=3)
    assert "checksum" in rejected(items)[0].reason
    [report] = [r for a in accepted(items) for r in a.reports]
    assert [o.value for o in report.observations] == [6.0]

"""Masimo ASCII 1 lines → SpO2, pulse rate, PI, and the EXC/ALARM words as device alarms."""

from __future__ import annotations

import re

import pytest
from serial_support import (
    PORT,
    accepted,
    feed,
    rejected,
    reports,
    sample_comments,
    sample_text,
    source,
    values,
)

from adapters.serial import masimo
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, ObservationStatus

VALID, INVALID = ObservationStatus.VALID, ObservationStatus.INVALID
LINE = (
    "02/22/16 22:47:45 SN=0000056661 SPO2={spo2}% BPM={bpm} PI={pi}% SPCO=--.-% SPMET=--.-%"
    " DESAT=-- PIDELTA=+-- ALARM={alarm} EXC={exc}\r\n"
)


def line(
    spo2: str = "097", bpm: str = "072", pi: str = "02.10", alarm: str = "0000", exc: str = "000800"
) -> bytes:
    return LINE.format(spo2=spo2, bpm=bpm, pi=pi, alarm=alarm, exc=exc).encode()


def decoder() -> masimo.Decoder:
    return masimo.Decoder(source())


def test_the_rad8_sample_gives_spo2_pulse_rate_and_pi_in_their_units() -> None:
    found = reports(feed(decoder(), sample_text("S01")))
    assert [values(r)["SpO2"] for r in found] == [98.0] * 5
    assert [values(r)["PR"] for r in found] == [97.0, 96.0, 96.0, 96.0, 97.0]
    assert [values(r)["PI"] for r in found] == [3.60, 3.95, 4.25, 3.19, 2.41]
    first = found[0]
    by_label = {o.label: o for o in first.observations}
    assert (by_label["SpO2"].code, by_label["SpO2"].unit) == (150456, "%")
    assert (by_label["PR"].code, by_label["PR"].unit) == (149530, "/min")
    assert (by_label["PI"].code, by_label["PI"].unit) == (150448, "%")
    assert all(by_label[k].status is VALID for k in ("SpO2", "PR", "PI"))
    assert first.device.key == f"serial:{PORT}" and first.device.label == "Masimo SN 0000056661"
    assert (first.transport, first.peer) == ("serial", PORT)
    assert all(r.alarms == () for r in found)  # EXC 000800 is "SET" mode: a setting


def test_dashes_are_invalid_values_never_numbers() -> None:
    [report] = reports(feed(decoder(), sample_text("S01").split(b"\n\n")[0] + b"\r\n"))
    dashed = {o.label: o for o in report.observations if o.label not in ("SpO2", "PR", "PI")}
    assert {k: (o.value, o.status) for k, o in dashed.items()} == {
        "SpCO": ("--.-", INVALID),
        "SpMet": ("--.-", INVALID),
        "Desat": ("--", INVALID),
        "PI delta": ("+--", INVALID),
    }
    assert {o.source_code for o in dashed.values()} == {
        "MASIMO:SPCO", "MASIMO:SPMET", "MASIMO:DESAT", "MASIMO:PIDELTA"
    }  # fmt: skip
    assert all(o.code == 0 for o in dashed.values())  # no MDC code assumed


def test_sensor_off_voids_the_values_raises_an_alarm_and_its_clearing_ends_it() -> None:
    masimo_decoder = decoder()
    [off] = reports(feed(masimo_decoder, line(spo2="---", bpm="---", pi="--.--", exc="000820")))
    assert {o.label: (o.value, o.status) for o in off.observations if o.code} == {
        "SpO2": ("---", INVALID),
        "PR": ("---", INVALID),
        "PI": ("--.--", INVALID),
    }
    [alarm] = off.alarms
    assert (alarm.alarm_id, alarm.text, alarm.phase, alarm.state) == (
        "sensor-off", "SpO2 SENSOR OFF", "present", "active"
    )  # fmt: skip
    assert (alarm.priority, alarm.kind, alarm.source) == (
        AlarmPriority.MEDIUM, AlarmKind.TECHNICAL, AlarmSource.DEVICE
    )  # fmt: skip
    assert (alarm.code, alarm.source_code, alarm.parameter_code) == (
        196916, "MASIMO-EXC:0x020", 150456
    )  # fmt: skip
    [still] = reports(feed(masimo_decoder, line(spo2="097", exc="000820")))
    assert values(still)["SpO2"] == "097"  # a number sent while the sensor is off: not one
    assert [a.phase for a in still.alarms] == ["present"]
    [back] = reports(feed(masimo_decoder, line()))
    assert values(back)["SpO2"] == 97.0
    assert [(a.alarm_id, a.phase, a.state) for a in back.alarms] == [
        ("sensor-off", "end", "inactive")
    ]
    [after] = reports(feed(masimo_decoder, line()))
    assert after.alarms == ()


@pytest.mark.parametrize(
    ("bit", "name", "text", "priority", "voids"),
    [
        (0x001, "no-sensor", "SpO2 NO SENSOR", AlarmPriority.MEDIUM, True),
        (0x020, "sensor-off", "SpO2 SENSOR OFF", AlarmPriority.MEDIUM, True),
        (0x008, "pulse-search", "SpO2 PULSE SEARCH", AlarmPriority.LOW, False),
        (0x004, "low-perfusion", "SpO2 LOW PERFUSION", AlarmPriority.LOW, False),
        (0x400, "low-signal-iq", "SpO2 LOW SIGNAL IQ", AlarmPriority.LOW, False),
    ],
)
def test_each_published_exc_bit_is_its_own_alarm(
    bit: int, name: str, text: str, priority: AlarmPriority, voids: bool
) -> None:
    [report] = reports(feed(decoder(), line(exc=f"{0x800 | bit:06X}")))
    assert [(a.alarm_id, a.text, a.priority) for a in report.alarms] == [(name, text, priority)]
    spo2 = next(o for o in report.observations if o.label == "SpO2")
    assert spo2.status is (INVALID if voids else VALID)


def test_an_exc_bit_without_a_published_meaning_is_a_fault_once_and_no_alarm() -> None:
    masimo_decoder = decoder()
    [first] = accepted(feed(masimo_decoder, line(exc="000810")))
    assert first.problems == (
        "EXC bit 0x10 set: its meaning is not published, it is not shown as an alarm",
    )
    assert first.reports[0].alarms == ()
    [again] = accepted(feed(masimo_decoder, line(exc="000810")))
    assert again.problems == ()


def test_a_nonzero_alarm_word_is_a_device_alarm_until_it_returns_to_zero() -> None:
    masimo_decoder = decoder()
    [alarming] = reports(feed(masimo_decoder, line(spo2="084", alarm="0010")))
    [alarm] = alarming.alarms
    assert (alarm.text, alarm.priority, alarm.kind, alarm.phase) == (
        "MASIMO ALARM 0010 (see the device)",
        AlarmPriority.MEDIUM,
        AlarmKind.PHYSIOLOGICAL,
        "present",
    )
    assert values(alarming)["SpO2"] == 84.0  # the bits are not published: values stay
    [quiet] = reports(feed(masimo_decoder, line()))
    assert [(a.alarm_id, a.phase) for a in quiet.alarms] == [("device-alarm", "end")]


def test_the_radical7_field_set_is_read_by_key() -> None:
    spec = sample_comments("S04")
    regex = re.compile(sample_text("S04").decode().splitlines()[0])
    radical7 = (
        "02/22/16 22:47:45 SN=0000012345 SPO2=095% BPM=110 PI=00.48% SPCO=--.-% SPMET=01.1%"
        " DESAT=-- PIDELTA=+-- PVI=014 ALARM=000000 EXC=0000804"
    )
    assert regex.match(radical7), spec  # the line OpenICE's published pattern accepts
    [report] = reports(feed(decoder(), radical7.encode() + b"\r\n"))
    got = {o.label: (o.value, o.status) for o in report.observations}
    assert got["SpO2"] == (95.0, VALID) and got["PR"] == (110.0, VALID)
    assert got["SpMet"] == (1.1, VALID) and got["PVI"] == (14.0, VALID)
    assert [a.alarm_id for a in report.alarms] == ["low-perfusion"]


def test_an_older_unit_sending_five_fields_is_read() -> None:
    [report] = reports(feed(decoder(), b"SPO2=097% BPM=072 PI=01.20% ALARM=0000 EXC=000000\r"))
    assert values(report) == {"SpO2": 97.0, "PR": 72.0, "PI": 1.2}


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (line(spo2="0x8"), "SPO2=0x8% is neither a number nor dashes"),
        (line(spo2="198"), "SPO2=198% is outside 0…100"),
        (line(exc="00G800"), "EXC=00G800 is not hexadecimal"),
        (b"SPO2=097% \x85BPM=072\r\n", "not an ASCII line (wrong baud rate or parity?)"),
        (
            b"SPO2=097% BPM\x07=072\r\n",
            "control characters in the line (wrong baud rate or parity?)",
        ),
        (b"hello world\r\n", "'hello' is not KEY=VALUE"),
        (b"SN=1 ALARM=0000 EXC=000000\r\n", "no SPO2, BPM or PI field: not a Masimo ASCII 1 line"),
        (b"SPO2=097% SPO2=098%\r\n", "SPO2 appears twice"),
    ],
)
def test_a_damaged_line_is_rejected_whole_and_the_next_one_is_read(bad: bytes, reason: str) -> None:
    masimo_decoder = decoder()
    feed(masimo_decoder, line())  # in step with the stream
    out = feed(masimo_decoder, bad + line(spo2="096"))
    assert [r.reason for r in rejected(out)] == [reason]
    assert rejected(out)[0].raw == bad.rstrip(b"\r\n")
    assert [values(r)["SpO2"] for r in reports(out)] == [96.0]


def test_the_tail_of_a_line_at_opening_is_discarded_not_rejected() -> None:
    masimo_decoder = decoder()
    whole = line()
    out = feed(masimo_decoder, whole[40:] + line(spo2="095"))
    assert rejected(out) == []
    assert [values(r)["SpO2"] for r in reports(out)] == [95.0]
    assert masimo_decoder.discarded == len(whole[40:].rstrip(b"\r\n"))
    masimo_decoder.restart()  # reopened: joining mid-line again is normal
    out = feed(masimo_decoder, whole[60:] + line(spo2="094"))
    assert rejected(out) == [] and [values(r)["SpO2"] for r in reports(out)] == [94.0]


def test_an_endless_line_is_rejected_once_and_never_held_whole() -> None:
    masimo_decoder = decoder()
    feed(masimo_decoder, line())
    out = feed(masimo_decoder, b"x" * 10_000, chunk=333)
    [too_long] = rejected(out)
    assert too_long.reason == "no line end within 512 bytes"
    assert len(too_long.raw) == masimo.MAX_LINE_BYTES
    out = feed(masimo_decoder, b"yyy\r\n" + line(spo2="093"))
    assert rejected(out) == [] and [values(r)["SpO2"] for r in reports(out)] == [93.0]


@pytest.mark.parametrize("chunk", [1, 2, 7, 64])
def test_lines_split_anywhere_give_the_same_reports(chunk: int) -> None:
    data = sample_text("S01")
    whole = [values(r) for r in reports(feed(decoder(), data))]
    assert [values(r) for r in reports(feed(decoder(), data, chunk=chunk))] == whole

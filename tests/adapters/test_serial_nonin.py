"""Nonin OEM III format #2: the public framing vectors, resynchronisation, 25-frame packets
→ SpO2, pulse rate and a 75 Hz pleth, status bits as device alarms."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from serial_support import accepted, feed, rejected, reports, sample_text, source, values

from adapters.serial import nonin
from gateway.domain import AlarmPriority, ObservationStatus
from simulators.serial_emitter import serial_devices

VALID, INVALID = ObservationStatus.VALID, ObservationStatus.INVALID


def vectors() -> list[bytes]:
    """The sample's hex lines (frames, in the order the file gives them)."""
    return [bytes.fromhex(row) for row in sample_text("S06").decode().splitlines() if row]


def frame(status: int = 0x80, pleth: int = 100, data: int = 0) -> bytes:
    body = bytes((0x01, status, pleth, data))
    return body + bytes((sum(body) % 256,))


def packet(
    *, hr: int = 72, spo2: int = 97, status: int = 0x80, pleth: int = 100, flag_at: int = 0
) -> bytes:
    """25 frames: SYNC on the first; HR bits 7-8 / 0-6 and SpO2 in frames 0, 1, 2."""
    data = {0: (hr >> 7) & 0x03, 1: hr & 0x7F, 2: spo2}
    frames = []
    for index in range(nonin.FRAMES_PER_PACKET):
        bits = 0x80 | (0x01 if index == 0 else 0) | (status & ~0x80 if index == flag_at else 0)
        frames.append(frame(bits, (pleth + index) % 250, data.get(index, 0)))
    return b"".join(frames)


def decoder() -> nonin.Decoder:
    return nonin.Decoder(source())


def test_the_reference_vectors_pass_and_fail_the_frame_check() -> None:
    rows = vectors()
    stream, good_first, good_other, bad_checksum, bad_status = rows[:4], *rows[4:]
    assert all(nonin.is_frame(f) for f in stream)
    assert nonin.is_frame(good_first) and nonin.is_frame(good_other)
    assert not nonin.is_frame(bad_checksum)
    assert not nonin.is_frame(bad_status)


def test_the_reference_stream_opens_a_packet_whose_values_follow_the_format_7_table() -> None:
    stream = b"".join(vectors()[:4])  # SYNC frame, HR 0x00/0x48, SpO2 0x61, firmware 0x30
    rest = b"".join(frame(0x80, 1, 0) for _ in range(21))
    [report] = reports(feed(decoder(), stream + rest))
    assert values(report) == {"SpO2": 97.0, "PR": 72.0}
    spo2, pulse = report.observations
    assert (spo2.code, spo2.unit, spo2.status) == (150456, "%", VALID)
    assert (pulse.code, pulse.unit, pulse.status) == (149530, "/min", VALID)
    [pleth] = report.waveforms
    assert (pleth.code, pleth.label, pleth.sample_rate_hz) == (150452, "Pleth", 75.0)
    assert pleth.samples.tolist() == [1.0] * 25
    assert report.alarms == ()


def test_the_receiver_slides_byte_by_byte_to_the_next_good_frame() -> None:
    nonin_decoder = decoder()
    resync = bytes.fromhex("01810181010083")  # the sample's resync case
    out = feed(nonin_decoder, resync + packet()[5:])
    assert nonin_decoder.discarded == 2  # joined mid-stream: not a fault
    [report] = reports(out)
    assert values(report) == {"SpO2": 97.0, "PR": 72.0}  # the vector's frame: HR bits 7-8 = 0
    assert rejected(out) == []


def test_noise_between_frames_is_rejected_and_the_packet_goes_on() -> None:
    nonin_decoder = decoder()
    feed(nonin_decoder, packet())
    whole = packet(spo2=95)
    noisy = whole[:50] + b"\x01\x81\x02\x00\x00\xee" + whole[50:]  # a bad checksum, a stray
    out = feed(nonin_decoder, noisy, chunk=3)
    [noise] = rejected(out)
    assert noise.reason == "6 bytes of noise or damaged frames skipped"
    assert noise.raw == b"\x01\x81\x02\x00\x00\xee"
    assert [values(r)["SpO2"] for r in reports(out)] == [95.0]


def test_a_packet_cut_short_and_frames_without_a_sync_are_rejected() -> None:
    nonin_decoder = decoder()
    feed(nonin_decoder, packet())
    cut = packet(spo2=90)[: 10 * 5]
    orphans = packet(spo2=91)[5 * 5 :]  # the rest of a packet whose SYNC frame was lost
    out = feed(nonin_decoder, cut + packet(spo2=92) + orphans + packet(spo2=93))
    assert [r.reason for r in rejected(out)] == [
        "packet cut short: 10 of 25 frames",
        "20 frames outside a packet (no SYNC)",
    ]
    assert [values(r)["SpO2"] for r in reports(out)] == [92.0, 93.0]


def test_missing_codes_are_invalid_values() -> None:
    [report] = reports(feed(decoder(), packet(hr=511, spo2=127)))
    assert {o.label: (o.value, o.status) for o in report.observations} == {
        "SpO2": ("---", INVALID),
        "PR": ("---", INVALID),
    }


def test_the_heart_rate_uses_its_two_high_bits() -> None:
    [report] = reports(feed(decoder(), packet(hr=300)))
    assert values(report)["PR"] == 300.0


def test_a_sensor_alarm_voids_the_values_and_ends_a_second_after_it_clears() -> None:
    nonin_decoder = decoder()
    [alarmed] = reports(feed(nonin_decoder, packet(status=0x88, flag_at=7)))
    assert {o.label: (o.value, o.status) for o in alarmed.observations} == {
        "SpO2": ("97", INVALID),
        "PR": ("72", INVALID),
    }
    [alarm] = alarmed.alarms
    assert (alarm.alarm_id, alarm.text, alarm.priority, alarm.phase) == (
        "sensor-alarm", "SpO2 SENSOR ALARM", AlarmPriority.MEDIUM, "present"
    )  # fmt: skip
    phases = [[a.phase for a in r.alarms] for r in reports(feed(nonin_decoder, packet() * 4))]
    assert phases == [["present"], ["present"], ["end"], []]  # three packets = one second


@pytest.mark.parametrize(
    ("bit", "name", "priority", "voids"),
    [
        (0x10, "out-of-track", AlarmPriority.LOW, True),
        (0x20, "artefact", AlarmPriority.LOW, False),
    ],
)
def test_out_of_track_and_artefact_are_alarms(
    bit: int, name: str, priority: AlarmPriority, voids: bool
) -> None:
    [report] = reports(feed(decoder(), packet(status=0x80 | bit, flag_at=13)))
    assert [(a.alarm_id, a.priority) for a in report.alarms] == [(name, priority)]
    assert report.observations[0].status is (INVALID if voids else VALID)


def test_an_unpublished_status_bit_is_a_fault_once() -> None:
    nonin_decoder = decoder()
    [first] = accepted(feed(nonin_decoder, packet(status=0xC0, flag_at=4)))
    assert first.problems == (
        "status bits 0x40 set: their meaning is not published, not shown as an alarm",
    )
    assert first.reports[0].alarms == ()
    [again] = accepted(feed(nonin_decoder, packet(status=0xC0, flag_at=4)))
    assert again.problems == ()


def test_consecutive_packets_make_one_continuous_pleth() -> None:
    nonin_decoder = decoder()
    third = 1_000_000_000 // 3
    found = reports(
        [item for k in range(6) for item in nonin_decoder.feed(packet(), 10**18 + k * third)]
    )
    starts = [r.waveforms[0].start_time_ns for r in found]
    assert [b - a for a, b in itertools.pairwise(starts)] == [333_333_333] * 5


def test_the_simulated_oximeter_reads_back_as_it_was_made() -> None:
    [device] = serial_devices("nonin", 1, 3)
    try:
        data = b"".join(device.step(device.period_s) for _ in range(6))
        vitals = device.monitor.last_vitals
    finally:
        device.close()
    assert vitals is not None and vitals.spo2 is not None and vitals.pulse_rate is not None
    found = reports(feed(decoder(), data, chunk=11))
    assert len(found) == 6
    assert values(found[-1]) == {"SpO2": float(vitals.spo2), "PR": float(vitals.pulse_rate)}
    pleth = np.concatenate([r.waveforms[0].samples for r in found])
    assert pleth.size == 150 and 1 <= pleth.min() < pleth.max() <= 254

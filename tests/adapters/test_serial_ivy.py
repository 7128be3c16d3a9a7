"""Ivy 450C ANSAR-B: the byte-exact capture of a real monitor (27 frames), waves by
position, parameter lines by name, channel messages as technical alarms."""

from __future__ import annotations

import numpy as np
import pytest
from serial_support import feed, ivy_capture, rejected, reports, source, values

from adapters.serial import ivy
from gateway.domain import AlarmPriority, DeviceReport, ObservationStatus
from simulators.scenario import parse_scenario
from simulators.serial_emitter import serial_devices

VALID, INVALID = ObservationStatus.VALID, ObservationStatus.INVALID
CAPTURE_LINES = (
    "HR=1;80;ECG-II-DIAG;",
    "RR=1;35;APNEA: 20 SEC;",
    "ETCO2=1;;;",
    "SPO2=1;100;PR=80 ;",
    "NIBP=4;121;75;92;80;;",
    "P1=3;111;73;88;;",
    "P2=3;;;;NO TRANSDUCER;",
    "T1=1;;;",
    "T2=1;;;",
)


def make_frame(lines: tuple[str, ...] = CAPTURE_LINES, waves: bytes | None = None) -> bytes:
    wave_bytes = waves if waves is not None else bytes(range(100, 250)) + bytes(250)
    assert len(wave_bytes) == ivy.WAVE_BYTES
    params = "".join(f"{line}\r" for line in lines).encode()
    return ivy.HEADER + wave_bytes + params + b"\xfe"


def replaced(**changes: str) -> tuple[str, ...]:
    """The capture's lines with some replaced: ``P2="P2=3;120;80;95;;"``."""
    return tuple(changes.get(line.split("=")[0], line) for line in CAPTURE_LINES)


def decoder() -> ivy.Decoder:
    return ivy.Decoder(source())


def test_the_capture_gives_its_27_frames_and_starts_mid_frame() -> None:
    ivy_decoder = decoder()
    out = feed(ivy_decoder, ivy_capture())
    assert rejected(out) == []
    found = reports(out)
    assert len(found) == 27  # what the integration that published the capture expects
    assert ivy_decoder.discarded == 252  # the tail of a frame before the first FF
    assert values(found[0]) == {
        "HR": 80.0,
        "RR": 35.0,
        "SpO2": 100.0,
        "PR": 80.0,
        "NIBP sys": 121.0,
        "NIBP dia": 75.0,
        "NIBP mean": 92.0,
        "PR (NIBP)": 80.0,
        "P1 sys": 111.0,
        "P1 dia": 73.0,
        "P1 mean": 88.0,
    }  # EtCO2, P2, T1, T2 never measured: unused channels say nothing
    assert {values(r)["P1 sys"] for r in found} == {110.0, 111.0}
    assert all(r.alarms == () for r in found)  # P2 NO TRANSDUCER all day: not in use
    units = {o.label: (o.code, o.unit) for o in found[0].observations}
    assert units["HR"] == (147842, "/min") and units["SpO2"] == (150456, "%")
    assert units["NIBP sys"] == (150021, "mmHg") and units["P1 mean"] == (150035, "mmHg")
    assert units["PR"] == (149530, "/min") and units["PR (NIBP)"] == (149546, "/min")


def test_the_capture_waves_are_read_by_position_with_no_signal_left_out() -> None:
    first = reports(feed(decoder(), ivy_capture()))[0]
    waves = {w.label: w for w in first.waveforms}
    assert sorted(waves) == ["ECG II", "P1", "Pleth", "Resp"]  # P2 is all FB: nothing there
    assert (waves["ECG II"].code, waves["ECG II"].sample_rate_hz) == (131330, 200.0)
    assert [len(waves[k].samples) for k in ("ECG II", "Resp", "Pleth", "P1")] == [200, 50, 50, 50]
    capture = ivy_capture()
    start = capture.index(ivy.HEADER) + len(ivy.HEADER)
    assert waves["ECG II"].samples.tolist() == [float(b) for b in capture[start : start + 200]]
    assert waves["P1"].samples.tolist() == [float(b) for b in capture[start + 300 : start + 350]]


@pytest.mark.parametrize("chunk", [1, 9, 97, 562, 4096])
def test_the_capture_split_anywhere_gives_the_same_frames(chunk: int) -> None:
    whole = [values(r) for r in reports(feed(decoder(), ivy_capture()))]
    assert [values(r) for r in reports(feed(decoder(), ivy_capture(), chunk=chunk))] == whole


def test_a_repeated_nibp_keeps_the_time_it_was_first_seen() -> None:
    ivy_decoder = decoder()
    first = reports(ivy_decoder.feed(make_frame(), 1_000))[0]
    second = reports(ivy_decoder.feed(make_frame(), 2_000))[0]
    new = reports(ivy_decoder.feed(make_frame(replaced(NIBP="NIBP=4;118;70;86;79;;")), 3_000))[0]

    def nibp_time(report: DeviceReport) -> set[int | None]:
        return {o.device_time_ns for o in report.observations if o.label.startswith("NIBP")}

    assert nibp_time(first) == nibp_time(second) == {1_000}
    assert nibp_time(new) == {3_000}
    assert {o.device_time_ns for o in second.observations if o.label == "HR"} == {None}


def test_a_transducer_unplugged_from_a_channel_in_use_is_an_alarm_and_voids_it() -> None:
    ivy_decoder = decoder()
    [measuring] = reports(ivy_decoder.feed(make_frame(replaced(P2="P2=3;30;12;20;;")), 1))
    assert values(measuring)["P2 mean"] == 20.0
    assert {o.code for o in measuring.observations if o.label.startswith("P2")} == {
        150017, 150018, 150019
    }  # fmt: skip
    [unplugged] = reports(ivy_decoder.feed(make_frame(), 2))
    p2 = {o.label: (o.value, o.status) for o in unplugged.observations if o.label[:2] == "P2"}
    assert p2 == {"P2 sys": ("", INVALID), "P2 dia": ("", INVALID), "P2 mean": ("", INVALID)}
    [alarm] = unplugged.alarms
    assert (alarm.alarm_id, alarm.text, alarm.priority, alarm.phase, alarm.code) == (
        "P2-no-transducer", "P2 NO TRANSDUCER", AlarmPriority.MEDIUM, "present", 196916
    )  # fmt: skip
    [back] = reports(ivy_decoder.feed(make_frame(replaced(P2="P2=3;31;12;21;;")), 3))
    assert [(a.alarm_id, a.phase) for a in back.alarms] == [("P2-no-transducer", "end")]


def test_a_value_gone_from_a_channel_in_use_is_invalid_not_its_old_number() -> None:
    ivy_decoder = decoder()
    ivy_decoder.feed(make_frame(replaced(T1="T1=1;36.8;;")), 1)
    [report] = reports(ivy_decoder.feed(make_frame(), 2))
    temp = next(o for o in report.observations if o.label == "Temp")
    assert (temp.code, temp.value, temp.status, temp.unit) == (150344, "", INVALID, "°C")


def test_leads_off_from_the_simulated_monitor_is_an_alarm_until_the_leads_are_back() -> None:
    scenario = parse_scenario(
        '[[events]]\nat = "00:02"\nartefact = "lead_off"\nduration = "3s"\n', "t.toml"
    )
    [device] = serial_devices("ivy", 1, 3, scenario)
    ivy_decoder = decoder()
    try:
        found = [reports(ivy_decoder.feed(device.step(1.0), k))[0] for k in range(7)]
    finally:
        device.close()
    phases = [[(a.text, a.phase) for a in r.alarms] for r in found]
    assert phases[:2] == [[], []]
    assert ("ECG LEADS OFF", "present") in phases[2]
    assert [("ECG LEADS OFF", "end")] in phases[3:6]
    off = found[2]
    heart_rate = next(o for o in off.observations if o.label == "HR")
    assert heart_rate.status is INVALID and isinstance(heart_rate.value, str)
    ecg = next(w for w in off.waveforms if w.code == 131330)  # the lead named before
    assert np.isnan(ecg.samples).all()
    heart_rate = next(o for o in found[-1].observations if o.label == "HR")
    assert heart_rate.status is VALID and isinstance(heart_rate.value, float)


def test_wave_bytes_may_look_like_frame_bytes() -> None:
    waves = bytes([0xFE, 0xFF, 0x00] * 66 + [0xFE, 0xFF]) + bytes(200)
    report, after = reports(feed(decoder(), make_frame(waves=waves) + make_frame()))
    assert values(after) == values(report)
    ecg = next(w for w in report.waveforms if w.code == 131330)
    assert np.isnan(ecg.samples[:2]).all() and ecg.samples[2] == 0.0  # FE/FF: no signal
    assert values(report)["HR"] == 80.0


@pytest.mark.parametrize(
    ("lines", "reason"),
    [
        (replaced(HR="HR=1;8x;ECG-II-DIAG;"), "HR value 1: '8x' is neither a number nor empty"),
        (replaced(SPO2="SPO2=1;180;PR=80 ;"), "SPO2 value 1: 180 is outside 0…100"),
        (replaced(NIBP="NIBP=4;121;75;"), "'NIBP=4;121;75;' has fewer than its 4 values"),
        (replaced(HR="HR1;80;"), "'HR1;80;' is not NAME=n;values;message;"),
        (replaced(HR="HR=1;8\x010;"), "control characters in 'HR=1;8\\x010;' (a damaged frame)"),
    ],
)
def test_a_damaged_frame_is_rejected_whole(lines: tuple[str, ...], reason: str) -> None:
    ivy_decoder = decoder()
    bad = make_frame(lines)
    out = feed(ivy_decoder, make_frame() + bad + make_frame(replaced(HR="HR=1;81;ECG-II-DIAG;")))
    assert [(r.reason, r.raw) for r in rejected(out)] == [(reason, bad)]
    assert [values(r)["HR"] for r in reports(out)] == [80.0, 81.0]


def test_a_frame_cut_short_noise_and_a_frame_without_end_are_rejected() -> None:
    ivy_decoder = decoder()
    whole = make_frame()
    cut = whole[:300]
    out = feed(ivy_decoder, whole + cut + whole + b"\x00noise\x00" + whole)
    assert [r.reason for r in rejected(out)] == [
        "frame cut short: a new frame began",
        "7 bytes between frames skipped",
    ]
    assert len(reports(out)) == 3
    endless = ivy.HEADER + bytes(ivy.MAX_FRAME_BYTES)
    out = feed(ivy_decoder, endless + whole, chunk=1000)
    assert [r.reason for r in rejected(out)][:1] == [
        f"no frame end within {ivy.MAX_FRAME_BYTES} bytes"
    ]
    assert all(len(r.raw) <= ivy.MAX_FRAME_BYTES for r in rejected(out))
    assert len(reports(out)) == 1


def test_a_sensor_off_message_voids_spo2_and_its_pulse_rate() -> None:
    ivy_decoder = decoder()
    [off] = reports(ivy_decoder.feed(make_frame(replaced(SPO2="SPO2=1;;SENSOR OFF;")), 1))
    assert [(a.text, a.phase) for a in off.alarms] == [("SpO2 SENSOR OFF", "present")]
    spo2 = next(o for o in off.observations if o.label == "SpO2")
    assert (spo2.value, spo2.status) == ("", INVALID)
    assert "PR" not in values(off)  # no PR= in the message: nothing to say
    [on] = reports(ivy_decoder.feed(make_frame(), 2))
    assert [(a.text, a.phase) for a in on.alarms] == [("SpO2 SENSOR OFF", "end")]
    assert values(on)["SpO2"] == 100.0 and values(on)["PR"] == 80.0

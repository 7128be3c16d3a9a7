"""The GE S/5 decoder, from records built here field by field (struct, little-endian, at the
offsets of 8005313's basic class): every group it reads, every invalid marker, NIBP's
"older than 60 s", HR sources, temperature sites, CO2 in mmHg through the ambient
pressure, agents, waves with their gap and lead-off bits, the alarm display's lifecycle;
and its conversation: the requests at opening, again after a silence, the stops at the
end."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from serial_support import accepted, feed, rejected, reports, source

from adapters.serial import ge_s5
from adapters.serial import ge_s5_wire as wire
from adapters.serial.device import Outgoing, SerialConversation
from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority, DeviceReport, Observation, ObservationStatus

VALID, INVALID = ObservationStatus.VALID, ObservationStatus.INVALID
T = 1_700_000_000 * NS_PER_S
EXISTS = 0x3


def group(status: int, label: int, *values: int) -> bytes:
    return struct.pack(f"<IH{len(values)}h", status, label, *values)


def basic(**at: bytes) -> bytes:
    """A 270-byte basic class with the given groups placed at their offsets."""
    offsets = {
        "ecg": 0, "p1": 16, "p2": 30, "p3": 44, "p4": 58, "nibp": 72, "t1": 86, "t2": 94,
        "t3": 102, "t4": 110, "spo2": 118, "co2": 132, "o2": 146, "n2o": 156, "aa": 166,
        "flow_vol": 178, "p5": 240, "p6": 254,
    }  # fmt: skip
    area = bytearray(270)
    for name, data in at.items():
        area[offsets[name] : offsets[name] + len(data)] = data
    return bytes(area)


def record(maintype: int, subrecords: list[tuple[int, bytes]]) -> bytes:
    """A record built by hand: header, descriptor table, data (not with the adapter's
    builder, so a layout error shows on both sides)."""
    table = b"".join(struct.pack("<hB", sum(len(p) for _, p in subrecords[:i]), kind)
                     for i, (kind, _) in enumerate(subrecords))  # fmt: skip
    table = (table + struct.pack("<hB", 0, 0xFF)).ljust(24, b"\x00")
    data = b"".join(payload for _, payload in subrecords)
    header = struct.pack("<hBBHIBBHh", 40 + len(data), 0, 10, 0, 0, 0, 0, 0, maintype)
    return header + table + data


def framed(rec: bytes) -> bytes:
    body = rec + bytes((sum(rec) % 256,))
    return b"\x7e" + body.replace(b"\x7d", b"\x7d\x5d").replace(b"\x7e", b"\x7d\x5e") + b"\x7e"


def displayed(area: bytes, cls: int = 0) -> bytes:
    subrecord = struct.pack("<I", 0) + area + struct.pack("<BBH", 0, 0, cls << 8)
    return framed(record(0, [(1, subrecord)]))


def one_report(decoder: ge_s5.Decoder, data: bytes, time_ns: int = T) -> DeviceReport:
    [report] = reports(feed(decoder, data, time_ns=time_ns))
    return report


def by_label(report: DeviceReport) -> dict[str, Observation]:
    return {o.label: o for o in report.observations}


def values(report: DeviceReport) -> dict[str, float | str]:
    return {o.label: o.value for o in report.observations}


def test_ecg_hr_its_source_and_the_impedance_rr() -> None:
    decoder = ge_s5.Decoder(source())
    ecg = group(EXISTS | (1 << 3), 0, 72, 12, -5, 0, 16)
    obs = by_label(one_report(decoder, displayed(basic(ecg=ecg))))
    assert (obs["HR"].code, obs["HR"].value, obs["HR"].unit) == (147842, 72.0, "/min")
    assert (obs["RR"].code, obs["RR"].value) == (151578, 16.0)
    assert (obs["ST1"].code, obs["ST1"].value, obs["ST1"].source_code) == (0, 0.12, "GE-S5:ST1")
    from_pleth = group(EXISTS | (6 << 3), 0, 70, 0, 0, 0, 16)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(ecg=from_pleth))))
    assert (obs["HR (pleth)"].code, obs["HR (pleth)"].value) == (149538, 70.0)
    from_art = group(EXISTS | (2 << 3), 0, 71, 0, 0, 0, 16)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(ecg=from_art))))
    assert (obs["HR (P1)"].code, obs["HR (P1)"].value) == (149514, 71.0)


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        (1, {"ART sys": (150033, 120.5), "ART dia": (150034, 80.0), "ART mean": (150035, 93.0)}),
        (8, {"ABP sys": (150037, 120.5), "ABP mean": (150039, 93.0)}),
        (3, {"PA sys": (150045, 120.5), "PA dia": (150046, 80.0), "PA mean": (150047, 93.0)}),
        (2, {"CVP mean": (150087, 93.0), "CVP sys": (0, 120.5)}),
        (7, {"ICP mean": (153611, 93.0)}),
        (4, {"RAP mean": (0, 93.0)}),
    ],
)
def test_invasive_pressures_by_their_label(
    label: int, expected: dict[str, tuple[int, float]]
) -> None:
    p1 = group(EXISTS, label, 12050, 8000, 9300, 71)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(p1=p1))))
    for name, (code, value) in expected.items():
        assert (obs[name].code, obs[name].value, obs[name].unit) == (code, value, "mmHg")
        assert obs[name].sub_id == "P1"
    assert all(o.source_code for o in obs.values() if o.code == 0)  # GE's name kept


def test_a_sixth_pressure_channel_is_read_where_the_spec_puts_it() -> None:
    p6 = group(EXISTS, 1, 11000, 7000, 8500, 70)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(p6=p6))))
    assert obs["ART sys"].value == 110.0 and obs["ART sys"].sub_id == "P6"


def test_nibp_is_timed_by_its_first_sight_and_older_than_60_s_when_the_monitor_says_so() -> None:
    decoder = ge_s5.Decoder(source())
    nibp = group(EXISTS, 0, 11700, 8200, 9000, 70)
    first = by_label(one_report(decoder, displayed(basic(nibp=nibp)), T))
    assert [first[k].value for k in ("NIBP sys", "NIBP dia", "NIBP mean")] == [117, 82, 90]
    assert first["NIBP sys"].time_ns == T
    again = by_label(one_report(decoder, displayed(basic(nibp=nibp)), T + 5 * NS_PER_S))
    assert again["NIBP sys"].time_ns == T  # the same measurement, re-sent
    older = group(EXISTS | (1 << 8), 0, 11000, 7000, 8300, 70)
    fresh = ge_s5.Decoder(source())
    stale = by_label(one_report(fresh, displayed(basic(nibp=older)), T))
    assert stale["NIBP sys"].time_ns == T - 60 * NS_PER_S  # at least that old


@pytest.mark.parametrize(
    ("site", "code", "label"),
    [(1, 150372, "T1 ESO"), (4, 188420, "T1 RECT"), (15, 150368, "T1 CORE"),
     (7, 150388, "T1 SKIN"), (6, 150344, "T1 AXIL"), (9, 0, "T1 ROOM"), (8, 0, "T1 AIRW")],
)  # fmt: skip
def test_temperatures_by_their_site(site: int, code: int, label: str) -> None:
    t1 = group(EXISTS, site, 3712)
    [obs] = one_report(ge_s5.Decoder(source()), displayed(basic(t1=t1))).observations
    assert (obs.code, obs.label, obs.value, obs.unit) == (code, label, 37.12, "°C")


def test_spo2_and_its_pulse_rate() -> None:
    spo2 = group(EXISTS, 0, 9700, 71, 250, -32767)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(spo2=spo2))))
    assert (obs["SpO2"].code, obs["SpO2"].value) == (150456, 97.0)
    assert (obs["PR"].code, obs["PR"].value) == (149530, 71.0)


def test_co2_is_converted_to_mmhg_with_the_ambient_pressure() -> None:
    co2 = group(EXISTS, 0, 500, 30, 14, 7600)  # 5.00 %, 0.30 %, 14 /min, 760.0 mmHg
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(co2=co2))))
    assert (obs["EtCO2"].code, obs["EtCO2"].unit) == (151708, "mmHg")
    assert math.isclose(float(obs["EtCO2"].value), 38.0)
    assert math.isclose(float(obs["FiCO2"].value), 2.28)
    assert (obs["awRR"].code, obs["awRR"].value) == (151570, 14.0)
    without = group(EXISTS, 0, 500, 30, 14, -32767)  # no ambient pressure: still in %
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(co2=without))))
    assert (obs["EtCO2"].value, obs["EtCO2"].unit) == (5.0, "%")


def test_o2_n2o_and_the_agent_by_its_label() -> None:
    area = basic(
        o2=group(EXISTS, 0, 3500, 4000),
        n2o=group(EXISTS, 0, 4500, 5000),
        aa=group(EXISTS, 6, 180, 220, 95),  # sevoflurane
    )
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(area)))
    assert {k: (obs[k].code, obs[k].value) for k in ("etO2", "FiO2", "etN2O", "inN2O")} == {
        "etO2": (152440, 35.0), "FiO2": (152196, 40.0), "etN2O": (152108, 45.0),
        "inN2O": (152192, 50.0),
    }  # fmt: skip
    assert (obs["etSEV"].code, obs["etSEV"].value) == (152096, 1.8)
    assert (obs["inSEV"].code, obs["inSEV"].value) == (152180, 2.2)
    none = basic(aa=group(EXISTS, 1, -32767, -32767, -32767))  # agent "none": nothing
    assert reports(feed(ge_s5.Decoder(source()), displayed(none))) == []


def test_the_spirometry_group_gives_the_ventilation_values() -> None:
    flow = group(EXISTS, 0, 14, 2150, 500, 1800, 4600, 4500, 4000, 630)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(flow_vol=flow))))
    assert {k: (obs[k].code, obs[k].value) for k in ("Ppeak", "PEEP", "VT", "MV")} == {
        "Ppeak": (151817, 21.5), "PEEP": (151976, 5.0), "VT": (151868, 450.0),
        "MV": (151880, 6.3),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("marker", "name"),
    [(-32767, "DATA_INVALID"), (-32766, "NOT_UPDATED"), (-32765, "DISCONTINUITY"),
     (-32764, "UNDER_RANGE"), (-32763, "OVER_RANGE"), (-32762, "NOT_CALIBRATED"),
     (-32001, "INVALID")],
)  # fmt: skip
def test_every_invalid_marker_is_invalid_with_its_reason_never_a_number(
    marker: int, name: str
) -> None:
    spo2 = group(EXISTS, 0, marker, 72, 0, 0)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(spo2=spo2))))
    assert (obs["SpO2"].status, obs["SpO2"].value) == (INVALID, name)
    assert obs["SpO2"].reason == f"GE S/5 marker {marker} ({name})"
    assert (obs["PR"].status, obs["PR"].value) == (VALID, 72.0)


def test_the_smallest_valid_value_is_a_value() -> None:
    p1 = group(EXISTS, 2, -32000, -32000, -32000, 0)
    obs = by_label(one_report(ge_s5.Decoder(source()), displayed(basic(p1=p1))))
    assert (obs["CVP mean"].status, obs["CVP mean"].value) == (VALID, -320.0)


def test_a_group_the_monitor_does_not_have_gives_nothing_and_one_that_goes_is_invalid_once() -> (
    None
):
    decoder = ge_s5.Decoder(source())
    with_spo2 = basic(spo2=group(EXISTS, 0, 9700, 71, 0, 0), t1=group(EXISTS, 15, 3700))
    assert set(values(one_report(decoder, displayed(with_spo2)))) >= {"SpO2", "PR", "T1 CORE"}
    without = basic(t1=group(EXISTS, 15, 3700))  # the oximeter unplugged
    gone = by_label(one_report(decoder, displayed(without)))
    assert (gone["SpO2"].status, gone["SpO2"].value) == (INVALID, "GONE")
    assert gone["T1 CORE"].status is VALID
    again = by_label(one_report(decoder, displayed(without)))
    assert "SpO2" not in again  # said once


def test_only_the_basic_class_of_displayed_values_is_read() -> None:
    ext1 = displayed(basic(spo2=group(EXISTS, 0, 9700, 71, 0, 0)), cls=1)
    [item] = accepted(feed(ge_s5.Decoder(source()), ext1))
    assert item.reports == ()  # journaled raw, not read as basic values


def wave(kind: int, samples: list[int], status: int = 0) -> tuple[int, bytes]:
    return kind, struct.pack(f"<hHH{len(samples)}h", len(samples), status, 0, *samples)


def test_waves_with_their_rates_units_and_control_codes() -> None:
    decoder = ge_s5.Decoder(source())
    data = framed(record(1, [wave(1, [1000, -500, -32100]), wave(8, [5000, 5100]),
                             wave(4, [12000, 8000])]))  # fmt: skip
    report = one_report(decoder, data)
    ecg, pleth, art = report.waveforms
    assert (ecg.code, ecg.label, ecg.sample_rate_hz, ecg.unit) == (131328, "ECG1", 300.0, "mV")
    np.testing.assert_allclose(ecg.samples, [1.0, -0.5, np.nan])
    assert (pleth.code, pleth.sample_rate_hz, pleth.unit) == (150452, 100.0, "%")
    np.testing.assert_allclose(art.samples, [120.0, 80.0])
    assert art.unit == "mmHg" and art.sample_rate_hz == 100.0


def test_consecutive_wave_chunks_follow_each_other_and_a_gap_anchors_them_again() -> None:
    decoder = ge_s5.Decoder(source())
    three = [100] * 75  # 0.25 s at 300/s
    first = one_report(decoder, framed(record(1, [wave(1, three)])), T).waveforms[0]
    second = one_report(decoder, framed(record(1, [wave(1, three)])), T + NS_PER_S // 4)
    assert second.waveforms[0].start_time_ns == first.start_time_ns + NS_PER_S // 4
    late = T + NS_PER_S // 4 + 3 * NS_PER_S // 10  # 50 ms late: still inside the tolerance
    gap = one_report(decoder, framed(record(1, [wave(1, three, status=0x0001)])), late)
    assert gap.waveforms[0].start_time_ns == late - NS_PER_S // 4  # anchored to its arrival


def test_an_ecg_with_its_leads_off_is_no_signal() -> None:
    report = one_report(ge_s5.Decoder(source()), framed(record(1, [wave(1, [10, 20], 0x0008)])))
    assert np.isnan(report.waveforms[0].samples).all()


def test_a_wave_longer_than_its_subrecord_is_rejected() -> None:
    bad = framed(record(1, [(1, struct.pack("<hHH2h", 50, 0, 0, 1, 2))]))
    [item] = rejected(feed(ge_s5.Decoder(source()), bad))
    assert "50 samples" in item.reason


def alarm_record(entries: list[tuple[str, int]], silence: int = 0) -> bytes:
    head = struct.pack("<hhhhh", 0, 1, 0, 0, silence)
    body = b"".join(
        struct.pack("<80shhh12x", text.encode("latin-1"), 1, colour, 1) for text, colour in entries
    )
    body += struct.pack("<80shhh12x", b"", 0, 0, 0) * (5 - len(entries))
    return framed(record(4, [(1, head + body + bytes(10))]))


def test_the_alarm_display_is_device_alarms_by_colour_that_end_when_gone() -> None:
    decoder = ge_s5.Decoder(source())
    shown = alarm_record([("ASYSTOLE", 3), ("SpO2 LOW", 2), ("Câble ECG débranché", 1)])
    alarms = one_report(decoder, shown).alarms
    assert [(a.text, a.priority, a.phase) for a in alarms] == [
        ("ASYSTOLE", AlarmPriority.HIGH, "present"),
        ("SpO2 LOW", AlarmPriority.MEDIUM, "present"),
        ("Câble ECG débranché", AlarmPriority.LOW, "present"),
    ]
    # The monitor sends the display only on change: each displayed-values record repeats it.
    repeated = one_report(decoder, displayed(basic(t1=group(EXISTS, 15, 3700)))).alarms
    assert [a.text for a in repeated] == ["ASYSTOLE", "SpO2 LOW", "Câble ECG débranché"]
    silenced = one_report(decoder, alarm_record([("ASYSTOLE", 3)], silence=5)).alarms
    assert [(a.text, a.phase, a.inactivation) for a in silenced] == [
        ("ASYSTOLE", "present", "audio-paused"),
        ("SpO2 LOW", "end", "enabled"),
        ("Câble ECG débranché", "end", "enabled"),
    ]
    ended = one_report(decoder, alarm_record([])).alarms
    assert [(a.text, a.phase) for a in ended] == [("ASYSTOLE", "end")]


def test_a_damaged_frame_is_rejected_and_the_next_is_read() -> None:
    decoder = ge_s5.Decoder(source())
    good = displayed(basic(t1=group(EXISTS, 15, 3700)))
    damaged = good[:60] + bytes(((good[60] + 1) % 256,)) + good[61:]
    items = feed(decoder, good + damaged + good, chunk=17)
    assert [type(i).__name__ for i in items] == ["Accepted", "Rejected", "Accepted"]
    assert "checksum" in rejected(items)[0].reason


# ----------------------------------------------------------------------- conversation

S = NS_PER_S


def sent(turn_sends: tuple[Outgoing, ...]) -> list[str]:
    return [o.command for o in turn_sends]


def test_it_asks_for_values_waves_and_alarms_when_the_port_opens() -> None:
    decoder = ge_s5.Decoder(source())
    assert isinstance(decoder, SerialConversation)
    turn = decoder.opening(0)
    assert sent(turn.sends) == ["phdb-request", "wave-request", "alarm-request"]
    phdb = wire.parse_record(wire.unescape(turn.sends[0].data[1:-1]))
    assert phdb.subrecords[0][1][:3] == b"\x01\x05\x00"  # displayed values every 5 s
    waves = wire.parse_record(wire.unescape(turn.sends[1].data[1:-1])).subrecords[0][1]
    listed = waves[4:12].split(b"\xff")[0]
    assert tuple(listed) == ge_s5.REQUESTED_WAVES
    rates = {1: 300, 4: 100, 8: 100, 9: 25, 15: 25}
    assert sum(rates[w] for w in listed) <= wire.MAX_SAMPLES_PER_S
    assert {o.command for o in turn.sends} <= ge_s5.PROTOCOL.sends


def test_it_asks_again_after_a_silence_and_for_waves_when_only_waves_stopped() -> None:
    decoder = ge_s5.Decoder(source())
    decoder.opening(0)
    values = displayed(basic(t1=group(EXISTS, 15, 3700)))
    waves = framed(record(1, [wave(8, [1, 2])]))
    for second in range(1, 5):
        feed(decoder, values + waves)
        assert decoder.due(second * S).sends == ()
    feed(decoder, values)  # waves stopped at 4 s (a blocked handshake)
    assert decoder.due(8 * S).sends == ()
    feed(decoder, values)
    turn = decoder.due(9 * S)
    assert sent(turn.sends) == ["wave-request"] and "no wave" in turn.problems[0]
    assert decoder.next_due_ns() == 14 * S
    # Then nothing at all (the monitor restarted): waves asked for every 5 s, then every
    # request again 15 s after the last record.
    assert decoder.due(13 * S).sends == ()
    assert sent(decoder.due(14 * S).sends) == ["wave-request"]
    assert sent(decoder.due(19 * S).sends) == ["wave-request"]
    turn = decoder.due(24 * S)
    assert sent(turn.sends) == ["phdb-request", "wave-request", "alarm-request"]
    assert turn.problems == ("no record for 15 s: the requests sent again",)
    assert decoder.next_due_ns() == 29 * S


def test_it_stops_every_stream_when_the_gateway_stops() -> None:
    turn = ge_s5.Decoder(source()).closing()
    assert sent(turn.sends) == ["phdb-stop", "wave-stop", "alarm-stop"]
    stop = wire.parse_record(wire.unescape(turn.sends[0].data[1:-1]))
    assert stop.subrecords[0][1][1:3] == b"\x00\x00"  # tx_ival 0

"""The simulated IntelliVue's session on a fake clock: association and MDS Create, single
and extended polls with plausible numerics, waves and alarms, linked replies, release,
abort, the connection time-out, demo mode, and what it ignores."""

from __future__ import annotations

import itertools
import struct

import pytest
from sim_intellivue_client import (
    AL_MON,
    MDS,
    NU,
    PT_DEMOG,
    RELEASE,
    SA_RT,
    aarq,
    extended_poll,
    mds_create_result,
    nu_value,
    read_poll_reply,
    single_poll,
)

from simulators.intellivue import SimulatedIntellivue, build_intellivues, connection_timeout_s
from simulators.scenario import load_scenario

MINUTE = 60 * 8000


def associated(monitor: SimulatedIntellivue, now_s: float = 0.0) -> None:
    answers = monitor.receive(aarq(), now_s)
    (invoke_id,) = struct.unpack_from(">H", answers[1], 8)
    assert monitor.receive(mds_create_result(invoke_id), now_s) == []


def monitor(scenario: str = "stable", *, demo: bool = False, seed: int = 3) -> SimulatedIntellivue:
    [m] = build_intellivues(1, seed, load_scenario(scenario), demo=demo)
    return m


def test_an_association_request_gets_the_result_then_the_mds_create_event() -> None:
    m = monitor()
    ac, create = m.receive(aarq(), 0.0)
    assert ac[0] == 0x0E and ac[1:4] == b"\xff\x01\x28" and len(ac) == 300
    user_info = ac.index(b"\x81\x82\x00\x80") + 4
    assert ac[user_info + 12 : user_info + 16] == b"\x00\x80\x00\x00"  # SYST_SERVER
    assert ac.endswith(bytes(16))
    assert create[:6] == bytes.fromhex("E10000020001")  # a ROIV
    invoke_id, command = struct.unpack_from(">HH", create, 8)
    assert command == 1  # CONFIRMED_EVENT_REPORT
    assert create[14:20] == bytes.fromhex("002100000000")
    assert struct.unpack_from(">H", create, 24)[0] == 0x0D06
    assert "ICU^1^1".encode("utf-16-be") + b"\x00\x00" in create
    assert m.identity.system_id in create
    # No data until the client has answered the event.
    assert m.receive(single_poll(MDS), 0.1) == []
    assert m.receive(mds_create_result(invoke_id), 0.1) == []
    [keep_alive] = m.receive(single_poll(MDS), 0.2)
    reply = read_poll_reply(keep_alive)
    assert reply.ro_type == 2 and reply.obj_class == MDS and reply.sequence_no is None
    assert 0x091E in reply.objects[0]
    assert m.commands["CN"] == 1 and m.commands["RORS CONFIRMED_EVENT_REPORT"] == 1
    assert m.commands["ROIV CONFIRMED_ACTION POLL"] == 2
    assert m.ignored == 1


def test_garbage_and_polls_before_the_association_are_ignored_and_counted() -> None:
    m = monitor()
    assert m.receive(b"\x00\x01garbage", 0.0) == []
    assert m.receive(extended_poll(NU, MINUTE), 0.0) == []
    assert m.tick(5.0) == []
    assert m.ignored == 2


def test_extended_numerics_poll_sends_plausible_values_every_second_until_its_period_ends() -> None:
    m = monitor()
    associated(m)
    [first] = m.receive(extended_poll(NU, 3 * 8000, invoke_id=7), 0.0)
    replies = [read_poll_reply(first)]
    t = 0.0
    while t < 5.0:
        t += 0.032
        replies += [read_poll_reply(d) for d in m.tick(t)]
    assert [r.sequence_no for r in replies] == [0, 1, 2]  # the 3 s period ran out
    assert {r.invoke_id for r in replies} == {7}
    values = {}
    for _handle, attrs in replies[-1].objects.items():
        if 0x0950 in attrs:
            physio, state, unit, value = nu_value(attrs[0x0950])
            values[physio] = (unit, value, state)
        assert struct.unpack(">I", attrs[0x0924])[0] >> 16 == 2
    hr_unit, hr, hr_state = values[0x4182]
    assert hr_unit == 0x0AA0 and 40 <= hr <= 140 and hr_state == 0
    assert values[0x4BB8][0] == 0x0220 and 88 <= values[0x4BB8][1] <= 100
    assert values[0x500A][0] == 0x0AE0 and 6 <= values[0x500A][1] <= 35
    assert values[0x4B48][0] == 0x17A0 and 35 <= values[0x4B48][1] <= 39
    [nbp] = [a for a in replies[-1].objects.values() if 0x094B in a]
    count, _ = struct.unpack_from(">HH", nbp[0x094B])
    sys_, dia, mean = (nu_value(nbp[0x094B][4 + 10 * i : 14 + 10 * i]) for i in range(count))
    assert (sys_[0], dia[0], mean[0]) == (0x4A05, 0x4A06, 0x4A07)
    assert sys_[3] > mean[3] > dia[3] > 20
    assert 0x0990 in nbp  # when the cuff measured


def test_waves_every_256_ms_with_their_specs_in_the_first_reply_only() -> None:
    m = monitor("hypotension")  # an arterial line: four waves
    associated(m)
    assert m.receive(extended_poll(SA_RT, MINUTE), 0.0) == []
    replies = []
    t = 0.0
    while t < 1.1:
        t += 0.016
        replies += [read_poll_reply(d) for d in m.tick(t)]
    assert len(replies) == 4
    first, second = replies[0], replies[1]
    labels = {struct.unpack(">I", a[0x0924])[0] for a in first.objects.values()}
    assert labels == {0x00020102, 0x00024BB4, 0x00024A14, 0x00025000}
    for attrs in first.objects.values():
        assert {0x096D, 0x096F, 0x098D, 0x0996} <= attrs.keys()
    for attrs in second.objects.values():
        assert 0x096D not in attrs and 0x096E in attrs
    ecg = first.objects[0x0201]
    physio, state, length = struct.unpack_from(">HHH", ecg[0x096E])
    assert (physio, state, length) == (0x0102, 0, 256)  # 128 samples of 2 bytes
    assert struct.unpack(">I", ecg[0x098D])[0] == 16  # 2 ms
    assert struct.unpack_from(">HBB", ecg[0x096D]) == (128, 16, 14)
    samples = struct.unpack_from(">128H", ecg[0x096E], 6)
    assert max(samples) - min(samples) > 100  # a beat is in 256 ms of a paced-60+ heart
    assert [struct.unpack_from(">H", o[0x096E], 4)[0] for o in first.objects.values()] == [
        256, 64, 32, 64,
    ]  # fmt: skip
    rel = [r.rel_time for r in replies]
    assert [b - a for a, b in itertools.pairwise(rel)] == [2048, 2048, 2048]


def test_a_reply_bigger_than_the_clients_mtu_goes_out_as_linked_results() -> None:
    m = monitor("hypotension")
    answers = m.receive(aarq(max_mtu_rx=400), 0.0)
    (invoke_id,) = struct.unpack_from(">H", answers[1], 8)
    m.receive(mds_create_result(invoke_id), 0.0)
    parts = m.receive(single_poll(SA_RT, invoke_id=9), 0.0)
    assert len(parts) >= 2 and all(len(p) <= 400 for p in parts[1:])
    replies = [read_poll_reply(p) for p in parts]
    assert [r.ro_type for r in replies] == [5] * len(parts)
    assert [r.linked for r in replies] == [
        (1 if i == 0 else 3 if i == len(parts) - 1 else 2, i + 1) for i in range(len(parts))
    ]
    assert {r.invoke_id for r in replies} == {9}
    handles = [h for r in replies for h in r.objects]
    assert handles == [0x0201, 0x0202, 0x0203, 0x0204]


def test_alarms_list_patient_alarms_and_inops_as_technical() -> None:
    m = monitor("flaky-device")  # probe off at 00:30 for 20 s (SpO2 sensor off, technical)
    associated(m)
    m.receive(extended_poll(AL_MON, 10 * MINUTE, attr_group=0x0801), 0.0)
    seen: dict[int, list[tuple[int, int, int, int, str]]] = {0x0902: [], 0x0904: []}
    t = 0.0
    while t < 40.0:
        t += 0.25
        for datagram in m.tick(t):
            m.receive(single_poll(MDS), t)  # keep-alive
            attrs = read_poll_reply(datagram).objects[0x0010]
            for list_id in seen:
                seen[list_id] += list(entries(attrs[list_id]))
    technical = seen[0x0904]
    assert technical, "no INOP while the probe was off"
    source, code, al_type, state, message = technical[0]
    assert (source, code, message) == (0x4BB8, 308, "SpO2 SENSOR OFF")
    assert al_type in (1, 2, 4) and state & 0x0008  # new when first listed
    assert not any(entry[3] & 0x0100 for entry in technical)  # not in demo mode
    assert not seen[0x0902]  # a stable patient: no patient alarm


def entries(value: bytes) -> list[tuple[int, int, int, int, str]]:
    count, _ = struct.unpack_from(">HH", value)
    at, out = 4, []
    for _ in range(count):
        source, code, al_type, state = struct.unpack_from(">HHHH", value, at)
        info_id, length = struct.unpack_from(">HH", value, at + 14)
        assert info_id == 516
        (size,) = struct.unpack_from(">H", value, at + 18 + 10)
        message = value[at + 18 + 12 : at + 18 + 12 + size].decode("utf-16-be").rstrip("\x00")
        out.append((source, code, al_type, state, message))
        at += 18 + length
    return out


def test_demo_mode_marks_numerics_waves_and_alarms() -> None:
    m = monitor("desaturation", demo=True)
    associated(m)
    [numerics] = m.receive(single_poll(NU), 0.0)
    for attrs in read_poll_reply(numerics).objects.values():
        if 0x0950 in attrs:
            assert nu_value(attrs[0x0950])[1] & 0x0400
    [waves] = m.receive(single_poll(SA_RT), 0.0)
    for attrs in read_poll_reply(waves).objects.values():
        assert struct.unpack_from(">HH", attrs[0x096E])[1] & 0x0400
    m.receive(extended_poll(AL_MON, 10 * MINUTE, attr_group=0x0801), 0.0)
    patient: list[tuple[int, int, int, int, str]] = []
    t = 0.0
    while not patient and t < 120:
        t += 1.0
        m.receive(single_poll(MDS), t)
        for datagram in m.tick(t):
            attrs = read_poll_reply(datagram).objects[0x0010]
            assert struct.unpack_from(">H", attrs[0x0916])[0] == 0x0100
            patient = entries(attrs[0x0902])
    [(source, code, al_type, state, message)] = patient
    assert (source, code, al_type, message) == (0x4BB8, 62, 512, "**SpO2 low")
    assert state & 0x0100


def test_demographics_single_poll() -> None:
    m = monitor()
    associated(m)
    [datagram] = m.receive(single_poll(PT_DEMOG, 0x0807), 0.0)
    attrs = read_poll_reply(datagram).objects[0x0011]
    assert set(attrs) == {0x095A, 0x095D, 0x095C, 0x0958}
    assert attrs[0x095A][2:].decode("utf-16-be") == m.patient.patient_id + "\x00"
    assert attrs[0x095C][2:].decode("utf-16-be") == m.patient.family_name + "\x00"
    assert attrs[0x0958][4:] == bytes(4)  # a date: midnight


def test_release_is_answered_and_ends_the_session() -> None:
    m = monitor()
    associated(m)
    m.receive(extended_poll(NU, MINUTE), 0.0)
    [result] = m.receive(RELEASE, 1.0)
    assert result[:2] == b"\x0a\x18" and result[13] == 0x63
    assert not m.associated and m.tick(2.0) == []


def test_abort_is_forgotten_silently() -> None:
    m = monitor()
    associated(m)
    assert m.receive(bytes.fromhex("192E110103C129") + bytes(41), 1.0) == []
    assert not m.associated


@pytest.mark.parametrize(("ticks", "timeout"), [(4000, 10.0), (8000 * 5, 15.0), (8000 * 50, 130.0)])
def test_connection_timeout_rule(ticks: int, timeout: float) -> None:
    assert connection_timeout_s(ticks) == timeout


def test_a_silent_client_is_dropped_after_10_s() -> None:
    m = monitor()
    associated(m)
    m.receive(extended_poll(NU, MINUTE), 0.0)
    t = 0.0
    while t < 9.9:
        t += 0.5
        m.tick(t)
    assert m.associated
    m.tick(10.1)
    assert not m.associated and m.timeouts == 1
    assert m.tick(12.0) == []


def test_drop_with_abort_tells_the_client() -> None:
    m = monitor()
    associated(m)
    [abort] = m.drop(abort=True)
    assert abort[:2] == b"\x19\x2e"
    assert m.drop(abort=True) == []

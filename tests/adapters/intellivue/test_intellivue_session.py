"""The client's session and the mapping to the domain, driven by monitor messages built by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from intellivue_support import (
    alarm_entry,
    alarms,
    compound,
    flt,
    mds_create,
    numeric,
    poll_reply,
    wave,
)

from adapters.intellivue import ids, pdu
from adapters.intellivue.linked import LinkedResults
from adapters.intellivue.session import SENDS, Session, State
from gateway.clock import NS_PER_S
from gateway.domain import AlarmKind, AlarmPriority, ObservationStatus

T0 = 1_000 * NS_PER_S
WALL = 1_796_632_215 * NS_PER_S


def associated(waves: bool = True) -> tuple[Session, list[bytes]]:
    session = Session(transport="udp", peer="127.0.0.1:24105", waves=waves)
    sent = session.start(T0)
    assert pdu.decode(sent[0]) == pdu.SessionPdu(ids.SPDU_CONNECT)
    assert session.receive(b"\x0e\x02\x00\x00", T0, WALL).send == []
    assert session.state is State.WAITING_FOR_MDS
    outcome = session.receive(mds_create(9), T0, WALL)
    return session, outcome.send


def test_association_answers_the_mds_create_then_polls_everything() -> None:
    session, sent = associated()
    assert session.state is State.ASSOCIATED
    assert sent[0] == pdu.event_result(9, ids.EVT_MDS_CREATE, T0 // 125_000)
    polled = sorted(int.from_bytes(m[28:30], "big") for m in sent[1:])  # polled_obj_type code
    assert polled == sorted([ids.MOC_NU, ids.MOC_SA_RT, ids.MOC_AL_MON, ids.MOC_PT_DEMOG])
    assert session.device.key == "EUI-64:0009FBFFFF88C1BD"
    assert session.device.label == "Philips MX450 DE12345678"
    assert session.data.location is not None and session.data.location.raw == "Bed 12"


def test_without_waves_no_wave_poll_is_sent() -> None:
    _, sent = associated(waves=False)
    assert ids.MOC_SA_RT not in {int.from_bytes(m[28:30], "big") for m in sent[1:]}


def test_numerics_become_observations_with_mdc_codes_units_and_states() -> None:
    session, _ = associated()
    reply = poll_reply(
        3,
        ids.MOC_NU,
        [
            numeric(1, 0x4182, flt(72)),  # HR
            numeric(2, 0x4BB8, flt(975, -1), unit=0x0220),  # SpO2 97.5 %
            numeric(3, 0x500A, flt(0x7FFFFF), state=ids.STATE_INVALID, unit=0x0AE0),  # RR
            numeric(4, 0x4B48, flt(371, -1), state=ids.STATE_QUESTIONABLE, unit=0x17A0),
            numeric(5, 0x4822, flt(70), state=ids.STATE_DEMO_DATA),
            compound(6, [(0x4A05, flt(120)), (0x4A06, flt(80)), (0x4A07, flt(93))]),
        ],
    )
    outcome = session.receive(reply, T0, WALL)
    (report,) = outcome.reports
    got = {(o.code, o.label): o for o in report.observations}
    hr = got[(147842, "HR")]
    assert (hr.value, hr.unit, hr.status, hr.source_code) == (
        72.0,
        "/min",
        ObservationStatus.VALID,
        "MDIL:0002-4182",
    )
    assert got[(150456, "SpO2")].value == pytest.approx(97.5)
    assert got[(150456, "SpO2")].unit == "%"
    rr = got[(151562, "RR")]
    assert rr.status is ObservationStatus.INVALID and math.isnan(float(rr.value))
    assert rr.reason == "invalid (monitor)"
    assert got[(150344, "Temp")].status is ObservationStatus.QUESTIONABLE
    assert got[(149538, "PR")].demo
    assert [got[(c, lab)].value for c, lab in ((150021, "NIBP sys"), (150022, "NIBP dia"))] == [
        120.0,
        80.0,
    ]
    assert report.location is not None and report.location.raw == "Bed 12"
    assert report.device.key == "EUI-64:0009FBFFFF88C1BD"


def test_waves_are_scaled_and_keep_their_scale_between_replies() -> None:
    session, _ = associated()
    first = poll_reply(4, ids.MOC_SA_RT, [wave(20, 0x0102, [0, 0x2000, 0x3FFF, 0xC000 | 0x2000])])
    (report,) = session.receive(first, T0, WALL).reports
    (chunk,) = report.waveforms
    assert (chunk.code, chunk.label, chunk.sample_rate_hz, chunk.unit) == (
        131330,
        "ECG II",
        500.0,
        "mV",
    )
    np.testing.assert_allclose(
        chunk.samples, [-40.96, 0.0, 40.95, 0.0], atol=0.01
    )  # the top bits are not signal: masked to 14
    later = poll_reply(4, ids.MOC_SA_RT, [wave(20, 0x0102, [0x2000] * 128, statics=False)])
    (report,) = session.receive(later, T0, WALL).reports
    assert len(report.waveforms[0].samples) == 128


def test_a_wave_without_its_scale_is_not_shown_and_the_waves_are_polled_again() -> None:
    session, _ = associated()
    reply = poll_reply(4, ids.MOC_SA_RT, [wave(21, 0x4BB4, [1, 2, 3], statics=False)])
    assert session.receive(reply, T0, WALL).reports == []
    sends, _ = session.tick(T0 + NS_PER_S)
    assert any(int.from_bytes(m[28:30], "big") == ids.MOC_SA_RT for m in sends)


def test_alarm_lists_are_the_current_state() -> None:
    session, _ = associated()
    spo2_low = alarm_entry(0x4BB8, 0x0001, 1024, "**SpO2 LOW")
    leads_off = alarm_entry(0x4182, 0x0002, 2, "LEADS OFF")
    (report,) = session.receive(
        poll_reply(5, ids.MOC_AL_MON, [alarms([spo2_low], [leads_off])]), T0, WALL
    ).reports
    by_text = {a.text: a for a in report.alarms}
    assert by_text["**SpO2 LOW"].priority is AlarmPriority.HIGH
    assert by_text["**SpO2 LOW"].kind is AlarmKind.PHYSIOLOGICAL
    assert by_text["**SpO2 LOW"].parameter_label == "SpO2"
    assert by_text["LEADS OFF"].kind is AlarmKind.TECHNICAL
    assert by_text["LEADS OFF"].priority is AlarmPriority.MEDIUM
    assert {a.phase for a in report.alarms} == {"present"}
    (report,) = session.receive(
        poll_reply(5, ids.MOC_AL_MON, [alarms([], [leads_off])]), T0, WALL
    ).reports
    ended = {a.text: a.phase for a in report.alarms}
    assert ended == {"**SpO2 LOW": "end", "LEADS OFF": "present"}


def test_demo_alarms_are_advisories_marked_demo() -> None:
    session, _ = associated()
    entry = alarm_entry(0x4BB8, 1, 1024, "**SpO2 LOW", state=ids.AL_STATE_DEMO)
    (report,) = session.receive(
        poll_reply(5, ids.MOC_AL_MON, [alarms([entry], [])]), T0, WALL
    ).reports
    (alarm,) = report.alarms
    assert alarm.text == "DEMO **SpO2 LOW"
    assert (alarm.kind, alarm.priority) == (AlarmKind.ADVISORY, AlarmPriority.LOW)


def test_linked_results_are_reassembled_by_invoke_id() -> None:
    session, _ = associated()
    parts = [
        poll_reply(6, ids.MOC_NU, [numeric(1, 0x4182, flt(60))], linked=(1, 1)),
        poll_reply(6, ids.MOC_NU, [numeric(2, 0x4BB8, flt(98), unit=0x220)], linked=(2, 2)),
        poll_reply(6, ids.MOC_NU, [numeric(3, 0x500A, flt(14), unit=0xAE0)], linked=(3, 3)),
    ]
    assert session.receive(parts[0], T0, WALL).reports == []
    assert session.receive(parts[1], T0, WALL).reports == []
    (report,) = session.receive(parts[2], T0, WALL).reports
    assert [o.label for o in report.observations] == ["HR", "SpO2", "RR"]


def test_a_lost_linked_part_ends_the_reply_with_what_came_and_says_so() -> None:
    linked = LinkedResults()
    first = pdu.decode(poll_reply(6, ids.MOC_NU, [numeric(1, 0x4182, flt(60))], linked=(1, 1)))
    third = pdu.decode(poll_reply(6, ids.MOC_NU, [numeric(3, 0x500A, flt(14))], linked=(3, 3)))
    assert isinstance(first, pdu.PollReply) and isinstance(third, pdu.PollReply)
    assert linked.take(first) == (None, "")
    whole, problem = linked.take(third)
    assert whole is not None and len(whole.objects) == 2
    assert "a part lost" in problem and linked.pending == 0


def test_silence_loses_the_association_and_the_client_associates_again() -> None:
    session, _ = associated()
    sends, notes = session.tick(T0 + 6 * NS_PER_S)
    assert any("association lost" in note for note in notes)
    kinds = [pdu.decode(m) for m in sends]
    assert kinds == [pdu.SessionPdu(ids.SPDU_FINISH), pdu.SessionPdu(ids.SPDU_CONNECT)]
    assert session.state is State.ASSOCIATING


def test_an_abort_from_the_monitor_starts_a_new_association() -> None:
    session, _ = associated()
    abort = bytes.fromhex(
        "192e110103c129a080a08030800201010602510100000000618030800201 01a080648080 0101".replace(
            " ", ""
        )
    ) + bytes(10)
    outcome = session.receive(abort, T0, WALL)
    assert any("aborted" in note for note in outcome.notes)
    sends, _ = session.tick(T0 + 3 * NS_PER_S)
    assert pdu.SessionPdu(ids.SPDU_CONNECT) in [pdu.decode(m) for m in sends]


def test_keepalive_while_quiet() -> None:
    session, _ = associated()
    session.receive(
        poll_reply(3, ids.MOC_NU, [numeric(1, 0x4182, flt(60))]), T0 + 3 * NS_PER_S, WALL
    )
    sends, _ = session.tick(T0 + 3 * NS_PER_S + 1)
    assert sends == [pdu.poll(session._invoke, 1, ids.MOC_MDS)]


def test_garbage_is_rejected_with_a_reason_and_changes_nothing() -> None:
    session, _ = associated()
    outcome = session.receive(b"\x00garbage", T0, WALL)
    assert outcome.rejected and session.state is State.ASSOCIATED


def test_the_client_sends_only_what_sends_lists_and_never_a_set() -> None:
    session, sent = associated()
    sent += session.tick(T0 + 700 * NS_PER_S)[0]  # polls renewed, keep-alive
    sent += session.tick(T0 + 706 * NS_PER_S)[0]  # lost: release + associate
    sent += session.release(T0 + 707 * NS_PER_S)
    assert set(session.sent) <= SENDS
    assert set(session.sent) >= {
        "association-request",
        "mds-create-result",
        "extended-poll",
        "poll",
        "release-request",
    }
    for message in sent:
        decoded = pdu.decode(message)
        if isinstance(decoded, pdu.SessionPdu):
            assert decoded.spdu in (ids.SPDU_CONNECT, ids.SPDU_FINISH)
            continue
        ro_type, command = (
            int.from_bytes(message[4:6], "big"),
            int.from_bytes(message[10:12], "big"),
        )
        assert (ro_type, command) in (
            (ids.ROIV, ids.CONFIRMED_ACTION),
            (ids.RORS, ids.CONFIRMED_EVENT_REPORT),
        )
        if ro_type == ids.ROIV:
            action = int.from_bytes(message[24:26], "big")
            assert action in (ids.ACT_POLL, ids.ACT_POLL_EXT)

"""The payloads and the hand-off, without a broker: waves survive their packing, anything
unreadable is a PayloadError, the outbox drops waves before numerics and never anything
stale, and every alarm change gets its own sequence number."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.alarms.snapshot import ActiveAlarm
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, BedId
from gateway.mqtt import payloads
from gateway.mqtt.outbox import AlarmBoard, Outbox, Outgoing
from gateway.mqtt.remote_ward import RemoteWard
from gateway.mqtt.topics import LEVEL, level


def test_waves_come_back_within_their_16_bit_step_with_gaps_kept() -> None:
    samples = np.sin(np.linspace(0, 6, 125)).astype(np.float32) * 1.5
    samples[10] = np.nan
    item = payloads.WaveSlice(131330, "1.1.1.1", "ECG II", "mV", 500.0, 123, 0.2, samples)
    packet = payloads.unpack_waves(payloads.pack_waves(7, 9, 456, [item]))
    assert (packet.sess, packet.seq, packet.ts_ns) == (7, 9, 456)
    (back,) = packet.slices
    assert (back.code, back.channel, back.label, back.unit) == (131330, "1.1.1.1", "ECG II", "mV")
    assert np.isnan(back.samples[10])
    present = ~np.isnan(samples)
    assert np.max(np.abs(back.samples[present] - samples[present])) < 3.0 / 65532


@given(st.binary(max_size=200))
def test_any_bytes_are_a_wave_packet_or_a_payload_error(data: bytes) -> None:
    with contextlib.suppress(payloads.PayloadError):
        payloads.unpack_waves(data)


@given(st.binary(max_size=200), st.sampled_from(["status", "birth", "bed/x/num", "alarm/u"]))
def test_a_bad_message_is_a_fault_on_the_screen_never_an_exception(data: bytes, what: str) -> None:
    ward = RemoteWard("icu/v1")
    ward.receive(f"icu/v1/s/w/g/{what}", data)
    ward.snapshot()


def test_a_numerics_payload_of_the_wrong_shape_is_a_fault() -> None:
    ward = RemoteWard("icu/v1")
    ward.receive("icu/v1/s/w/g/status", b'{"v":1,"state":"online","sess":1}')
    assert ward.fault_count == 1


def test_topic_levels_are_safe_and_distinct() -> None:
    names = ["ICU^3^1", "Bed_1", "bed-1", "bed 1", "+/#", ""]
    levels = [level(name) for name in names]
    assert all(LEVEL.fullmatch(lv) for lv in levels)
    assert len(set(levels)) == len(levels)
    assert level("icu3n-02") == "icu3n-02"


def _item(n: int, sess: int = 1, made: int = 0) -> Outgoing:
    return Outgoing(f"t/{n}", b"x", sess, made, 5)


def test_a_full_outbox_drops_the_oldest_wave_first_and_never_waits() -> None:
    box = Outbox(capacity=4)
    box.offer(_item(1), wave=False)
    for n in range(2, 5):
        box.offer(_item(n), wave=True)
    box.offer(_item(5), wave=False)  # full: wave 2 goes
    box.offer(_item(6), wave=True)  # full: wave 3 goes
    assert box.dropped_waves == 2 and box.dropped_numerics == 0
    assert [i.topic for i in box.take(0, 1, 10)] == ["t/1", "t/5", "t/4", "t/6"]


def test_the_outbox_never_hands_on_a_message_too_old_or_of_an_earlier_connection() -> None:
    box = Outbox(capacity=10, max_age_s=2.0)
    box.offer(_item(1, sess=1, made=0), wave=False)
    box.offer(_item(2, sess=2, made=0), wave=False)
    box.offer(_item(3, sess=2, made=3_000_000_000), wave=True)
    assert [i.topic for i in box.take(3_500_000_000, 2, 10)] == ["t/3"]
    assert box.expired == 2


def _alarm(key: str, text: str, acknowledged: bool = False) -> ActiveAlarm:
    return ActiveAlarm(
        key, BedId("b1"), "Bed 1", AlarmPriority.HIGH, AlarmKind.PHYSIOLOGICAL,
        AlarmSource.GATEWAY, text, 0, False, acknowledged, False,
    )  # fmt: skip


def test_each_alarm_change_gets_the_next_sequence_number_and_an_end_is_sent_once() -> None:
    board = AlarmBoard()
    board.update([_alarm("a", "HR 180 > 120"), _alarm("b", "SpO2 80 < 90")])
    assert board.aseq == 2 and len(board.take_changes()) == 2
    board.update([_alarm("a", "HR 180 > 120", acknowledged=True), _alarm("b", "SpO2 80 < 90")])
    (changed,) = board.take_changes()
    assert changed.aseq == 3 and changed.alarm.acknowledged
    board.update([_alarm("a", "HR 180 > 120", acknowledged=True)])
    (ended,) = board.take_changes()
    assert not ended.active and ended.aseq == 4
    assert board.take_changes() == []
    assert payloads.alarm_digest(board.versions()) != payloads.alarm_digest({})


def _online(ward: RemoteWard, sess: int, seq: int) -> bytes:
    return payloads.status_online(
        sess, seq, ward.clock.now_ns(), name="gw", aseq=0, digest=payloads.alarm_digest({}),
        alarms=0, stale_timeout_s=10, lost_after_s=60, heartbeat_s=1,
    )  # fmt: skip


@pytest.mark.parametrize("sess", [1, 2])
def test_an_old_sessions_will_never_darkens_the_new_session(sess: int) -> None:
    ward = RemoteWard("icu/v1")
    ward.link_up()
    ward.receive("icu/v1/s/w/g/birth", payloads.birth(2, 1, 0, name="gw", beds=(), alarms={}))
    ward.receive("icu/v1/s/w/g/status", _online(ward, 2, 2))
    ward.receive("icu/v1/s/w/g/status", _online(ward, 2, 3))
    ward.receive("icu/v1/s/w/g/status", payloads.status_offline(sess, "will"))
    ((_, reason),) = ward.gateways()
    assert (reason is None) == (sess == 1), reason


def test_one_status_after_connecting_never_proves_a_gateway_alive_a_second_heartbeat_does() -> None:
    # Over MQTT 3.1.1 (NATS, RabbitMQ) a retained "online" never expires, and a crashed
    # node never sends the will: the first status a screen gets may be hours old.
    ward = RemoteWard("icu/v1")
    ward.receive("icu/v1/s/w/g/birth", payloads.birth(2, 1, 0, name="gw", beds=(), alarms={}))
    ward.receive("icu/v1/s/w/g/status", _online(ward, 2, 2))  # heard before this connection
    ward.link_up()
    ward.receive("icu/v1/s/w/g/status", _online(ward, 2, 2))  # the retained copy, again
    ((_, reason),) = ward.gateways()
    assert reason is not None and "waiting for a heartbeat" in reason
    ward.receive("icu/v1/s/w/g/status", _online(ward, 2, 3))  # the gateway's next heartbeat
    ((_, reason),) = ward.gateways()
    assert reason is None

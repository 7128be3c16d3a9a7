"""Acknowledging from a remote screen, opt-in on both sides: over a real Mosquitto the
gateway acknowledges what the screen showed and journals the remote operator; a gateway
that did not opt in ignores the request; an alarm that changed since the screen showed it,
a request of an earlier session and a hostile request acknowledge nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from journal_support import oru
from mqtt_support import bed_named, broker_of, publishing_gateway
from waiting import eventually

from gateway.alarms.snapshot import ActiveAlarm
from gateway.app.service import build_hub, flush_alarm_log
from gateway.config.load import parse_config
from gateway.domain import BedId
from gateway.hub import Hub
from gateway.journal.reader import JournalReader
from gateway.mqtt import payloads
from gateway.mqtt.outbox import AlarmBoard, Session
from gateway.mqtt.payloads import PayloadError
from gateway.mqtt.remote_ack import RemoteAcknowledgements
from gateway.mqtt.remote_desk import RemoteDesk
from gateway.mqtt.remote_ward import RemoteWard
from gateway.mqtt.screen_link import ScreenLink
from gateway.mqtt.topics import alarm_uid

BED = "ICU^1^1"


@contextlib.asynccontextmanager
async def acknowledging_screen(url: str) -> AsyncIterator[tuple[RemoteWard, RemoteDesk]]:
    ward = RemoteWard("icu/v1")
    desk = RemoteDesk(ward, "screen-test")
    link = ScreenLink(ward, [broker_of(url)], desk=desk, screen="screen-test")
    task = asyncio.create_task(link.run())
    try:
        yield ward, desk
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def hr_alarm(hub: Hub) -> ActiveAlarm | None:
    return next((a for a in hub.alarms.snapshot().alarms if "HR" in a.text), None)


def remote_hr_alarm(ward: RemoteWard) -> ActiveAlarm | None:
    alarms = ward.snapshot().alarms
    return next((a for a in alarms.alarms if "HR" in a.text), None) if alarms else None


async def alarm_shown_live(remote: RemoteWard) -> None:
    """Wait until the remote screen shows the bed and its HR alarm, from a gateway proved
    live (two heartbeats): only then does it name alarms an acknowledgement may take."""
    await eventually(
        lambda: (
            remote_hr_alarm(remote) is not None
            and bed_named(remote.snapshot(), BED) is not None
            and all(why is None for _, why in remote.gateways())
        ),
        "the bed and its HR alarm, remotely, from a gateway proved live",
    )


async def test_a_remote_acknowledgement_is_made_by_the_gateway_and_journaled_with_the_remote_name(
    mosquitto: str, tmp_path: Path
) -> None:
    async with (
        publishing_gateway(
            mosquitto, tmp_path / "j.sqlite", extra="remote_acknowledge = true\n"
        ) as gateway,
        acknowledging_screen(mosquitto) as (remote, desk),
    ):
        gateway.hub.alarms.sign_in("Nurse Lee")  # at the gateway's own screen
        monitor = await gateway.monitor()
        assert (await monitor.send(oru("m1", bed=1, hr=180)))[0] == "CA"
        await alarm_shown_live(remote)
        remote_bed = bed_named(remote.snapshot(), BED)
        assert remote_bed is not None
        assert desk.acknowledge(remote_bed.bed) == 0  # nobody said who they are: nothing sent
        desk.sign_in("Dr Roux")
        assert desk.acknowledge(remote_bed.bed) == 1
        await eventually(
            lambda: (a := hr_alarm(gateway.hub)) is not None and a.acknowledged,
            "acknowledged at the gateway",
        )
        await eventually(
            lambda: (a := remote_hr_alarm(remote)) is not None and a.acknowledged,
            "shown acknowledged on the remote screen, from the gateway's state",
        )
        assert gateway.hub.alarms.operator == "Nurse Lee"
        assert await flush_alarm_log(gateway.hub, gateway.hub.journal)  # type: ignore[arg-type]
        await monitor.close()
    with JournalReader(tmp_path / "j.sqlite") as reader:
        log = reader.alarm_log(BedId(BED))
    assert [(t.change.value, t.operator) for t in log] == [
        ("raised", "gateway"),
        ("acknowledged", "Dr Roux (remote screen screen-test)"),
    ]


async def test_a_gateway_that_did_not_opt_in_ignores_remote_acknowledgements(
    mosquitto: str, tmp_path: Path
) -> None:
    async with (
        publishing_gateway(mosquitto, tmp_path / "j.sqlite") as gateway,
        acknowledging_screen(mosquitto) as (remote, desk),
    ):
        monitor = await gateway.monitor()
        assert (await monitor.send(oru("m1", bed=1, hr=180)))[0] == "CA"
        await alarm_shown_live(remote)
        remote_bed = bed_named(remote.snapshot(), BED)
        assert remote_bed is not None
        desk.sign_in("Dr Roux")
        assert desk.acknowledge(remote_bed.bed) == 1  # sent …
        await eventually(lambda: desk.sent == 1, "the request published")
        await asyncio.sleep(1.0)
        alarm = hr_alarm(gateway.hub)
        assert alarm is not None and not alarm.acknowledged  # … and not acted on
        await monitor.close()


# ------------------------------------------------------------------ the gateway's rules


def board_with_alarm() -> tuple[Hub, AlarmBoard, Session, ActiveAlarm]:
    hub = build_hub(parse_config("[alarms]\ncondition_delay_s = 0\n"))
    hub.alarms.set_recording_failed("disk full")  # a ward-wide high alarm, raised at once
    board, session = AlarmBoard(), Session(1000)
    board.update(hub.alarms.snapshot().alarms)
    (alarm,) = hub.alarms.snapshot().alarms
    return hub, board, session, alarm


def request(alarm: ActiveAlarm, aseq: int, sess: int, operator: str = "Dr Roux") -> bytes:
    return payloads.ack_request("s1", operator, sess, 0, {alarm_uid(alarm.key): aseq})


def test_only_an_alarm_still_published_under_the_number_the_screen_showed_is_acknowledged() -> None:
    hub, board, session, alarm = board_with_alarm()
    handler = RemoteAcknowledgements(hub, board, session)
    shown = board.current[alarm_uid(alarm.key)].aseq
    assert handler.handle(request(alarm, shown + 1, session.sess)) == 0  # changed since
    assert handler.handle(request(alarm, shown, session.sess - 1)) == 0  # an earlier session
    assert not hub.alarms.snapshot().alarms[0].acknowledged
    assert handler.handle(request(alarm, shown, session.sess)) == 1
    assert hub.alarms.snapshot().alarms[0].acknowledged
    assert [
        t.operator for t in hub.alarms.take_transitions() if t.change.value == "acknowledged"
    ] == ["Dr Roux (remote screen s1)"]
    assert handler.refused == 2


def test_a_flood_of_requests_is_dropped_past_five_a_second() -> None:
    hub, board, session, _ = board_with_alarm()
    handler = RemoteAcknowledgements(hub, board, session)
    junk = b'{"v":1}'
    for _ in range(50):
        handler.handle(junk)
    assert handler.refused == 50 and handler.taken == 0
    assert sum("more than 5 requests" in f.text for f in hub.faults) <= 1  # summarised


@given(st.binary(max_size=300))
def test_any_bytes_are_a_request_or_a_payload_error(data: bytes) -> None:
    with contextlib.suppress(PayloadError):
        payloads.read_ack_request(data)


def test_a_request_must_name_someone_and_real_alarms() -> None:
    good = {"a" * 16: 3}
    assert (
        payloads.read_ack_request(payloads.ack_request("s", "Dr Roux", 1, 0, good)).alarms == good
    )
    for screen, operator, alarms in (
        ("s", "  ", good),  # nobody
        ("s", "x" * 65, good),  # too long a name
        ("s", "Dr\x07Roux", good),  # not printable
        ("s", "Dr Roux", {}),  # nothing
        ("s", "Dr Roux", {"A" * 16: 3}),  # not a uid
        ("s", "Dr Roux", {"a" * 16: True}),  # not a sequence number
        ("s", "Dr Roux", {"a" * 16: 0}),
        ("s", "Dr Roux", {f"{n:016x}": 1 for n in range(257)}),  # too many
    ):
        data = payloads.ack_request(screen, operator, 1, 0, alarms)
        try:
            payloads.read_ack_request(data)
        except PayloadError:
            continue
        raise AssertionError(f"accepted {screen!r} {operator!r} {alarms!r}")

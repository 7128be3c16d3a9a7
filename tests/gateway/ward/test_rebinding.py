"""Beds re-bound while the gateway runs: the next report of a device goes where the new
bindings send it, and the device is never on two beds at once."""

from __future__ import annotations

from journal_support import oru, received

from gateway import nomenclature
from gateway.alarms.engine import AlarmEngine
from gateway.alarms.settings import AlarmSettings
from gateway.clock import ManualClock
from gateway.domain import AlarmChange, BedId
from gateway.hub import Hub
from gateway.ward.routing import BedBinding, Router
from gateway.ward.state import WardState

DEVICE = "EUI-64:0012211839000001"
HR = nomenclature.HEART_RATE[0]


def hub_of(router: Router, clock: ManualClock) -> Hub:
    return Hub(
        WardState(10.0, 60.0), router, clock, alarms=AlarmEngine(AlarmSettings(), clock=clock)
    )


def alarm_texts(hub: Hub) -> list[str]:
    alarms = hub.snapshot().alarms
    assert alarms is not None
    return [alarm.text for alarm in alarms.alarms]


def beds_with(hub: Hub, device: str) -> list[str]:
    return [
        bed.bed.key
        for bed in hub.snapshot().beds
        if any(link.device.key == device for link in bed.devices)
    ]


async def test_a_device_on_an_automatic_bed_moves_to_the_bed_it_is_bound_to_and_the_old_goes() -> (
    None
):
    clock = ManualClock()
    hub = hub_of(Router(), clock)
    await hub.submit(*received(oru("1", hr=70), clock))
    assert beds_with(hub, DEVICE) == ["ICU^1^1"]

    hub.rebind([BedBinding(BedId("room-1"), "Room 1", devices=(DEVICE,))])
    # Until it speaks again it stays where it was: on one bed, never two.
    assert beds_with(hub, DEVICE) == ["ICU^1^1"]
    clock.advance(1)
    await hub.submit(*received(oru("2", hr=88), clock))

    snapshot = hub.snapshot()
    assert [bed.bed.key for bed in snapshot.beds] == ["room-1"]  # the automatic bed is gone
    (bed,) = snapshot.beds
    assert bed.label == "Room 1"
    assert bed.readings[HR].value == 88
    assert not bed.readings[HR].stale
    assert not snapshot.unassigned


async def test_an_unassigned_device_bound_now_leaves_the_unassigned_list_and_its_alarm_ends() -> (
    None
):
    clock = ManualClock()
    hub = hub_of(Router(auto_beds=False), clock)
    await hub.submit(*received(oru("1"), clock))
    assert [s.device.key for s in hub.snapshot().unassigned] == [DEVICE]
    assert any("UNASSIGNED" in text for text in alarm_texts(hub))

    hub.rebind([BedBinding(BedId("room-1"), "Room 1", devices=(DEVICE,))])
    clock.advance(1)
    await hub.submit(*received(oru("2", hr=91), clock))

    snapshot = hub.snapshot()
    assert not snapshot.unassigned
    assert beds_with(hub, DEVICE) == ["room-1"]
    assert snapshot.beds[0].readings[HR].value == 91
    assert not any("UNASSIGNED" in text for text in alarm_texts(hub))


async def test_a_device_moved_off_a_configured_bed_leaves_no_live_value_and_no_lost_alarm() -> None:
    clock = ManualClock()
    router = Router([BedBinding(BedId("bed-a"), "Bed A", devices=(DEVICE,))], auto_beds=False)
    hub = hub_of(router, clock)
    await hub.submit(*received(oru("1", hr=70), clock))
    hub.rebind(
        [
            BedBinding(BedId("bed-a"), "Bed A"),
            BedBinding(BedId("bed-b"), "Bed B", devices=(DEVICE,)),
        ]
    )
    clock.advance(1)
    await hub.submit(*received(oru("2", hr=75), clock))
    beds = {bed.bed.key: bed for bed in hub.snapshot().beds}
    assert set(beds) == {"bed-a", "bed-b"}  # a configured bed stays, empty
    assert not beds["bed-a"].readings
    assert not beds["bed-a"].devices
    assert beds["bed-b"].readings[HR].value == 75
    clock.advance(30)  # long past the stale timeout: bed A's old device is not "lost"
    await hub.submit(*received(oru("3", hr=76), clock))
    texts = alarm_texts(hub)
    assert not any("DEVICE LOST" in text for text in texts), texts


async def test_a_bed_renamed_keeps_its_device_and_values() -> None:
    clock = ManualClock()
    router = Router([BedBinding(BedId("bed-a"), "Bed A", devices=(DEVICE,))])
    hub = hub_of(router, clock)
    await hub.submit(*received(oru("1", hr=70), clock))
    hub.rebind([BedBinding(BedId("bed-a"), "Window bed", devices=(DEVICE,))])
    (bed,) = hub.snapshot().beds
    assert bed.label == "Window bed"
    assert bed.readings[HR].value == 70
    clock.advance(1)
    await hub.submit(*received(oru("2", hr=71), clock))
    (bed,) = hub.snapshot().beds
    assert (bed.label, bed.readings[HR].value) == ("Window bed", 71)


def test_the_configuration_note_is_a_ward_wide_journal_entry_signed_by_the_operator() -> None:
    clock = ManualClock()
    engine = AlarmEngine(clock=clock)
    engine.sign_in("Nurse Martin")
    engine.note_configuration("device X bound to bed room-1 (Room 1)", "Dr Moreau")
    transition = engine.take_transitions()[-1]
    assert transition.change is AlarmChange.CONFIGURATION
    assert (transition.bed, transition.operator) == (None, "Dr Moreau")
    assert transition.text == "device X bound to bed room-1 (Room 1)"


def test_a_device_unassigned_then_bound_is_unassigned_no_longer_when_the_ward_is_rebuilt() -> None:
    from gateway.domain import DeviceId, DeviceReport

    device = DeviceId(DEVICE, "MON")
    ward = WardState()
    ward.note_unassigned(DeviceReport(device, "mllp", "10.0.0.1:4000", 0), seen_ns=10)
    # the journal's later reports put it on the bed it was bound to meanwhile
    report = DeviceReport(device, "mllp", "10.0.0.1:4000", 0)
    ward.apply(BedId("icu-3-1"), report, seen_ns=20, label="ICU 3-1")
    snapshot = ward.snapshot(30)
    assert snapshot.unassigned == ()
    assert [b.bed.key for b in snapshot.beds] == ["icu-3-1"]

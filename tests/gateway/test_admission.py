"""Admission limits: what one sender can create is bounded. The router's caps and per-peer
rate on reports decoded by the real parser, then the hub's side: refused reports stay
unassigned and raise no alarm of their own, one fault and one alarm per peer, counted."""

from __future__ import annotations

import asyncio

from journal_support import oru, received

from gateway.admission import AdmissionLimits
from gateway.clock import ManualClock
from gateway.domain import BedId, DeviceReport, ReceivedMessage
from gateway.hub import ADMISSION_QUIET_S, ADMISSION_SUMMARY_EVERY_S, Hub
from gateway.ward.routing import REFUSED, BedBinding, Route, Router
from gateway.ward.state import MAX_UNASSIGNED, WardState

FLOOD = "10.0.0.9:5000"
HONEST = "10.0.0.5:4001"


def fake(clock: ManualClock, n: int, peer: str = FLOOD, *, bed: int | None = None) -> DeviceReport:
    """A report from invented device ``n`` at invented location ``ICU^<n>^1`` (or ``bed``)."""
    raw = oru(f"fake-{n}", bed=n if bed is None else bed, eui=f"F{n:015X}")
    return received(raw, clock, peer=peer)[1][0]


def test_automatic_beds_stop_at_the_cap_and_the_admitted_ones_keep_routing() -> None:
    clock = ManualClock()
    router = Router(admission=AdmissionLimits(max_auto_beds=3), clock=clock)
    routes = [router.route(fake(clock, n)) for n in range(6)]
    assert [r.bed.key if r is not REFUSED and r else None for r in routes[:3]] == [
        "ICU^0^1",
        "ICU^1^1",
        "ICU^2^1",
    ]
    assert routes[3:] == [REFUSED] * 3
    assert router.admission.auto_beds == 3
    again = router.route(fake(clock, 1))
    assert isinstance(again, Route) and again.bed == BedId("ICU^1^1")
    refused = router.admission.refusals["10.0.0.9"]
    assert (refused.identities, refused.reports) == (3, 3)
    assert "max_auto_beds" in refused.reason


def test_a_refused_identity_is_counted_once_however_often_it_reports() -> None:
    clock = ManualClock()
    router = Router(admission=AdmissionLimits(max_auto_beds=1), clock=clock)
    router.route(fake(clock, 0))
    for _ in range(5):
        assert router.route(fake(clock, 7)) is REFUSED
    refused = router.admission.refusals["10.0.0.9"]
    assert (refused.identities, refused.reports) == (1, 5)


def test_new_devices_of_a_configured_bed_are_capped_too() -> None:
    """Invented device ids at a configured bed's location would each be a DEVICE LOST."""
    clock = ManualClock()
    binding = BedBinding(BedId("icu-1"), "Bed 1", locations=("ICU^1^1",))
    router = Router(
        [binding], auto_beds=False, admission=AdmissionLimits(max_devices=2), clock=clock
    )
    routes = [router.route(fake(clock, n, bed=1)) for n in range(4)]
    assert [isinstance(r, Route) and r.bed == BedId("icu-1") for r in routes] == [
        True,
        True,
        False,
        False,
    ]
    assert routes[2:] == [REFUSED, REFUSED]
    assert "max_devices" in router.admission.refusals["10.0.0.9"].reason


def test_the_rate_of_new_identities_is_per_peer_and_refills() -> None:
    clock = ManualClock()
    binding = BedBinding(BedId("icu-1"), "Bed 1", locations=("ICU^1^1",))
    router = Router([binding], admission=AdmissionLimits(new_identities_per_minute=4), clock=clock)
    flood = [router.route(fake(clock, n, bed=1)) for n in range(6)]
    assert [r is REFUSED for r in flood] == [False] * 4 + [True] * 2
    # Another address has a bucket of its own: the flood does not starve it.
    honest = router.route(fake(clock, 100, HONEST, bed=1))
    assert isinstance(honest, Route) and honest.bed == BedId("icu-1")
    # A refusal is not remembered: once a token has refilled (60 s / 4), it is admitted.
    clock.advance(15)
    retried = router.route(fake(clock, 4, bed=1))
    assert isinstance(retried, Route) and retried.bed == BedId("icu-1")
    assert router.route(fake(clock, 5, bed=1)) is REFUSED


def test_a_vendor_gateway_announcing_32_beds_with_three_devices_each_passes_the_defaults() -> None:
    clock = ManualClock()
    router = Router(clock=clock)  # the default limits
    for bed in range(32):
        for device in range(3):
            route = router.route(fake(clock, bed * 3 + device, bed=bed))
            assert isinstance(route, Route) and route is not REFUSED
            assert route.bed == BedId(f"ICU^{bed}^1")
    assert router.admission.auto_beds == 32
    assert router.admission.devices == 96
    assert not router.admission.refusals


def submit_all(hub: Hub, messages: list[tuple[ReceivedMessage, list[DeviceReport]]]) -> None:
    async def send() -> None:
        for message, reports in messages:
            await hub.submit(message, reports)

    asyncio.run(send())


def flood(
    clock: ManualClock, first: int, count: int
) -> list[tuple[ReceivedMessage, list[DeviceReport]]]:
    return [
        received(oru(f"fake-{n}", bed=n, eui=f"F{n:015X}"), clock, peer=FLOOD)
        for n in range(first, first + count)
    ]


def honest(clock: ManualClock) -> tuple[ReceivedMessage, list[DeviceReport]]:
    return received(oru("honest", bed=900, eui="0012211839000900"), clock, peer=HONEST)


def shown(hub: Hub) -> list[str]:
    snapshot = hub.snapshot()
    assert snapshot.alarms is not None
    return [alarm.text for alarm in snapshot.alarms.alarms]


def test_a_flood_of_identities_raises_one_alarm_and_one_fault_for_its_peer() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(admission=AdmissionLimits(max_auto_beds=5)), clock)
    submit_all(hub, [honest(clock)])
    submit_all(hub, flood(clock, 0, 100))
    beds = {bed.bed.key for bed in hub.snapshot().beds}
    assert len(beds) == 5 and "ICU^900^1" in beds  # the honest bed, and four of the flood
    faults = [f for f in hub.faults if f.source == "admission 10.0.0.9"]
    assert len(faults) == 1, faults
    assert "max_auto_beds" in faults[0].text
    # The refused reports are unassigned (listed, bounded) and raise nothing of their own.
    snapshot = hub.snapshot()
    assert len(snapshot.unassigned) == 96
    assert shown(hub) == ["ADMISSION LIMIT 10.0.0.9"]
    # Long after, only the beds admitted are lost: DEVICE LOST for them, none for the
    # 96 identities refused; the peer's alarm ended when it went quiet.
    clock.advance(ADMISSION_QUIET_S + 1)
    texts = shown(hub)
    assert "ADMISSION LIMIT 10.0.0.9" not in texts
    assert sum(text.startswith("DEVICE LOST") for text in texts) == 5
    assert not [text for text in texts if "UNASSIGNED" in text or "ADMISSION" in text]


def test_a_flood_that_goes_on_is_summarised_with_counts_once_a_minute() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(admission=AdmissionLimits(max_auto_beds=2)), clock)
    submit_all(hub, flood(clock, 0, 50))
    hub.tick()
    assert len([f for f in hub.faults if f.source == "admission 10.0.0.9"]) == 1
    clock.advance(ADMISSION_SUMMARY_EVERY_S / 2)
    submit_all(hub, flood(clock, 50, 100))
    hub.tick()
    assert len([f for f in hub.faults if f.source == "admission 10.0.0.9"]) == 1
    clock.advance(ADMISSION_SUMMARY_EVERY_S / 2)
    hub.tick()
    faults = [f for f in hub.faults if f.source == "admission 10.0.0.9"]
    assert len(faults) == 2
    assert "147 more new beds/devices refused (147 reports) in 60 s" in faults[1].text
    assert "148 since the first (148 reports)" in faults[1].text
    assert [t for t in shown(hub) if "ADMISSION" in t] == ["ADMISSION LIMIT 10.0.0.9"]
    hub.tick()
    assert len([f for f in hub.faults if f.source == "admission 10.0.0.9"]) == 2


def test_the_unassigned_list_is_bounded_and_the_rest_counted() -> None:
    clock = ManualClock()
    limits = AdmissionLimits(max_devices=10_000, new_identities_per_minute=10_000)
    hub = Hub(WardState(), Router(auto_beds=False, admission=limits), clock)
    submit_all(hub, flood(clock, 0, MAX_UNASSIGNED + 40))
    snapshot = hub.snapshot()
    assert len(snapshot.unassigned) == MAX_UNASSIGNED
    assert hub.ward.unassigned_unlisted == 40
    faults = [f for f in hub.faults if f.source == "unassigned"]
    assert len(faults) == 1 and f"{MAX_UNASSIGNED} unassigned senders listed" in faults[0].text
    texts = shown(hub)
    assert sum("UNASSIGNED" in text for text in texts) <= MAX_UNASSIGNED
    clock.advance(ADMISSION_SUMMARY_EVERY_S)
    hub.tick()
    faults = [f for f in hub.faults if f.source == "unassigned"]
    assert len(faults) == 2 and "40 reports of senders not listed (39 new)" in faults[1].text

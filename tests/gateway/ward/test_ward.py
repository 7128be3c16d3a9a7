"""Ward state and routing: beds appear, values age, stale is never live, strays are kept."""

from __future__ import annotations

from gateway.clock import ManualClock
from gateway.domain import (
    BedId,
    Connectivity,
    DeviceId,
    DeviceReport,
    Location,
    Observation,
    ObservationStatus,
    ReceivedMessage,
)
from gateway.hub import Hub
from gateway.ward.routing import BedBinding, Router, location_key, peer_host
from gateway.ward.state import WardState

MONITOR = DeviceId("EUI-64:00A037EB2175780F", "MR-1")
RECEIVED = ReceivedMessage(b"MSH|...", "mllp", "10.0.0.5:4001", 0)  # what carried the reports


def report(
    clock: ManualClock,
    *,
    location: str | None = "ICU^12^1",
    device: DeviceId = MONITOR,
    peer: str = "10.0.0.5:4001",
    hr: float = 72.0,
    measured_ns: int | None = None,
) -> DeviceReport:
    now = clock.now_ns()
    loc = None
    if location is not None:
        parts = [*location.split("^"), "", "", ""]
        loc = Location(location, parts[0], parts[1], parts[2])
    obs = Observation(
        device, 147842, "HR", hr, "/min", ObservationStatus.VALID, now, measured_ns, "1.2.1.1"
    )
    return DeviceReport(device, "mllp", peer, now, "m1", loc, "P1", (obs,))


async def test_zero_config_creates_a_bed_per_location_labelled_for_staff() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(auto_beds=True), clock)
    await hub.submit(RECEIVED, [report(clock)])
    (bed,) = hub.snapshot().beds
    assert bed.label == "ICU 12-1"
    assert bed.patient_id == "P1"
    assert bed.readings[147842].value == 72.0
    assert bed.connectivity is Connectivity.CONNECTED


async def test_device_without_location_gets_its_own_bed() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    await hub.submit(RECEIVED, [report(clock, location=None)])
    (bed,) = hub.snapshot().beds
    assert bed.bed == BedId(MONITOR.key)
    assert bed.label == "MR-1"


async def test_one_connection_many_beds_route_by_location() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    await hub.submit(
        RECEIVED, [report(clock, location=f"ICU^{n}^1", hr=60.0 + n) for n in range(1, 4)]
    )
    snap = hub.snapshot()
    assert [(b.label, b.readings[147842].value) for b in snap.beds] == [
        ("ICU 1-1", 61.0),
        ("ICU 2-1", 62.0),
        ("ICU 3-1", 63.0),
    ]


async def test_configured_bindings_by_device_location_and_peer() -> None:
    clock = ManualClock()
    router = Router(
        [
            BedBinding(BedId("b1"), "Bed 1", devices=(MONITOR.key,)),
            BedBinding(BedId("b2"), "Bed 2", locations=("ICU^2^1",)),
            BedBinding(BedId("b3"), "Bed 3", peers=("10.0.0.9",)),
        ],
        auto_beds=False,
    )
    hub = Hub(WardState(), router, clock)
    other = DeviceId("app:X|Y", "X")
    await hub.submit(
        RECEIVED,
        [
            report(clock, location="ICU^9^9", hr=61),
            report(clock, device=other, location="icu^2^1^^", hr=62),
            report(clock, device=other, location=None, peer="10.0.0.9:1", hr=63),
        ],
    )
    snap = hub.snapshot()
    assert [(b.label, b.readings[147842].value) for b in snap.beds] == [
        ("Bed 1", 61.0),
        ("Bed 2", 62.0),
        ("Bed 3", 63.0),
    ]


async def test_unmatched_device_is_listed_unassigned_not_dropped() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(auto_beds=False), clock)
    await hub.submit(RECEIVED, [report(clock), report(clock)])
    snap = hub.snapshot()
    assert snap.beds == ()
    (stray,) = snap.unassigned
    assert (stray.device, stray.reports, stray.peer) == (MONITOR, 2, "10.0.0.5:4001")
    assert stray.location is not None and stray.location.raw == "ICU^12^1"


async def test_configured_bed_is_lost_until_a_device_speaks() -> None:
    hub = Hub(WardState(), Router([BedBinding(BedId("b1"), "Bed 1")]), ManualClock())
    (bed,) = hub.snapshot().beds
    assert (bed.connectivity, bed.silent_s, dict(bed.readings)) == (Connectivity.LOST, None, {})


async def test_values_age_turn_stale_past_the_timeout_and_the_bed_lost_later() -> None:
    clock = ManualClock()
    hub = Hub(WardState(stale_timeout_s=10, lost_after_s=60), Router(), clock)
    await hub.submit(RECEIVED, [report(clock)])
    clock.advance(10)
    bed = hub.snapshot().beds[0]
    assert (bed.readings[147842].stale, bed.connectivity) == (False, Connectivity.CONNECTED)
    clock.advance(0.5)
    bed = hub.snapshot().beds[0]
    assert bed.readings[147842].stale
    assert bed.readings[147842].age_s == 10.5
    assert bed.connectivity is Connectivity.STALE
    assert bed.devices[0].connectivity is Connectivity.STALE
    clock.advance(50)
    assert hub.snapshot().beds[0].connectivity is Connectivity.LOST
    await hub.submit(RECEIVED, [report(clock, hr=80)])
    bed = hub.snapshot().beds[0]
    assert (bed.readings[147842].value, bed.readings[147842].stale) == (80.0, False)
    assert bed.connectivity is Connectivity.CONNECTED


async def test_measured_age_follows_the_device_time_not_receipt() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    measured = clock.now_ns() - 720 * 1_000_000_000
    await hub.submit(RECEIVED, [report(clock, measured_ns=measured)])
    reading = hub.snapshot().beds[0].readings[147842]
    assert (reading.measured_age_s, reading.age_s, reading.stale) == (720.0, 0.0, False)


def test_faults_are_kept_counted_and_bounded() -> None:
    hub = Hub(WardState(), Router(), ManualClock(), max_faults=2)
    for n in range(3):
        hub.fault("mllp 1.2.3.4:5", f"bad {n}")
    snap = hub.snapshot()
    assert [f.text for f in snap.faults] == ["bad 1", "bad 2"]
    assert snap.fault_count == 3


def test_location_keys_and_peer_hosts() -> None:
    assert location_key(" icu^12^1^^ ") == "ICU^12^1"
    assert peer_host("10.0.0.5:4001") == "10.0.0.5"
    assert peer_host("[::1]:4001") == "::1"
    assert peer_host("/dev/ttyUSB0") == "/dev/ttyUSB0"

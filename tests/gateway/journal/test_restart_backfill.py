"""After a restart: the last minutes come back before listeners open (latest values stale with
their true age, never live), and the day of trends is back-filled from the journal in the
background while live reports keep arriving — whose values win."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from journal_support import oru, received

from adapters.hl7.batch import hl7_time
from gateway.app.service import rebuild, trend_backfill
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import BedId, Connectivity, ReceivedMessage
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.journal.records import RoutedReport
from gateway.ward.routing import BedBinding, Router
from gateway.ward.state import WardState

HR = 147842
SPO2 = 150456
HOUR = 3600 * NS_PER_S
START = ManualClock().now_ns()
LAST = START + 26 * HOUR
"""The last message before the gateway stopped."""
RESTART = LAST + 300 * NS_PER_S
"""The gateway was down five minutes."""
BED_1, BED_2 = BedId("ICU^1^1"), BedId("ICU^2^1")
SPANS = ((3600, 3600), (8 * 3600, 480), (24 * 3600, 1440))
"""Trend spans the bed screen shows, each with one column per bucket (exact comparison)."""


@dataclass(frozen=True, slots=True)
class Sent:
    time_ns: int
    bed: int
    hr: int
    measured_ns: int


def plan() -> Iterator[Sent]:
    """Bed 1 sends every minute for 26 h, every 5 s in its last quarter of an hour; for
    20 minutes around 5 h before the restart it re-sends one measurement for 10 minutes at
    a time (an NIBP between cuff cycles), across the hour at which the back-fill turns.
    Bed 2 sends every minute until 3 h before the restart, then is silent."""
    resent_from, resent_to = (
        RESTART - 5 * HOUR - 15 * 60 * NS_PER_S,
        RESTART - 5 * HOUR + 5 * 60 * NS_PER_S,
    )
    sent: list[Sent] = []
    n = 0
    t = START
    while t <= LAST:
        measured = t
        if resent_from <= t < resent_to:
            measured = t - (t - resent_from) % (10 * 60 * NS_PER_S)
        sent.append(Sent(t, 1, 50 + (n * 7) % 60, measured))
        if t < RESTART - 3 * HOUR:
            sent.append(Sent(t, 2, 100 + (n * 11) % 50, t))
        n += 1
        t += (5 if t >= LAST - 15 * 60 * NS_PER_S else 60) * NS_PER_S
    return iter(sent)


def routed(sent: Sent, control_id: str) -> tuple[ReceivedMessage, RoutedReport]:
    clock = ManualClock(sent.time_ns)
    raw = oru(control_id, bed=sent.bed, hr=sent.hr, when=hl7_time(sent.measured_ns))
    message, reports = received(raw, clock)
    bed = BedId(f"ICU^{sent.bed}^1")
    return message, RoutedReport(reports[0], bed, f"Bed {sent.bed}")


@dataclass(frozen=True, slots=True)
class Record:
    path: Path
    reference: Hub
    """The ward as a gateway that never stopped would show it: every report applied."""
    sent: list[Sent]


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Record:
    path = tmp_path_factory.mktemp("restart") / "journal.sqlite"
    reference = Hub(WardState(), Router(), ManualClock(RESTART))
    sent = list(plan())

    async def write() -> None:
        async with Journal(path, clock=ManualClock(START)) as journal:
            items = [routed(s, f"m{n}") for n, s in enumerate(sent)]
            for first in range(0, len(items), 256):
                batch = items[first : first + 256]
                await asyncio.gather(*(journal.record(m, [r]) for m, r in batch))
                reference.apply([r for _, r in batch])

    asyncio.run(write())
    return Record(path, reference, sent)


def envelopes(hub: Hub, bed: BedId, code: int, now_ns: int) -> list[np.ndarray]:
    found = []
    for span, columns in SPANS:
        trend = hub.ward.trend(bed, code, span, columns, now_ns)
        assert trend is not None, f"no {code} trend for {bed}"
        found += [trend.low, trend.high]
    return found


def assert_same_trends(hub: Hub, reference: Hub, now_ns: int) -> None:
    for bed in (BED_1, BED_2):
        for code in (HR, SPO2):
            for got, want in zip(
                envelopes(hub, bed, code, now_ns), envelopes(reference, bed, code, now_ns),
                strict=True,
            ):  # fmt: skip
                np.testing.assert_array_equal(got, want, err_msg=f"{bed} {code}")


async def test_a_restart_shows_the_latest_values_at_once_stale_with_their_true_age(
    record: Record,
) -> None:
    hub = Hub(WardState(), Router(), ManualClock(RESTART))
    # Each sender's last reports of the 10 minutes before the stop (LAST, not RESTART).
    recent = [s for s in record.sent if s.time_ns >= LAST - 10 * 60 * NS_PER_S]
    assert await rebuild(hub, record.path, now_ns=RESTART) == len(recent)
    (bed,) = hub.snapshot().beds  # bed 2 fell silent hours ago: not among the last minutes
    reading = bed.readings[HR]
    assert reading.value == recent[-1].hr
    assert reading.stale
    assert reading.age_s == pytest.approx(300)
    assert bed.connectivity is Connectivity.LOST
    # Only the last minutes are in the trend so far: the day is still to come.
    day = hub.ward.trend(BED_1, HR, 24 * 3600, 1440, RESTART)
    assert day is not None
    assert int(np.isfinite(day.high).sum()) <= 11


async def test_the_day_of_trends_is_back_filled_newest_hours_first(record: Record) -> None:
    hub = Hub(WardState(), Router(), ManualClock(RESTART))
    await rebuild(hub, record.path, now_ns=RESTART)
    backfill = trend_backfill(hub, record.path, now_ns=RESTART)
    await backfill.run()
    assert backfill.finished
    assert backfill.hours_done == backfill.hours_total == 24
    assert_same_trends(hub, record.reference, RESTART)
    # Bed 2, silent for 3 h before the restart, is back: its last value, with its true age.
    bed_2 = hub.snapshot().bed(BED_2)
    assert bed_2 is not None
    last_2 = [s for s in record.sent if s.bed == 2][-1]
    assert bed_2.readings[HR].value == last_2.hr
    assert bed_2.readings[HR].age_s == pytest.approx((RESTART - last_2.time_ns) / NS_PER_S)
    assert bed_2.readings[HR].stale
    assert bed_2.connectivity is Connectivity.LOST
    assert [d.device.key for d in bed_2.devices] == ["EUI-64:0012211839000001"]
    shown = [f.text for f in hub.faults if f.source == "journal"]
    assert shown[:3] == [
        "rebuilding trends from the journal: 0 h of 24",
        "trends rebuilt: 1 h of 24",
        "trends rebuilt: 8 h of 24",
    ]
    assert shown[3].startswith("trends rebuilt: 24 h of 24 (")
    assert len(shown) == 4


async def test_live_reports_go_on_during_the_back_fill_and_their_values_win(
    record: Record,
) -> None:
    clock = ManualClock(RESTART)
    hub = Hub(WardState(), Router(), clock)
    reference = Hub(WardState(), Router(), clock)
    reference.apply(list(_journaled(record)))
    await rebuild(hub, record.path, now_ns=RESTART)
    backfill = trend_backfill(hub, record.path, now_ns=RESTART)
    running = asyncio.create_task(backfill.run())
    progress_at_live: list[int] = []
    n = 0
    # Live reports while the newest hours are read back; then none, while the older hours
    # (bed 2's last values among them) are: older values read back after live ones.
    while backfill.hours_done < 2:
        assert not running.done()
        clock.advance(1)
        for bed in (1, 2):  # bed 2 comes back too
            message, reports = received(
                oru(f"live{n}-{bed}", bed=bed, hr=150 + n % 20, when=hl7_time(clock.now_ns())),
                clock,
            )
            await hub.submit(message, reports)
            reference.apply([RoutedReport(reports[0], BedId(f"ICU^{bed}^1"), f"Bed {bed}")])
        progress_at_live.append(backfill.reports)
        n += 1
        # Monitors pace their reports: a loop that never waits would starve the back-fill's
        # reader thread of the GIL, which no real ingest does.
        await asyncio.sleep(0.002)
    await running
    assert backfill.hours_done == 24
    # Live reports were taken while the journal was being read back, not after it.
    assert any(0 < done < backfill.reports for done in progress_at_live)
    now = clock.now_ns()
    snapshot = hub.snapshot()
    for bed_id in (BED_1, BED_2):
        shown = snapshot.bed(bed_id)
        assert shown is not None
        reading = shown.readings[HR]
        assert (reading.value, reading.age_s, reading.stale) == (150 + (n - 1) % 20, 0, False)
        assert shown.connectivity is Connectivity.CONNECTED
    # The trends hold the day read back and the live values, as if never stopped.
    assert_same_trends(hub, reference, now)


def _journaled(record: Record) -> Iterator[RoutedReport]:
    for n, sent in enumerate(record.sent):
        yield routed(sent, f"m{n}")[1]


async def test_a_journal_younger_than_a_day_is_back_filled_as_far_as_it_goes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    first = RESTART - 3 * HOUR
    async with Journal(path, clock=ManualClock(first)) as journal:
        times = range(first, LAST, 60 * NS_PER_S)
        items = [routed(Sent(t, 1, 70, t), f"y{n}") for n, t in enumerate(times)]
        await asyncio.gather(*(journal.record(m, [r]) for m, r in items))
    hub = Hub(WardState(), Router(), ManualClock(RESTART))
    await rebuild(hub, path, now_ns=RESTART)
    backfill = trend_backfill(hub, path, now_ns=RESTART)
    await backfill.run()
    assert backfill.finished
    assert hub.faults[-1].text.startswith("trends rebuilt: 3.0 h of 24, all the journal holds (")
    day = hub.ward.trend(BED_1, HR, 24 * 3600, 1440, RESTART)
    assert day is not None
    assert int(np.isfinite(day.high).sum()) == len(times)


async def test_a_first_start_has_nothing_to_back_fill_and_says_nothing(tmp_path: Path) -> None:
    hub = Hub(WardState(), Router(), ManualClock(RESTART))
    backfill = trend_backfill(hub, tmp_path / "none.sqlite", now_ns=RESTART)
    await backfill.run()
    assert backfill.finished
    assert list(hub.faults) == []


async def test_a_device_bound_elsewhere_since_is_not_brought_back_to_its_old_bed(
    tmp_path: Path,
) -> None:
    """The monitor of automatic bed ICU^1^1 was bound to bed "bed-x" (the devices screen,
    or the configuration) while the gateway was down. Its first live report moves it there
    and its old automatic bed goes; the back-fill reading its older reports must not bring
    that bed back, nor its values or its link, beside the live one."""
    path = tmp_path / "j.sqlite"
    first = RESTART - 2 * HOUR
    async with Journal(path, clock=ManualClock(first)) as journal:
        times = range(first, LAST, 60 * NS_PER_S)
        items = [routed(Sent(t, 1, 70, t), f"b{n}") for n, t in enumerate(times)]
        await asyncio.gather(*(journal.record(m, [r]) for m, r in items))
    clock = ManualClock(RESTART)
    device = "EUI-64:0012211839000001"
    router = Router([BedBinding(BedId("bed-x"), "Bed X", devices=(device,))])
    hub = Hub(WardState(), router, clock)
    await rebuild(hub, path, now_ns=RESTART)
    hub.watch_moves()
    assert [b.bed for b in hub.snapshot().beds] == [BedId("bed-x"), BED_1]
    message, reports = received(oru("live", bed=1, hr=99, when=hl7_time(RESTART)), clock)
    await hub.submit(message, reports)
    assert hub.snapshot().bed(BED_1) is None  # it left: an automatic bed with no device
    backfill = trend_backfill(hub, path, now_ns=RESTART)
    await backfill.run()
    assert backfill.finished
    snapshot = hub.snapshot()
    assert snapshot.bed(BED_1) is None
    bed_x = snapshot.bed(BedId("bed-x"))
    assert bed_x is not None
    assert [d.device.key for d in bed_x.devices] == [device]
    assert bed_x.readings[HR].value == 99

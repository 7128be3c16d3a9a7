"""After a restart the ward is rebuilt from the journal — values, devices, trends — and what
was rebuilt is shown stale with its true age, never as live. Retention prunes the old."""

from __future__ import annotations

from pathlib import Path

import pytest
from journal_support import oru, received, running_gateway
from samples import load_sample

from adapters.hl7.batch import hl7_time
from gateway.app.service import flush_alarm_log, rebuild, trend_backfill
from gateway.clock import NS_PER_S, ManualClock
from gateway.config.load import parse_config
from gateway.domain import BedId, Connectivity
from gateway.errors import ConfigError
from gateway.hub import Hub
from gateway.journal import reader as reader_module
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport
from gateway.ward.routing import Router, location_key
from gateway.ward.snapshot import WardSnapshot
from gateway.ward.state import WardState

HR = 147842
MINUTE = 60 * 10**9


async def two_beds_for_five_seconds(path: Path, clock: ManualClock) -> WardSnapshot:
    """A gateway on ``path`` takes one monitor's ORUs for beds 1 (HR 70-74) and 2 (HR
    100-104), one a second each, then stops; what it showed last."""
    async with running_gateway(path, clock=clock) as gateway:
        monitor = await gateway.monitor()
        for n in range(5):
            assert (await monitor.send(oru(f"a{n}", bed=1, hr=70 + n)))[0] == "CA"
            assert (await monitor.send(oru(f"b{n}", bed=2, hr=100 + n)))[0] == "CA"
            clock.advance(1)
        await monitor.close()
        return gateway.hub.snapshot()


async def test_a_restart_rebuilds_values_and_devices_shown_stale_with_their_true_age(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    before = await two_beds_for_five_seconds(path, clock)

    clock.advance(300)  # the gateway was down five minutes
    hub = Hub(WardState(), Router(), clock)
    assert await rebuild(hub, path) == 10
    after = hub.snapshot()
    assert [b.bed for b in after.beds] == [BedId("ICU^1^1"), BedId("ICU^2^1")]
    assert [b.label for b in after.beds] == [b.label for b in before.beds]
    for bed, last_hr in zip(after.beds, (74, 104), strict=True):
        reading = bed.readings[HR]
        assert reading.value == last_hr
        assert reading.stale
        assert 300 <= reading.age_s <= 302
        assert bed.connectivity is Connectivity.LOST
        assert bed.silent_s is not None and bed.silent_s >= 300
        assert {d.device.key for d in bed.devices} == {d.device.key for d in before.beds[0].devices}
        assert all(d.connectivity is Connectivity.LOST for d in bed.devices)


async def test_a_gateway_stopped_longer_than_the_window_shows_every_bed_at_once(
    tmp_path: Path,
) -> None:
    """Down for 30 minutes (a laptop whose battery ran out), past the minutes rebuilt: when
    it listens again each bed shows its last values, stale with their true age — not an
    empty ward that the trend back-fill fills with older values first — and the back-fill
    leaves them as they are. The monitor did not come back: DEVICE LOST, as after a short
    stop."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    await two_beds_for_five_seconds(path, clock)

    clock.advance(30 * 60)
    hub = Hub(WardState(), Router(), clock)
    assert await rebuild(hub, path) == 10

    def shown() -> list[tuple[BedId, float | str | None, Connectivity]]:
        after = hub.snapshot().beds
        for bed in after:
            reading = bed.readings[HR]
            assert reading.stale
            assert 30 * 60 <= reading.age_s <= 30 * 60 + 2
        return [(b.bed, b.readings[HR].value, b.connectivity) for b in after]

    lost = Connectivity.LOST
    expected = [(BedId("ICU^1^1"), 74, lost), (BedId("ICU^2^1"), 104, lost)]
    assert shown() == expected
    await trend_backfill(hub, path, now_ns=clock.now_ns()).run()
    assert shown() == expected
    for _ in range(3):  # past DEVICE LOST's escalation
        clock.advance(30)
        hub.alarms.tick(clock.monotonic_ns())
    alarms = hub.alarms.snapshot().alarms
    assert sorted((str(a.bed), a.text) for a in alarms) == [
        ("ICU^1^1", "DEVICE LOST MON"),
        ("ICU^2^1", "DEVICE LOST MON"),
    ]


async def test_the_rebuild_covers_only_its_window(tmp_path: Path) -> None:
    """The window reaches back from the journal's last message: OLD is 5 h before it."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        for n, (bed, after_h) in enumerate((("OLD", 5), ("NEW", 1))):
            message, reports = received(oru(f"w{n}"), clock)
            await journal.record(message, [RoutedReport(reports[0], BedId(bed), bed)])
            clock.advance(after_h * 3600)
    hub = Hub(WardState(), Router(), clock)
    assert await rebuild(hub, path, window_h=4) == 1
    assert [b.bed for b in hub.snapshot().beds] == [BedId("NEW")]


async def test_retention_prunes_only_what_is_older_in_small_steps(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        for n in range(600):
            message, reports = received(oru(f"p{n}", bed=n % 3), clock)
            await journal.record(message, [RoutedReport(reports[0], BedId(f"B{n % 3}"), "")])
            clock.advance(60)
        cutoff = clock.now_ns() - 100 * MINUTE
        assert await journal.prune(cutoff, limit=50) == 50  # one small step
        assert await journal.prune_before(cutoff) == 500 - 50
        assert await journal.prune_before(cutoff) == 0
    with JournalReader(path) as reader:
        ids = [m.control_id for m in reader.messages()]
        kept = list(reader.reports())
        span = reader.time_range()
    assert ids == [f"p{n}" for n in range(500, 600)]
    assert [s.routed.report.message_id for s in kept] == ids
    assert span is not None and span[0] >= cutoff
    assert all(len(s.routed.report.observations) == 2 for s in kept)


def test_retention_hours_default_to_72_and_are_checked() -> None:
    assert parse_config("").retention_h == 72.0
    assert parse_config("[gateway]\nretention_h = 168\n").retention_h == 168.0
    for bad, why in (("0", "out of range"), ('"3d"', "got the string"), ("-1", "out of range")):
        with pytest.raises(ConfigError) as caught:
            parse_config(f"[gateway]\nretention_h = {bad}\n", "ward.toml")
        (problem,) = caught.value.problems
        assert problem.startswith("ward.toml:2: gateway.retention_h:"), problem
        assert why in problem and "a number > 0 (hours)" in problem, problem


async def test_a_device_alarm_still_open_from_before_the_minutes_rebuilt_is_raised_again(
    tmp_path: Path,
) -> None:
    """A pump's occlusion starts and ends, a monitor's low SpO2 starts and never ends, an
    hour before the restart: only the SpO2 alarm is raised again (after a restart)."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with running_gateway(path, clock=clock) as gateway:
        for sample in ("04", "03", "05"):
            message, reports = received(load_sample(sample), clock)
            await gateway.hub.submit(message, reports)
            clock.advance(60)
        assert await flush_alarm_log(gateway.hub, gateway.journal)
    clock.advance(3600)
    hub = Hub(WardState(), Router(), clock)
    # Nothing in the minutes before the restart; the three senders' last reports, an hour
    # old, are read back (the ward shows them, lost).
    assert await rebuild(hub, path) == 3
    assert all(bed.connectivity is Connectivity.LOST for bed in hub.snapshot().beds)
    shown = hub.alarms.snapshot().alarms
    assert [(a.bed, a.text, a.acknowledged) for a in shown] == [
        (BedId(location_key("HO Surgery^OR^1")), "Low SpO2 88", False)
    ]
    history = [t.text for t in hub.alarms.history(ward=True)]  # newest first
    assert history[0] == "Low SpO2 88 (after a restart)"
    assert not any("Occlusion" in text and "after a restart" in text for text in history)


SPO2 = 150456
OTHER = "0012211839000002"


def _heart_rate_only(raw: bytes) -> bytes:
    """The ORU without its SpO2 row: a sensor taken off, its value no longer sent."""
    return b"\r".join(seg for seg in raw.split(b"\r") if b"MDC_PULS_OXIM_SAT_O2" not in seg)


async def test_a_restart_reads_each_senders_last_reports_and_back_fills_the_rest_of_its_minutes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten minutes journaled: bed 1 sends every second, its SpO2 only in the first minute;
    bed 2's monitor falls silent six minutes before the stop. Before listeners open only
    the last two minutes are fed back whole, and before them each sender's last reports:
    bed 2 is there, lost, and raises DEVICE LOST if it does not come back; bed 1's SpO2
    comes with the back-fill, which never makes a live value older."""
    monkeypatch.setattr(reader_module, "PAGE", 50)  # pages as small as the ward is
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with Journal(path, clock=clock) as journal:
        hub = Hub(WardState(), Router(), clock, journal=journal)
        for second in range(600):
            when = hl7_time(clock.now_ns())  # each a measurement of its own
            raw = oru(f"a{second}", bed=1, hr=60 + second % 30, when=when)
            await hub.submit(*received(raw if second < 60 else _heart_rate_only(raw), clock))
            if second < 240:
                raw = oru(f"b{second}", bed=2, hr=100, eui=OTHER, when=when)
                await hub.submit(*received(raw, clock, peer="127.0.0.1:4001"))
            clock.advance(1)
    clock.advance(30)  # the gateway was down half a minute
    restart = clock.now_ns()
    hub = Hub(WardState(), Router(), clock)
    fed = await rebuild(hub, path)
    assert fed < 600  # of the 840 journaled
    snapshot = hub.snapshot()
    bed_1, bed_2 = snapshot.bed(BedId("ICU^1^1")), snapshot.bed(BedId("ICU^2^1"))
    assert bed_1 is not None and bed_2 is not None
    assert bed_2.connectivity is Connectivity.LOST
    reading = bed_2.readings[HR]
    assert (reading.value, reading.stale) == (100, True)
    assert reading.age_s == pytest.approx(391)
    assert snapshot.alarms is not None
    assert snapshot.alarms.of_bed(bed_2.bed) == ()  # no blame for the time it was down
    assert (bed_1.readings[HR].value, bed_1.readings[HR].stale) == (60 + 599 % 30, True)
    assert SPO2 not in bed_1.readings  # not among the last reports: back-filled next
    day = hub.ward.trend(bed_1.bed, HR, 3600, 3600, clock.now_ns())
    assert day is not None
    assert int((day.high == day.high).sum()) <= 121  # the last two minutes only, so far

    # A live report before the back-fill: its values stay the latest.
    clock.advance(1)
    live = oru("live", bed=1, hr=88, when=hl7_time(clock.now_ns()))
    await hub.submit(*received(_heart_rate_only(live), clock))
    await trend_backfill(hub, path, now_ns=restart).run()
    bed_1 = hub.snapshot().bed(BedId("ICU^1^1"))
    assert bed_1 is not None
    assert (bed_1.readings[HR].value, bed_1.readings[HR].stale) == (88, False)
    spo2 = bed_1.readings[SPO2]
    assert (spo2.value, spo2.stale) == (97, True)
    assert spo2.age_s == pytest.approx(572)
    day = hub.ward.trend(bed_1.bed, HR, 3600, 3600, clock.now_ns())
    assert day is not None
    assert int((day.high == day.high).sum()) == 601  # every second journaled, and the live one
    # The alarm engine knows bed 2's monitor though it is not among the last minutes: when
    # it does not come back, it is lost.
    clock.advance(61)
    alarms = hub.snapshot().alarms
    assert alarms is not None
    lost = [a.text for a in alarms.of_bed(bed_2.bed)]
    assert lost == ["DEVICE LOST MON"], lost


async def test_a_device_alarm_raised_in_the_last_two_minutes_before_their_waves_comes_back(
    tmp_path: Path,
) -> None:
    """A monitor's low SpO2 starts 100 s before the stop and is never ended; the monitor
    sends numerics every second until the stop. The minutes before the last 64 s are read
    without their alarm rows: the alarm still comes back, raised again after the restart."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock(1326315897 * NS_PER_S)  # the sample's alarm time: the gateway's too
    async with running_gateway(path, clock=clock) as gateway:
        message, reports = received(load_sample("03"), clock)
        await gateway.hub.submit(message, reports)
        for second in range(100):
            clock.advance(1)
            when = hl7_time(clock.now_ns())
            await gateway.hub.submit(*received(oru(f"n{second}", bed=7, when=when), clock))
        assert await flush_alarm_log(gateway.hub, gateway.journal)
    clock.advance(5)
    hub = Hub(WardState(), Router(), clock)
    await rebuild(hub, path)
    shown = hub.alarms.snapshot().alarms
    assert [(a.text, a.acknowledged) for a in shown] == [("Low SpO2 88", False)]
    history = [t.text for t in hub.alarms.history(ward=True)]  # newest first
    assert history[0] == "Low SpO2 88 (after a restart)"


async def test_a_rebuilt_ward_lists_its_beds_in_the_order_of_their_labels(tmp_path: Path) -> None:
    """Each sender's last report comes back oldest first, which is no order staff know: the
    monitor of ICU 10-1 fell silent before the one of ICU 2-1, which fell silent before the
    one of ICU 1-1. The rebuilt grid still reads 1, 2, 10 (the labels' numbers by value)."""
    path = tmp_path / "j.sqlite"
    clock = ManualClock()
    async with running_gateway(path, clock=clock) as gateway:
        monitor = await gateway.monitor()
        for n, (bed, eui) in enumerate(
            ((10, "0012211839000010"), (2, "0012211839000002"), (1, "0012211839000001"))
        ):
            assert (await monitor.send(oru(f"m{n}", bed=bed, eui=eui)))[0] == "CA"
            clock.advance(60)  # each a minute after the other: older than the last 2 minutes
        await monitor.close()
    clock.advance(240)
    hub = Hub(WardState(), Router(), clock)
    assert await rebuild(hub, path) == 3
    assert [b.label for b in hub.snapshot().beds] == ["ICU 1-1", "ICU 2-1", "ICU 10-1"]

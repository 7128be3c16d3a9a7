"""The wards screen's rows (:mod:`tui.wards`): which alarm is a gateway's and a bed's worst,
what is counted, and that a dark gateway's beds are NO DATA whatever they last said."""

from __future__ import annotations

from types import MappingProxyType

from gateway.alarms.snapshot import ActiveAlarm, AlarmSnapshot
from gateway.domain import AlarmKind, AlarmPriority, AlarmSource, BedId, Connectivity
from gateway.ward.snapshot import BedSnapshot, GatewaySource, WardSnapshot
from tui.wards import NO_DATA, gateway_name, summary, ward_lines

H, M, L = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


def bed(key: str, label: str, connectivity: Connectivity = Connectivity.CONNECTED) -> BedSnapshot:
    return BedSnapshot(BedId(key), label, "", MappingProxyType({}), (), connectivity, 1.0)


def alarm(
    key: str, bed_key: str | None, priority: AlarmPriority, onset: int, *, ack: bool = False
) -> ActiveAlarm:
    return ActiveAlarm(
        key=key,
        bed=None if bed_key is None else BedId(bed_key),
        bed_label="",
        priority=priority,
        kind=AlarmKind.PHYSIOLOGICAL,
        source=AlarmSource.GATEWAY,
        text=key,
        onset_ns=onset,
        latched=False,
        acknowledged=ack,
        silenced=False,
    )


def ward(alarms: list[ActiveAlarm], dark: str | None = None) -> WardSnapshot:
    north = GatewaySource(
        "icu/v1/s/n/gw-n", "s", "n", "gw-n", "ICU north", (BedId("icu/v1/s/n/gw-n/b1"),), None
    )
    south = GatewaySource(
        "icu/v1/s/s/gw-s",
        "s",
        "s",
        "gw-s",
        "gw-s",
        (BedId("icu/v1/s/s/gw-s/b1"), BedId("icu/v1/s/s/gw-s/b2")),
        dark,
    )
    beds = (
        bed("icu/v1/s/n/gw-n/b1", "n B1"),
        bed("icu/v1/s/s/gw-s/b1", "s B1"),
        bed("icu/v1/s/s/gw-s/b2", "s B2", Connectivity.STALE),
    )
    return WardSnapshot(
        10, 10.0, beds, (), alarms=AlarmSnapshot(100, tuple(alarms)), sources=(north, south)
    )


def test_the_worst_alarm_is_the_highest_not_yet_acknowledged_then_the_oldest() -> None:
    b1 = "icu/v1/s/s/gw-s/b1"
    lines = ward(
        [
            alarm("icu/v1/s/s/gw-s/acked-high", b1, H, 1, ack=True),
            alarm("icu/v1/s/s/gw-s/medium", b1, M, 2),
            alarm("icu/v1/s/s/gw-s/new-high", b1, H, 9),
            alarm("icu/v1/s/s/gw-s/old-high", b1, H, 5),
            alarm("icu/v1/s/n/gw-n/low", "icu/v1/s/n/gw-n/b1", L, 3),
        ]
    )
    north, south = ward_lines(lines)
    assert south.worst is not None and south.worst.key.endswith("old-high")
    assert south.beds[0].worst is not None and south.beds[0].worst.key.endswith("old-high")
    assert south.beds[0].alarms == 4 and south.beds[1].worst is None
    assert south.counts == {H: 2, M: 1, L: 0}  # the acknowledged one is not counted
    assert north.worst is not None and north.worst.key.endswith("low")
    assert north.counts == {H: 0, M: 0, L: 1}


def test_a_ward_wide_alarm_belongs_to_its_gateway_only() -> None:
    lines = ward_lines(ward([alarm("icu/v1/s/n/gw-n/no-data", None, H, 1)]))
    assert lines[0].worst is not None and lines[0].counts[H] == 1
    assert lines[1].worst is None and lines[1].counts[H] == 0
    assert all(b.worst is None for line in lines for b in line.beds)


def test_a_dark_gateways_beds_are_no_data_and_the_others_keep_their_link() -> None:
    north, south = ward_lines(ward([], dark="no heartbeat for 4 s"))
    assert south.state == NO_DATA and [b.state for b in south.beds] == [NO_DATA, NO_DATA]
    assert north.state == "live" and [b.state for b in north.beds] == ["connected"]
    assert [b.label for b in south.beds] == ["B1", "B2"]  # the ward has its own column
    assert summary([north, south]).startswith("2 wards · 2 gateways · 3 beds · 1 NO DATA")
    live = ward_lines(ward([]))
    assert live[1].beds_by_state == {"connected": 1, "stale": 1}
    assert "all gateways live" in summary(live) and "no high alarm" in summary(live)


def test_two_gateways_of_one_name_are_told_apart_by_their_topic_level() -> None:
    north, south = ward_lines(ward([]))
    assert gateway_name(north.source) == "ICU north (gw-n)"
    assert gateway_name(south.source) == "gw-s"


def test_a_dark_gateways_worst_is_that_it_is_dark_whatever_else_it_last_said() -> None:
    older_high = alarm("icu/v1/s/s/gw-s/hr", "icu/v1/s/s/gw-s/b1", H, 1)
    no_data = alarm("icu/v1/s/s/gw-s/no-data", None, H, 9)
    _, south = ward_lines(ward([older_high, no_data], dark="no heartbeat for 4 s"))
    assert south.worst is no_data
    _, live = ward_lines(ward([older_high, no_data]))
    assert live.worst is older_high  # live: by priority, then age, as everywhere

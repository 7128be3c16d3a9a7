"""SVG snapshots of every screen, pinned (pytest-textual-snapshot).

Deterministic: the ward is seeded (:mod:`ward_rig`), the clock is a ManualClock that does
not move while the picture is taken, and the header's clock is the snapshot's time shown
in UTC here. Refresh them with ``--snapshot-update`` only after looking at the new SVGs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from ward_rig import Rig

from tui.app import WardApp

MARKERS = ("DEMO", "NO ALARMS")
SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The header clock in UTC, whatever the machine's time zone."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ward(beds: int, *, history_bed: int | None = None) -> WardApp:
    """``beds`` beds: all live but the last three (stale 15 s, lost 90 s, never spoke)."""
    rig = Rig.of(beds)
    rig.scenario(history_bed=history_bed)
    return rig.app(title="ICU Nord", markers=MARKERS)


def test_ward_of_8_beds(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8), terminal_size=(120, 40))


def test_ward_of_32_beds_on_one_200x60_terminal(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(32), terminal_size=(200, 60))


def test_ward_of_8_beds_in_compact_tiles_at_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8), terminal_size=(80, 24))


def test_a_stale_a_lost_and_a_silent_bed(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(4), terminal_size=(120, 16))


def test_bed_detail_with_a_day_of_trends(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8, history_bed=0), press=["enter"], terminal_size=(160, 56))


def test_bed_detail_at_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8, history_bed=0), press=["enter"], terminal_size=(80, 24))


def test_devices(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8), press=["d"], terminal_size=(160, 30))


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(ward(8), press=["question_mark"], terminal_size=(100, 50))


def alarm_ward() -> WardApp:
    """Eight beds with the alarm engine: ICU 102 high, ICU 103 and ICU 105 medium, every
    one acknowledged (steady: a flashing tile would make the picture depend on the instant
    it is taken), and the sound paused."""
    from alarm_ward import AlarmWard

    ward = AlarmWard(8)
    ward.send(1, hr=180)
    ward.send(2, spo2=86)
    ward.send(4, rr=36)
    ward.clock.advance(3)
    ward.engine.tick()
    for index in (1, 2):
        ward.engine.acknowledge(ward.beds[index])
    ward.engine.pause_audio()
    ward.clock.advance(40)
    for index in range(8):
        ward.send(index, **({"hr": 180} if index == 1 else {"spo2": 86} if index == 2 else {}))
    ward.send(4, rr=36)
    ward.engine.tick()
    ward.engine.acknowledge(ward.beds[4])
    return ward.app()


def test_alarms_on_the_ward(snap_compare: SnapCompare) -> None:
    assert snap_compare(alarm_ward(), terminal_size=(120, 32))


def test_bed_detail_with_its_alarms(snap_compare: SnapCompare) -> None:
    assert snap_compare(alarm_ward(), press=["right", "enter"], terminal_size=(160, 48))


def test_bed_detail_with_its_alarms_at_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(alarm_ward(), press=["right", "enter"], terminal_size=(80, 24))

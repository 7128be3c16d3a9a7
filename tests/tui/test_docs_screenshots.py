"""The docs' screenshots are the dashboard as it is: each is byte for byte the snapshot its
test takes of the current screens (tests/tui/test_dashboard_snapshots.py), so a change to
a screen that does not come with its screenshot fails here. ``make screenshots`` renews
both."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = ROOT / "tests/tui/__snapshots__/test_dashboard_snapshots"
DOCS = ROOT / "docs/screenshots"

SHOWN = {
    "ward-8-beds.svg": "test_ward_of_8_beds.svg",
    "ward-32-beds-200x60.svg": "test_ward_of_32_beds_on_one_200x60_terminal.svg",
    "ward-compact-80x24.svg": "test_ward_of_8_beds_in_compact_tiles_at_80x24.svg",
    "stale-lost-silent.svg": "test_a_stale_a_lost_and_a_silent_bed.svg",
    "bed-detail.svg": "test_bed_detail_with_its_alarms.svg",
    "bed-detail-80x24.svg": "test_bed_detail_with_its_alarms_at_80x24.svg",
    "devices.svg": "test_devices.svg",
    "help.svg": "test_help.svg",
    "alarms.svg": "test_alarms_on_the_ward.svg",
}
"""docs/screenshots/<name> ← the snapshot it must equal (``make screenshots`` copies them)."""


@pytest.mark.parametrize("doc", sorted(SHOWN))
def test_each_screenshot_in_the_docs_is_the_current_screen(doc: str) -> None:
    shown, current = DOCS / doc, SNAPSHOTS / SHOWN[doc]
    assert current.is_file(), f"no snapshot {current.name}: run its test"
    assert shown.read_bytes() == current.read_bytes(), (
        f"docs/screenshots/{doc} is not the current screen: run `make screenshots`"
    )


def test_every_screenshot_the_docs_show_is_kept_current() -> None:
    used = {
        line.split("(screenshots/", 1)[1].split(")", 1)[0]
        for page in (ROOT / "docs").glob("*.md")
        for line in page.read_text().splitlines()
        if "](screenshots/" in line
    }
    assert used <= set(SHOWN), f"shown in docs but not kept current: {used - set(SHOWN)}"
    assert {p.name for p in DOCS.glob("*.svg")} == set(SHOWN)

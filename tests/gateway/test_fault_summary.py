"""Log discipline: a repeated fault is shown and logged once, then summarised ("… repeated N
times in 60 s") on the fault line and in the log; the dashboard's log file rotates, so a flood
of distinct faults stays under its size cap."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.clock import ManualClock
from gateway.fault_summary import FaultSummary
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from tui.widgets import fault_line

ROOT = Path(__file__).resolve().parents[2]


def hub() -> Hub:
    return Hub(WardState(), Router(), ManualClock())


def test_a_repeated_fault_is_shown_once_then_summarised_on_screen_and_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = hub()
    caplog.set_level(logging.WARNING, logger="gateway.hub")
    text = "cannot write: attempt to write a readonly database"
    for _ in range(500):  # an unwritable journal, every message
        gateway.fault("journal", text)
    assert gateway.fault_count == 500
    assert [f.text for f in gateway.faults] == [text]
    assert len(caplog.records) == 1
    gateway.summarise_faults(time.monotonic() + 61)  # the window has ended
    summary = "cannot write: attempt to write a readonly database … repeated 499 times in 60 s"
    assert gateway.faults[-1].text == summary
    assert caplog.records[-1].getMessage() == f"journal: {summary}"
    assert summary in fault_line(gateway.snapshot()).plain
    assert "faults 500" in fault_line(gateway.snapshot()).plain


def test_a_storm_that_goes_on_is_summarised_once_a_window_and_forgotten_when_it_stops() -> None:
    summary = FaultSummary(window_s=60)
    assert summary.note("mllp 10.0.0.5:4001", "connection lost: reset", 0.0, "lost")
    # The same kind from another port of the same address, other text: counted together.
    assert not summary.note("mllp 10.0.0.5:4002", "connection lost: timed out", 1.0, "lost")
    # Another address is another source: shown.
    assert summary.note("mllp 10.0.0.6:4001", "connection lost: reset", 1.0, "lost")
    assert summary.due(59.0) == []
    (first,) = summary.due(60.0)  # 10.0.0.6 had no repeat: nothing to say, forgotten
    assert first.source == "mllp 10.0.0.5:4001"
    assert first.text == (
        "connection lost: reset … repeated 1 times in 60 s (last: connection lost: timed out)"
    )
    assert not summary.note("mllp 10.0.0.5:4003", "connection lost: reset", 70.0, "lost")
    assert [s.text for s in summary.due(120.0)] == [
        "connection lost: reset … repeated 1 times in 60 s"
    ]
    assert summary.due(180.0) == []  # the storm stopped: forgotten
    assert summary.note("mllp 10.0.0.5:4004", "connection lost: reset", 181.0, "lost")


def test_distinct_faults_with_different_numbers_are_each_shown() -> None:
    # Without a kind, the text is the kind: progress lines are never swallowed.
    gateway = hub()
    for hours in (1, 8, 24):
        gateway.fault("journal", f"trends rebuilt: {hours} h of 24")
    assert [f.text for f in gateway.faults] == [
        "trends rebuilt: 1 h of 24",
        "trends rebuilt: 8 h of 24",
        "trends rebuilt: 24 h of 24",
    ]


FLOOD = """
import sys
from pathlib import Path
from gateway.app.cli import log_to_file
from gateway.clock import ManualClock
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState

log_to_file(Path(sys.argv[1]), max_bytes=50_000, backups=2)
hub = Hub(WardState(), Router(), ManualClock())
for n in range(20_000):  # distinct faults: none is a repeat, each is a line
    hub.fault(f"mllp 10.1.{n // 250}.{n % 250}:4000", f"bad message rejected: MSH-9 {n} unknown")
"""


def test_the_log_file_rotates_so_a_flood_of_faults_stays_under_its_cap(tmp_path: Path) -> None:
    log = tmp_path / "icu-gateway.log"
    subprocess.run([sys.executable, "-c", FLOOD, str(log)], cwd=ROOT, check=True, timeout=60)
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == ["icu-gateway.log", "icu-gateway.log.1", "icu-gateway.log.2"]
    total = sum(f.stat().st_size for f in files)
    # 20,000 lines of ~110 bytes (2.2 MB) written; what stays is bounded by the cap.
    assert total <= 3 * 50_000
    assert all(f.stat().st_size <= 50_000 for f in files)
    assert "MSH-9 19999 unknown" in log.read_text(encoding="utf-8")

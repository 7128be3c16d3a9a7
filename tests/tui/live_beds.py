"""A gateway's hub with live bindings on a configuration file, as ``icu-gateway run`` makes
them: for the tests that bind, rename, admit and discharge from the screens."""

from __future__ import annotations

from pathlib import Path

from gateway.app.bindings import LiveBindings
from gateway.app.service import build_hub
from gateway.config import load_config
from gateway.hub import Hub

CONFIG = """
[gateway]
name = "ICU TEST"
journal = "ward.sqlite"
auto_beds = false

[[beds]]
id = "bed-a"
label = "Bed A"
locations = ["ICU^9^1"]
"""


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "ward.toml"
    path.write_text(CONFIG)
    return path


def live_beds(path: Path) -> tuple[Hub, LiveBindings]:
    """The hub of the configuration at ``path``, its live bindings started (the overlay
    beside it read, as at a gateway's start)."""
    config = load_config(path)
    hub = build_hub(config)
    beds = LiveBindings(hub, config, path)
    beds.start()
    return hub, beds

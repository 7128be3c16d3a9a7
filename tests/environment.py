"""What a test does when a tool it needs is missing from this machine."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer's machine; fail in CI (``CI=true``), where ``.ci/run`` installs
    every tool the tests need and a silently skipped test would hide a broken build."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and CI must run this test")
    pytest.skip(reason)

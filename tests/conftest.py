"""Fixtures shared by every test package: a real Mosquitto broker on a free port.

``mosquitto`` starts ``mosquitto -c CONFIG`` (anonymous clients on 127.0.0.1 only, no
persistence, nothing written outside a temporary folder), waits until it accepts TCP
connections, yields its ``mqtt://127.0.0.1:PORT`` URL and stops it. Without the binary the
test is skipped — except in CI (``CI=true``), where a missing broker is a failure: CI
installs it (``.ci/run``), and a silently skipped MQTT suite would hide a broken build.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from environment import unavailable

_START_TIMEOUT_S = 10.0


def _mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[str]:
    binary = _mosquitto_binary()
    if binary is None:
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    port = _free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
    )
    log_path = tmp_path / "mosquitto.log"
    with log_path.open("wb") as log:
        broker = subprocess.Popen([binary, "-c", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _accepts(port):
            if broker.poll() is not None:
                pytest.fail(f"mosquitto exited ({broker.returncode}): {log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not accept on port {port}: {log_path.read_text()}")
            time.sleep(0.02)
        yield f"mqtt://127.0.0.1:{port}"
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            broker.kill()
            broker.wait()

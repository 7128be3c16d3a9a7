"""Fixtures shared by every test package: a real Mosquitto broker on a free port.

``mosquitto`` starts ``mosquitto -c CONFIG`` (anonymous clients on 127.0.0.1 only, no
persistence, nothing written outside a temporary folder), waits until it accepts TCP
connections, yields its ``mqtt://127.0.0.1:PORT`` URL and stops it; ``broker`` yields the
:class:`~mqtt_broker.MosquittoBroker` itself, for tests that kill, freeze or restart it.
Without the binary the test is skipped — except in CI (``CI=true``), where a missing broker
is a failure: CI installs it (``.ci/run``), and a silently skipped MQTT suite would hide a
broken build.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from environment import unavailable
from mqtt_broker import MosquittoBroker, mosquitto_binary


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    binary = mosquitto_binary()
    if binary is None:
        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    running = MosquittoBroker(binary, tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def mosquitto(broker: MosquittoBroker) -> str:
    return broker.url

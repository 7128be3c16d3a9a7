"""A real Mosquitto on a free loopback port that a test can kill, freeze (SIGSTOP), thaw
and restart on the same port: what the MQTT tests do to a broker."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

START_TIMEOUT_S = 10.0


def mosquitto_binary() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each held until all are chosen (one at a time, the
    system may hand the same port out twice — a cluster's nodes then fail to bind)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class MosquittoBroker:
    """``start()`` it, then ``url``; ``kill()``, ``freeze()``, ``thaw()``, ``start()`` again.
    ``extra_config`` follows the listener line (so TLS files written there are the
    listener's); ``tls`` makes ``url`` an ``mqtts://`` one."""

    def __init__(
        self, binary: str, folder: Path, extra_config: str = "", *, tls: bool = False
    ) -> None:
        self.binary = binary
        self.tls = tls
        self.port = free_port()
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\npersistence false\nlog_dest stderr\n"
            + (extra_config or "allow_anonymous true\n")
        )
        self.log_path = folder / "mosquitto.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=log
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not accepts(self.port):
            if self.process.poll() is not None:
                pytest.fail(
                    f"mosquitto exited ({self.process.returncode}): {self.log_path.read_text()}"
                )
            if time.monotonic() > deadline:
                pytest.fail(f"mosquitto did not accept on {self.port}: {self.log_path.read_text()}")
            time.sleep(0.02)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def freeze(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.thaw()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

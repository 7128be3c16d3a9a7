"""A real 3-node NATS cluster with JetStream and MQTT (3.1.1 only in NATS 2.9), on free
loopback ports in a test's folder: the clustered broker of ``docs/scaling.md``. A test can
kill one node (SIGKILL) and start it again, and ask which node leads JetStream.

Readiness is each node's ``/healthz`` (JetStream in contact with a meta leader) and then
one MQTT connection made here, because the cluster's first MQTT connection creates the
JetStream streams and takes about 2 s — longer than the gateway's 2 s call timeout.
``mqtt.stream_replicas: 3`` because without it NATS 2.9 made those streams with 2 replicas.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from mqtt_broker import accepts, free_ports

START_TIMEOUT_S = 15.0
CLUSTER = "icu-test"


def nats_binary() -> str | None:
    found = shutil.which("nats-server")
    if found:
        return found
    candidate = "/usr/sbin/nats-server"
    return candidate if os.access(candidate, os.X_OK) else None


def _four(ports: list[int]) -> tuple[int, int, int, int]:
    client, cluster, mqtt, http = ports
    return client, cluster, mqtt, http


@dataclass
class NatsNode:
    name: str
    folder: Path
    client_port: int
    cluster_port: int
    mqtt_port: int
    http_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.mqtt_port}"

    @property
    def log_path(self) -> Path:
        return self.folder / "nats.log"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def http(self, path: str) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.http_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as answer:
                result: dict[str, object] = json.loads(answer.read())
                return result
        except urllib.error.HTTPError as error:  # /healthz answers 503 with a JSON body
            result = json.loads(error.read() or b"{}")
            return result
        except OSError:
            return {}

    def healthy(self) -> bool:
        return self.http("/healthz").get("status") == "ok"


class NatsCluster:
    """``start()`` the three nodes; ``kill(node)``, ``restart(node)``; ``stop()``."""

    def __init__(self, binary: str, folder: Path, size: int = 3) -> None:
        self.binary = binary
        ports = free_ports(4 * size)  # distinct: one at a time, two nodes could get one
        self.nodes = [
            NatsNode(f"n{n + 1}", folder / f"n{n + 1}", *_four(ports[4 * n : 4 * n + 4]))
            for n in range(size)
        ]
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True)
            routes = ", ".join(
                f"nats-route://127.0.0.1:{other.cluster_port}"
                for other in self.nodes
                if other is not node
            )
            (node.folder / "nats.conf").write_text(
                f"server_name: {node.name}\n"
                f"listen: 127.0.0.1:{node.client_port}\n"
                f"http: 127.0.0.1:{node.http_port}\n"
                f'jetstream {{ store_dir: "{node.folder / "js"}" }}\n'
                f"cluster {{ name: {CLUSTER}, listen: 127.0.0.1:{node.cluster_port},"
                f" routes: [ {routes} ] }}\n"
                f"mqtt {{ listen: 127.0.0.1:{node.mqtt_port}, stream_replicas: {size} }}\n"
            )
        self.started_in_s = 0.0

    def _launch(self, node: NatsNode) -> None:
        node.process = subprocess.Popen(
            [self.binary, "-c", str(node.folder / "nats.conf"), "-l", str(node.log_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        began = time.monotonic()
        for node in self.nodes:
            self._launch(node)
        self._wait(self.nodes)
        warm_up(self.nodes[0].mqtt_port)
        self.started_in_s = time.monotonic() - began

    def _wait(self, nodes: list[NatsNode]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not all(node.healthy() and accepts(node.mqtt_port) for node in nodes):
            for node in nodes:
                if node.process is not None and node.process.poll() is not None:
                    pytest.fail(f"nats-server {node.name} exited: {self.logs(node)}")
            if time.monotonic() > deadline:
                pytest.fail(f"NATS cluster not ready in {START_TIMEOUT_S:g} s: {self.logs()}")
            time.sleep(0.05)

    def meta_leader(self) -> str | None:
        """The name of the node leading JetStream's meta group, as a live node sees it."""
        for node in self.nodes:
            if node.running():
                meta = node.http("/jsz").get("meta_cluster")
                if isinstance(meta, dict) and meta.get("leader"):
                    return str(meta["leader"])
        return None

    def stream_leaders(self) -> dict[str, str]:
        """Each MQTT stream's leader, e.g. ``{"$MQTT_msgs": "n2", …}``."""
        for node in self.nodes:
            if not node.running():
                continue
            found = node.http("/jsz?accounts=true&streams=true")
            leaders = {}
            for account in found.get("account_details", []) or []:  # type: ignore[attr-defined]
                for stream in account.get("stream_detail", []) or []:
                    leaders[stream["name"]] = (stream.get("cluster") or {}).get("leader", "?")
            if leaders:
                return leaders
        return {}

    def kill(self, node: NatsNode) -> None:
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()

    def restart(self, node: NatsNode) -> None:
        self._launch(node)
        self._wait([node])

    def stop(self) -> None:
        for node in self.nodes:
            if node.running():
                assert node.process is not None
                node.process.terminate()
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()

    def logs(self, *nodes: NatsNode) -> str:
        parts = []
        for node in nodes or tuple(self.nodes):
            text = node.log_path.read_text() if node.log_path.exists() else "(no log)"
            parts.append(f"--- {node.name}\n{text[-2000:]}")
        return "\n".join(parts)


def warm_up(port: int, timeout_s: float = 10.0) -> None:
    """One MQTT 3.1.1 CONNECT (clean session) answered by CONNACK 0: the first one of a
    cluster creates the JetStream streams, which takes seconds; later ones do not."""
    client_id = b"icu-test-warm-up"
    body = (
        b"\x00\x04MQTT\x04\x02\x00\x05"  # protocol 3.1.1, clean session, keepalive 5 s
        + len(client_id).to_bytes(2, "big")
        + client_id
    )
    deadline = time.monotonic() + timeout_s
    last = b""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
                sock.sendall(bytes([0x10, len(body)]) + body)
                last = sock.recv(4)
                if last == b"\x20\x02\x00\x00":
                    sock.sendall(b"\xe0\x00")  # DISCONNECT
                    return
        except OSError as error:
            last = str(error).encode()
        time.sleep(0.2)
    pytest.fail(f"NATS MQTT never accepted a connection on {port}: {last!r}")

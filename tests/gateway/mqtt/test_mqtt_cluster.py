"""A gateway and a remote screen on a 3-node NATS cluster (MQTT 3.1.1): the node the
gateway is connected to — chosen to be the one leading JetStream, the worst case — is
killed while monitors send; the screen never shows a stale value as live, goes NO DATA or
stays live, and comes back with the gateway's full alarm set. The failover time is
measured and printed (``pytest -s``); docs/scaling.md quotes it.

What NATS 2.9 does meanwhile (``docs/scaling.md``): the dead node's clients lose their
connection at once, the will of the gateway is never sent (the screen's heartbeat rule
is what notices), and for some seconds QoS 1 subscriptions may be refused (SUBACK 0x80),
which the gateway and the screen both take as a failed connection and retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from environment import unavailable
from journal_support import Monitor, oru
from mqtt_support import LocalGateway, bed_named, publishing_gateway, remote_screen
from nats_cluster import NatsCluster, nats_binary
from waiting import eventually

from gateway.mqtt.remote_ward import RemoteWard

BEDS = 8
ALARMED = {1: 180.0, 2: 20.0, 3: 190.0}
"""Beds whose HR is beyond the default limits (50–120): three alarms before the kill."""
STABLE_S = 3.0
"""Recovered means live with every alarm for this long: while JetStream elects new
leaders a fresh connection can stall again and the screen go dark once more."""
RECOVERY_TIMEOUT_S = 40.0
"""Generous but bounded: NATS 2.9 refused QoS 1 subscriptions for ~10 s after its
JetStream leader died (``reference``), and backoffs reach 5 s."""


@pytest.fixture
def nats(tmp_path: Path) -> Iterator[NatsCluster]:
    binary = nats_binary()
    if binary is None:
        unavailable("nats-server is not installed (apt-get install nats-server)")
    cluster = NatsCluster(binary, tmp_path / "nats")
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


class Ward:
    """Monitors on ``BEDS`` beds, one message every 10 ms in turn, every ACK kept."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.codes: list[str] = []

    async def run(self) -> None:
        n = 0
        while True:
            bed = n % BEDS + 1
            n += 1
            hr = ALARMED.get(bed, 70.0 + bed)
            code, _ = await self.monitor.send(
                oru(f"c{n}", bed=bed, hr=hr, eui=f"00122118390000{bed:02x}")
            )
            self.codes.append(code)
            await asyncio.sleep(0.01)


async def held(
    predicate: Callable[[], bool], hold_s: float, timeout_s: float, state: Callable[[], object]
) -> float:
    """When ``predicate`` began to hold for ``hold_s`` without a break (monotonic time);
    the test fails after ``timeout_s``, showing ``state()``."""
    deadline = time.monotonic() + timeout_s
    since: float | None = None
    while time.monotonic() < deadline:
        now = time.monotonic()
        if not predicate():
            since = None
        elif since is None:
            since = now
        elif now - since >= hold_s:
            return since
        await asyncio.sleep(0.02)
    raise AssertionError(f"not recovered for {hold_s:g} s within {timeout_s:g} s: {state()}")


def screen_alarms(remote: RemoteWard) -> set[str]:
    alarms = remote.snapshot().alarms
    assert alarms is not None
    return {a.text for a in alarms.alarms if not a.text.startswith("NO DATA from")}


def gateway_alarms(gateway: LocalGateway) -> set[str]:
    return {a.text for a in gateway.hub.alarms.snapshot().alarms}


def live(remote: RemoteWard) -> bool:
    return bool(remote.gateways()) and all(reason is None for _, reason in remote.gateways())


@dataclass
class Watch:
    """What the screen showed every 50 ms: dark or live, and any value shown live that
    was not (a dark gateway's reading not marked stale, or one older than its timeout)."""

    dark_s: list[float] = field(default_factory=list)
    wrongs: list[str] = field(default_factory=list)
    samples: int = 0

    async def run(self, remote: RemoteWard, started: float) -> None:
        while True:
            snapshot = remote.snapshot()
            dark = not live(remote)
            self.samples += 1
            if dark:
                self.dark_s.append(time.monotonic() - started)
            for bed in snapshot.beds:
                for reading in bed.readings.values():
                    if (dark or reading.age_s > snapshot.stale_timeout_s) and not reading.stale:
                        self.wrongs.append(f"{bed.label} {reading.label} shown live, dark={dark}")
            await asyncio.sleep(0.05)


async def test_the_gateways_node_killed_under_load_the_screen_recovers_every_alarm(
    nats: NatsCluster, tmp_path: Path
) -> None:
    leader = nats.meta_leader()
    gateway_node, second, screen_node = sorted(nats.nodes, key=lambda n: n.name != leader)
    print(
        f"NATS cluster ready in {nats.started_in_s:.2f} s; JetStream meta leader {leader};"
        f" stream leaders {nats.stream_leaders()}"
    )
    extra = f'protocol = "3.1.1"\nfallback_urls = ["{second.url}", "{screen_node.url}"]\n'
    async with (
        publishing_gateway(gateway_node.url, tmp_path / "j.sqlite", extra=extra) as gateway,
        remote_screen(screen_node.url, fallback_urls=(second.url,), protocol="3.1.1") as (
            remote,
            link,
        ),
    ):
        ward = Ward(await gateway.monitor())
        sending = asyncio.create_task(ward.run())
        watch = Watch()
        watching: asyncio.Task[None] | None = None
        try:
            await eventually(lambda: len(gateway_alarms(gateway)) == len(ALARMED), "3 alarms", 20)
            await eventually(
                lambda: live(remote) and screen_alarms(remote) == gateway_alarms(gateway),
                "the screen live with the gateway's alarms",
                timeout_s=20,
            )
            await eventually(
                lambda: all(bed_named(remote.snapshot(), f"ICU^{b}^1") for b in range(1, BEDS + 1)),
                "every bed on the screen",
            )
            before = len(ward.codes)
            assert gateway.publisher.connections == 1

            # --- the gateway's node (JetStream's leader) dies: SIGKILL, no goodbye, no will
            nats.kill(gateway_node)
            killed = time.monotonic()
            watching = asyncio.create_task(watch.run(remote, killed))

            def recovered() -> bool:
                return (
                    gateway.publisher.connections >= 2
                    and live(remote)
                    and screen_alarms(remote) == gateway_alarms(gateway)
                    and len(gateway_alarms(gateway)) == len(ALARMED)
                )

            def state() -> str:  # what a failure shows: enough to tell where it stuck
                try:
                    shown = sorted(screen_alarms(remote))
                except AssertionError:
                    shown = ["(no alarm set on the screen)"]
                return (
                    f"screen gateways {remote.gateways()}, gateway connections"
                    f" {gateway.publisher.connections}, screen connections {link.connections},"
                    f" gateway alarms {sorted(gateway_alarms(gateway))}, on the screen {shown}\n"
                    f"{nats.logs(second, screen_node)}"
                )

            back = await held(recovered, STABLE_S, RECOVERY_TIMEOUT_S, state)
            failover_s = back - killed
        finally:
            sending.cancel()
            if watching is not None:
                watching.cancel()
            for task in (sending, watching):
                if task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await ward.monitor.close()
        dark = watch.dark_s
        print(
            f"failover: the screen had the full alarm set live again {failover_s:.1f} s after"
            f" node {gateway_node.name} was killed; NO DATA shown"
            + (f" from {dark[0]:.1f} s to {dark[-1]:.1f} s" if dark else " never (stayed live)")
            + f"; gateway connections {gateway.publisher.connections},"
            f" screen connections {link.connections};"
            f" {len(ward.codes) - before} messages ACKed meanwhile"
        )
        assert watch.samples > 10
        assert not watch.wrongs, watch.wrongs[:5]
        assert ward.codes and all(code == "CA" for code in ward.codes)
        assert len(ward.codes) - before > 50  # ingest went on through the failover

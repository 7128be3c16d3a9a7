"""The broker killed, restarted and frozen (SIGSTOP) under a gateway taking MLLP messages:
every message is still acknowledged as stored, the remote screen shows NO DATA while it
cannot prove the gateway alive, and afterwards it shows the gateway's full alarm set again
— including the alarm raised while the broker was away."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from journal_support import Monitor, oru
from mqtt_broker import MosquittoBroker
from mqtt_support import LocalGateway, bed_named, publishing_gateway, remote_screen
from waiting import eventually

from gateway.domain import Connectivity
from gateway.mqtt.remote_ward import RemoteWard


class Ingest:
    """A monitor sending a message every 20 ms, timing each ACK."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor
        self.acks: list[tuple[float, str, float]] = []
        """(sent at, MSA-1, seconds to the ACK)"""
        self.hr = 75.0

    async def run(self) -> None:
        n = 0
        while True:
            n += 1
            sent = time.monotonic()
            code, _ = await self.monitor.send(oru(f"i{n}", bed=1, hr=self.hr))
            self.acks.append((sent, code, time.monotonic() - sent))
            await asyncio.sleep(0.02)

    def since(self, t: float) -> list[tuple[float, str, float]]:
        return [ack for ack in self.acks if ack[0] >= t]


def alarm_texts(remote: RemoteWard) -> set[str]:
    alarms = remote.snapshot().alarms
    assert alarms is not None
    return {a.text for a in alarms.alarms if not a.text.startswith("NO DATA from")}


def gateway_alarm_texts(gateway: LocalGateway) -> set[str]:
    alarms = gateway.hub.alarms.snapshot()
    return {a.text for a in alarms.alarms}


def live(remote: RemoteWard) -> bool:
    return all(reason is None for _, reason in remote.gateways()) and bool(remote.gateways())


async def test_broker_killed_restarted_and_frozen_never_stops_ingest_and_the_screen_recovers(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        publishing_gateway(broker.url, tmp_path / "j.sqlite") as gateway,
        remote_screen(broker.url) as (remote, _),
    ):
        ingest = Ingest(await gateway.monitor())
        sending = asyncio.create_task(ingest.run())
        other = await gateway.monitor()
        try:
            ingest.hr = 180  # over the high limit: an alarm before the outage
            await eventually(lambda: len(gateway_alarm_texts(gateway)) == 1, "the first alarm")
            await eventually(lambda: alarm_texts(remote) == gateway_alarm_texts(gateway), "sync")

            # --- killed: ingest goes on; an alarm is raised while the broker is away
            broker.kill()
            killed = time.monotonic()
            await eventually(lambda: not live(remote), "NO DATA on the remote", timeout_s=3.0)
            assert (await other.send(oru("o1", bed=2, hr=20)))[0] == "CA"  # HR low: alarm 2
            await eventually(lambda: len(gateway_alarm_texts(gateway)) == 2, "the second alarm")
            await asyncio.sleep(1.0)
            outage = ingest.since(killed)
            assert len(outage) >= 10 and all(code == "CA" for _, code, _ in outage)

            # --- restarted on the same port: the full set, the new alarm too
            broker.start()
            await eventually(lambda: live(remote), "the gateway live again", timeout_s=15)
            await eventually(
                lambda: alarm_texts(remote) == gateway_alarm_texts(gateway),
                "the remote's alarms to be the gateway's, the one raised meanwhile too",
            )
            await eventually(
                lambda: (
                    bed_named(remote.snapshot(), "ICU^1^1").connectivity  # type: ignore[union-attr]
                    is Connectivity.CONNECTED
                ),
                "the bed live again",
            )

            # --- frozen: nothing arrives, the heartbeat rule alone says NO DATA
            broker.freeze()
            frozen = time.monotonic()
            await eventually(lambda: not live(remote), "NO DATA while frozen", timeout_s=4.5)
            await asyncio.sleep(1.0)
            during = ingest.since(frozen)
            assert len(during) >= 10 and all(code == "CA" for _, code, _ in during)
            ingest.hr = 80  # the first alarm's condition ends while frozen
            broker.thaw()
            await eventually(lambda: live(remote), "live again after the thaw", timeout_s=20)
            await eventually(
                lambda: alarm_texts(remote) == gateway_alarm_texts(gateway),
                "the same alarms after the thaw",
                timeout_s=10,
            )
            before = [lag for sent, _, lag in ingest.acks if sent < killed]
            after = [lag for sent, _, lag in ingest.acks if sent >= killed]
            print(
                f"ACKs: {len(before)} before the outage (max {max(before) * 1000:.1f} ms),"
                f" {len(after)} during and after (max {max(after) * 1000:.1f} ms)"
            )
            assert all(code == "CA" for _, code, _ in ingest.acks)
        finally:
            sending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sending
            await other.close()
            await ingest.monitor.close()

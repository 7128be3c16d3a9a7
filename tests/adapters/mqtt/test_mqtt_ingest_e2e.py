"""The MQTT ingest against a real Mosquitto: the simulator's monitors become beds, each
message is journaled whole with its topic, demo stays demo, a hostile publisher is
rejected and counted while a good device keeps updating, a retained copy is never live,
the broker's death is a fault and its return a recovery, and no PUBACK leaves before the
hub has stored the message."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mqtt_broker import MosquittoBroker, mosquitto_binary
from mqtt_support import broker_of
from waiting import eventually

from adapters.mqtt import codec
from adapters.mqtt.ingest import RETAINED, MqttIngest
from gateway.app.service import build_hub, build_mqtt_ingest
from gateway.config.load import parse_config
from gateway.domain import DeviceReport, ReceivedMessage
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome
from gateway.mqtt.client import BrokerLink, Credentials
from gateway.ward.routing import location_key
from gateway.ward.snapshot import BedSnapshot
from simulators.mqtt_emitter import MqttWard

HR, SPO2 = 147842, 150456


@dataclass
class Gateway:
    hub: Hub
    ingest: MqttIngest
    journal: Path

    def bed(self, location: str) -> BedSnapshot | None:
        """The bed made for a location (its key: the location as routing compares it)."""
        key = location_key(location)
        return next((b for b in self.hub.snapshot().beds if b.bed.key == key), None)

    def faults(self) -> list[str]:
        return [f.text for f in self.hub.faults]


@contextlib.asynccontextmanager
async def gateway(url: str, journal: Path) -> AsyncIterator[Gateway]:
    """A gateway reading devices from ``url``, wired as ``icu-gateway run`` wires it."""
    config = parse_config(f'[gateway]\nname = "ICU 3"\n[mqtt_ingest]\nurl = "{url}"\n', "<test>")
    hub = build_hub(config)
    store = Journal(journal, clock=hub.clock)
    hub.journal = store
    await store.start()
    ingest = build_mqtt_ingest(config, hub)
    assert ingest is not None
    task = asyncio.create_task(ingest.run())
    try:
        await eventually(lambda: ingest.connections >= 1, "the ingest subscribed")
        yield Gateway(hub, ingest, journal)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


@contextlib.asynccontextmanager
async def running(ward: MqttWard) -> AsyncIterator[MqttWard]:
    task = asyncio.create_task(ward.run())
    try:
        yield ward
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@contextlib.asynccontextmanager
async def publisher(url: str, name: str = "test-publisher") -> AsyncIterator[BrokerLink]:
    async with BrokerLink(broker_of(url), Credentials(), identifier=name) as link:
        yield link


def hr(bed: BedSnapshot | None) -> float | str | None:
    return None if bed is None or HR not in bed.readings else bed.readings[HR].value


def document(device: str, hr_value: float, *, seq: int) -> bytes:
    return codec.encode(
        {
            "device": {"id": device},
            "time": time.time_ns(),
            "seq": seq,
            "location": f"ICU^{device}^1",
            "obs": [{"code": HR, "value": hr_value, "unit": "/min"}],
        }
    )


def topic(device: str) -> str:
    return f"{codec.DEFAULT_PREFIX}/h1/icu3/{device}/obs"


async def test_simulated_monitors_become_beds_with_their_values_and_every_message_is_journaled(
    mosquitto: str, tmp_path: Path
) -> None:
    async with (
        gateway(mosquitto, tmp_path / "j.sqlite") as gw,
        running(MqttWard(mosquitto, beds=2, seed=3, period_s=0.1)) as ward,
    ):

        def live() -> bool:
            beds = [gw.bed("ICU^1^1"), gw.bed("ICU^2^1")]
            return all(
                b is not None and {HR, SPO2} <= set(b.readings) and not b.readings[HR].stale
                for b in beds
            )

        await eventually(live, "both simulated beds live with HR and SpO2")
        bed = gw.bed("ICU^1^1")
        assert bed is not None
        assert isinstance(hr(bed), float) and not bed.readings[HR].demo
        (link,) = bed.devices
        assert link.device.key == f"EUI-64:{ward.monitors[0].device.eui64.upper()}"
        assert (link.transport, link.peer) == ("mqtt", ward.topic(ward.monitors[0]))
        await eventually(lambda: gw.ingest.accepted >= 6, "messages stored")
    with JournalReader(tmp_path / "j.sqlite") as reader:
        stored = [m for m in reader.messages() if m.outcome is Outcome.ACCEPTED]
    assert len(stored) >= 6
    first = stored[0]
    assert first.transport == "mqtt" and first.peer.startswith("icu/in/v1/site/sim/")
    decoded = codec.decode(codec.DEFAULT_PREFIX, first.peer, first.raw)  # whole, as received
    assert first.control_id == str(decoded.seq)


async def test_demo_monitors_are_marked_demo_on_the_bed(mosquitto: str, tmp_path: Path) -> None:
    async with (
        gateway(mosquitto, tmp_path / "j.sqlite") as gw,
        running(MqttWard(mosquitto, beds=1, seed=1, period_s=0.1, demo=True)),
    ):
        await eventually(lambda: hr(gw.bed("ICU^1^1")) is not None, "the demo bed")
        bed = gw.bed("ICU^1^1")
        assert bed is not None
        assert bed.readings[HR].demo and bed.readings[SPO2].demo


async def test_a_hostile_publisher_is_rejected_and_counted_while_a_good_device_updates(
    mosquitto: str, tmp_path: Path
) -> None:
    hostile = topic("intruder")
    junk: Sequence[bytes] = (
        b"\x00\xff garbage",
        b"{" * 10,
        json.dumps({"v": 1, "device": {"id": "x"}, "time": "soon"}).encode(),
        b'{"v":1,"device":{"id":"x"},"time":1765100000000000000,"obs":[{"code":147842,'
        b'"value":NaN}]}',
        json.dumps({"v": 1, "device": {"id": "x"}, "time": 1, "obs": "all"}).encode(),
        b" " * (codec.MAX_PAYLOAD_BYTES + 10),
    )
    async with gateway(mosquitto, tmp_path / "j.sqlite") as gw, publisher(mosquitto) as link:
        await link.publish(topic("good-1"), document("good-1", 70, seq=1), qos=1)
        await eventually(lambda: hr(gw.bed("ICU^good-1^1")) == 70.0, "the good device")
        for round_ in range(3):
            for payload in junk:
                await link.publish(hostile, payload, qos=1)
            await link.publish(f"{codec.DEFAULT_PREFIX}/h1/icu3/Bad_Level/obs", b"{}", qos=1)
            await link.publish(topic("good-1"), document("good-1", 80 + round_, seq=2 + round_))
        await eventually(lambda: hr(gw.bed("ICU^good-1^1")) == 82.0, "the good device updated")
        expected = 3 * (len(junk) + 1)
        await eventually(lambda: gw.ingest.rejected == expected, "every bad message rejected")
        rejects = {r.host: r.rejected for r in gw.hub.snapshot().rejects}
        assert rejects[hostile] == 3 * len(junk)
        assert any("bad message rejected" in text for text in gw.faults())
        # Summarised, not one line each: the storm shows far fewer faults than messages.
        assert sum("bad message rejected" in text for text in gw.faults()) < expected
        assert gw.bed("ICU^x^1") is None  # nothing of the hostile one became a bed
    with JournalReader(tmp_path / "j.sqlite") as reader:
        rejected = [m for m in reader.messages() if m.outcome is Outcome.REJECTED]
    assert len(rejected) == expected
    assert {m.raw for m in rejected if m.peer == hostile} == set(junk)  # kept whole


async def test_a_retained_observation_is_journaled_but_never_taken_as_live(
    mosquitto: str, tmp_path: Path
) -> None:
    async with publisher(mosquitto) as link:
        await link.publish(topic("old-1"), document("old-1", 60, seq=1), qos=1, retain=True)
    async with gateway(mosquitto, tmp_path / "j.sqlite") as gw:
        await eventually(lambda: gw.ingest.rejected == 1, "the retained copy rejected")
        assert gw.bed("ICU^old-1^1") is None
        assert any(RETAINED in text for text in gw.faults())


async def test_broker_killed_is_a_fault_and_its_return_a_recovery(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    async with (
        gateway(broker.url, tmp_path / "j.sqlite") as gw,
        running(
            MqttWard(
                broker.url, beds=1, seed=2, period_s=0.1, backoff_initial_s=0.05, backoff_max_s=0.2
            )
        ),
    ):
        await eventually(lambda: gw.ingest.accepted >= 3, "values before the outage")
        broker.kill()
        await eventually(
            lambda: any("devices on icu/in/v1/+/+/+/obs not heard" in t for t in gw.faults()),
            "the outage shown as a fault",
        )
        await asyncio.sleep(0.5)
        before = gw.ingest.accepted
        broker.start()
        await eventually(
            lambda: any("receiving again" in t for t in gw.faults()), "the recovery shown", 15.0
        )
        await eventually(lambda: gw.ingest.accepted > before + 3, "values again", 15.0)
        assert gw.ingest.connections >= 2


class HeldSink:
    """The hub, with the storing of the first message held until ``release`` is set."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.release = asyncio.Event()
        self.submitted: list[str] = []

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        self.submitted.append(message.peer)
        if len(self.submitted) == 1:
            await self.release.wait()
        await self.hub.submit(message, reports)

    async def reject(self, message: ReceivedMessage, reason: str) -> None:
        await self.hub.reject(message, reason)

    def fault(self, source: str, text: str, *, kind: str | None = None) -> None:
        self.hub.fault(source, text, kind=kind)

    def link_closed(self, transport: str, peer: str) -> None:
        self.hub.link_closed(transport, peer)


async def test_no_puback_leaves_before_the_message_is_stored(tmp_path: Path) -> None:
    """With the broker sending one unacknowledged message at a time, a second device's
    message arrives only once the first is stored: the PUBACK waited for the hub."""
    binary = mosquitto_binary()
    if binary is None:
        from environment import unavailable

        unavailable("mosquitto is not installed (apt-get install mosquitto)")
    broker = MosquittoBroker(binary, tmp_path, "allow_anonymous true\nmax_inflight_messages 1\n")
    broker.start()
    try:
        config = parse_config("", "<test>")
        hub = build_hub(config)
        store = Journal(tmp_path / "j.sqlite", clock=hub.clock)
        hub.journal = store
        await store.start()
        sink = HeldSink(hub)
        ingest = MqttIngest(sink, [broker_of(broker.url)], clock=hub.clock)
        task = asyncio.create_task(ingest.run())
        try:
            await eventually(lambda: ingest.connections >= 1, "subscribed")
            async with publisher(broker.url) as link:
                await link.publish(topic("dev-a"), document("dev-a", 61, seq=1), qos=1)
                await link.publish(topic("dev-b"), document("dev-b", 62, seq=1), qos=1)
            await eventually(lambda: len(sink.submitted) == 1, "the first message")
            await asyncio.sleep(0.5)
            assert sink.submitted == [topic("dev-a")]  # the second waits for our PUBACK
            assert ingest.accepted == 0
            sink.release.set()
            await eventually(lambda: ingest.accepted == 2, "both stored")
            assert sink.submitted == [topic("dev-a"), topic("dev-b")]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await store.close()
    finally:
        broker.stop()

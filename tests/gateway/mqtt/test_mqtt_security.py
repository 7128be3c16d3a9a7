"""TLS, passwords and the documented ACL on a real Mosquitto: a gateway over ``mqtts://``
reaches a remote screen; a CA that did not sign the broker, a wrong password, a missing or
encrypted client key are refused and shown as faults while ingest goes on; and the ACL
keeps screens and other gateways out of a gateway's subtree — what they try to write there
reaches no subscriber (Mosquitto 2.0 drops it: silently at QoS 0, with PUBACK 0x87
"Not authorized" at QoS 1 over MQTT 5, which our client makes an error)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from journal_support import oru
from mqtt_broker import MosquittoBroker
from mqtt_security import (
    SCREEN_USER,
    Pki,
    credentials_file,
    make_pki,
    secure_broker,
)
from mqtt_support import (
    LocalGateway,
    bed_named,
    broker_of,
    hr_of,
    publishing_gateway,
    remote_screen,
)
from waiting import eventually

from gateway.domain import Connectivity
from gateway.mqtt.client import BrokerError, BrokerLink, Credentials
from gateway.mqtt.credentials import read_credentials
from gateway.mqtt.remote_ward import RemoteWard

GATEWAY_BASE = "icu/v1/site/icu3n/gw1"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[MosquittoBroker]:
    broker = secure_broker(tmp_path, pki)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def gateway_extra(folder: Path, ca: Path, user: str = "gw1", password: str | None = None) -> str:
    cred = credentials_file(folder, user, password)
    return f'credentials_file = "{cred}"\nca_file = "{ca}"\n'


def screen_credentials(folder: Path, pki: Pki, *, client_cert: bool = False) -> Credentials:
    user, password = read_credentials(credentials_file(folder, SCREEN_USER))
    if client_cert:
        return Credentials(user, password, pki.ca, pki.client_cert, pki.client_key)
    return Credentials(user, password, pki.ca)


def live(remote: RemoteWard) -> bool:
    return bool(remote.gateways()) and all(reason is None for _, reason in remote.gateways())


def fault_texts(gateway: LocalGateway) -> list[str]:
    return [fault.text for fault in gateway.hub.faults]


async def assert_refused_as_a_fault(gateway: LocalGateway, why: str) -> None:
    """The publisher says remote screens get no data, and why; ingest still ACKs."""
    await eventually(
        lambda: any("remote screens get no data" in t and why in t for t in fault_texts(gateway)),
        f"a fault saying remote screens get no data ({why})",
    )
    monitor = await gateway.monitor()
    assert (await monitor.send(oru("m1", bed=1, hr=70)))[0] == "CA"
    await monitor.close()
    await asyncio.sleep(0.6)  # a retry or two: still refused, still no crash
    assert gateway.publisher.connections == 0
    assert gateway.hub.fault_count >= 1


async def test_a_gateway_over_tls_with_a_password_reaches_a_remote_screen_that_is_live(
    tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path
) -> None:
    assert tls_broker.url.startswith("mqtts://")
    extra = gateway_extra(tmp_path, pki.ca)
    screen = screen_credentials(tmp_path, pki)
    async with (
        publishing_gateway(tls_broker.url, tmp_path / "j.sqlite", extra=extra) as gateway,
        remote_screen(tls_broker.url, credentials=screen) as (remote, _),
    ):
        monitor = await gateway.monitor()
        assert (await monitor.send(oru("m1", bed=1, hr=190)))[0] == "CA"
        await eventually(lambda: hr_of(bed_named(remote.snapshot(), "ICU^1^1")) == 190, "HR 190")
        await eventually(lambda: live(remote), "the gateway live on the screen")
        bed = bed_named(remote.snapshot(), "ICU^1^1")
        assert bed is not None and bed.connectivity is Connectivity.CONNECTED
        await eventually(
            lambda: any("HR" in a.text for a in remote.snapshot().alarms.alarms),  # type: ignore[union-attr]
            "the HR alarm on the screen",
        )
        assert gateway.publisher.connections == 1
        await monitor.close()


async def test_a_broker_certificate_from_another_ca_is_refused_as_a_fault(
    tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path
) -> None:
    extra = gateway_extra(tmp_path, pki.other_ca)
    async with publishing_gateway(tls_broker.url, tmp_path / "j.sqlite", extra=extra) as gateway:
        await assert_refused_as_a_fault(gateway, "CERTIFICATE_VERIFY_FAILED")


async def test_a_wrong_password_is_refused_as_a_fault(
    tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path
) -> None:
    extra = gateway_extra(tmp_path, pki.ca, password="not-the-password")
    async with publishing_gateway(tls_broker.url, tmp_path / "j.sqlite", extra=extra) as gateway:
        await assert_refused_as_a_fault(gateway, "Not authorized")


async def test_a_listener_that_requires_client_certificates_takes_ours_and_refuses_none(
    pki: Pki, tmp_path: Path
) -> None:
    broker = secure_broker(tmp_path, pki, require_certificate=True)
    broker.start()
    try:
        base = gateway_extra(tmp_path, pki.ca)
        with_cert = base + f'client_cert = "{pki.client_cert}"\nclient_key = "{pki.client_key}"\n'
        screen = screen_credentials(tmp_path, pki, client_cert=True)
        async with (
            publishing_gateway(broker.url, tmp_path / "j1.sqlite", extra=with_cert) as gateway,
            remote_screen(broker.url, credentials=screen) as (remote, _),
        ):
            monitor = await gateway.monitor()
            assert (await monitor.send(oru("m1", bed=1, hr=66)))[0] == "CA"
            await eventually(lambda: hr_of(bed_named(remote.snapshot(), "ICU^1^1")) == 66, "HR")
            await eventually(lambda: live(remote), "live with client certificates")
            await monitor.close()
        async with publishing_gateway(broker.url, tmp_path / "j2.sqlite", extra=base) as gateway:
            await assert_refused_as_a_fault(gateway, "mqtts://")
        encrypted = base + (
            f'client_cert = "{pki.client_cert}"\nclient_key = "{pki.client_key_encrypted}"\n'
        )
        async with publishing_gateway(
            broker.url, tmp_path / "j3.sqlite", extra=encrypted
        ) as gateway:
            # refused at once, without OpenSSL asking for a passphrase on the terminal
            await assert_refused_as_a_fault(gateway, "the client key is encrypted")
    finally:
        broker.stop()


async def sniff(url: str, credentials: Credentials, seen: list[tuple[str, bytes]]) -> None:
    """Everything a screen user may read, as it arrives."""
    async with BrokerLink(broker_of(url), credentials, identifier="sniffer") as link:
        await link.subscribe("icu/v1/#", qos=1)
        async for message in link.messages():
            seen.append(message)


async def forge(url: str, credentials: Credentials, base: str) -> list[str]:
    """Publish a forged offline status and a forged alarm into ``base``, at QoS 0 and 1;
    what each QoS 1 publish was answered."""
    offline = json.dumps({"v": 1, "state": "offline", "reason": "forged", "sess": 2**62})
    alarm = json.dumps({"v": 1, "forged": True})
    answers = []
    async with BrokerLink(broker_of(url), credentials, identifier="forger") as link:
        for topic, payload in ((f"{base}/status", offline), (f"{base}/alarm/ffff", alarm)):
            await link.publish(topic, payload.encode(), qos=0, retain=True)
            try:
                await link.publish(topic, payload.encode(), qos=1, retain=True)
                answers.append("accepted")
            except BrokerError as exc:
                answers.append(str(exc))
    return answers


@pytest.mark.parametrize("intruder", [SCREEN_USER, "gw2"])
async def test_the_acl_keeps_screens_and_other_gateways_out_of_a_gateways_subtree(
    intruder: str, tls_broker: MosquittoBroker, pki: Pki, tmp_path: Path
) -> None:
    url = tls_broker.url
    screen = screen_credentials(tmp_path, pki)
    user, password = read_credentials(credentials_file(tmp_path, intruder))
    seen: list[tuple[str, bytes]] = []
    async with (
        publishing_gateway(url, tmp_path / "j.sqlite", extra=gateway_extra(tmp_path, pki.ca)),
        remote_screen(url, credentials=screen, wards=("icu3n",)) as (remote, _),
    ):
        sniffer = asyncio.create_task(sniff(url, screen, seen))
        try:
            await eventually(lambda: live(remote), "the gateway live on the screen")
            await eventually(lambda: any(t == f"{GATEWAY_BASE}/status" for t, _ in seen), "sniff")
            answers = await forge(url, Credentials(user, password, pki.ca), GATEWAY_BASE)
            # what the same user may write goes through: the refusal is the ACL's, not ours
            own = (
                f"{GATEWAY_BASE}/cmd/rebirth"
                if intruder == SCREEN_USER
                else "icu/v1/site/icu2s/gw2/status"  # another ward: not on this screen
            )
            async with BrokerLink(
                broker_of(url), Credentials(user, password, pki.ca), identifier="allowed"
            ) as link:
                await link.publish(own, b'{"v":1,"screen":"test"}', qos=1)
            await eventually(lambda: any(t == own for t, _ in seen), f"{own} to arrive")
            await asyncio.sleep(1.5)  # a heartbeat or more after the forgeries
        finally:
            sniffer.cancel()
            await asyncio.gather(sniffer, return_exceptions=True)
        assert answers == [
            f"{url}: publish {GATEWAY_BASE}/status refused (Not authorized)",
            f"{url}: publish {GATEWAY_BASE}/alarm/ffff refused (Not authorized)",
        ]
        assert not [t for t, p in seen if b"forged" in p], "a forged message reached a subscriber"
        assert live(remote), remote.gateways()
        texts = {a.text for a in remote.snapshot().alarms.alarms}  # type: ignore[union-attr]
        assert not any("NO DATA" in text for text in texts), texts

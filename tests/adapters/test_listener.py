"""The MLLP listener over real loopback sockets: ACK after the core took the message,
bad input answered and contained, limits enforced."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from samples import load_sample

from adapters.hl7 import er7
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from gateway.clock import ManualClock
from gateway.hub import Hub
from gateway.routing import Router
from gateway.ward import WardState

ORU = (
    b"MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{id}|P|2.6"
    b"|||{accept}|{app}\rPID|||P1\rPV1||I|ICU^{bed}^1\rOBR|1\r"
    b"OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|{hr}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
)


def oru(
    control_id: str, *, bed: int = 1, hr: int = 72, accept: str = "AL", app: str = "NE"
) -> bytes:
    return (
        ORU.replace(b"{id}", control_id.encode())
        .replace(b"{bed}", str(bed).encode())
        .replace(b"{hr}", str(hr).encode())
        .replace(b"{accept}", accept.encode())
        .replace(b"{app}", app.encode())
    )


class Client:
    """A monitor's side of one connection: send frames, read ACK messages."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.framer = MllpFramer()
        self.pending: list[er7.Message] = []

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ack(self) -> er7.Message:
        while not self.pending:
            data = await asyncio.wait_for(self.reader.read(65536), 5)
            assert data, "listener closed the connection"
            for item in self.framer.feed(data):
                assert not isinstance(item, OversizeFrame)
                self.pending.append(er7.parse(item))
        return self.pending.pop(0)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def hub() -> Hub:
    return Hub(WardState(), Router(), ManualClock())


@pytest.fixture
async def listener(hub: Hub) -> AsyncIterator[MllpListener]:
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as server:
        yield server


async def connect(listener: MllpListener) -> Client:
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    return Client(reader, writer)


def msa(message: er7.Message) -> tuple[str, str]:
    segment = message.first("MSA")
    assert segment is not None
    return segment.get(1), segment.get(2)


async def test_reference_sample_is_acknowledged_and_in_the_ward(
    listener: MllpListener, hub: Hub
) -> None:
    client = await connect(listener)
    await client.send(frame(load_sample("01")))
    ack = await client.ack()
    # MSH-15 AL / MSH-16 NE: enhanced mode, a commit accept echoing MSH-10.
    assert msa(ack) == ("CA", "HP0122182658686QQ000CND119C0WS61")
    assert ack.message_type == ("ACK", "R01", "ACK")
    assert ack.msh.get(5) == "PAT_DEVICE_PHILIPS_C"
    (bed,) = hub.snapshot().beds
    assert bed.label == "HO Surgery OR-1"
    assert bed.readings[147842].value == 80.0
    await client.close()


async def test_many_messages_on_one_persistent_connection(listener: MllpListener, hub: Hub) -> None:
    client = await connect(listener)
    for n in range(50):
        await client.send(frame(oru(f"m{n}", hr=60 + n % 40)))
        assert msa(await client.ack()) == ("CA", f"m{n}")
    assert listener.messages == 50
    assert hub.snapshot().beds[0].readings[147842].value == 60 + 49 % 40
    await client.close()


async def test_pipelined_frames_in_one_write_are_each_acknowledged_in_order(
    listener: MllpListener,
) -> None:
    client = await connect(listener)
    await client.send(b"".join(frame(oru(f"p{n}", bed=n)) for n in range(5)))
    assert [msa(await client.ack())[1] for _ in range(5)] == [f"p{n}" for n in range(5)]
    await client.close()


@pytest.mark.parametrize(
    ("accept", "app", "codes"),
    [
        ("", "", ["AA"]),
        ("AL", "NE", ["CA"]),
        ("NE", "AL", ["AA"]),
        ("AL", "AL", ["CA", "AA"]),
        ("ER", "NE", []),
    ],
)
async def test_acknowledgement_mode_follows_msh15_and_msh16(
    listener: MllpListener, accept: str, app: str, codes: list[str]
) -> None:
    client = await connect(listener)
    await client.send(frame(oru("x1", accept=accept, app=app)))
    await client.send(frame(oru("marker", accept="AL", app="NE")))
    got = []
    while True:
        code, control_id = msa(await client.ack())
        if control_id == "marker":
            break
        got.append(code)
    assert got == codes
    await client.close()


async def test_garbage_is_rejected_with_an_err_and_the_connection_carries_on(
    listener: MllpListener, hub: Hub
) -> None:
    client = await connect(listener)
    await client.send(frame(b"this is not HL7"))
    reject = await client.ack()
    assert msa(reject)[0] == "AR"
    err = reject.first("ERR")
    assert err is not None and "no MSH" in err.get(8)
    await client.send(frame(oru("good")))
    assert msa(await client.ack()) == ("CA", "good")
    assert any("bad message rejected" in f.text for f in hub.snapshot().faults)
    await client.close()


async def test_unsupported_message_type_is_rejected_echoing_its_id(listener: MllpListener) -> None:
    client = await connect(listener)
    await client.send(frame(load_sample("08")))  # an ACK is not ours to take in
    reject = await client.ack()
    assert msa(reject) == ("AR", "AMSGID1234")
    err = reject.first("ERR")
    assert err is not None and err.get(3) == "200"
    assert (err.get(2, 1), err.get(2, 3)) == ("MSH", "9")  # ERR-2: where it went wrong
    await client.close()


async def test_oversize_frame_is_rejected_and_skipped(hub: Hub) -> None:
    async with MllpListener(hub, host="127.0.0.1", port=0, max_frame_bytes=2048) as listener:
        client = await connect(listener)
        await client.send(frame(oru("big") + b"OBX|2|ST|x||" + b"y" * 10_000 + b"\r"))
        await client.send(frame(oru("after")))
        assert msa(await client.ack())[0] == "AR"
        assert msa(await client.ack()) == ("CA", "after")
        await client.close()


async def test_a_flood_of_garbage_on_one_connection_does_not_disturb_another(
    listener: MllpListener, hub: Hub
) -> None:
    bad, good = await connect(listener), await connect(listener)

    async def flood() -> None:
        for n in range(200):
            await bad.send(frame(bytes([n % 256]) * 300) + b"\x0c\r\n" + bytes(range(256)))

    async def monitor() -> list[str]:
        seen = []
        for n in range(50):
            await good.send(frame(oru(f"g{n}", bed=2)))
            seen.append(msa(await good.ack())[1])
        return seen

    _, seen = await asyncio.gather(flood(), monitor())
    assert seen == [f"g{n}" for n in range(50)]
    assert hub.snapshot().fault_count > 0
    await bad.close()
    await good.close()


async def test_peers_outside_the_allow_list_are_refused_and_logged(hub: Hub) -> None:
    async with MllpListener(
        hub, host="127.0.0.1", port=0, allow=lambda host: host.startswith("10.")
    ) as listener:
        client = await connect(listener)
        assert await asyncio.wait_for(client.reader.read(), 5) == b""
        assert "allow-list" in hub.snapshot().faults[-1].text


async def test_connections_beyond_the_maximum_are_refused(hub: Hub) -> None:
    async with MllpListener(hub, host="127.0.0.1", port=0, max_connections=1) as listener:
        first = await connect(listener)
        await first.send(frame(oru("a")))
        await first.ack()
        second = await connect(listener)
        assert await asyncio.wait_for(second.reader.read(), 5) == b""
        assert "1 connections open" in hub.snapshot().faults[-1].text
        await first.close()


async def test_idle_connection_is_closed_after_the_timeout(hub: Hub) -> None:
    async with MllpListener(hub, host="127.0.0.1", port=0, idle_timeout_s=0.2) as listener:
        client = await connect(listener)
        assert await asyncio.wait_for(client.reader.read(), 5) == b""
        assert "idle" in hub.snapshot().faults[-1].text


async def test_port_in_use_is_reported_as_an_adapter_error(listener: MllpListener) -> None:
    from gateway.errors import AdapterError

    with pytest.raises(AdapterError, match="cannot listen"):
        async with MllpListener(listener.sink, host="127.0.0.1", port=listener.port):
            pass

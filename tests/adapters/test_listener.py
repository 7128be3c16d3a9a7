"""The MLLP listener over real loopback sockets: ACK after the core took the message,
bad input answered and contained, limits enforced."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from samples import load_sample
from waiting import eventually

from adapters.hl7 import er7
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer, OversizeFrame, frame
from gateway.clock import ManualClock
from gateway.config.model import ListenerConfig
from gateway.domain import DeviceReport, ReceivedMessage
from gateway.errors import JournalError
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from tui.devices import device_rows

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


async def connect(listener: MllpListener, source: str | None = None) -> Client:
    """A connection from ``source`` (another loopback address: another peer) if given."""
    local = None if source is None else (source, 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port, local_addr=local)
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


async def test_a_flood_of_garbage_and_oversize_frames_does_not_disturb_other_connections(
    hub: Hub,
) -> None:
    async with MllpListener(hub, host="127.0.0.1", port=0, max_frame_bytes=4096) as listener:
        bad = await connect(listener)
        goods = [await connect(listener) for _ in range(3)]
        flood_frames = 150

        async def flood() -> None:
            for n in range(flood_frames):
                if n % 3 == 0:
                    junk = frame(b"MSH|^~\\&|" + bytes([n % 256]) * 9000)  # oversize
                elif n % 3 == 1:
                    junk = frame(bytes([n % 256]) * 300)  # not HL7
                else:
                    junk = frame(b"MSH|^~\\&|X|Y||||ORU^R01|" + str(n).encode() + b"\rP!D|x")
                await bad.send(junk + b"\x0c\r\n" + bytes(range(1, 11)))

        async def rejects() -> list[str]:
            # Read the flood's answers as they come, as a device would (and so no socket
            # buffer fills up and stalls the listener's writes to this connection).
            return [msa(await bad.ack())[0] for _ in range(flood_frames)]

        async def monitor(client: Client, bed: int) -> list[str]:
            seen = []
            for n in range(40):
                await client.send(frame(oru(f"g{bed}-{n}", bed=bed)))
                seen.append(msa(await client.ack())[1])
            return seen

        _, answers, *seen = await asyncio.gather(
            flood(), rejects(), *(monitor(c, bed) for bed, c in enumerate(goods, start=2))
        )
        assert answers == ["AR"] * flood_frames  # every bad frame answered, none dropped
        for bed, got in enumerate(seen, start=2):
            assert got == [f"g{bed}-{n}" for n in range(40)]
        assert listener.messages == 120
        assert listener.rejected == flood_frames
        assert hub.snapshot().fault_count >= flood_frames
        for client in (bad, *goods):
            await client.close()


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
        # From another address: the same address would replace its own idlest connection.
        second = await connect(listener, "127.0.0.2")
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


class RecordingHub(Hub):
    """The real hub, remembering what it was handed (alarms and waveforms included)."""

    def __init__(self) -> None:
        super().__init__(WardState(), Router(), ManualClock())
        self.submitted: list[tuple[ReceivedMessage, list[DeviceReport]]] = []

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        await super().submit(message, reports)
        self.submitted.append((message, list(reports)))


class FailingHub(Hub):
    """The real hub whose storage fails, as when the journal's disk is full."""

    async def submit(self, message: ReceivedMessage, reports: Sequence[DeviceReport]) -> None:
        raise JournalError("disk full")


async def test_draeger_watchdog_is_answered_ca_on_the_same_socket_and_raises_no_alarm() -> None:
    hub = RecordingHub()
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as listener:
        client = await connect(listener)
        await client.send(frame(load_sample("13")))
        ack = await client.ack()
        assert ack.message_type == ("ACK", "R40", "ACK")
        assert msa(ack) == ("CA", "2df8823a-f8fb-44e0-a4ba-1d826e0809f1")
        # Then a real alarm on the same connection: the watchdog left no alarm behind.
        await client.send(frame(load_sample("12")))
        assert msa(await client.ack()) == ("CA", "0")
        assert listener.keep_alives == 1
        (_, watchdog), (_, alarm) = hub.submitted
        assert [r.alarms for r in watchdog] == [()]
        # Dräger's reference alarm is MSH-11 D (debugging): a demo advisory.
        assert [a.text for r in alarm for a in r.alarms] == ["DEMO CO2 Sensor unplugged"]
        await client.close()


async def test_a_watchdog_in_original_mode_still_gets_exactly_one_ca(
    listener: MllpListener,
) -> None:
    original = load_sample("13").replace(
        b"|||AL|NE|||||IHE_PCD_ACM_001", b"|||||||||IHE_PCD_ACM_001"
    )
    assert original != load_sample("13")
    client = await connect(listener)
    await client.send(frame(original) + frame(oru("marker")))
    assert msa(await client.ack()) == ("CA", "2df8823a-f8fb-44e0-a4ba-1d826e0809f1")
    assert msa(await client.ack()) == ("CA", "marker")
    await client.close()


async def test_a_watchdog_is_answered_ce_when_the_message_cannot_be_stored() -> None:
    hub = FailingHub(WardState(), Router(), ManualClock())
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as listener:
        client = await connect(listener)
        await client.send(frame(load_sample("13")))
        assert msa(await client.ack())[0] == "CE"
        await client.send(frame(oru("x", accept="", app="")))
        ack = await client.ack()
        assert msa(ack) == ("AE", "x")  # original mode: the device keeps it and resends
        err = ack.first("ERR")
        assert err is not None and "disk full" in err.get(8)
        assert any("not stored" in f.text for f in hub.snapshot().faults)
        await client.close()


async def test_ge_b40_gets_an_original_mode_aa(listener: MllpListener) -> None:
    client = await connect(listener)
    await client.send(frame(load_sample("36")))
    assert msa(await client.ack()) == ("AA", "B40-000123")
    await client.close()


async def test_alarms_and_waveforms_reach_the_hub_with_the_message() -> None:
    hub = RecordingHub()
    async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as listener:
        client = await connect(listener)
        for name in ("03", "16", "17", "21"):
            await client.send(frame(load_sample(name)))
            assert msa(await client.ack())[0] in ("CA", "AA")
        by_id = {m.control_id: reports for m, reports in hub.submitted}
        assert [a.code for r in by_id["1"] for a in r.alarms] == [196670]
        assert len([a for r in by_id["PIIC20240305101500-0007"] for a in r.alarms]) == 4
        assert [w.label for r in by_id["WF-0001"] for w in r.waveforms] == ["ECG II", "Pleth"]
        gateway_message = next(m for m, _ in hub.submitted if m.control_id == "GW-1001")
        assert gateway_message.raw == load_sample("21")  # kept as received, for the journal
        assert [r.device.key for r in by_id["GW-1001"]] == [
            "EUI-64:00A037FFFE010001",
            "EUI-64:00A037FFFE010002",
        ]
        assert {b.label for b in hub.snapshot().beds} >= {"ICU 5", "ICU 6"}
        await client.close()


async def test_what_could_not_be_taken_in_is_a_fault_but_the_message_is_accepted(
    listener: MllpListener, hub: Hub
) -> None:
    client = await connect(listener)
    no_rate = (
        b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|W1|P|2.6|||AL|NE\r"
        b"PV1||I|ICU^1^1\rOBR|1\rOBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^2^3|||||F\r"
    )
    await client.send(frame(no_rate))
    assert msa(await client.ack()) == ("CA", "W1")
    await client.send(frame(load_sample("32")))  # ASCII declared, a byte that is not
    assert msa(await client.ack()) == ("CA", "CS-ASCII")
    texts = [f.text for f in hub.snapshot().faults]
    assert any("W1: waveform Pleth" in t and "no sample rate" in t for t in texts)
    assert any("CS-ASCII: bytes not valid ASCII replaced" in t for t in texts)
    await client.close()


async def test_every_reference_observation_sample_is_acknowledged_as_asked(
    listener: MllpListener,
) -> None:
    client = await connect(listener)
    expected = {"01": "CA", "02": "CA", "06": "AA", "07": "AA", "11": "CA", "20": "AA"}
    for name, code in expected.items():
        data = load_sample(name)
        await client.send(frame(data))
        assert msa(await client.ack()) == (code, er7.parse(data).control_id), name
    await client.close()


@pytest.mark.parametrize(("network", "admitted"), [("127.0.0.0/8", True), ("10.0.0.0/8", False)])
async def test_the_configured_cidr_allow_list_admits_or_refuses_a_peer(
    hub: Hub, network: str, admitted: bool
) -> None:
    spec = ListenerConfig(host="127.0.0.1", port=0, allow=(ipaddress.ip_network(network),))
    async with MllpListener(hub, host="127.0.0.1", port=0, allow=spec.allows) as listener:
        client = await connect(listener)
        if admitted:
            await client.send(frame(oru("in")))
            assert msa(await client.ack()) == ("CA", "in")
            await client.close()
        else:
            assert await asyncio.wait_for(client.reader.read(), 5) == b""
            fault = hub.snapshot().faults[-1]
            assert "allow-list" in fault.text and "127.0.0.1" in fault.source


async def test_a_burst_of_pipelined_frames_is_answered_in_order_without_loss(
    listener: MllpListener,
) -> None:
    # More frames at once than the listener keeps waiting (it pauses reading meanwhile).
    count = 1500
    client = await connect(listener)
    await client.send(b"".join(frame(oru(f"b{n}", bed=n % 8)) for n in range(count)))
    assert [msa(await client.ack())[1] for _ in range(count)] == [f"b{n}" for n in range(count)]
    assert listener.messages == count
    await client.close()


def _send_buffer_max() -> int:
    """The most a socket's send buffer may grow to (Linux), so a test can outgrow it."""
    try:
        return int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    except (OSError, ValueError, IndexError):
        return 4 << 20


async def test_a_device_that_does_not_read_its_acks_is_held_back_not_dropped(
    listener: MllpListener,
) -> None:
    # ACKs echo MSH-10: long ids make long ACKs, more than the sockets can hold unread.
    padding = "x" * 2000
    count = (_send_buffer_max() + (4 << 20)) // len(padding)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", listener.port))
    reader, writer = await asyncio.open_connection(sock=sock)
    client = Client(reader, writer)
    writer.write(b"".join(frame(oru(f"{n}-{padding}")) for n in range(count)))
    # The listener takes messages in until the device's unread ACKs fill the sockets,
    # then waits for it: it neither buffers ACKs without end nor drops any.
    last = -1
    while listener.messages != last:
        last = listener.messages
        await asyncio.sleep(0.2)
    assert 0 < listener.messages < count
    for n in range(count):
        assert msa(await client.ack())[1] == f"{n}-{padding}"
    assert listener.messages == count
    await client.close()


async def test_ne_with_an_unreadable_msh16_is_answered_and_reported_once_with_a_count(
    listener: MllpListener, hub: Hub
) -> None:
    # MSH-15 NE asks for no commit ACK; MSH-16 "XX" is no mode at all. Read as NE it would
    # leave the sender with silence and nothing in the log: it is read as AL (answered AA).
    client = await connect(listener)
    for n in range(5):
        await client.send(frame(oru(f"x{n}", accept="NE", app="XX")))
        assert msa(await client.ack()) == ("AA", f"x{n}")
    shown = [f.text for f in hub.snapshot().faults if "MSH-16" in f.text]
    assert shown == ["message x0: MSH-16 'XX' is not AL, NE, ER or SU: read as AL"]
    hub.summarise_faults(everything=True)
    assert (
        hub.snapshot()
        .faults[-1]
        .text.startswith(
            "message x0: MSH-16 'XX' is not AL, NE, ER or SU: read as AL … repeated 4 times in"
        )
    )
    await client.close()


async def test_a_closed_connection_is_told_apart_from_a_device_silent_on_an_open_one(
    hub: Hub, listener: MllpListener
) -> None:
    def connections() -> dict[str, str]:
        return {row.bed: row.connection for row in device_rows(hub.snapshot())}

    closing = await connect(listener)
    await closing.send(frame(oru("a1", bed=1)))
    await closing.ack()
    staying = await connect(listener)
    other = oru("b1", bed=2).replace(b"0012211839000001", b"0012211839000002")
    await staying.send(frame(other))
    await staying.ack()
    assert connections() == {"ICU 1-1": "open", "ICU 2-1": "open"}
    closing.writer.close()  # the cable: the bed's monitor is gone with its connection
    await eventually(lambda: connections()["ICU 1-1"] == "closed", "ICU 1-1 link closed")
    assert connections()["ICU 2-1"] == "open"  # silent, perhaps, but its link is up
    again = await connect(listener)  # plugged back in: a new connection, open again
    await again.send(frame(oru("a2", bed=1)))
    await again.ack()
    assert connections() == {"ICU 1-1": "open", "ICU 2-1": "open"}

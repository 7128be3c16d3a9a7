"""The simulated IntelliVue on real transports: a scripted client over UDP on loopback
(indications, association, polls, a second client refused, unplugged and back, dropped
after its time-out) and over a real pty through pyserial (MIB frames), and the command
line printing where each monitor is."""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
import struct
import time
from collections.abc import AsyncIterator

import pytest
import serial  # pyserial
from sim_intellivue_client import (
    NU,
    RELEASE,
    SA_RT,
    aarq,
    extended_poll,
    mds_create_result,
    read_poll_reply,
    single_poll,
)
from waiting import eventually

from simulators import launch
from simulators.intellivue import build_intellivues
from simulators.intellivue_emitter import IntellivueSerialMonitor, IntellivueUdpMonitor
from simulators.intellivue_mib import MibDeframer, frame


class Client:
    """A UDP socket on loopback speaking to one monitor."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def send(self, data: bytes, to: tuple[str, int]) -> None:
        await asyncio.get_running_loop().sock_sendto(self.sock, data, to)

    async def recv(self, within_s: float = 3.0) -> bytes:
        async with asyncio.timeout(within_s):
            return await asyncio.get_running_loop().sock_recv(self.sock, 65536)

    async def recv_data(self) -> bytes:
        """The next datagram that is not a Connect Indication."""
        while (data := await self.recv())[:4] == b"\x00\x00\x01\x00":
            pass
        return data

    async def associate(self, to: tuple[str, int]) -> None:
        await self.send(aarq(), to)
        assert (await self.recv_data())[0] == 0x0E
        create = await self.recv_data()
        (invoke_id,) = struct.unpack_from(">H", create, 8)
        await self.send(mds_create_result(invoke_id), to)


@contextlib.asynccontextmanager
async def udp_monitor(
    connection_timeout_s: float | None = None,
) -> AsyncIterator[tuple[IntellivueUdpMonitor, Client]]:
    """A running monitor whose indications go to the yielded client's socket."""
    client = Client()
    [monitor] = build_intellivues(
        1, 3, started_s=time.monotonic(), connection_timeout_s=connection_timeout_s
    )
    async with IntellivueUdpMonitor(monitor, indication_to=("127.0.0.1", client.port)) as udp:
        task = asyncio.create_task(udp.run())
        try:
            yield udp, client
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            client.sock.close()


async def test_udp_indication_association_numerics_waves_and_release() -> None:
    async with udp_monitor() as (udp, client):
        indication = await client.recv()
        assert indication[:4] == b"\x00\x00\x01\x00"
        assert struct.pack(">HHHH", 5, 1, udp.address[1], 0) in indication
        await client.associate(udp.address)
        await client.send(extended_poll(NU, 8000 * 60), udp.address)
        await client.send(extended_poll(SA_RT, 8000 * 60, invoke_id=3), udp.address)
        kinds: dict[int, int] = {}
        while kinds.get(NU, 0) < 2:
            reply = read_poll_reply(await client.recv_data())
            kinds[reply.obj_class] = kinds.get(reply.obj_class, 0) + 1
        assert kinds[SA_RT] >= 3
        await client.send(RELEASE, udp.address)
        while (await client.recv_data())[0] != 0x0A:
            pass
        assert not udp.monitor.associated
        assert udp.monitor.commands["FN"] == 1


async def test_a_second_client_is_refused_while_one_is_associated() -> None:
    async with udp_monitor() as (udp, client):
        await client.associate(udp.address)
        other = Client()
        try:
            await other.send(aarq(), udp.address)
            assert (await other.recv_data())[0] == 0x0C
        finally:
            other.sock.close()
        await client.send(single_poll(NU), udp.address)
        assert read_poll_reply(await client.recv_data()).obj_class == NU
        assert udp.monitor.refused == 1


async def test_an_unplugged_monitor_is_silent_and_drops_its_client_after_the_timeout() -> None:
    async with udp_monitor(connection_timeout_s=0.5) as (udp, client):
        await client.associate(udp.address)
        await client.send(extended_poll(NU, 8000 * 60), udp.address)
        await client.recv_data()
        udp.unplug()
        await asyncio.sleep(0.1)
        with contextlib.suppress(TimeoutError):
            while True:
                await client.recv(within_s=0.2)  # what was in flight
        await client.send(single_poll(NU), udp.address)
        with pytest.raises(TimeoutError):
            await client.recv(within_s=0.7)
        await eventually(lambda: not udp.monitor.associated, "the client dropped")
        assert udp.monitor.timeouts == 1
        udp.replug()
        await client.associate(udp.address)  # it comes back, and takes a new association
        assert udp.monitor.associated


def read_frames(port: serial.Serial, deframer: MibDeframer, want: int) -> list[bytes]:
    got: list[bytes] = []
    for _ in range(200):
        got += deframer.feed(port.read(4096))
        if len(got) >= want:
            break
    return got


def test_the_same_session_over_mib_frames_on_a_pty() -> None:
    [monitor] = build_intellivues(1, 3, demo=True)
    mib = IntellivueSerialMonitor(monitor, clock=lambda: 0.0)  # the monitor's start time
    try:
        with serial.Serial(mib.path, 115200, timeout=0.05) as port:
            deframer = MibDeframer()
            port.write(frame(aarq()))
            port.flush()
            mib.step()
            ac, create = read_frames(port, deframer, 2)
            assert ac[0] == 0x0E
            (invoke_id,) = struct.unpack_from(">H", create, 8)
            port.write(frame(mds_create_result(invoke_id)) + frame(single_poll(NU)))
            port.flush()
            mib.step()
            [numerics] = read_frames(port, deframer, 1)
            reply = read_poll_reply(numerics)
            assert reply.obj_class == NU and len(reply.objects) >= 6
            assert deframer.rejected == 0
            assert monitor.commands["CN"] == 1
    finally:
        mib.close()


async def test_simulate_intellivue_prints_each_monitors_bed_and_address() -> None:
    client = Client()
    out = io.StringIO()
    simulation = launch.Simulation(
        intellivue=2, indication_to=f"127.0.0.1:{client.port}", demo_mode=True
    )
    task = asyncio.create_task(launch.simulate(simulation, out))
    try:
        await eventually(lambda: out.getvalue().count("\n") == 2, "two monitors")
        lines = [line.split(" ") for line in out.getvalue().splitlines()]
        assert [bed for bed, _ in lines] == ["ICU^1^1", "ICU^2^1"]
        host, port = lines[0][1].split(":")
        await client.associate((host, int(port)))
        await client.send(single_poll(NU), (host, int(port)))
        reply = read_poll_reply(await client.recv_data())
        assert reply.obj_class == NU
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        client.sock.close()


async def test_simulate_serial_intellivue_prints_one_pty_per_bed() -> None:
    out = io.StringIO()
    task = asyncio.create_task(launch.simulate(launch.Simulation(beds=2, serial="intellivue"), out))
    try:
        await eventually(lambda: out.getvalue().count("\n") == 2, "two ptys")
        lines = [line.split(" ") for line in out.getvalue().splitlines()]
        assert [bed for bed, _ in lines] == ["ICU^1^1", "ICU^2^1"]
        with serial.Serial(lines[0][1], 115200, timeout=0.1) as port:
            port.write(frame(aarq()))
            deframer = MibDeframer()
            frames: list[bytes] = []
            for _ in range(50):
                frames += deframer.feed(await asyncio.to_thread(port.read, 4096))
                if len(frames) >= 2:
                    break
        assert frames[0][0] == 0x0E
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_bad_intellivue_options_are_reported_together() -> None:
    with pytest.raises(Exception, match="--indication-to must look like HOST:PORT"):
        launch.check(launch.Simulation(intellivue=2, indication_to="nowhere"))

"""GE S/5 and Dräger MEDIBUS end to end over real pseudo-terminals read through pyserial: the
simulated monitor and ventilator (simulators/serial_peers.py, their own encoders) into the
ward; every byte the gateway wrote read back by the device's side and named — only the
protocol's requests and replies, nothing else, ever; a pulled cable and the monitor plugged
back in (asked again); a ventilator that falls silent (a fault, ICC again); the stop
requests when the gateway stops."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from serial_support import Pty
from waiting import eventually

from adapters.serial import ge_s5, medibus
from adapters.serial.device import Accepted, SerialSource
from adapters.serial.reader import SerialReader
from gateway.domain import BedId, ObservationStatus
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.ward.routing import BedBinding, Router
from gateway.ward.snapshot import BedSnapshot
from gateway.ward.state import WardState
from simulators import ge_s5_format, medibus_format
from simulators.serial_emitter import SerialDevice, serial_devices
from simulators.serial_peers import GeS5Monitor

BED = BedId("bed-1")
HR, SPO2, PEEP, ABP_SYS = 147842, 150456, 151976, 150033


def bound_hub(path: str) -> Hub:
    return Hub(WardState(), Router([BedBinding(BED, "Bed 1", devices=(f"serial:{path}",))]))


def bed(hub: Hub) -> BedSnapshot:
    found = hub.snapshot().bed(BED)
    assert found is not None
    return found


def value(hub: Hub, code: int) -> float | str | None:
    found = hub.snapshot().bed(BED)
    reading = None if found is None else found.readings.get(code)
    return (
        None if reading is None or reading.status is not ObservationStatus.VALID else reading.value
    )


class Tap:
    """Every byte the gateway wrote to a simulated device, as the device received it."""

    def __init__(self, device: SerialDevice) -> None:
        self.data = bytearray()
        heard = device.port.listener
        assert heard is not None

        def tap(data: bytes) -> None:
            self.data += data
            heard(data)

        device.port.listener = tap

    def ge_commands(self) -> list[str]:
        return [r.command for r in ge_s5_format.read_requests(bytes(self.data))]

    def medibus_commands(self) -> list[str]:
        messages, rest = medibus_format.read_messages(bytes(self.data))
        assert rest == b""
        return [m.name for m in messages]


@contextlib.asynccontextmanager
async def running(*tasks: asyncio.Task[None]) -> AsyncIterator[None]:
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def reader_for(hub: Hub, path: str, kind: str) -> SerialReader:
    return SerialReader(
        hub, port=path, kind=kind, clock=hub.clock, backoff_initial_s=0.02, backoff_max_s=0.1
    )


@contextlib.contextmanager
def simulated(kind: str, seed: int = 1) -> Iterator[SerialDevice]:
    [device] = serial_devices(kind, 1, seed)
    try:
        yield device
    finally:
        device.close()


async def test_a_ge_monitor_is_asked_read_into_the_ward_and_told_to_stop() -> None:
    with simulated("ge-s5") as device:
        tap = Tap(device)
        hub = bound_hub(device.path)
        reader = reader_for(hub, device.path, "ge-s5")
        writing, reading = asyncio.create_task(device.run()), asyncio.create_task(reader.run())
        async with running(writing):
            async with running(reading):
                await eventually(lambda: value(hub, HR) is not None, "HR from the GE monitor")
                await eventually(lambda: value(hub, SPO2) is not None, "SpO2")
                await eventually(lambda: len(bed(hub).waves) >= 3, "ECG, pleth and more waves")
            # The reader was stopped: its stop requests reached the monitor.
            monitor = device.peer
            assert isinstance(monitor, GeS5Monitor)
            await eventually(lambda: not monitor.waves and monitor.interval_s is None, "stops")
    names = tap.ge_commands()
    assert names[:3] == ["phdb-request", "wave-request", "alarm-request"]
    assert names[-3:] == ["phdb-stop", "wave-stop", "alarm-stop"]
    # Read-only: every byte written is one of the protocol's requests, nothing else.
    assert set(names) <= ge_s5.PROTOCOL.sends and "unknown" not in names
    assert sum(reader.sent.values()) == len(names) and reader.refused == 0
    assert reader.rejected == 0 and not [f.text for f in hub.faults]
    [link] = bed(hub).devices
    assert (link.transport, link.peer) == ("serial", device.path)


async def test_a_pulled_ge_cable_is_a_fault_and_the_monitor_plugged_back_is_asked_again(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "usb-ge")
    with simulated("ge-s5") as first:
        os.symlink(first.path, path)
        hub = bound_hub(path)
        reader = reader_for(hub, path, "ge-s5")
        writing = asyncio.create_task(first.run())
        reading = asyncio.create_task(reader.run())
        async with running(reading):
            async with running(writing):
                await eventually(lambda: value(hub, HR) is not None, "HR before the cable goes")
            os.unlink(path)
            first.close()  # the cable pulled: the port is gone
            await eventually(lambda: any("lost" in f.text for f in hub.faults), "the loss")
            with simulated("ge-s5", seed=2) as second:
                tap = Tap(second)
                os.symlink(second.path, path)
                async with running(asyncio.create_task(second.run())):
                    await eventually(lambda: reader.opened == 2, "the port opened again")
                    monitor = second.peer
                    assert isinstance(monitor, GeS5Monitor)
                    await eventually(
                        lambda: monitor.interval_s == 5, "the new monitor asked for values"
                    )
                    records = reader.records
                    await eventually(lambda: reader.records > records + 2, "records again")
                assert tap.ge_commands()[:3] == ["phdb-request", "wave-request", "alarm-request"]


async def test_a_ventilator_is_initialised_polled_kept_alive_and_answered() -> None:
    with simulated("medibus") as device:
        tap = Tap(device)
        hub = bound_hub(device.path)
        reader = reader_for(hub, device.path, "medibus")
        writing, reading = asyncio.create_task(device.run()), asyncio.create_task(reader.run())
        async with running(writing):
            async with running(reading):
                await eventually(lambda: value(hub, PEEP) == 5.0, "PEEP from the ventilator")
                await eventually(lambda: reader.sent.get("reply device id", 0) == 1, "our id")
                assert bed(hub).devices[0].device.label == "Dräger Evita 4"
            await eventually(lambda: "STOP" in tap.medibus_commands(), "STOP on the way out")
    names = tap.medibus_commands()
    assert names[0] == "ICC"
    assert {"request measured data CP1", "request alarms CP1", "reply device id"} <= set(names)
    # Read-only: requests and protocol replies only — never a setting, never data of ours.
    assert set(names) <= medibus.PROTOCOL.sends and "unknown" not in names
    assert device.peer is not None and device.peer.heard.get("unknown", 0) == 0
    assert reader.refused == 0 and reader.rejected == 0


async def test_a_silent_ventilator_times_out_and_is_initialised_again() -> None:
    pty = Pty()
    hub = bound_hub(pty.path)
    reader = reader_for(hub, pty.path, "medibus")
    source = SerialSource(pty.path, reader.device)
    reader.decoder = medibus.Decoder(source, timeout_s=0.3, nop_after_s=0.1, cycle_s=0.1)
    written = bytearray()

    def said(name: str) -> int:
        written.extend(pty.read())
        return [m.name for m in medibus_format.read_messages(bytes(written))[0]].count(name)

    try:
        async with running(asyncio.create_task(reader.run())):
            await eventually(lambda: said("ICC") == 1, "the first ICC")
            pty.write(medibus_format.response(0x51))  # answered: the link is up
            await eventually(lambda: said("request device id") == 1, "the first request")
            # ... and then the ventilator says nothing more.
            await eventually(lambda: said("ICC") == 2, "ICC again after the time-out")
    finally:
        pty.close()
    assert [f.text for f in hub.faults if "said nothing" in f.text] == [
        "the ventilator said nothing for 0.3 s: communication initialised again (ICC)"
    ]


async def test_a_one_way_device_never_hears_a_byte_and_a_talker_only_its_own_commands() -> None:
    """The reader refuses a command its protocol does not list (a bug that would write to a
    device must not reach it)."""
    pty = Pty()
    hub = bound_hub(pty.path)
    reader = reader_for(hub, pty.path, "masimo")
    try:
        async with running(asyncio.create_task(reader.run())):
            await eventually(lambda: reader.connected, "the port open")
            reader._send(ge_s5.Decoder(SerialSource(pty.path, reader.device)).closing().sends[0])
            assert pty.read() == b"" and reader.refused == 1
    finally:
        pty.close()
    assert any("refused to send 'phdb-stop'" in f.text for f in hub.faults)


async def test_ge_frames_are_journaled_raw_so_a_capture_can_be_replayed(tmp_path: Path) -> None:
    with simulated("ge-s5") as device:
        journal = Journal(tmp_path / "j.sqlite")
        await journal.start()
        hub = bound_hub(device.path)
        hub.journal = journal
        reader = reader_for(hub, device.path, "ge-s5")
        writing, reading = asyncio.create_task(device.run()), asyncio.create_task(reader.run())
        try:
            async with running(writing, reading):
                await eventually(lambda: value(hub, HR) is not None, "HR, stored")
        finally:
            await journal.close()
    with JournalReader(tmp_path / "j.sqlite") as stored:
        messages = list(stored.messages())
    assert messages and all(m.raw.startswith(b"\x7e") and m.raw.endswith(b"\x7e") for m in messages)
    replayed = ge_s5.Decoder(SerialSource(device.path, reader.device))
    items = replayed.feed(b"".join(m.raw for m in messages), 1)
    taken = [item for item in items if isinstance(item, Accepted)]
    assert len(taken) == len(items) == len(messages)  # every stored frame reads again
    assert any(o.code == HR for item in taken for r in item.reports for o in r.observations)

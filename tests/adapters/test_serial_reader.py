"""Serial readers end to end over real pseudo-terminals read through pyserial: simulated
devices into the ward, status flags as device alarms that start and end, a USB adapter
unplugged (a fault; the bed goes NO DATA, then DEVICE LOST) and plugged back in (read again
by itself), bad lines journaled as rejected, HL7 acknowledged only once stored, and the
running gateway reading its configured ports."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import get_args

import pytest
import serial  # pyserial
from serial_support import PluggedPort, Pty
from waiting import eventually

from adapters.hl7 import er7
from adapters.hl7.mllp import MllpFramer, frame
from adapters.serial.port import SerialPort
from adapters.serial.reader import SerialReader
from adapters.serial.registry import PROTOCOLS
from gateway.app.service import build_hub, serve
from gateway.clock import ManualClock
from gateway.config.load import parse_config
from gateway.config.model import SerialKind
from gateway.domain import (
    AlarmPriority,
    AlarmSource,
    BedId,
    Connectivity,
    ObservationStatus,
)
from gateway.errors import AdapterError
from gateway.hub import Hub
from gateway.journal.client import Journal
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome
from gateway.ward.routing import BedBinding, Router
from gateway.ward.snapshot import BedSnapshot
from gateway.ward.state import WardState
from simulators.serial_emitter import serial_devices
from simulators.serial_formats import SERIAL_KINDS, TALKING_KINDS

SPO2, HR, PEEP = 150456, 147842, 151976
BED = BedId("bed-4")


def masimo_line(spo2: str = "097", exc: str = "000800") -> bytes:
    dashes = spo2.startswith("-")
    return (
        f"02/22/16 22:47:45 SN=0000056661 SPO2={spo2}% BPM={'---' if dashes else '072'}"
        f" PI={'--.--' if dashes else '02.10'}% SPCO=--.-% SPMET=--.-% DESAT=-- PIDELTA=+--"
        f" ALARM=0000 EXC={exc}\r\n"
    ).encode()


def oru(control_id: str, spo2: int = 96) -> bytes:
    return (
        f"MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01"
        f"|{control_id}|P|2.6|||AL|NE\rPID|||P1\rPV1||I|ICU^4^1\rOBR|1\r"
        f"OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|{spo2}|262688^MDC_DIM_PERCENT^MDC"
        "|||||R\r"
    ).encode()


def bound_hub(path: str, clock: ManualClock | None = None) -> Hub:
    """A hub whose one configured bed binds the device on ``path``, as ``[[serial]] bed``."""
    router = Router([BedBinding(BED, "Bed 4", devices=(f"serial:{path}",))], auto_beds=False)
    return Hub(WardState(), router, clock or ManualClock())


def reader_for(hub: Hub, path: str, kind: str = "masimo", **options: float) -> SerialReader:
    settings = {"backoff_initial_s": 0.02, "backoff_max_s": 0.1, **options}
    return SerialReader(hub, port=path, kind=kind, clock=hub.clock, **settings)  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def running(reader: SerialReader) -> AsyncIterator[SerialReader]:
    task = asyncio.create_task(reader.run())
    try:
        yield reader
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled()  # it only ever ends by being cancelled


def bed(hub: Hub) -> BedSnapshot:
    found = hub.snapshot().bed(BED)
    assert found is not None
    return found


def reading(hub: Hub, code: int) -> float | str | None:
    found = bed(hub).readings.get(code)
    return None if found is None else found.value


def device_alarms(hub: Hub) -> list[tuple[str, AlarmPriority]]:
    return [
        (a.text, a.priority)
        for a in hub.alarms.snapshot().alarms
        if a.bed == BED and a.source is AlarmSource.DEVICE
    ]


def faults(hub: Hub, text: str) -> list[str]:
    return [f.text for f in hub.faults if text in f.text]


def test_the_registry_names_every_kind_the_configuration_and_simulators_know() -> None:
    assert set(PROTOCOLS) == set(get_args(SerialKind)) == set(SERIAL_KINDS)
    assert [k for k, p in PROTOCOLS.items() if p.answers] == ["hl7"]
    # Only the devices that must be asked are ever written to, besides HL7's ACKs.
    assert {k for k, p in PROTOCOLS.items() if p.sends} == set(TALKING_KINDS)


@pytest.mark.parametrize("kind", SERIAL_KINDS)
async def test_a_simulated_device_reaches_the_ward_through_a_pty(kind: str) -> None:
    [device] = serial_devices(kind, 1, 3)
    hub = Hub(WardState(), Router())  # auto beds
    writing = asyncio.create_task(device.run())
    try:
        async with running(reader_for(hub, device.path, kind)) as reader:
            shown = PEEP if kind == "medibus" else SPO2  # a ventilator has no oximeter

            def spo2_on_screen() -> bool:
                return any(
                    (r := b.readings.get(shown)) is not None
                    and r.status is ObservationStatus.VALID
                    and isinstance(r.value, float)
                    for b in hub.snapshot().beds
                )

            await eventually(spo2_on_screen, f"SpO2 from the {kind} device")
            await eventually(lambda: reader.records >= 2, "a second record")
    finally:
        writing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writing
        device.close()
    [shown_bed] = [b for b in hub.snapshot().beds if shown in b.readings]
    [link] = shown_bed.devices
    assert (link.device.key, link.transport, link.peer) == (
        f"serial:{device.path}", "serial", device.path
    )  # fmt: skip
    assert reader.rejected == 0 and not list(hub.faults)
    # Read-only towards devices: HL7 hears its ACKs, GE S/5 and MEDIBUS their requests
    # (tests/adapters/serial/ checks each byte); a one-way device never hears a byte.
    assert (device.port.counters.received > 0) is (kind == "hl7" or kind in TALKING_KINDS)


async def test_a_sensor_off_flag_is_a_device_alarm_that_ends_when_it_clears() -> None:
    pty = Pty()
    hub = bound_hub(pty.path)
    try:
        async with running(reader_for(hub, pty.path)) as reader:
            await eventually(lambda: reader.connected, "the port open")
            pty.write(masimo_line())
            await eventually(lambda: reading(hub, SPO2) == 97.0, "SpO2 97")
            assert device_alarms(hub) == []
            pty.write(masimo_line(spo2="---", exc="000820"))
            await eventually(lambda: device_alarms(hub) != [], "the device alarm")
            assert device_alarms(hub) == [("SpO2 SENSOR OFF", AlarmPriority.MEDIUM)]
            spo2 = bed(hub).readings[SPO2]
            assert (spo2.value, spo2.status) == ("---", ObservationStatus.INVALID)
            pty.write(masimo_line(spo2="096"))
            await eventually(lambda: device_alarms(hub) == [], "the alarm's end")
            assert reading(hub, SPO2) == 96.0
            assert pty.read() == b""  # never a byte towards the oximeter
    finally:
        pty.close()
    ended = [t for t in hub.alarms.history(BED) if t.text == "SpO2 SENSOR OFF"]
    assert [t.change.value for t in reversed(ended)] == ["raised", "ended"]


async def test_an_unplugged_adapter_is_a_fault_the_bed_goes_lost_and_it_comes_back(
    tmp_path: Path,
) -> None:
    clock = ManualClock()
    port = PluggedPort(tmp_path)
    port.plug()
    hub = bound_hub(port.path, clock)
    source = f"serial {port.path}"
    try:
        async with running(reader_for(hub, port.path)) as reader:
            await eventually(lambda: reader.connected, "the port open")
            port.write(masimo_line())
            await eventually(lambda: reading(hub, SPO2) == 97.0, "SpO2 97")
            assert [link.closed for link in bed(hub).devices] == [False]
            port.unplug()
            await eventually(lambda: faults(hub, "lost") != [], "the loss reported")
            await eventually(lambda: faults(hub, "cannot open") != [], "reopening tried")
            # The devices screen says the link closed, not that the oximeter fell silent.
            assert [link.closed for link in bed(hub).devices] == [True]
            assert {f.source for f in hub.faults} == {source}
            assert not reader.connected
            clock.advance(11)  # past the stale timeout: shown with its age, not as live
            assert bed(hub).readings[SPO2].stale
            assert bed(hub).connectivity is Connectivity.STALE
            silent = [a for a in hub.alarms.snapshot().alarms if a.text.startswith("NO DATA")]
            assert [a.priority for a in silent] == [AlarmPriority.MEDIUM]
            clock.advance(60)
            assert bed(hub).connectivity is Connectivity.LOST
            lost = [a for a in hub.alarms.snapshot().alarms if a.text.startswith("DEVICE LOST")]
            assert [a.priority for a in lost] == [AlarmPriority.HIGH]
            port.plug()  # the same adapter, back in its socket
            await eventually(lambda: reader.connected, "the port reopened by itself")
            assert reader.opened == 2
            assert faults(hub, "port open again after 71 s")
            port.write(masimo_line(spo2="095"))
            await eventually(lambda: reading(hub, SPO2) == 95.0, "SpO2 95")
            assert not bed(hub).readings[SPO2].stale
            assert bed(hub).connectivity is Connectivity.CONNECTED
            assert [link.closed for link in bed(hub).devices] == [False]
            assert not [a for a in hub.alarms.snapshot().alarms if "LOST" in a.text]
    finally:
        port.close()


async def test_a_port_absent_at_start_is_read_once_it_is_plugged_in(tmp_path: Path) -> None:
    port = PluggedPort(tmp_path)
    hub = bound_hub(port.path)
    try:
        async with running(reader_for(hub, port.path)) as reader:
            await eventually(lambda: faults(hub, "cannot open") != [], "the absent port")
            await asyncio.sleep(0.3)  # several retries: reported once, not every time
            assert len(faults(hub, "cannot open")) == 1
            port.plug()
            await eventually(lambda: reader.connected, "the port opened")
            port.write(masimo_line())
            await eventually(lambda: reading(hub, SPO2) == 97.0, "SpO2 97")
    finally:
        port.close()


async def test_bad_lines_are_journaled_as_rejected_and_reading_goes_on(tmp_path: Path) -> None:
    pty = Pty()
    journal = Journal(tmp_path / "j.sqlite")
    await journal.start()
    hub = bound_hub(pty.path)
    hub.journal = journal
    try:
        async with running(reader_for(hub, pty.path)) as reader:
            await eventually(lambda: reader.connected, "the port open")
            pty.write(masimo_line())
            await eventually(lambda: reader.records == 1, "the first line")
            pty.write(masimo_line(spo2="1x7") + b"\xff\xfe noise\r\n" + masimo_line(spo2="094"))
            await eventually(lambda: reader.records == 2, "the line after the bad ones")
    finally:
        pty.close()
        await journal.close()
    assert reader.rejected == 2 and reading(hub, SPO2) == 94.0
    with JournalReader(tmp_path / "j.sqlite") as stored:
        messages = list(stored.messages())
    assert [(m.outcome, m.transport, m.peer, m.device) for m in messages] == [
        (outcome, "serial", pty.path, f"serial:{pty.path}")
        for outcome in (Outcome.ACCEPTED, Outcome.REJECTED, Outcome.REJECTED, Outcome.ACCEPTED)
    ]
    assert messages[1].reason == "SPO2=1x7% is neither a number nor dashes"
    assert messages[1].raw == masimo_line(spo2="1x7").rstrip(b"\r\n")
    [rejects] = hub.snapshot().rejects
    assert (rejects.transport, rejects.host, rejects.rejected) == ("serial", pty.path, 2)
    assert len(faults(hub, "bad message rejected")) == 2


def acks(data: bytes) -> list[tuple[str, str]]:
    out = []
    for item in MllpFramer().feed(data):
        assert isinstance(item, bytes)
        msa = er7.parse(item).first("MSA")
        assert msa is not None
        out.append((msa.get(1), msa.get(2)))
    return out


async def read_acks(pty: Pty, count: int) -> list[tuple[str, str]]:
    data = b""

    def arrived() -> bool:
        nonlocal data
        data += pty.read()
        return len(acks(data)) >= count

    await eventually(arrived, f"{count} ACKs on the serial line")
    return acks(data)


async def test_hl7_over_serial_is_acknowledged_only_once_stored(tmp_path: Path) -> None:
    pty = Pty()
    path = tmp_path / "j.sqlite"
    journal = Journal(path, busy_timeout_s=0.1)
    await journal.start()
    hub = bound_hub(pty.path)
    hub.journal = journal

    def stored() -> list[str]:
        with JournalReader(path) as reader:
            return [m.control_id for m in reader.messages() if m.outcome is Outcome.ACCEPTED]

    try:
        async with running(reader_for(hub, pty.path, "hl7")) as reader:
            await eventually(lambda: reader.connected, "the port open")
            pty.write(frame(oru("s1")))
            assert await read_acks(pty, 1) == [("CA", "s1")]
            assert stored() == ["s1"]  # on disk by the time the device hears CA
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("BEGIN IMMEDIATE")  # the journal cannot write for now
            try:
                pty.write(frame(oru("s2", spo2=91)))
                assert await read_acks(pty, 1) == [("CE", "s2")]  # keep it, send it again
                assert reading(hub, SPO2) == 91.0  # shown live all the same
            finally:
                other.execute("ROLLBACK")
                other.close()
            pty.write(frame(oru("s2", spo2=91)))
            assert await read_acks(pty, 1) == [("CA", "s2")]
            pty.write(frame(b"MSH|^~\\&|X|Y|||20240101||ADT^A01|s3|P|2.6\r"))
            assert await read_acks(pty, 1) == [("AR", "s3")]  # original mode: no MSH-15/16
    finally:
        pty.close()
        await journal.close()
    assert stored() == ["s1", "s2"]
    assert faults(hub, "not recorded") == [
        "not recorded: database locked by another program: "
        f"{path}: database is locked (shown live; the device was told to send it again)"
    ]
    assert faults(hub, "unsupported message type")


async def test_a_port_silent_too_long_is_a_fault() -> None:
    pty = Pty()
    hub = bound_hub(pty.path)
    try:
        async with running(reader_for(hub, pty.path, silent_after_s=0.1)):
            await eventually(lambda: faults(hub, "nothing received") != [], "the silence")
    finally:
        pty.close()
    assert faults(hub, "nothing received for 0.1 s") == [
        "open, but nothing received for 0.1 s: is the device on, its serial output enabled,"
        " and set to 9600 8N1?"
    ]


async def test_a_port_held_by_another_program_is_a_fault_until_it_lets_go() -> None:
    pty = Pty()
    hub = bound_hub(pty.path)
    other = serial.Serial(pty.path, 9600, exclusive=True)
    try:
        async with running(reader_for(hub, pty.path)) as reader:
            await eventually(lambda: faults(hub, "cannot open") != [], "the port in use")
            other.close()
            await eventually(lambda: reader.connected, "the port free again")
            pty.write(masimo_line())
            await eventually(lambda: reading(hub, SPO2) == 97.0, "SpO2 97")
    finally:
        other.close()
        pty.close()


async def test_the_running_gateway_reads_its_configured_serial_ports(tmp_path: Path) -> None:
    pty = Pty()
    config = parse_config(
        f"""
listeners = []
[gateway]
journal = "{tmp_path / "j.sqlite"}"
auto_beds = false
[[serial]]
kind = "masimo"
port = "{pty.path}"
bed = "bed-4"
[[beds]]
id = "bed-4"
label = "Bed 4"
"""
    )
    hub = build_hub(config)
    gateway = asyncio.create_task(serve(config, dashboard=False, hub=hub))

    def spo2_shown() -> bool:
        # A port flushes what came before it was opened: the device keeps sending.
        pty.write(masimo_line())
        return reading(hub, SPO2) == 97.0

    try:
        await eventually(spo2_shown, "SpO2 97 on the configured bed")
    finally:
        gateway.cancel()
        await asyncio.wait([gateway])
        pty.close()
    assert not faults(hub, "not read yet")
    assert bed(hub).label == "Bed 4"
    [link] = bed(hub).devices
    assert (link.device.key, link.transport) == (f"serial:{pty.path}", "serial")


class BrokenLink:
    """A port whose driver fails with an unexpected error once (no pty can be made to)."""

    def __init__(self) -> None:
        self.opens = 0
        self.closes = 0

    async def open(self) -> None:
        self.opens += 1

    async def read(self) -> bytes:
        if self.opens == 1:
            raise RuntimeError("driver bug")
        await asyncio.get_running_loop().create_future()  # then silence
        return b""

    def write(self, data: bytes) -> None:
        raise AssertionError("nothing may be written to a one-way device")

    async def drain(self, timeout_s: float) -> None:
        raise AssertionError("nothing is ever queued for a one-way device")

    async def close(self) -> None:
        self.closes += 1


async def test_a_bug_under_the_reader_costs_a_reconnection_never_the_gateway() -> None:
    hub = bound_hub("/dev/ttyUSB9")
    link = BrokenLink()
    reader = SerialReader(
        hub, port="/dev/ttyUSB9", kind="masimo", link=link, backoff_initial_s=0.01
    )
    async with running(reader):
        await eventually(lambda: link.opens == 2, "the port reopened")
        assert link.closes == 1
        assert faults(hub, "reader failed") == [
            "reader failed: RuntimeError('driver bug'); reopening the port"
        ]


async def test_a_line_setting_the_driver_refuses_is_an_adapter_error_never_another() -> None:
    """A Linux pseudo-terminal refuses even parity when it is set a second time (termios
    EINVAL, not an OSError): that must be a fault the reader retries, like any port that
    cannot be opened, never a crash of the gateway."""
    pty = Pty()
    try:
        for _ in range(2):
            port = SerialPort(pty.path, baud=19200, parity="even", flow_control="rtscts")
            try:
                await port.open()
            except AdapterError as exc:
                assert str(exc).startswith(f"cannot open {pty.path}")
            else:
                await port.close()  # this driver takes it: nothing to map
    finally:
        pty.close()

"""The simulated ward on every transport: the real MLLP listener, a vendor gateway's single
connection, pseudo-terminals read through pyserial, and a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator

import serial  # pyserial
from sim_scripted_gateway import ScriptedGateway
from waiting import eventually

from adapters.hl7 import er7
from adapters.hl7.listener import MllpListener
from adapters.hl7.mllp import MllpFramer
from adapters.mqtt import codec
from gateway.hub import Hub
from gateway.mqtt.client import Broker, BrokerLink, Credentials
from gateway.ward.routing import Router
from gateway.ward.state import WardState
from simulators.mqtt_emitter import MqttWard
from simulators.scenario import WardScenario, parse_scenario
from simulators.serial_emitter import PtyPort, serial_devices
from simulators.serial_formats import ANSAR_B_END, ANSAR_B_START
from simulators.ward import SimulatedWard

# OpenICE's regex for a Masimo ASCII 1 line, less its PVI field (the Rad-8 set has none).
MASIMO_LINE = re.compile(
    r"^(.{17})\s+SN\=(\S+)\s+SPO2\=(\S+)\%\s+BPM\=(\S+)\s+PI\=(\S+)\%\s+SPCO\=(\S+)\%\s+"
    r"SPMET\=(\S+)\%\s+DESAT\=(\S+)\s+PIDELTA\=(\S+)\s+ALARM\=(\S+)\s+EXC\=(\S+)\s*$"
)


def scenario(text: str) -> WardScenario:
    return parse_scenario(text, "test.toml")


@contextlib.asynccontextmanager
async def running(ward: SimulatedWard | MqttWard) -> AsyncIterator[None]:
    task = asyncio.create_task(ward.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def fast(port: int, **options: object) -> SimulatedWard:
    settings: dict[str, object] = {
        "beds": 3, "seed": 1, "period_s": 0.1, "backoff_initial_s": 0.02, "backoff_max_s": 0.1,
    }  # fmt: skip
    settings.update(options)
    return SimulatedWard("127.0.0.1", port, **settings)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- MLLP


async def test_the_real_listener_takes_numerics_alarms_and_waves_and_the_ward_reconnects() -> None:
    hub = Hub(WardState(), Router())
    listener = MllpListener(hub, host="127.0.0.1", port=0)
    await listener.__aenter__()
    port = listener.port
    ward = fast(
        port,
        waveforms=True,
        scenario=scenario('[[events]]\nat = "0.1s"\nartefact = "lead_off"\nduration = "5s"\n'),
    )
    serving = asyncio.create_task(listener.serve_forever())
    async with running(ward):
        await eventually(lambda: all(m.counters.acked >= 10 for m in ward.monitors), "ACKs")
        assert {m.last_ack for m in ward.monitors} == {"CA"}
        serving.cancel()
        await listener.close()  # the gateway goes down …
        await eventually(
            lambda: all(m.counters.connect_failures >= 1 for m in ward.monitors), "refused"
        )
        before = [m.counters.acked for m in ward.monitors]
        restarted = MllpListener(hub, host="127.0.0.1", port=port)  # … and comes back
        async with restarted:
            serving = asyncio.create_task(restarted.serve_forever())
            await eventually(
                lambda: all(
                    m.counters.acked > b + 4 for m, b in zip(ward.monitors, before, strict=True)
                ),
                "ACKs after the restart",
            )
            assert all(m.counters.reconnects >= 1 for m in ward.monitors)
            serving.cancel()
    assert listener.messages > 0 and restarted.messages > 0


async def test_every_kind_of_message_reaches_the_gateway_with_its_sample_rates() -> None:
    async with ScriptedGateway() as gateway:
        ward = fast(
            gateway.port,
            beds=2,
            period_s=0.2,
            waveforms=True,
            scenario=scenario('[[events]]\nat = "0.2s"\nartefact = "lead_off"\nduration = "5s"\n'),
        )
        async with running(ward):
            await eventually(
                lambda: sum(m.message_type[1] == "R40" for m in gateway.received) >= 2, "alarms"
            )
        rates = {
            obx.get(4): obx.get(5)
            for m in gateway.received
            for obx in m.all("OBX")
            if obx.raw(3) == "0^MDC_ATTR_SAMP_RATE^MDC"
        }
        assert rates == {"1.1.1.3.1": "250", "1.2.1.3.1": "125", "1.1.1.4.1": "62.5"}
        alarms = [m for m in gateway.received if m.message_type[1] == "R40"]
        assert {a.all("OBX")[0].components(5)[8] for a in alarms} == {"ECG leads off"}


async def test_vendor_gateway_mode_sends_every_bed_over_one_connection() -> None:
    async with ScriptedGateway() as gateway:
        ward = fast(gateway.port, beds=4, vendor_gateway=True)
        async with running(ward):
            await eventually(lambda: len(gateway.received) >= 12, "reports")
            assert gateway.connections_opened == 1
            ward.stop_bed(2)  # one bed unplugged from the vendor gateway: the link stays
            seen = len(gateway.received)
            await eventually(lambda: len(gateway.received) >= seen + 9, "more reports")
            assert gateway.open_connections == 1
        locations = {pv1.raw(3) for m in gateway.received if (pv1 := m.first("PV1"))}
        assert locations == {"ICU^1^1", "ICU^2^1", "ICU^3^1", "ICU^4^1"}
        assert {m.msh.get(3, 1) for m in gateway.received} == {"SIM_VENDOR_GATEWAY"}
        monitors = {m.all("OBX")[0].components(18)[0] for m in gateway.received}
        assert monitors == {m.device.eui64 for m in ward.monitors}


async def test_a_scripted_disconnect_closes_the_connection_then_the_monitor_comes_back() -> None:
    async with ScriptedGateway() as gateway:
        ward = fast(
            gateway.port, beds=1, scenario=scenario('[[events]]\nat = "0.5s"\ndisconnect = "1s"\n')
        )
        async with running(ward):
            await eventually(lambda: gateway.connections_closed >= 1, "the device unplugged")
            await eventually(lambda: gateway.connections_opened >= 2, "the device back")
            assert ward.monitors[0].counters.reconnects == 1


# --------------------------------------------------------------------------- serial


def read_all(port: serial.Serial, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = port.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_masimo_lines_on_a_pty_read_back_through_pyserial() -> None:
    [device] = serial_devices(
        "masimo",
        1,
        3,
        scenario('[[events]]\nat = "00:02"\nartefact = "sensor_off"\nduration = "5s"\n'),
    )
    try:
        with serial.Serial(device.path, 9600, timeout=1) as port:
            for _ in range(4):
                device.port.write(device.step(1.0))
            lines = [port.readline() for _ in range(4)]
    finally:
        device.close()
    assert all(line.endswith(b"\r\n") for line in lines)
    fields = [MASIMO_LINE.match(line.decode("ascii").rstrip("\r\n")) for line in lines]
    assert all(f is not None for f in fields)
    spo2 = [f[3] for f in fields if f]
    exc = [int(f[11], 16) for f in fields if f]
    assert spo2[0].isdigit() and spo2[-1] == "---"
    assert exc[0] == 0x800 and exc[-1] & 0x020  # SET mode; then "sensor off"


def test_nonin_frames_have_valid_checksums_and_a_sync_bit_every_25_frames() -> None:
    [device] = serial_devices("nonin", 1, 3)
    try:
        with serial.Serial(device.path, 9600, timeout=1) as port:
            for _ in range(3):  # one second: three packets
                device.port.write(device.step(device.period_s))
            data = read_all(port, 75 * 5)
    finally:
        device.close()
    frames = [data[i : i + 5] for i in range(0, len(data), 5)]
    assert len(frames) == 75
    assert all(f[0] == 0x01 and f[1] & 0x80 and f[4] == sum(f[:4]) % 256 for f in frames)
    assert [i for i, f in enumerate(frames) if f[1] & 0x01] == [0, 25, 50]
    spo2 = {f[3] for i, f in enumerate(frames) if i % 25 == 2}
    assert len(spo2) == 1 and 85 <= spo2.pop() <= 100


def test_ivy_ansar_b_frames_carry_400_wave_bytes_then_parameter_lines() -> None:
    [device] = serial_devices("ivy", 1, 3)
    try:
        with serial.Serial(device.path, 9600, timeout=1) as port:
            for _ in range(2):
                device.port.write(device.step(1.0))
            data = port.read(4000)
    finally:
        device.close()
    frames = [f for f in data.split(ANSAR_B_END) if f]
    assert len(frames) == 2
    for frame in frames:
        assert frame.startswith(ANSAR_B_START)
        waves = frame[len(ANSAR_B_START) : len(ANSAR_B_START) + 400]
        assert max(waves) < 0xFC  # never a frame boundary inside the waves
        lines = frame[len(ANSAR_B_START) + 400 :].split(b"\r")
        names = [line.split(b"=")[0] for line in lines if line]
        assert names == [b"HR", b"RR", b"ETCO2", b"SPO2", b"NIBP", b"P1", b"P2", b"T1", b"T2"]
        assert re.fullmatch(rb"HR=1;\d+;ECG-II-DIAG;", lines[0])


def test_hl7_over_serial_sends_mllp_frames_the_project_parser_reads() -> None:
    [device] = serial_devices("hl7", 1, 3, waveforms=True)
    try:
        with serial.Serial(device.path, 115200, timeout=1) as port:
            device.port.write(device.step(1.0))
            port.write(b"\x0bMSH|^~\\&|GW||||||ACK|1|P|2.6\rMSA|CA|X\r\x1c\r")  # ignored
            data = b""
            framer = MllpFramer()
            frames: list[bytes] = []
            while len(frames) < 4 and (chunk := port.read(65536)):
                data += chunk
                frames += [f for f in framer.feed(chunk) if isinstance(f, bytes)]
    finally:
        device.close()
    messages = [er7.parse(f) for f in frames]
    assert [m.message_type[:2] for m in messages] == [("ORU", "R01")] * 4
    assert len({m.control_id for m in messages}) == 4


def test_a_port_nobody_reads_drops_bytes_instead_of_blocking() -> None:
    with PtyPort() as port:
        for _ in range(64):
            port.write(b"x" * 65536)
        assert port.counters.dropped > 0
        assert port.counters.written + port.counters.dropped == 64 * 65536


async def test_a_serial_device_runs_at_its_pace_until_cancelled() -> None:
    [device] = serial_devices("nonin", 1, 4)
    task = asyncio.create_task(device.run())
    await eventually(lambda: device.port.counters.records >= 3, "three packets")
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert device.port.counters.written == device.port.counters.records * 25 * 5
    device.close()


# --------------------------------------------------------------------------- MQTT


async def test_mqtt_monitors_publish_schema_v1_vitals_waves_and_alarms_to_a_real_broker(
    mosquitto: str,
) -> None:
    ward = MqttWard(
        mosquitto,
        beds=2,
        seed=3,
        period_s=0.1,
        waveforms=True,
        scenario=scenario('[[events]]\nat = "0.1s"\nartefact = "lead_off"\nduration = "30s"\n'),
    )
    host, port = mosquitto.removeprefix("mqtt://").split(":")
    seen: dict[str, list[codec.ObservationSet]] = {}
    retained: list[str] = []
    async with BrokerLink(Broker(host, int(port)), Credentials(), identifier="sim-test") as link:
        await link.subscribe(codec.ingest_filter(), qos=1)
        async with running(ward):

            async def collect() -> None:
                async for delivery in link.deliveries():
                    if delivery.retain:
                        retained.append(delivery.topic)
                    decoded = codec.decode(codec.DEFAULT_PREFIX, delivery.topic, delivery.payload)
                    seen.setdefault(delivery.topic, []).append(decoded)
                    if len(seen) == 2 and all(
                        any(m.alarms for m in messages) for messages in seen.values()
                    ):
                        return

            await asyncio.wait_for(collect(), timeout=20)
    first = ward.monitors[0]
    assert ward.topic(first) == f"icu/in/v1/site/sim/{first.device.eui64.lower()}/obs"
    assert set(seen) == {ward.topic(m) for m in ward.monitors}
    assert not retained  # a retained reading would greet a new subscriber as live
    last = seen[ward.topic(first)][-1]
    assert (last.location, last.device_key) == ("ICU^1^1", f"EUI-64:{first.device.eui64}")
    assert not last.demo
    rows = {row.code: row for row in last.observations}
    assert rows[147842].status == "invalid" and rows[147842].value is None  # leads off
    assert rows[150456].status == "valid" and isinstance(rows[150456].value, float)
    ecg = next(w for w in last.waves if w.label == "ecg")
    assert ecg.rate_hz == 250.0 and len(ecg.samples) == 25 and set(ecg.samples) == {None}
    alarm = next(a for m in seen[ward.topic(first)] for a in m.alarms)
    assert (alarm.phase, alarm.kind, alarm.text) == ("start", "technical", "ECG leads off")
    seqs = [m.seq or 0 for m in seen[ward.topic(first)]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

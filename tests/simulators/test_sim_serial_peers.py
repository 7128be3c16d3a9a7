"""The simulated GE S/5 monitor and Dräger ventilator behave as their devices do: the monitor
sends nothing until asked and stops on a stop; the ventilator gives data only on an
initialised link, starts the link itself, keeps it alive and gives up on a silent peer
after 3 s. Their bytes are read back by the gateway's decoders (independent encoders)."""

from __future__ import annotations

from adapters.serial import ge_s5, medibus
from adapters.serial import ge_s5_wire as wire
from adapters.serial.device import Accepted, SerialDecoder, SerialSource
from gateway.domain import DeviceId, DeviceReport
from simulators import medibus_format as mb
from simulators.monitor import Readout
from simulators.serial_peers import GeS5Monitor, MedibusVentilator
from simulators.ward import SimulatedMonitor, build_monitors


def source() -> SerialSource:
    return SerialSource("/dev/ttyUSB0", DeviceId("serial:/dev/ttyUSB0"))


def decoded(decoder: SerialDecoder, data: bytes) -> list[DeviceReport]:
    items = decoder.feed(data, 1)
    return [r for item in items if isinstance(item, Accepted) for r in item.reports]


def readouts(seed: int = 4) -> tuple[SimulatedMonitor, list[Readout]]:
    [(index, device, bed, model, _)] = build_monitors(1, seed)
    monitor = SimulatedMonitor(index, device, bed, model)
    return monitor, [monitor.tick(0.25, 10**18 + i * 250_000_000) for i in range(24)]


def test_the_monitor_is_silent_until_asked_and_stops_on_a_stop() -> None:
    _, steps = readouts()
    peer = GeS5Monitor()
    assert all(peer.step(r, i * 0.25) == b"" for i, r in enumerate(steps[:4]))
    asked = b"".join(o.data for o in ge_s5.Decoder(source()).opening(0).sends)
    assert peer.hear(asked, 1.0) == b""
    sent = b"".join(peer.step(r, 1.0 + i * 0.25) for i, r in enumerate(steps[4:12]))
    decoder = ge_s5.Decoder(source())
    got = decoded(decoder, sent)
    assert any(o.label == "HR" for r in got for o in r.observations)
    names = {w.label for r in got for w in r.waveforms}
    assert {"ECG1", "PLETH", "RESP"} <= names
    peer.hear(b"".join(o.data for o in ge_s5.Decoder(source()).closing().sends), 3.0)
    assert b"".join(peer.step(r, 3.0 + i * 0.25) for i, r in enumerate(steps[12:])) == b""
    assert peer.heard == {
        "phdb-request": 1, "wave-request": 1, "alarm-request": 1, "phdb-stop": 1,
        "wave-stop": 1, "alarm-stop": 1,
    }  # fmt: skip


def test_the_monitor_names_a_request_it_would_not_take_unknown() -> None:
    peer = GeS5Monitor()
    peer.hear(wire.frame(wire.build_record(wire.PHDB, [(0, b"\x02\x05\x00" + bytes(6))])), 0.0)
    peer.hear(b"\x7e\x01\x02\x03\x7e", 0.0)
    assert peer.heard == {"unknown": 2}


def test_the_ventilator_gives_data_only_on_an_initialised_link() -> None:
    _, steps = readouts()
    vent = MedibusVentilator()
    assert vent.hear(mb.command(0x24), 0.0) == b""  # not initialised: nothing
    assert vent.step(steps[0], 0.0) == mb.command(0x51)  # it starts the link itself
    assert vent.hear(mb.command(0x51), 0.1) == mb.response(0x51) and vent.up
    answer = vent.hear(mb.command(0x24), 0.2)
    [report] = decoded(medibus.Decoder(source()), answer)
    got = {o.label: o.value for o in report.observations}
    assert got["PEEP"] == 5.0 and 300 <= float(got["VT"]) <= 600 and got["FiO2"] == 40.0
    assert vent.step(steps[1], 0.3) == mb.command(0x52)  # asks who we are, once


def test_the_ventilator_gives_up_on_a_peer_silent_for_3_s_and_keeps_a_live_one() -> None:
    _, steps = readouts()
    vent = MedibusVentilator()
    vent.hear(mb.command(0x51), 0.0)
    vent.step(steps[0], 0.1)  # the device-id request
    assert vent.step(steps[1], 2.1) == mb.command(0x30)  # its own keep-alive
    vent.hear(mb.response(0x30), 2.2)
    assert vent.up and vent.timeouts == 0
    assert vent.step(steps[2], 5.3) == mb.command(0x51)  # 3.1 s silent: gone, ICC again
    assert not vent.up and vent.timeouts == 1

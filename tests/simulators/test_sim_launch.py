"""``icu-gateway simulate``: options checked as a whole, each transport started, the demo's
mixed ward showing alarms, a stale and a lost device within its first two minutes."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest
import serial  # pyserial
from sim_scripted_gateway import ScriptedGateway
from waiting import eventually

from gateway.app.cli import main
from simulators import launch
from simulators.scenario import load_scenario
from simulators.ward import build_monitors


def test_bad_options_exit_2_with_every_reason(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["simulate", "--to", "mllp://nowhere", "--scenario", "nope", "--period", "0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--to must look like mllp://HOST:PORT, not 'mllp://nowhere'" in err
    assert "nope: no such scenario file, and not a built-in; built-ins: arrest," in err
    assert "--period: 0.0 is not a time above 0" in err


def test_a_destination_is_required() -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["simulate", "--beds", "2"])
    assert exit_.value.code == 2


def test_vendor_gateway_needs_mllp() -> None:
    with pytest.raises(Exception, match="--vendor-gateway needs --to"):
        launch.check(launch.Simulation(serial="masimo", vendor_gateway=True))


async def test_serial_simulation_prints_one_pty_per_bed_to_bind_in_the_config() -> None:
    out = io.StringIO()
    task = asyncio.create_task(launch.simulate(launch.Simulation(beds=2, serial="masimo"), out))
    await eventually(lambda: out.getvalue().count("\n") == 2, "two pty paths")
    lines = [line.split(" ") for line in out.getvalue().splitlines()]
    assert [bed for bed, _ in lines] == ["ICU^1^1", "ICU^2^1"]
    with serial.Serial(lines[0][1], 9600, timeout=3) as port:
        line = await asyncio.to_thread(port.readline)
    assert b"SPO2=" in line
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_mllp_simulation_plays_the_scenario_asked_for() -> None:
    async with ScriptedGateway() as gateway:
        simulation = launch.Simulation(
            beds=2,
            to=f"mllp://127.0.0.1:{gateway.port}",
            period_s=0.05,
            scenario="arrest",
            waveforms=True,
            vendor_gateway=True,
        )
        task = asyncio.create_task(launch.simulate(simulation))
        await eventually(lambda: len(gateway.received) >= 16, "reports")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert gateway.connections_opened == 1
    assert any(m.all("OBX")[-2].get(2) == "NA" for m in gateway.received)


def test_the_demo_ward_shows_alarms_a_stale_and_a_lost_device_in_two_minutes() -> None:
    monitors = build_monitors(8, 0, load_scenario("mixed-ward"))
    runs: list[int] = []  # every spell of silence, in seconds
    alarms: set[tuple[str, str]] = set()
    for _, _, _, model, _ in monitors:
        silent = 0
        for _ in range(150):
            readout = model.advance(1.0)
            if readout.connected and silent:
                runs.append(silent)
            silent = 0 if readout.connected else silent + 1
            alarms |= {(a.kind, a.priority) for a in readout.alarms}
        if silent:
            runs.append(silent)
    assert ("SP", "PH") in alarms  # the arrest bed's VT
    assert ("SP", "PM") in alarms  # desaturation, hypotension
    assert ("ST", "PM") in alarms  # a probe off
    # The gateway's defaults: stale after 10 s, lost after 60 s.
    assert any(10 < run < 60 for run in runs), "a stale device that comes back"
    assert any(run > 60 for run in runs), "a lost device"

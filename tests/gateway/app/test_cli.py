"""The icu-gateway command as a user runs it: real processes, real sockets, real signals."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from samples import load_sample

from adapters.hl7 import er7
from adapters.hl7.mllp import MllpFramer, frame

ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "gateway.app.cli"]


def icu_gateway(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def connect_when_listening(port: int, process: subprocess.Popen[str]) -> socket.socket:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, process.communicate()[1]
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=5)
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the gateway never started listening"
            time.sleep(0.05)


def test_check_config_accepts_the_example() -> None:
    result = icu_gateway("check-config", "examples/ward.toml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout


def test_check_config_names_file_line_and_key_of_each_problem(tmp_path: Path) -> None:
    bad = tmp_path / "ward.toml"
    bad.write_text('[gateway]\nname = "ICU"\nstale_timeout_s = -1\n\n[dashbord]\n')
    result = icu_gateway("check-config", str(bad))
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(f"{bad}:3: gateway.stale_timeout_s" in line for line in lines), lines
    assert any(f"{bad}:5:" in line and "dashbord" in line for line in lines), lines


def test_run_headless_acknowledges_a_monitor_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    journal = tmp_path / "journal.sqlite"
    process = subprocess.Popen(
        [*CLI, "run", "--headless", "--listen", f"127.0.0.1:{port}", "--journal", str(journal)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with connect_when_listening(port, process) as sock:
            sock.sendall(frame(load_sample("02")))
            framer = MllpFramer()
            frames: list[object] = []
            while not frames:
                data = sock.recv(65536)
                assert data, "connection closed without an ACK"
                frames = list(framer.feed(data))
            ack = frames[0]
            assert isinstance(ack, bytes)
            msa = er7.parse(ack).first("MSA")
            assert msa is not None
            assert (msa.get(1), msa.get(2)) == ("CA", "0104ef190d604db188c3")
            # Stopped while the monitor is still connected, as a real shutdown is.
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert f"listening for HL7/MLLP on 127.0.0.1:{port}" in stderr
    assert "Traceback" not in stderr


def test_a_port_in_use_is_one_clear_line_and_exit_status_1(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = icu_gateway(
            "run", "--headless", "--listen", f"127.0.0.1:{port}", "--journal", str(tmp_path / "j")
        )
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--headless", "--listen", "nowhere"), '--listen: "nowhere" has no port'),
        (("simulate", "--to", "tcp://x"), "--to must look like mllp://HOST:PORT"),
        (("demo", "--beds", "0"), "must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_saying_what_is_wrong(args: tuple[str, ...], message: str) -> None:
    result = icu_gateway(*args)
    assert result.returncode == 2
    assert message in result.stderr


async def test_the_demo_reads_its_serial_devices_into_the_beds_they_bind() -> None:
    """``demo`` shows the serial path too: a Masimo oximeter, a GE S/5 monitor and a Dräger
    ventilator on real ptys, bound by their ``[[serial]]`` entries to their beds (the
    monitor and the ventilator to one), reach them through the serial readers."""
    import asyncio

    from waiting import eventually

    from gateway.app.cli import _demo_serial_config
    from gateway.app.service import build_hub, build_serial_readers
    from simulators.serial_emitter import run_serial, serial_devices

    devices = [serial_devices(kind, 1, seed=1)[0] for kind in ("masimo", "ge-s5", "medibus")]
    config = _demo_serial_config(devices[0].path, devices[1].path, devices[2].path, 0)
    hub = build_hub(config)
    readers = build_serial_readers(config, hub)

    def shown(label: str, code: int) -> bool:
        beds = {bed.label: bed for bed in hub.snapshot().beds}
        bed = beds.get(label)
        return bed is not None and code in bed.readings

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_serial(devices))]
        tasks += [group.create_task(reader.run()) for reader in readers]
        try:
            await eventually(lambda: shown("Oximeter (serial)", 150456), "SpO2 (Masimo)")
            await eventually(lambda: shown("GE + ventilator (serial)", 147842), "HR (GE S/5)")
            await eventually(lambda: shown("GE + ventilator (serial)", 151976), "PEEP (Dräger)")
        finally:
            for task in tasks:
                task.cancel()
    assert all(reader.records > 0 and reader.rejected == 0 for reader in readers)
    assert [(r.protocol.kind, r.line) for r in readers] == [
        ("masimo", "9600 8N1"), ("ge-s5", "19200 8N1"), ("medibus", "19200 8N1")
    ]  # fmt: skip


async def test_the_demo_shows_philips_monitors_found_over_udp_beside_the_others() -> None:
    """``demo``'s IntelliVue monitors announce themselves on loopback; the gateway's
    ``[[intellivue]] listen`` hears them and their beds appear under their bed labels."""
    import asyncio

    from waiting import eventually

    from gateway.app.cli import DEMO_PHILIPS_BEDS, _demo_philips, _demo_serial_config
    from gateway.app.service import build_hub, build_intellivue
    from simulators.intellivue_emitter import run_udp
    from simulators.scenario import load_scenario
    from simulators.serial_emitter import serial_devices

    (oximeter,) = serial_devices("masimo", 1, seed=1)
    oximeter.close()
    config = _demo_serial_config(oximeter.path, "/dev/null-ge", "/dev/null-vent", 0)
    hub = build_hub(config)
    (lan,), readers = build_intellivue(config, hub)
    assert readers == [] and lan.host == "127.0.0.1"
    async with lan:
        philips = _demo_philips(5, load_scenario("mixed-ward"), lan.port)
        for monitor in philips:
            await monitor.bind()

        def philips_beds_with_hr() -> set[str]:
            return {
                bed.label
                for bed in hub.snapshot().beds
                if bed.label.startswith("Philips ") and 147842 in bed.readings
            }

        tasks = [asyncio.create_task(run_udp(philips)), asyncio.create_task(lan.serve_forever())]
        try:
            await eventually(
                lambda: len(philips_beds_with_hr()) == DEMO_PHILIPS_BEDS, "every Philips bed"
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert philips_beds_with_hr() == {f"Philips {n}" for n in range(21, 21 + DEMO_PHILIPS_BEDS)}


def test_demo_beds_are_the_beds_shown_in_all() -> None:
    from gateway.app.cli import DEMO_BEDS, demo_split

    assert demo_split(DEMO_BEDS) == (8, 4, 2)
    assert demo_split(32) == (26, 4, 2)
    assert demo_split(7) == (1, 4, 2)
    assert demo_split(6) == (6, 0, 0)  # no room for the other paths beside an HL7 bed
    assert all(sum(demo_split(n)) == n for n in range(1, 80))


def test_counts_read_as_people_say_them() -> None:
    from gateway.wording import plural

    assert [plural(n, "bed") for n in (0, 1, 2)] == ["0 beds", "1 bed", "2 beds"]
    assert plural(1, "serial port") == "1 serial port"
    assert plural(2, "wave", "waves") == "2 waves"

"""SIGHUP to a real ``icu-gateway run --headless``: the edited configuration's beds are
taken while a monitor stays connected on its one socket; what needs a restart is said; a
configuration that fails to load changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from gateway_process import free_port
from journal_support import Monitor, oru
from waiting import eventually

from gateway.domain import AlarmChange
from gateway.journal.reader import JournalReader, read_reports

ROOT = Path(__file__).resolve().parents[3]
DEVICE = "EUI-64:0012211839000001"


def config_text(port: int, beds: str, extra_listener: int | None = None) -> str:
    listeners = f'[[listeners]]\nbind = "127.0.0.1:{port}"\n'
    if extra_listener is not None:
        listeners += f'\n[[listeners]]\nbind = "127.0.0.1:{extra_listener}"\n'
    return (
        'intellivue = []\n\n[gateway]\nname = "ICU RELOAD"\njournal = "ward.sqlite"\n'
        'auto_beds = false\n\n[alarms]\naudio = "off"\n\n' + listeners + "\n" + beds
    )


BEFORE = '[[beds]]\nid = "bed-a"\nlabel = "Bed A"\nlocations = ["ICU^1^1"]\n'
AFTER = (
    '[[beds]]\nid = "bed-a"\nlabel = "Bed A"\n\n'
    f'[[beds]]\nid = "bed-b"\nlabel = "Bed B"\ndevices = ["{DEVICE}"]\n'
)


async def beds_of_reports(journal: Path) -> list[str | None]:
    found: list[str | None] = []
    async for batch in read_reports(journal):
        found += [None if s.routed.bed is None else s.routed.bed.key for s in batch]
    return found


@contextlib.asynccontextmanager
async def service(
    tmp_path: Path, config: Path, *before: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, Path]]:
    """A real ``icu-gateway run --headless`` on ``config`` (``before``: ``-c SCRIPT ARGS``
    to start it through a wrapper instead of ``-m gateway.app.cli``), its log; stopped
    with SIGTERM after, and it must exit 0."""
    log = tmp_path / "gateway.log"
    entry = list(before) or ["-m", "gateway.app.cli"]
    with log.open("ab") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *entry, "run", "--headless", "--config", str(config),
            cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
    try:
        yield process, log
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(20):
                    await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, log.read_text()


async def connect(
    port: int, process: asyncio.subprocess.Process, log_text: Callable[[], str]
) -> Monitor:
    """A monitor's connection, once the gateway listens (it must not exit meanwhile)."""
    async with asyncio.timeout(30):
        while True:
            assert process.returncode is None, log_text()
            try:
                return await Monitor.connect(port)
            except OSError:
                await asyncio.sleep(0.05)


@pytest.mark.timeout(60)
async def test_sighup_reloads_the_beds_and_the_connected_monitor_stays_on_its_socket(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "ward.toml"
    config.write_text(config_text(port, BEFORE))
    async with service(tmp_path, config) as (process, log):
        monitor = await connect(port, process, log.read_text)
        sockname = monitor.writer.get_extra_info("sockname")
        assert await monitor.send(oru("1")) == ("CA", "1")

        # The engineer edits the file (and adds a listener, which needs a restart).
        config.write_text(config_text(port, AFTER, extra_listener=free_port()))
        process.send_signal(signal.SIGHUP)
        await eventually(lambda: "configuration reloaded" in log.read_text(), "the reload")
        assert process.returncode is None
        text = log.read_text()
        assert "reload: listeners changed in" in text and "need a restart" in text

        # Same socket, still ACKed; its next message lands on the new bed.
        assert monitor.writer.get_extra_info("sockname") == sockname
        assert await monitor.send(oru("2")) == ("CA", "2")
        await eventually(lambda: "moved from bed-a to Bed B" in log.read_text(), "the move")
        assert await beds_of_reports(tmp_path / "ward.sqlite") == ["bed-a", "bed-b"]

        # A file that does not load is a fault; the running beds stay.
        config.write_text("[[beds]\nid = \n")
        process.send_signal(signal.SIGHUP)
        await eventually(lambda: "reload failed" in log.read_text(), "the failed reload")
        assert process.returncode is None
        assert await monitor.send(oru("3")) == ("CA", "3")
        assert (await beds_of_reports(tmp_path / "ward.sqlite"))[-1] == "bed-b"
        await monitor.close()


SLOW_START = """
import sys, time
from pathlib import Path
import gateway.app.service as service

rebuild = service.rebuild

async def slow_rebuild(*args, **kwargs):
    # A long journal's rebuild, held until the test has sent its SIGHUP.
    print("rebuilding: held", file=sys.stderr, flush=True)
    import asyncio
    while not Path(sys.argv[1]).exists():
        await asyncio.sleep(0.02)
    return await rebuild(*args, **kwargs)

service.rebuild = slow_rebuild
from gateway.app.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.timeout(60)
async def test_a_sighup_while_starting_is_carried_out_once_listening_never_a_stop(
    tmp_path: Path,
) -> None:
    """``systemctl reload`` during a slow start (the ward rebuilt from a long journal): the
    signal's default would end the gateway before it ever listened."""
    port = free_port()
    config = tmp_path / "ward.toml"
    config.write_text(config_text(port, BEFORE))
    release = tmp_path / "release"
    async with service(tmp_path, config, "-c", SLOW_START, str(release)) as (process, log):
        await eventually(lambda: "rebuilding: held" in log.read_text(), "the start held")
        config.write_text(config_text(port, AFTER))
        process.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.2)  # time for the signal to end a process that does not hold it
        assert process.returncode is None, log.read_text()
        release.touch()
        monitor = await connect(port, process, log.read_text)
        await eventually(lambda: "configuration reloaded" in log.read_text(), "the reload")
        assert "SIGHUP came while starting: reloading now" in log.read_text()
        assert await monitor.send(oru("1")) == ("CA", "1")
        await monitor.close()
        assert await beds_of_reports(tmp_path / "ward.sqlite") == ["bed-b"]


def limits_config(port: int, hr_high: int, audio_pause_s: int) -> str:
    return (
        'intellivue = []\n\n[gateway]\nname = "ICU RELOAD"\njournal = "ward.sqlite"\n'
        f'auto_beds = false\n\n[alarms]\naudio = "off"\ncondition_delay_s = 0\n'
        f"audio_pause_s = {audio_pause_s}\n\n[alarms.limits]\nhr = {{ low = 40, high = {hr_high} }}"
        f'\n\n[[listeners]]\nbind = "127.0.0.1:{port}"\n\n{BEFORE}'
    )


@pytest.mark.timeout(60)
async def test_sighup_gives_the_running_alarm_engine_the_new_limits_on_the_same_socket(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = tmp_path / "ward.toml"
    config.write_text(limits_config(port, hr_high=150, audio_pause_s=120))
    async with service(tmp_path, config) as (process, log):
        monitor = await connect(port, process, log.read_text)
        sockname = monitor.writer.get_extra_info("sockname")
        assert await monitor.send(oru("1", hr=130)) == ("CA", "1")
        assert "HR HIGH" not in log.read_text()  # inside 40-150

        # The ward's HR limit tightened, and the audio pause changed (needs a restart).
        config.write_text(limits_config(port, hr_high=120, audio_pause_s=60))
        process.send_signal(signal.SIGHUP)
        await eventually(lambda: "alarm limits reloaded" in log.read_text(), "the new limits")
        text = log.read_text()
        assert "[alarms.limits] hr low 40, high 150 → low 40, high 120" in text
        assert "the audio pause changed in" in text and "need a restart" in text
        # The last value is judged against the new limit at once: no new message needed.
        await eventually(
            lambda: any(
                "alarm raised" in line and "HR HIGH 130" in line
                for line in log.read_text().splitlines()
            ),
            "HR HIGH from the new limit",
        )
        assert process.returncode is None
        assert monitor.writer.get_extra_info("sockname") == sockname
        assert await monitor.send(oru("2", hr=135)) == ("CA", "2")

        # Journaled as a configuration entry (the alarm log, read from the journal).
        def journaled() -> bool:
            with JournalReader(tmp_path / "ward.sqlite") as reader:
                return any(
                    t.change is AlarmChange.CONFIGURATION and "alarm limits reloaded" in t.text
                    for t in reader.alarm_log(ward=True)
                )

        await eventually(journaled, "the journal's entry")
        await monitor.close()

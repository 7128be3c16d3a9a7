"""The remote dashboard (the app ``icu-gateway dashboard --mqtt`` runs), driven through the
pilot, fed by a real ``icu-gateway run --headless --mqtt`` process over a real Mosquitto: it
shows the bed the monitor sends, and NO DATA within 3 s of the gateway being SIGKILLed; with
two gateways of two wards, both wards on one screen and on the wards screen (``o``), where
the killed one is NO DATA and the other stays live."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from gateway_process import connect_when_listening, free_port
from journal_support import oru
from mqtt_support import bed_named, hr_of, remote_screen
from ward_rig import screen_text, wait_for

from gateway.app.remote import remote_title
from tui.app import WardApp


async def start_publishing_gateway(
    url: str, port: int, journal: Path, log: Path, gateway: str, *, ward: str = "icu3n"
) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.app.cli",
            "run",
            "--headless",
            "--listen",
            f"127.0.0.1:{port}",
            "--journal",
            str(journal),
            "--mqtt",
            url,
            "--mqtt-ward",
            ward,
            "--mqtt-gateway",
            gateway,
            cwd=journal.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


async def test_the_remote_dashboard_shows_the_ward_and_no_data_within_3_s_of_a_gateway_killed(
    mosquitto: str, tmp_path: Path
) -> None:
    port = free_port()
    process = await start_publishing_gateway(
        mosquitto, port, tmp_path / "j.sqlite", tmp_path / "gateway.log", "gw-a"
    )
    try:
        monitor = await connect_when_listening(port, process)
        async with remote_screen(mosquitto, wards=("icu3n",)) as (remote, _):
            app = WardApp(
                remote.snapshot,
                traces=remote,
                title=remote_title(None, ["icu3n"]),
                markers=("REMOTE",),
                refresh_hz=20,
            )
            async with app.run_test(size=(120, 40)) as pilot:
                await monitor.send(oru("r1", bed=4, hr=93))

                def showing_93() -> bool:  # big digits on the tile: read from what it shows
                    text = screen_text(app)
                    bed = bed_named(app.ward, "ICU^4^1") if app.ward is not None else None
                    return hr_of(bed) == 93 and "ICU 4-1" in text and "NO DATA" not in text

                await wait_for(pilot, showing_93, "bed ICU 4-1 with HR 93, live")
                process.kill()
                killed = time.monotonic()
                await wait_for(pilot, lambda: "NO DATA" in screen_text(app), "NO DATA")
                took = time.monotonic() - killed
                assert took < 3.0, f"NO DATA after {took:.2f} s"
                assert "NO DATA from" in screen_text(app)  # the alarm line says why
        await monitor.close()
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_two_wards_on_one_remote_screen_and_the_wards_screen_shows_which_went_dark(
    mosquitto: str, tmp_path: Path
) -> None:
    ports = {"icu3n": free_port(), "icu5s": free_port()}
    processes = {}
    for ward, port in ports.items():
        (tmp_path / ward).mkdir()
        processes[ward] = await start_publishing_gateway(
            mosquitto,
            port,
            tmp_path / ward / "j.sqlite",
            tmp_path / ward / "gateway.log",
            f"gw-{ward}",
            ward=ward,
        )
    try:
        north = await connect_when_listening(ports["icu3n"], processes["icu3n"])
        south = await connect_when_listening(ports["icu5s"], processes["icu5s"])
        async with remote_screen(mosquitto) as (remote, _):
            app = WardApp(
                remote.snapshot,
                traces=remote,
                title=remote_title(None, []),
                markers=("REMOTE",),
                refresh_hz=20,
                wards=True,
            )
            async with app.run_test(size=(140, 40)) as pilot:
                await north.send(oru("n1", bed=1, hr=72))
                # over the default high limit (120): the south gateway's own HR alarm
                await south.send(oru("s1", bed=7, hr=181))

                def both_wards() -> bool:
                    text = screen_text(app)
                    return "icu3n ICU 1-1" in text and "icu5s ICU 7-1" in text

                # two gateway processes starting on a busy 2-core machine: their first
                # publications can take a while; what is timed is the NO DATA below
                await wait_for(
                    pilot, both_wards, "the beds of both wards, each under its ward", timeout_s=15
                )
                await pilot.press("o")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "WardsScreen", "the wards screen"
                )

                def row(name: str) -> str:
                    return next(
                        (line for line in screen_text(app).splitlines() if name in line), ""
                    )

                def south_alarm() -> bool:
                    line = row("gw-icu5s")
                    return "live" in line and "!!! ICU 7-1: HR HIGH 181" in line

                await wait_for(pilot, south_alarm, "gw-icu5s live with its high HR alarm")
                assert "2 wards · 2 gateways · 2 beds" in screen_text(app)
                assert "live" in row("gw-icu3n") and "!!!" not in row("gw-icu3n")
                processes["icu5s"].kill()
                killed = time.monotonic()
                await wait_for(pilot, lambda: "NO DATA" in row("gw-icu5s"), "gw-icu5s NO DATA")
                assert "NO DATA from" in row("gw-icu5s")  # its worst alarm says why
                took = time.monotonic() - killed
                assert took < 3.0, f"NO DATA after {took:.2f} s"
                assert "NO DATA" not in row("gw-icu3n") and "live" in row("gw-icu3n")
                assert "1 NO DATA" in screen_text(app)
                await pilot.press("escape")
                await wait_for(
                    pilot, lambda: type(app.screen).__name__ == "WardScreen", "back on the ward"
                )
        await north.close()
        await south.close()
    finally:
        for process in processes.values():
            if process.returncode is None:
                process.kill()
            await process.wait()


async def test_a_remote_dashboard_with_acknowledge_asks_who_and_the_gateway_acknowledges(
    mosquitto: str, tmp_path: Path
) -> None:
    from mqtt_support import broker_of, publishing_gateway

    from gateway.mqtt.remote_desk import RemoteDesk
    from gateway.mqtt.remote_ward import RemoteWard
    from gateway.mqtt.screen_link import ScreenLink
    from tui.alarms_screen import OperatorScreen

    async with publishing_gateway(
        mosquitto, tmp_path / "j.sqlite", extra="remote_acknowledge = true\n"
    ) as gateway:
        ward = RemoteWard("icu/v1")
        desk = RemoteDesk(ward, "screen-pilot")
        link = ScreenLink(ward, [broker_of(mosquitto)], desk=desk, screen="screen-pilot")
        task = asyncio.create_task(link.run())
        monitor = await gateway.monitor()
        try:
            app = WardApp(
                ward.snapshot,
                traces=ward,
                markers=("REMOTE", "REMOTE ACK"),
                refresh_hz=20,
                alarms=desk,
                wards=True,
            )
            async with app.run_test(size=(120, 40)) as pilot:
                await wait_for(pilot, lambda: isinstance(app.screen, OperatorScreen), "who?")
                await pilot.press(*"Dr Roux", "enter")
                await wait_for(pilot, lambda: not isinstance(app.screen, OperatorScreen), "in")
                assert (await monitor.send(oru("a1", bed=1, hr=180)))[0] == "CA"
                await wait_for(
                    pilot,
                    lambda: (
                        "HR HIGH 180" in screen_text(app)
                        and all(why is None for _, why in ward.gateways())
                    ),
                    "the alarm, from a gateway proved live (two heartbeats)",
                )
                assert "Audio pause" not in screen_text(app)  # no sound here to pause
                await pilot.press("a")
                await wait_for(
                    pilot,
                    lambda: all(a.acknowledged for a in gateway.hub.alarms.snapshot().alarms),
                    "acknowledged by the gateway",
                )
                await wait_for(
                    pilot,
                    lambda: any(
                        "HR HIGH 180" in line and " ack " in line
                        for line in screen_text(app).splitlines()
                    ),
                    "the alarm shown ack on the screen",
                )
                await pilot.press("q")  # a remote screen quits at once: the ward is watched
                await wait_for(pilot, lambda: not app.is_running, "quit")
        finally:
            await monitor.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

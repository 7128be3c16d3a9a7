"""The remote dashboard (the app ``icu-gateway dashboard --mqtt`` runs), driven through the
pilot, fed by a real ``icu-gateway run --headless --mqtt`` process over a real Mosquitto: it
shows the bed the monitor sends, and NO DATA within 3 s of the gateway being SIGKILLed."""

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
    url: str, port: int, journal: Path, log: Path, gateway: str
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
            "icu3n",
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

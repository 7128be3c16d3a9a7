"""A remote dashboard: the wards gateways publish to a broker, on the same screens as a
gateway's own (``icu-gateway dashboard --mqtt URL [--ward W …]``).

Display-only by default: it shows alarms and never acknowledges or pauses them (no alarm
desk is given to the app), makes no sound, and publishes nothing but rebirth requests.
With ``acknowledge`` (``--acknowledge``) it asks who is at the screen, and ``a`` asks the
gateways to acknowledge the alarms shown (:mod:`gateway.mqtt.remote_desk`); a gateway acts
on it only with ``[mqtt] remote_acknowledge = true``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from gateway.config.model import GatewayConfig
from gateway.mqtt.credentials import brokers_of, credentials_for
from gateway.mqtt.remote_desk import RemoteDesk
from gateway.mqtt.remote_ward import RemoteWard
from gateway.mqtt.screen_link import ScreenLink, screen_id


def remote_title(site: str | None, wards: Sequence[str]) -> str:
    where = ", ".join(wards) if wards else "all wards"
    return f"REMOTE {site + ': ' if site else ''}{where}"


async def watch(
    config: GatewayConfig,
    *,
    site: str | None,
    wards: Sequence[str],
    overview: bool = False,
    acknowledge: bool = False,
) -> None:
    """Run the remote dashboard until it quits (``q``); ``overview`` opens it on the wards
    screen (every gateway and bed, for a crisis unit)."""
    from tui.app import WardApp

    mqtt = config.mqtt
    assert mqtt is not None
    credentials = credentials_for(mqtt)  # unreadable files: exit 2, saying which
    ward = RemoteWard(mqtt.topic_prefix)
    screen = screen_id()
    desk = RemoteDesk(ward, screen) if acknowledge else None
    link = ScreenLink(
        ward, brokers_of(mqtt), credentials, site=site, wards=wards, desk=desk, screen=screen
    )
    app = WardApp(
        ward.snapshot,
        traces=ward,
        title=remote_title(site, wards),
        markers=("REMOTE", "REMOTE ACK" if acknowledge else "DISPLAY ONLY"),
        alarms=desk,
        refresh_hz=config.dashboard.refresh_hz,
        columns=config.dashboard.columns,
        wards=True,
        start_on_wards=overview,
    )
    task = asyncio.create_task(link.run(), name="mqtt screen link")
    try:
        await app.run_async()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

"""The running gateway: the core, its listeners and its views under one asyncio TaskGroup.

Assembles what a configuration describes — ward state, router, hub, MLLP listeners — and
runs it with the dashboard, headless until a signal, or (for ``demo``) with a simulated
ward talking to it over real loopback sockets. Start-up failures (a port in use) reach the
caller before anything is shown. It does no protocol work of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from adapters.hl7.listener import MllpListener
from gateway.clock import Clock, SystemClock
from gateway.config import GatewayConfig
from gateway.hub import Hub
from gateway.routing import Router
from gateway.ward import WardState

log = logging.getLogger(__name__)


def build_hub(config: GatewayConfig, clock: Clock | None = None) -> Hub:
    ward = WardState(config.stale_timeout_s, config.lost_after_s)
    router = Router(config.bindings(), auto_beds=config.auto_beds)
    return Hub(ward, router, clock or SystemClock())


def build_listeners(config: GatewayConfig, hub: Hub) -> list[MllpListener]:
    return [
        MllpListener(
            hub,
            host=spec.host,
            port=spec.port,
            clock=hub.clock,
            max_connections=spec.max_connections,
            max_frame_bytes=spec.max_frame_bytes,
            idle_timeout_s=spec.idle_timeout_s,
            allow=spec.allows if spec.allow else None,
            facility=config.name,
        )
        for spec in config.listeners
    ]


# Until the alarm engine exists the screen must say so: nobody may believe a ward is
# guarded by limits that nothing evaluates.
NO_ALARMS_MARKER = "NO ALARMS"


def not_yet_supported(config: GatewayConfig) -> list[str]:
    """What a configuration asks for that this version does not do yet (each a fault)."""
    gaps = []
    if config.serial:
        ports = ", ".join(s.port for s in config.serial)
        gaps.append(f"serial devices are not read yet; ignored: {ports}")
    if config.mqtt is not None:
        gaps.append(f"MQTT publishing is not implemented yet; ignored: {config.mqtt.url}")
    if config.alarms.limits or any(bed.limits for bed in config.beds):
        gaps.append("alarm limits are not evaluated yet: no gateway alarms will sound")
    return gaps


# A companion runs beside the gateway (the demo's simulated ward); it is told the port of
# the first listener, which may have been chosen by the system.
Companion = Callable[[int], Coroutine[Any, Any, None]]


async def serve(
    config: GatewayConfig,
    *,
    dashboard: bool,
    markers: Sequence[str] = (),
    companion: Companion | None = None,
    hub: Hub | None = None,
) -> None:
    """Run until the dashboard quits (``q``) or, headless, until SIGINT/SIGTERM."""
    hub = hub or build_hub(config)
    for gap in not_yet_supported(config):
        hub.fault("config", gap)
    async with contextlib.AsyncExitStack() as stack:
        listeners = [await stack.enter_async_context(lis) for lis in build_listeners(config, hub)]
        for listener in listeners:
            log.info("listening for HL7/MLLP on %s", listener.address)
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(listener.serve_forever()) for listener in listeners]
            if companion is not None and listeners:
                tasks.append(group.create_task(companion(listeners[0].port)))
            try:
                if dashboard:
                    from tui.app import WardApp

                    app = WardApp(
                        hub.snapshot,
                        title=config.name,
                        markers=(*markers, NO_ALARMS_MARKER),
                        refresh_hz=config.dashboard.refresh_hz,
                        columns=config.dashboard.columns,
                    )
                    await app.run_async()
                else:
                    await _until_signalled()
            finally:
                for task in tasks:
                    task.cancel()
    log.info("stopped")


async def _until_signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)

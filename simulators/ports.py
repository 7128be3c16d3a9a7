"""Simulated devices that each own a port (a pseudo-terminal, a UDP socket), as a group:
opened together — when one cannot be (out of ptys, say), those already open are closed
again — and served together until cancelled, then every port closed.

The serial and IntelliVue emitters keep their devices with these. This module knows
nothing of what a device sends nor of its pace: the emitters do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar


class PortOwner(Protocol):
    async def run(self) -> None:
        """Serve the port until cancelled."""
        ...

    def close(self) -> None: ...


Device = TypeVar("Device", bound=PortOwner)
Made = TypeVar("Made")


def open_all(make: Callable[[Made], Device], sources: Iterable[Made]) -> list[Device]:
    """``make(source)`` for every source; when one fails, the ports opened so far are
    closed before the error goes on (the caller closes them otherwise)."""
    devices: list[Device] = []
    try:
        for source in sources:
            devices.append(make(source))
    except BaseException:
        for device in devices:
            device.close()
        raise
    return devices


async def serve_all(devices: Sequence[Device], name: Callable[[Device], str]) -> None:
    """Serve every device (each in a task called ``name(device)``) until cancelled, then
    close every port."""
    try:
        async with asyncio.TaskGroup() as group:
            for device in devices:
                group.create_task(device.run(), name=name(device))
    finally:
        for device in devices:
            device.close()

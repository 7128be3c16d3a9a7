"""A serial port kept open for as long as the gateway runs: what every serial reader shares.

``await PortKeeper(link, sink, ...).run(session)`` opens the port and runs ``session`` (the
reading: a device protocol's decoder, an IntelliVue MIB conversation) until the port is
lost, then opens it again, until cancelled:

- a port that cannot be opened is a fault — once per distinct reason, not at every try —
  and is tried again after a backoff doubling from ``backoff_initial_s`` to
  ``backoff_max_s``; a replugged USB adapter comes back by itself, and ``port open again
  after N s`` says so. The backoff starts again from the beginning only once the device
  was heard (:meth:`PortKeeper.heard`): a port that opens and fails at once backs off as
  one that does not open;
- a session that ends with :class:`~gateway.errors.AdapterError` (the port lost) is a fault
  saying the bed goes stale, then DEVICE LOST, until it is back; any other exception (a
  bug) is a fault and a reopening, never the gateway's end;
- each time the port closes, the hub hears it (``link_closed``): the devices screen says
  the link closed, not that a device on an open port fell silent.

Nothing is faked meanwhile: the device's values go stale through the ward. Cancelling
``run`` cancels the session (which may say goodbye to its device first), then closes the
port. This module knows no device protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from adapters.hl7.listener import ReportSink
from adapters.serial.port import SerialLink
from gateway.clock import NS_PER_S, Clock
from gateway.errors import AdapterError

log = logging.getLogger(__name__)

BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 5.0
"""A replugged USB adapter is read again within this long."""


class PortKeeper:
    """Keeps ``link`` open and runs a session on it (see the module docstring)."""

    def __init__(
        self,
        link: SerialLink,
        sink: ReportSink,
        *,
        port: str,
        transport: str,
        source: str,
        clock: Clock,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.link = link
        self.sink = sink
        self.port = port
        self.transport = transport
        self.source = source
        """Whose faults these are (``serial /dev/ttyUSB0``)."""
        self.clock = clock
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.connected = False
        self.opened = 0
        """Times the port was opened (1 + reconnections)."""
        self._delay = backoff_initial_s

    def heard(self) -> None:
        """The device spoke: the next loss is tried again quickly."""
        self._delay = self.backoff_initial_s

    async def _backoff(self) -> None:
        await asyncio.sleep(self._delay)
        self._delay = min(self._delay * 2, self.backoff_max_s)

    async def run(self, session: Callable[[], Awaitable[None]]) -> None:
        """Open, run ``session``, reopen, until cancelled; never raises otherwise."""
        down_since: int | None = None
        told = ""
        while True:
            try:
                await self.link.open()
            except AdapterError as exc:
                if str(exc) != told:
                    told = str(exc)
                    self.sink.fault(
                        self.source, f"{exc}; trying again every {self.backoff_max_s:g} s at most"
                    )
                down_since = down_since or self.clock.monotonic_ns()
                await self._backoff()
                continue
            told = ""
            self.opened += 1
            self.connected = True
            if down_since is not None:
                away = (self.clock.monotonic_ns() - down_since) / NS_PER_S
                self.sink.fault(self.source, f"port open again after {away:.0f} s")
            try:
                await session()
            except AdapterError as exc:
                self.sink.fault(
                    self.source,
                    f"{exc}; reopening — the bed's values go stale, then DEVICE LOST, until"
                    " it is back",
                )
            except Exception as exc:  # a bug must cost a reconnection, never the gateway
                log.exception("reading %s failed", self.port)
                self.sink.fault(self.source, f"reader failed: {exc!r}; reopening the port")
            finally:
                self.connected = False
                await self.link.close()
            self.sink.link_closed(self.transport, self.port)  # closed, not a silent device
            down_since = self.clock.monotonic_ns()
            await self._backoff()

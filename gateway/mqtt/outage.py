"""How our broker connections ride out a broker outage: the pace of the attempts, and what
is told of it.

:class:`BrokerTurns` is the pace: the brokers tried in turn, each attempt a fresh
:class:`~gateway.mqtt.client.BrokerLink`, the next one after a backoff doubling from
:data:`BACKOFF_FIRST_S` to :data:`BACKOFF_MAX_S`, from the first again once a connection is
up. :class:`BrokerOutage` is what is told: one fault when an outage begins (and why), one
when a connection is made again (and after how long); the failed attempts between are only
logged. :func:`first_broker_error` is the error that ended a connection's tasks.

The publisher, the MQTT ingest and a remote screen's link keep their connections with these;
each says its own fault texts. This module never connects, publishes nor reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

from gateway.mqtt.client import Broker, BrokerError

BACKOFF_FIRST_S = 0.25
BACKOFF_MAX_S = 5.0


class FaultSink(Protocol):
    """Where a fault goes: the hub, or the core as an adapter sees it."""

    def fault(self, source: str, text: str, *, kind: str | None = None) -> None: ...


class BrokerTurns:
    """The broker to try now, and the pause before the next attempt (see the module
    docstring)."""

    def __init__(
        self,
        brokers: Sequence[Broker],
        *,
        first_s: float = BACKOFF_FIRST_S,
        max_s: float = BACKOFF_MAX_S,
    ) -> None:
        if not brokers:
            raise ValueError("no broker to connect to")
        self.brokers = tuple(brokers)
        self.first_s = first_s
        self.max_s = max_s
        self.backoff_s = first_s
        """The pause before the next attempt."""
        self._attempt = 0

    @property
    def broker(self) -> Broker:
        return self.brokers[self._attempt % len(self.brokers)]

    def connected(self) -> None:
        """A connection is up: the next outage's first pause is short again."""
        self.backoff_s = self.first_s

    async def pause(self) -> None:
        """The attempt is over: wait the backoff, then :attr:`broker` is the next one."""
        self._attempt += 1
        await asyncio.sleep(self.backoff_s)
        self.backoff_s = min(self.max_s, self.backoff_s * 2)


@dataclass(slots=True)
class BrokerOutage:
    """One outage, told once: call :meth:`failed` when an attempt fails or a connection
    ends, :meth:`connected` when a connection is made.

    The fault when it begins is ``"{lost}: {reason}"`` (summarised as ``kind``) under the
    source ``"{source} {broker}"``; the one when it ends is ``back`` with ``{seconds}``
    filled in. Failures meanwhile go to ``log`` at INFO as ``"{label} {broker}: {reason}"``.
    """

    sink: FaultSink
    log: logging.Logger
    _: KW_ONLY
    source: str
    lost: str
    kind: str
    back: str
    label: str
    down_since: float | None = None
    """The event loop's time the outage began; None while connected (or never tried)."""

    def failed(self, broker: Broker, reason: str) -> None:
        if self.down_since is None:
            self.down_since = asyncio.get_running_loop().time()
            self.sink.fault(f"{self.source} {broker}", f"{self.lost}: {reason}", kind=self.kind)
        else:
            self.log.info("%s %s: %s", self.label, broker, reason)

    def connected(self, broker: Broker) -> None:
        if self.down_since is None:
            return
        seconds = asyncio.get_running_loop().time() - self.down_since
        self.sink.fault(f"{self.source} {broker}", self.back.format(seconds=seconds))
        self.down_since = None


def first_broker_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The broker error that ended a connection's tasks. A group holding anything else (a
    bug of ours) is returned as it is: it must be told as a failure, never as an outage."""
    matched, rest = group.split(BrokerError)
    if matched is None or rest is not None:
        return group
    leaf: BaseException = matched
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf

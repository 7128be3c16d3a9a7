"""MLLP ingest with ACK: our listener vs python-hl7's asyncio MLLP server, same load.

16 monitor connections, each sending an ORU^R01 (7 numerics) and waiting for its ACK
before the next — what real monitors do. The monitors run in a child process, so they do
not share the server's core (this machine has two). Each server runs alone in this
process, in turn:

- ours: ``MllpListener`` → ER7 parse → IHE PCD decode → hub (routing, ward state, alarm
  engine) → ACK in the sender's mode. No journal here (``bench journal`` measures it);
- ours, storing nothing: the same listener handing the reports to a sink that keeps
  nothing — the same work as the peer, plus decoding into records;
- the peer: ``hl7.mllp.start_hl7_server`` with a handler that parses each message
  (python-hl7) and answers ``create_ack()``, storing nothing.

Reports messages/s and ACK round trip p50/p99 for both, and the ratio; also the server's
CPU time per message (this process's user + system time over the run), which moves less
than the rate when other work shares the machine. DESIGN.md target: ≥ 10,000 msg/s
through MLLP with ACK, and ≥ 10× the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from bench.load import (
    CONNECTIONS,
    SECONDS,
    WARM_UP_SECONDS,
    listening,
    measure,
    percentile,
    python_hl7_server,
)


class _Nothing:
    """A sink that takes every message and keeps nothing (what the peer does)."""

    async def submit(self, message: object, reports: object) -> None:
        return None

    async def reject(self, message: object, reason: str) -> None:
        return None

    def fault(self, source: str, text: str, *, kind: str | None = None) -> None:
        return None

    def link_closed(self, transport: str, peer: str) -> None:
        return None


@contextlib.asynccontextmanager
async def _ours() -> AsyncIterator[int]:
    from gateway.hub import Hub
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    async with listening(Hub(WardState(), Router())) as port:
        yield port


@contextlib.asynccontextmanager
async def _ours_storing_nothing() -> AsyncIterator[int]:
    async with listening(_Nothing()) as port:
        yield port


async def _run(
    server: Callable[[], AbstractAsyncContextManager[int]],
) -> tuple[float, float, float, float]:
    async with server() as port:
        await measure(port, seconds=WARM_UP_SECONDS)  # unmeasured (see WARM_UP_SECONDS)
        before = os.times()
        total, latencies = await measure(port)
        after = os.times()
    cpu_s = (after.user - before.user) + (after.system - before.system)
    return (
        total / SECONDS,
        percentile(latencies, 0.5),
        percentile(latencies, 0.99),
        cpu_s / max(total, 1) * 1e6,
    )


def main() -> None:
    results = {
        "icu-gateway listener + hub": asyncio.run(_run(_ours)),
        "icu-gateway listener, no store": asyncio.run(_run(_ours_storing_nothing)),
        "python-hl7 start_hl7_server": asyncio.run(_run(python_hl7_server)),
    }
    ours = results["icu-gateway listener + hub"][0]
    print(
        f"\n== ingest: MLLP + ACK, {CONNECTIONS} connections each waiting for its ACK, "
        f"{SECONDS:g} s each after {WARM_UP_SECONDS:g} s of warm-up, monitors in a child process"
    )
    print(
        f"{'server':32} {'msg/s':>9} {'ACK p50 ms':>11} {'ACK p99 ms':>11} {'peer ×':>7}"
        f" {'CPU µs/msg':>11}"
    )
    peer = results["python-hl7 start_hl7_server"][0]
    for name, (rate, p50, p99, cpu) in results.items():
        print(f"{name:32} {rate:9,.0f} {p50:11.2f} {p99:11.2f} {rate / peer:7.1f} {cpu:11.1f}")
    print(
        "listener + hub: parse → decode → hub (routing, ward, alarm engine), no journal "
        f"(see bench journal); {ours:,.0f} msg/s"
    )
    print("target: ≥ 10,000 msg/s and ≥ 10× the peer")

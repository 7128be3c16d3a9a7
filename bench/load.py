"""The load both MLLP benchmarks apply: monitors that each wait for their ACK.

16 monitor connections, each sending an ORU^R01 (7 numerics) and waiting for its ACK before
the next — what real monitors do — saturated or paced to a total rate. The monitors run in
a child process so they do not share the server's core (this machine has two). Also the
peer server both benchmarks compare against, python-hl7's asyncio MLLP server, and the
floor: an ACK-only server, which answers each frame with a canned ACK and does nothing
else — the most any server can get out of this load client on this machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import time
from collections.abc import AsyncIterator
from typing import Any

CONNECTIONS = 16
SECONDS = 5.0
WARM_UP_SECONDS = 1.0
"""Load before each measured run, unmeasured: the first load of a process runs markedly
slower (here about half the rate, more system time), which would count against whichever
server happened to go first. Every server gets the same warm-up."""

ORU = (
    "MSH|^~\\&|MON^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|{id}|P|2.6|||AL|NE\r"
    "PID|||P{bed}\rPV1||I|ICU^{bed}^1\rOBR|1||1|182777000^monitoring of patient^SCT\r"
    "OBX|1|NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|72|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
    "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC|||||R\r"
    "OBX|3|NM|151562^MDC_RESP_RATE^MDC|1.2.1.2|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R\r"
    "OBX|4|NM|150344^MDC_TEMP^MDC|1.4.1.1|36.9|268192^MDC_DIM_DEGC^MDC|||||R\r"
    "OBX|5|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.1.1.1|120|266016^MDC_DIM_MMHG^MDC|||||R\r"
    "OBX|6|NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.1.1.2|80|266016^MDC_DIM_MMHG^MDC|||||R\r"
    "OBX|7|NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.1.1.3|93|266016^MDC_DIM_MMHG^MDC|||||R\r"
)


class _Monitor(asyncio.Protocol):
    """One monitor: send a frame, wait for the ACK's end block, send the next (at once, or
    at its next slot when paced).

    A bare protocol rather than streams, so the load generator costs as little as it can
    and the figures measure the servers.
    """

    def __init__(self, bed: int, deadline: float, period_s: float, latencies: list[float]):
        self.bed, self.deadline, self.period_s, self.latencies = bed, deadline, period_s, latencies
        head, _, tail = ORU.format(eui=f"{bed:016X}", id="\0", bed=bed).partition("\0")
        # MSH-10 unique to this run (the load's process id): a warm-up's messages sent again
        # would be resends, ACKed without being stored again.
        self.head = b"\x0b" + head.encode() + f"{os.getpid()}-{bed}-".encode()
        self.tail = tail.encode() + b"\x1c\r"
        self.sent = 0
        self.started = 0.0
        self.next_slot = time.perf_counter()
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(self.head + str(self.sent).encode() + self.tail)

    def data_received(self, data: bytes) -> None:
        # Enhanced mode AL/NE: exactly one ACK per message, so one end block per answer.
        if b"\x1c" not in data:
            return
        now = time.perf_counter()
        self.latencies.append(now - self.started)
        self.sent += 1
        if now >= self.deadline:
            if not self.done.done():
                self.done.set_result(self.sent)
        elif self.period_s:
            self.next_slot += self.period_s
            asyncio.get_running_loop().call_later(max(0.0, self.next_slot - now), self._send)
        else:
            self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"server closed the connection: {exc}"))


def _load(
    port: int,
    rate: float,
    queue: multiprocessing.Queue[tuple[int, list[float]]],
    seconds: float = SECONDS,
) -> None:
    async def run() -> tuple[int, list[float]]:
        loop = asyncio.get_running_loop()
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        period = CONNECTIONS / rate if rate else 0.0
        monitors = []
        for bed in range(CONNECTIONS):
            _, monitor = await loop.create_connection(
                lambda bed=bed: _Monitor(bed, deadline, period, latencies),  # type: ignore[misc]
                "127.0.0.1",
                port,
            )
            monitors.append(monitor)
        counts = await asyncio.gather(*(m.done for m in monitors))
        for monitor in monitors:
            if monitor.transport is not None:
                monitor.transport.close()
        return sum(counts), latencies

    queue.put(asyncio.run(run()))


async def measure(
    port: int, rate: float = 0.0, seconds: float = SECONDS
) -> tuple[int, list[float]]:
    """Messages ACKed and each ACK's round trip (s), for ``seconds`` of load on ``port``;
    ``rate`` paces all monitors together to that many messages/s (0: as fast as ACKs come)."""
    queue: multiprocessing.Queue[tuple[int, list[float]]] = multiprocessing.Queue()
    child = multiprocessing.Process(target=_load, args=(port, rate, queue, seconds))
    child.start()
    total, latencies = await asyncio.to_thread(queue.get)
    await asyncio.to_thread(child.join)
    return total, latencies


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` percentile of round trips in seconds, in milliseconds."""
    return sorted(values)[min(len(values) - 1, int(len(values) * fraction))] * 1e3


@contextlib.asynccontextmanager
async def listening(sink: Any) -> AsyncIterator[int]:
    """Our MLLP listener in front of ``sink`` (a hub), on a free port."""
    from adapters.hl7.listener import MllpListener

    async with MllpListener(sink, host="127.0.0.1", port=0) as listener:
        serving = asyncio.create_task(listener.serve_forever())
        try:
            yield listener.port
        finally:
            serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving


@contextlib.asynccontextmanager
async def python_hl7_server() -> AsyncIterator[int]:
    """The peer: python-hl7's asyncio MLLP server, parsing and ACKing, storing nothing."""
    import hl7.mllp

    async def answer(reader: hl7.mllp.HL7StreamReader, writer: hl7.mllp.HL7StreamWriter) -> None:
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                writer.writemessage(message.create_ack())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await hl7.mllp.start_hl7_server(answer, "127.0.0.1", 0)
    serving = asyncio.create_task(server.serve_forever())
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        server.close()


ACK_ONLY = (
    b"\x0bMSH|^~\\&|ACK-ONLY|BENCH|||20240101120000+0000||ACK^R01^ACK|1|P|2.6\rMSA|AA|1\r\x1c\r"
)
"""The floor server's one answer (the load client only waits for its end block)."""


class _AckOnly(asyncio.Protocol):
    """Answers every MLLP end block it receives with :data:`ACK_ONLY`: no parse, no store."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        frames = data.count(b"\x1c")
        if frames:
            self.transport.write(ACK_ONLY * frames)


@contextlib.asynccontextmanager
async def ack_only_server() -> AsyncIterator[int]:
    """The floor: an MLLP server that ACKs each frame with canned bytes, on a free port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_AckOnly, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()

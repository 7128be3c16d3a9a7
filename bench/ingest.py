"""MLLP ingest with ACK: 16 monitor connections, each waiting for its ACK before the next.

The gateway (listener → parse → decode → hub) runs in this process; the monitors run in a
child process so they do not share the gateway's core. Reports messages/s and ACK round
trip p50/p99. DESIGN.md target: ≥ 10,000 msg/s.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time

CONNECTIONS = 16
SECONDS = 5.0

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


async def _monitor(port: int, bed: int, deadline: float, latencies: list[float]) -> int:
    from adapters.hl7.mllp import MllpFramer, frame

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    framer = MllpFramer()
    sent = 0
    while time.perf_counter() < deadline:
        message = ORU.format(eui=f"{bed:016X}", id=f"{bed}-{sent}", bed=bed).encode()
        start = time.perf_counter()
        writer.write(frame(message))
        frames: list[object] = []
        while not frames:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("gateway closed the connection")
            frames = list(framer.feed(data))
        latencies.append(time.perf_counter() - start)
        sent += 1
    writer.close()
    return sent


def _monitors(port: int, queue: multiprocessing.Queue[tuple[int, list[float]]]) -> None:
    async def run() -> tuple[int, list[float]]:
        latencies: list[float] = []
        deadline = time.perf_counter() + SECONDS
        counts = await asyncio.gather(
            *(_monitor(port, bed, deadline, latencies) for bed in range(CONNECTIONS))
        )
        return sum(counts), latencies

    queue.put(asyncio.run(run()))


async def _gateway() -> tuple[int, list[float], int]:
    from adapters.hl7.listener import MllpListener
    from gateway.hub import Hub
    from gateway.routing import Router
    from gateway.ward import WardState

    hub = Hub(WardState(), Router())
    async with MllpListener(hub, host="127.0.0.1", port=0) as listener:
        serving = asyncio.create_task(listener.serve_forever())
        queue: multiprocessing.Queue[tuple[int, list[float]]] = multiprocessing.Queue()
        child = multiprocessing.Process(target=_monitors, args=(listener.port, queue))
        child.start()
        total, latencies = await asyncio.to_thread(queue.get)
        await asyncio.to_thread(child.join)
        serving.cancel()
        return total, latencies, listener.messages


def main() -> None:
    total, latencies, stored = asyncio.run(_gateway())
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e3
    p99 = latencies[int(len(latencies) * 0.99)] * 1e3
    print(f"\n== ingest: MLLP, {CONNECTIONS} connections each waiting for its ACK, {SECONDS:g} s")
    print(f"messages ACKed: {total}  taken in by the hub: {stored}")
    print(
        f"throughput: {total / SECONDS:,.0f} msg/s   "
        f"ACK round trip p50 {p50:.2f} ms  p99 {p99:.2f} ms"
    )
    print("target: ≥ 10,000 msg/s (with the journal: issue #4)")

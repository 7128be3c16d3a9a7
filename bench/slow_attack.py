"""Honest ACK round trip while 500 slow connections attack a real headless gateway.

A real ``icu-gateway run --headless`` with the default listener limits (256 connections, 64
per address, 30 s frame deadline). 4 honest monitors, each on its own address, send an
ORU^R01 and wait for the ACK, 50 a second each; measured first alone, then while 500
connections from 63 other addresses (8 each) each open a frame and
send one byte a second, reconnecting a second after the gateway closes them (in a child
process, so they do not share the honest monitors' loop). Reports ACK p50/p99/max for both,
how often the gateway closed an attacker, whether a rebooting monitor got back in, and how
many lines the gateway logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import signal
import sys
import tempfile
import time
from pathlib import Path

from adapters.hl7 import er7
from adapters.hl7.mllp import MllpFramer, frame
from bench.load import ORU, percentile
from bench.programs import code_env, free_port
from simulators.slow_connections import AttackCounts, SlowAttack, loopback_addresses

ATTACKERS = 500
ATTACK_ADDRESSES = 63
HONEST = 4
PERIOD_S = 0.02
BASELINE_S = 10.0
ATTACK_S = 20.0
FILL_S = 3.0
"""Attack alone before the honest monitors are measured: the slots are full by then."""

CONFIG = """
[gateway]
journal = "journal.sqlite"

[[listeners]]
bind = "127.0.0.1:{port}"
"""


async def _honest(port: int, source: str, seconds: float, latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    framer = MllpFramer()
    bed = int(source.rsplit(".", 1)[1])
    head, _, tail = ORU.format(eui=f"{bed:016X}", id="\0", bed=bed).partition("\0")
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        message = f"{head}{time.time_ns()}-{n}{tail}".encode()
        started = time.perf_counter()
        writer.write(frame(message))
        acks: list[object] = []
        while not acks:
            data = await asyncio.wait_for(reader.read(65536), 30)
            if not data:
                raise ConnectionError(f"{source}: the gateway closed an honest connection")
            acks = list(framer.feed(data))
        latencies.append(time.perf_counter() - started)
        ack = acks[0]
        assert isinstance(ack, bytes)
        msa = er7.parse(ack).first("MSA")
        if msa is None or msa.get(1) != "CA":
            raise AssertionError(f"{source}: not a CA: {ack!r}")
        n += 1
        await asyncio.sleep(PERIOD_S)
    writer.close()


async def _reboot(port: int) -> float:
    """A monitor at a new address connecting during the attack: seconds to its first ACK."""
    started = time.perf_counter()
    latencies: list[float] = []
    await _honest(port, "127.0.0.9", 0.001, latencies)
    return time.perf_counter() - started


async def _phase(port: int, seconds: float) -> list[float]:
    latencies: list[float] = []
    sources = [f"127.0.0.{2 + n}" for n in range(HONEST)]
    await asyncio.gather(*(_honest(port, s, seconds, latencies) for s in sources))
    return latencies


def _attack(port: int, seconds: float, queue: multiprocessing.Queue[AttackCounts]) -> None:
    async def run() -> AttackCounts:
        attack = SlowAttack(
            port, connections=ATTACKERS, addresses=loopback_addresses(ATTACK_ADDRESSES)
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        await attack.run(stop)
        return attack.counts

    queue.put(asyncio.run(run()))


def _line(name: str, latencies: list[float]) -> str:
    return (
        f"{name}: {len(latencies)} ACKs, p50 {percentile(latencies, 0.5):.1f} ms,"
        f" p99 {percentile(latencies, 0.99):.1f} ms, max {max(latencies) * 1e3:.1f} ms"
    )


async def _run() -> None:
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-slow-") as scratch:
        config = Path(scratch) / "ward.toml"
        config.write_text(CONFIG.format(port=port))
        log = Path(scratch) / "gateway.log"
        with log.open("wb") as stderr:
            gateway = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "gateway.app.cli",
                "run",
                "--headless",
                "--config",
                str(config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=stderr,
                env=code_env(),
            )
        try:
            async with asyncio.timeout(30):
                while True:
                    try:
                        _, probe = await asyncio.open_connection("127.0.0.1", port)
                        probe.close()
                        break
                    except OSError:
                        await asyncio.sleep(0.1)
            baseline = await _phase(port, BASELINE_S)
            queue: multiprocessing.Queue[AttackCounts] = multiprocessing.Queue()
            attacker = multiprocessing.Process(
                target=_attack, args=(port, FILL_S + ATTACK_S + 1, queue)
            )
            attacker.start()
            await asyncio.sleep(FILL_S)
            reboot_s = await _reboot(port)
            attacked = await _phase(port, ATTACK_S)
            counts = await asyncio.to_thread(queue.get)
            await asyncio.to_thread(attacker.join)
        finally:
            with contextlib.suppress(ProcessLookupError):
                gateway.send_signal(signal.SIGTERM)
            await gateway.wait()
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    print(_line("alone", baseline))
    print(_line(f"under attack ({ATTACKERS} slow connections)", attacked))
    print(
        f"attack: {counts.opened} connections opened, {counts.closed} closed by the gateway,"
        f" {counts.failed} failed; a monitor at a new address got its first ACK in"
        f" {reboot_s * 1e3:.0f} ms; the gateway logged {len(lines)} lines"
    )


def main() -> None:
    print(
        f"\n== slow attack: {HONEST} honest monitors ({1 / PERIOD_S:g} msg/s each) vs"
        f" {ATTACKERS} connections at 1 byte/s from {ATTACK_ADDRESSES} addresses; headless"
        " gateway, default limits, journal"
    )
    asyncio.run(_run())


if __name__ == "__main__":
    main()

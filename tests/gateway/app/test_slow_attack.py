"""A slow-connection attack on a real ``icu-gateway run --headless``: 200 connections from 50
addresses send a byte every second and reconnect when closed, while 4 honest monitors keep
sending and a fifth reboots (closes and reconnects) again and again. The honest monitors get
every ACK, the rebooting one gets a slot each time, nothing acknowledged is lost, and the
log says it once per address with counts, not a line per connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path

import pytest
from gateway_process import free_port
from journal_support import Monitor, oru

from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome

ROOT = Path(__file__).resolve().parents[3]
ATTACKERS = 200
ATTACK_ADDRESSES = 50
HONEST = 4
SECONDS = 8.0

CONFIG = """
[gateway]
journal = "journal.sqlite"

[[listeners]]
bind = "127.0.0.1:{port}"
max_connections = 32
max_connections_per_peer = 4
quiet_after_s = 0.4
frame_deadline_s = 2
idle_timeout_s = 5
"""


async def start(tmp_path: Path, port: int) -> asyncio.subprocess.Process:
    config = tmp_path / "ward.toml"
    config.write_text(CONFIG.format(port=port))
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.app.cli",
        "run",
        "--headless",
        "--config",
        str(config),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


ATTACK = """
import asyncio, json, signal, sys
from simulators.slow_connections import SlowAttack, loopback_addresses

async def main(port: int, connections: int, addresses: int) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    attack = SlowAttack(
        port, connections=connections, addresses=loopback_addresses(addresses),
        reconnect_after_s=0.5,
    )
    print("attacking", flush=True)
    await attack.run(stop)
    print(json.dumps({"opened": attack.counts.opened, "closed": attack.counts.closed}))

asyncio.run(main(*map(int, sys.argv[1:])))
"""
"""The attackers, in a process of their own: another machine's, not the honest monitors'
event loop (whose ACKs must not wait behind 200 attackers' reconnects in the same loop)."""


async def start_attack(port: int) -> asyncio.subprocess.Process:
    attack = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        ATTACK,
        str(port),
        str(ATTACKERS),
        str(ATTACK_ADDRESSES),
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
    )
    assert attack.stdout is not None
    assert await asyncio.wait_for(attack.stdout.readline(), 30) == b"attacking\n"
    return attack


async def stop_attack(attack: asyncio.subprocess.Process) -> dict[str, int]:
    """Stop the attackers; what they counted."""
    attack.send_signal(signal.SIGTERM)
    assert attack.stdout is not None
    counts: dict[str, int] = json.loads(await asyncio.wait_for(attack.stdout.read(), 30))
    await asyncio.wait_for(attack.wait(), 30)
    return counts


async def connect(port: int, source: str, process: asyncio.subprocess.Process) -> Monitor:
    async with asyncio.timeout(30):
        while True:
            assert process.returncode is None, "the gateway exited"
            try:
                return await Monitor.connect(port, source)
            except OSError:
                await asyncio.sleep(0.05)


async def honest(port: int, source: str, acked: list[str], stop: asyncio.Event) -> None:
    """A monitor on one connection: send, wait for the ACK (10 s at most), repeat."""
    monitor = await Monitor.connect(port, source)
    n = 0
    while not stop.is_set():
        control_id = f"{source}-{n}"
        assert await monitor.send(oru(control_id, bed=int(source.rsplit(".", 1)[1]))) == (
            "CA",
            control_id,
        )
        acked.append(control_id)
        n += 1
        await asyncio.sleep(0.05)
    await monitor.close()


async def rebooting(port: int, source: str, acked: list[str], stop: asyncio.Event) -> int:
    """A monitor that reboots every 0.5 s: a new connection, one message, gone without a
    goodbye (its old socket is left open, as a crashed monitor's is). Returns the reboots."""
    reboots = 0
    left_open: list[Monitor] = []
    while not stop.is_set():
        monitor = await Monitor.connect(port, source)
        control_id = f"reboot-{reboots}"
        assert await monitor.send(oru(control_id, bed=99)) == ("CA", control_id)
        acked.append(control_id)
        left_open.append(monitor)
        reboots += 1
        await asyncio.sleep(0.5)
    for monitor in left_open:
        await monitor.close()
    return reboots


@pytest.mark.timeout(60)
async def test_honest_monitors_keep_their_acks_and_slots_under_a_slow_connection_attack(
    tmp_path: Path,
) -> None:
    port = free_port()
    process = await start(tmp_path, port)
    attack: asyncio.subprocess.Process | None = None
    try:
        probe = await connect(port, "127.0.0.2", process)
        await probe.close()
        stop = asyncio.Event()
        acked: list[str] = []
        attack = await start_attack(port)
        await asyncio.sleep(1.0)  # the attackers hold every slot before the honest come
        async with asyncio.TaskGroup() as group:
            sources = [f"127.0.0.{2 + n}" for n in range(HONEST)]
            for source in sources:
                group.create_task(honest(port, source, acked, stop))
            reboots = group.create_task(rebooting(port, "127.0.0.9", acked, stop))
            await asyncio.sleep(SECONDS)
            stop.set()
        counts = await stop_attack(attack)
        assert process.returncode is None, "the gateway died under the attack"
    finally:
        if attack is not None and attack.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                attack.kill()
            await attack.wait()
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        assert process.stderr is not None
        stderr = (await asyncio.wait_for(process.stderr.read(), 30)).decode()
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    # Every honest monitor was answered all along (a missing ACK fails its send above).
    for source in sources:
        assert sum(1 for c in acked if c.startswith(f"{source}-")) > 20
    assert reboots.result() >= 10
    # The attack was real: the gateway closed attackers over and over …
    assert counts["closed"] > 300, counts
    # … and logged each kind once per address, with the repeats counted at the stop.
    lines = stderr.splitlines()
    attack_lines = [line for line in lines if "mllp 127.0.1." in line]
    assert len(attack_lines) <= 4 * ATTACK_ADDRESSES, len(attack_lines)
    assert any("… repeated" in line for line in attack_lines)
    # Nothing acknowledged was lost.
    with JournalReader(tmp_path / "journal.sqlite") as reader:
        stored = {m.control_id for m in reader.messages() if m.outcome is Outcome.ACCEPTED}
    assert set(acked) <= stored

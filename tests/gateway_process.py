"""A real ``icu-gateway run --headless`` on loopback, as the tests that start one share it:
a free port, the process started with its log to a file, a monitor connected once it
listens, and the journal writer processes it has running."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from journal_support import Monitor


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def start_gateway(port: int, journal: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "gateway.app.cli",
            "run",
            "--headless",
            "--listen",
            f"127.0.0.1:{port}",
            "--journal",
            str(journal),
            cwd=journal.parent,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )


def writers_of(journal: Path) -> list[int]:
    """The journal writer processes running for ``journal`` (an exited one's command line
    reads empty)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"gateway.journal.writer" in command and str(journal).encode() in command:
            found.append(int(entry.name))
    return found


async def connect_when_listening(port: int, process: asyncio.subprocess.Process) -> Monitor:
    async with asyncio.timeout(30):
        while True:
            assert process.returncode is None, "the gateway exited at start-up"
            try:
                return await Monitor.connect(port)
            except OSError:
                await asyncio.sleep(0.05)

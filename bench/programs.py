"""The programs a benchmark measures, as subprocesses: started, awaited, read in /proc, stopped.

:func:`gateway` runs ``icu-gateway run --headless`` in a folder of its own (its log there)
and stops it as a service manager would (SIGTERM, killed after 30 s); :func:`dashboard`
runs ``icu-gateway run`` with its dashboard on a pseudo-terminal, as a nurse would at the
ward's laptop, and stops it with the dashboard's own keys; :func:`simulator`
runs ``icu-gateway simulate`` beside it and terminates it first. All run this checkout's
code (:func:`code_env`), whatever their working folder. :func:`cpu_s`, :func:`rss_mb` and
:func:`writer_of` read what /proc says of them. This module measures nothing itself and
prints nothing: the benches say what the figures mean.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from gateway.app.cli import DASHBOARD_LOG

ROOT = Path(__file__).resolve().parents[1]
CLI = (sys.executable, "-m", "gateway.app.cli")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
"""A gateway's clean stop (journal closed) before it is killed."""
SIMULATOR_STOP_TIMEOUT_S = 10.0
SIGN_IN_PROMPT = b"Who is at this screen"
"""What the dashboard's first screen asks (:class:`tui.alarms_screen.OperatorScreen`)."""
_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port on loopback nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def code_env() -> dict[str, str]:
    """The environment that runs this checkout's code in a subprocess started in another
    folder (a relative PYTHONPATH, or none, would start the copy installed in the venv)."""
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def wait_listening(
    port: int, process: subprocess.Popen[bytes], timeout_s: float = START_TIMEOUT_S
) -> None:
    """Return once something accepts on loopback ``port``; RuntimeError when ``process``
    ends first or nothing does within ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on {port} (exit code {process.poll()})")
        time.sleep(0.05)


@contextlib.contextmanager
def gateway(
    folder: Path, *args: str, log: Path, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """``icu-gateway run --headless ARGS`` in ``folder``, its log in ``log``; with ``port``,
    yielded once that port accepts (RuntimeError with the log when it never does)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*CLI, "run", "--headless", *args],
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=code_env(),
        )
    try:
        if port is not None:
            try:
                wait_listening(port, process)
            except RuntimeError as exc:
                raise RuntimeError(f"the gateway did not start ({exc}): {log.read_text()}") from exc
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def dashboard(
    folder: Path, *args: str, port: int, size: tuple[int, int] = (200, 60)
) -> Iterator[subprocess.Popen[bytes]]:
    """``icu-gateway run ARGS`` in ``folder`` with its dashboard on a pseudo-terminal of
    ``size`` (columns, rows), yielded once ``port`` accepts and someone has signed in; its
    log is ``folder``'s ``icu-gateway.log``.

    Everything the dashboard writes is read here and dropped, as fast as it comes (a
    terminal that does not read would stall its output thread). Stopped as a nurse stops
    it: ``q`` and a name (killed after 30 s).
    """
    master, slave = pty.openpty()
    columns, rows = size
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    env = {**code_env(), "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    process = subprocess.Popen(
        [*CLI, "run", *args],
        cwd=folder,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    asked = threading.Event()
    reader = threading.Thread(target=_drain, args=(master, asked), daemon=True)
    reader.start()
    try:
        try:
            wait_listening(port, process)
        except RuntimeError as exc:
            log = folder / DASHBOARD_LOG
            text = log.read_text() if log.exists() else "no log"
            raise RuntimeError(f"the dashboard's gateway did not start ({exc}): {text}") from exc
        if not asked.wait(START_TIMEOUT_S):
            raise RuntimeError("the dashboard never asked who is at the screen")
        os.write(master, b"bench\r")
        yield process
    finally:
        with contextlib.suppress(OSError):
            os.write(master, b"q")
            time.sleep(0.5)
            os.write(master, b"bench\r")
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(master)
        reader.join(1.0)


def _drain(master: int, asked: threading.Event) -> None:
    """Read a pseudo-terminal's output until it closes; set ``asked`` once the sign-in
    screen has been drawn."""
    seen = b""
    with contextlib.suppress(OSError):
        while data := os.read(master, 65536):
            if not asked.is_set():
                seen = seen[-64:] + data
                if SIGN_IN_PROMPT in seen:
                    asked.set()


@contextlib.contextmanager
def simulator(*args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``icu-gateway simulate ARGS``, its output dropped, terminated on the way out."""
    process = subprocess.Popen(
        [*CLI, "simulate", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=code_env(),
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(SIMULATOR_STOP_TIMEOUT_S)


def cpu_s(pid: int | None) -> float:
    """User + system CPU seconds a process has used so far (0 when there is none, or it is
    gone)."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mb(pid: int | None) -> float | None:
    """Resident memory of a process in MB (None when there is none, or it is gone)."""
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def writer_of(journal: Path) -> int | None:
    """The journal writer process writing ``journal``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes()
            if b"gateway.journal.writer" in command and str(journal).encode() in command:
                return int(entry.name)
    return None

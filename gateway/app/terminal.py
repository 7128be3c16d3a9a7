"""The dashboard's terminal, watched: losing it closes the dashboard, never the ward.

When the terminal goes away — an SSH connection drops, a tmux session is killed, the
laptop's console is closed — the process may get SIGHUP, or nothing at all, and the
terminal then reads as end-of-file for ever: Textual's input thread would spin on it at a
full core. :func:`watch_terminal` notices both (SIGHUP, and the terminal's settings no
longer readable: a hung-up terminal answers EIO — its settings, not its process group,
which a terminal that is not the controlling one never gives) and calls ``lost`` once,
with what happened. The caller closes the dashboard; ingest and the journal carry on.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import termios
from collections.abc import Callable

CHECK_EVERY_S = 0.5


async def watch_terminal(
    lost: Callable[[str], None], *, fd: int | None = None, every_s: float = CHECK_EVERY_S
) -> None:
    """Call ``lost(reason)`` once the terminal on ``fd`` (stdin) is gone; then return."""
    fd = sys.stdin.fileno() if fd is None else fd
    loop = asyncio.get_running_loop()
    hung_up = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, hung_up.set)
    try:
        while True:
            try:
                async with asyncio.timeout(every_s):
                    await hung_up.wait()
                lost("the terminal hung up (SIGHUP)")
                return
            except TimeoutError:
                pass
            if (reason := terminal_gone(fd)) is not None:
                lost(reason)
                return
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


def terminal_gone(fd: int) -> str | None:
    """Why the terminal on ``fd`` can no longer be used, or None while it can."""
    try:
        termios.tcgetattr(fd)
    except termios.error as exc:
        errno = exc.args[0] if exc.args else 0
        return f"the terminal is gone ({os.strerror(errno) if isinstance(errno, int) else exc})"
    return None

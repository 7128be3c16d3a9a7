"""A lost terminal is noticed at once (SIGHUP, or a hung-up tty), and a live one is not."""

from __future__ import annotations

import asyncio
import os
import signal

from gateway.app.terminal import terminal_gone, watch_terminal


def test_a_live_terminal_is_not_gone_and_a_hung_up_one_is() -> None:
    master, slave = os.openpty()
    try:
        assert terminal_gone(slave) is None  # not our controlling terminal: still live
        os.close(master)  # the far side goes away: the kernel hangs the terminal up
        assert terminal_gone(slave) == "the terminal is gone (Input/output error)"
    finally:
        os.close(slave)


async def test_the_watch_reports_a_hung_up_terminal_once() -> None:
    master, slave = os.openpty()
    reasons: list[str] = []
    try:
        watching = asyncio.create_task(watch_terminal(reasons.append, fd=slave, every_s=0.02))
        await asyncio.sleep(0.1)
        assert reasons == [] and not watching.done()
        os.close(master)
        await asyncio.wait_for(watching, 2)
        assert reasons == ["the terminal is gone (Input/output error)"]
    finally:
        os.close(slave)


async def test_the_watch_reports_sighup() -> None:
    master, slave = os.openpty()
    reasons: list[str] = []
    try:
        watching = asyncio.create_task(watch_terminal(reasons.append, fd=slave, every_s=5))
        await asyncio.sleep(0.05)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(watching, 2)
        assert reasons == ["the terminal hung up (SIGHUP)"]
    finally:
        os.close(master)
        os.close(slave)

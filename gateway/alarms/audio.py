"""The alarm sound: terminal-bell bursts, or a configured command, by priority.

The service's alarm timer calls :meth:`AlarmSound.step` with what the engine says should
sound (:class:`gateway.alarms.Audible`): the highest audible priority repeats its burst —
high every :data:`REPEAT_S` [HIGH] (5 s), medium every 20 s — and a new low-priority alarm
sounds once. A rise in priority sounds at once. A burst runs as a task: the bell's pulses
(high 3 + 2, medium 3, low 1, after IEC 60601-1-8's burst shapes) are spaced with
``asyncio.sleep``; a command (``audio = "command"``) runs as a child process that the loop
never waits on. A command that cannot start, fails, or runs past its timeout is a fault —
never silent — and one still playing when the next burst is due is not started twice.
Muted (``--mute``, for testing), nothing sounds and the screen says MUTED.

This module must not decide what is alarming (the engine does), block the event loop, or
raise into its caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from types import MappingProxyType
from typing import Any

from gateway.alarms.snapshot import Audible
from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority

log = logging.getLogger("gateway.audio")  # the name its log lines have always carried

HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW
REPEAT_S: Mapping[AlarmPriority, float] = MappingProxyType({HIGH: 5.0, MEDIUM: 20.0})
"""Seconds between bursts while an alarm of that priority sounds (low: once)."""
PULSES: Mapping[AlarmPriority, tuple[int, ...]] = MappingProxyType(
    {HIGH: (3, 2), MEDIUM: (3,), LOW: (1,)}
)
"""Bell pulses of a burst, in groups."""
PULSE_S = 0.15
GROUP_GAP_S = 0.4
COMMAND_TIMEOUT_S = 30.0
"""A sound command still running after this long is killed (and reported)."""


def _log_fault(source: str, text: str) -> None:
    log.warning("%s: %s", source, text)


class AlarmSound:
    """``mode`` is ``bell``, ``command`` or ``off``; ``bell`` rings the terminal bell once
    (the dashboard's ``App.bell``; None when there is no terminal)."""

    def __init__(
        self,
        mode: str,
        command: str | None = None,
        *,
        bell: Callable[[], None] | None = None,
        muted: bool = False,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        if mode not in ("bell", "command", "off"):
            raise ValueError(f"audio mode must be bell, command or off, not {mode!r}")
        if mode == "command" and not command:
            raise ValueError('audio = "command" needs a command')
        self.mode = mode
        self.argv = shlex.split(command) if command else []
        self.bell = bell
        self.muted = muted
        self.command_timeout_s = command_timeout_s
        self.on_fault: Callable[[str, str], None] = _log_fault
        self.bursts: deque[AlarmPriority] = deque(maxlen=100)
        """The bursts started (muted or not), newest last: what was sounded, for tests and
        the log."""
        self._current: AlarmPriority | None = None
        self._last_ns = 0
        self._playing: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._said_no_bell = False

    @property
    def playing(self) -> int:
        """How many bursts are playing now (0 or 1)."""
        return len(self._tasks)

    def step(self, now_ns: int, audible: Audible) -> None:
        """Sound what is due at ``now_ns``. Never raises."""
        try:
            self._step(now_ns, audible)
        except Exception as exc:  # the sound must not take the alarm timer down with it
            log.exception("alarm sound failed")
            self.on_fault("audio", f"alarm sound failed: {exc!r}")

    def _step(self, now_ns: int, audible: Audible) -> None:
        priority = audible.priority
        if priority is None or priority < MEDIUM:
            self._current = None
            if audible.new_low:
                self._burst(LOW)
            return
        every = round(REPEAT_S[priority] * NS_PER_S)
        if self._current is None or priority > self._current or now_ns - self._last_ns >= every:
            self._current, self._last_ns = priority, now_ns
            self._burst(priority)
        elif priority < self._current:
            self._current = priority  # acknowledged the high one: medium keeps its own pace

    def _burst(self, priority: AlarmPriority) -> None:
        self.bursts.append(priority)
        if self.muted or self.mode == "off":
            return
        if self._playing is not None and not self._playing.done():
            return  # the last burst still plays: never two at once
        if self.mode == "bell":
            if self.bell is None:
                if not self._said_no_bell:
                    self._said_no_bell = True
                    self.on_fault(
                        "audio",
                        'no terminal to ring the bell (headless): set audio = "command"',
                    )
                return
            self._playing = self._start(self._ring(self.bell, PULSES[priority]))
        else:
            self._playing = self._start(self._play(priority))

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.on_fault("audio", f"alarm sound failed: {error!r}")

    @staticmethod
    async def _ring(bell: Callable[[], None], groups: tuple[int, ...]) -> None:
        for index, pulses in enumerate(groups):
            if index:
                await asyncio.sleep(GROUP_GAP_S)
            for pulse in range(pulses):
                if pulse:
                    await asyncio.sleep(PULSE_S)
                bell()

    async def _play(self, priority: AlarmPriority) -> None:
        name = priority.name.lower()
        argv = [arg.replace("{priority}", name) for arg in self.argv]
        env = {**os.environ, "ICU_ALARM_PRIORITY": name}
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            self.on_fault("audio", f"alarm sound command cannot start: {argv[0]}: {exc}")
            return
        try:
            async with asyncio.timeout(self.command_timeout_s):
                _, err = await process.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            self.on_fault(
                "audio",
                f"alarm sound command ran past {self.command_timeout_s:g} s and was stopped:"
                f" {shlex.join(argv)}",
            )
            return
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        if process.returncode != 0:
            said = err.decode(errors="replace").strip().splitlines()
            why = f": {said[-1]}" if said else ""
            self.on_fault(
                "audio",
                f"alarm sound command failed (exit {process.returncode}){why}: {shlex.join(argv)}",
            )

    async def aclose(self) -> None:
        """Stop what is playing (a command is killed) and wait for it."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)

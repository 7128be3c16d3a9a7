"""The alarm sound: bursts by priority on the right schedule, the bell's pulses, a real sound
command (and its failures, each a fault), and mute."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import pytest
from waiting import eventually

from gateway.alarms.audio import AlarmSound
from gateway.alarms.snapshot import Audible
from gateway.clock import NS_PER_S
from gateway.domain import AlarmPriority

HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW


def schedule(sound: AlarmSound, plan: list[tuple[float, Audible]], until_s: float) -> list[float]:
    """Step ``sound`` every 0.25 s; ``plan`` says from when each Audible holds. Returns
    the seconds at which a burst started."""
    times = []
    t = 0.0
    while t <= until_s:
        audible = next(a for start, a in reversed(plan) if start <= t)
        before = len(sound.bursts)
        sound.step(round(t * NS_PER_S), audible)
        times += [t] * (len(sound.bursts) - before)
        t += 0.25
    return times


# (what should sound, from when; the seconds at which bursts start)
SCHEDULES = [
    ("high every 5 s", [(0, Audible(HIGH))], 12, [0, 5, 10]),
    ("medium every 20 s", [(0, Audible(MEDIUM))], 45, [0, 20, 40]),
    ("low once", [(0, Audible(LOW, new_low=True)), (0.25, Audible(LOW))], 30, [0]),
    ("a rise sounds at once", [(0, Audible(MEDIUM)), (3, Audible(HIGH))], 9, [0, 3, 8]),
    ("silence stops it", [(0, Audible(HIGH)), (2, Audible(None))], 12, [0]),
    ("back to medium keeps its pace", [(0, Audible(HIGH)), (6, Audible(MEDIUM))], 30, [0, 5, 25]),
    ("a new low under a high", [(0, Audible(HIGH)), (1, Audible(HIGH, new_low=True))], 4, [0]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "plan", "until_s", "expected"), SCHEDULES, ids=[s[0] for s in SCHEDULES]
)
def test_bursts_by_priority(
    what: str, plan: list[tuple[float, Audible]], until_s: float, expected: list[float]
) -> None:
    sound = AlarmSound("off")  # the schedule, without a sound
    assert schedule(sound, plan, until_s) == expected


async def test_the_bell_rings_three_and_two_for_high_three_for_medium_one_for_low() -> None:
    rings: list[AlarmPriority] = []
    current = [HIGH]
    sound = AlarmSound("bell", bell=lambda: rings.append(current[0]))
    sound.step(0, Audible(HIGH))
    await eventually(lambda: len(rings) == 5, "a high burst")
    current[0] = MEDIUM
    sound.step(1 * NS_PER_S, Audible(None))
    sound.step(2 * NS_PER_S, Audible(MEDIUM))
    await eventually(lambda: len(rings) == 8, "a medium burst")
    current[0] = LOW
    sound.step(3 * NS_PER_S, Audible(None, new_low=True))
    await eventually(lambda: len(rings) == 9, "a low burst")
    assert rings == [HIGH] * 5 + [MEDIUM] * 3 + [LOW]
    await sound.aclose()


async def test_muted_nothing_sounds_but_the_schedule_runs() -> None:
    rings: list[int] = []
    sound = AlarmSound("bell", bell=lambda: rings.append(1), muted=True)
    sound.step(0, Audible(HIGH))
    assert list(sound.bursts) == [HIGH]
    await sound.aclose()
    assert rings == []


async def test_the_command_plays_with_the_priority(tmp_path: Path) -> None:
    out = tmp_path / "played"
    script = f'echo "{{priority}} $ICU_ALARM_PRIORITY" >> {shlex.quote(str(out))}'
    sound = AlarmSound("command", f"sh -c {shlex.quote(script)}")
    faults: list[str] = []
    sound.on_fault = lambda source, text: faults.append(text)
    sound.step(0, Audible(MEDIUM))
    await eventually(lambda: out.exists() and out.read_text() == "medium medium\n", "played")
    await eventually(lambda: not sound.playing, "the command to finish")
    sound.step(1, Audible(HIGH))
    await eventually(lambda: out.read_text().endswith("high high\n"), "played high")
    await sound.aclose()
    assert faults == []


@pytest.mark.parametrize(
    ("command", "fault"),
    [
        ("/nonexistent/play-alarm", "alarm sound command cannot start: /nonexistent/play-alarm"),
        ("sh -c 'echo no speaker >&2; exit 3'", "alarm sound command failed (exit 3): no speaker"),
    ],
)
async def test_a_failing_command_is_a_fault(command: str, fault: str) -> None:
    sound = AlarmSound("command", command)
    faults: list[str] = []
    sound.on_fault = lambda source, text: faults.append(text)
    sound.step(0, Audible(HIGH))
    await eventually(lambda: bool(faults), "the fault")
    assert faults[0].startswith(fault)
    await sound.aclose()


async def test_a_command_running_too_long_is_stopped_and_not_started_twice() -> None:
    sound = AlarmSound(
        "command", f"{shlex.quote(sys.executable)} -c 'import time; time.sleep(30)'",
        command_timeout_s=0.3,
    )  # fmt: skip
    faults: list[str] = []
    sound.on_fault = lambda source, text: faults.append(text)
    sound.step(0, Audible(HIGH))
    sound.step(10 * NS_PER_S, Audible(HIGH))  # due again while the first still plays
    assert sound.playing == 1
    await eventually(lambda: bool(faults), "the timeout")
    assert "ran past 0.3 s and was stopped" in faults[0]
    await sound.aclose()


async def test_headless_bell_says_once_that_there_is_no_terminal() -> None:
    sound = AlarmSound("bell", bell=None)
    faults: list[str] = []
    sound.on_fault = lambda source, text: faults.append(text)
    sound.step(0, Audible(HIGH))
    sound.step(6 * NS_PER_S, Audible(HIGH))
    assert faults == ['no terminal to ring the bell (headless): set audio = "command"']

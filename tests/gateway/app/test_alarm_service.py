"""The running gateway (``serve``, headless) with its alarm timer: a configured bed's limits, the
sound command played for an alarm that arrives over MLLP, the transitions journaled, and
the config's limits no longer reported as "not built"."""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from journal_support import Monitor, oru
from waiting import eventually

from gateway.app.service import build_hub, build_sound, serve, sound_markers
from gateway.config.load import parse_config
from gateway.domain import BedId
from gateway.journal.reader import JournalReader


def config_text(tmp_path: Path, played: Path) -> str:
    play = f"echo $ICU_ALARM_PRIORITY >> {shlex.quote(str(played))}"
    return f"""
[gateway]
journal = "{tmp_path / "j.sqlite"}"
[[listeners]]
bind = "127.0.0.1:0"
[alarms]
condition_delay_s = 0
audio = "command"
audio_command = {f"sh -c {shlex.quote(play)}"!r}
[[beds]]
id = "bed-1"
locations = ["ICU^1^1"]
limits.hr = {{ high = 140 }}
"""


async def test_headless_gateway_sounds_and_journals_an_alarm_from_the_wire(
    tmp_path: Path,
) -> None:
    played = tmp_path / "played"
    config = parse_config(config_text(tmp_path, played))
    hub = build_hub(config)
    sent: list[tuple[str, str]] = []

    async def monitor_at_bed_1(port: int) -> None:
        monitor = await Monitor.connect(port)
        sent.append(await monitor.send(oru("a1", hr=130)))  # inside this bed's own limit
        sent.append(await monitor.send(oru("a2", bed=2, hr=130)))  # past the ward's default
        await asyncio.get_running_loop().create_future()

    running = asyncio.create_task(
        serve(config, dashboard=False, companion=monitor_at_bed_1, hub=hub)
    )
    await eventually(lambda: played.exists() and played.read_text() == "medium\n", "the sound")
    assert sent == [("CA", "a1"), ("CA", "a2")]
    assert [(a.bed, a.text) for a in hub.alarms.snapshot().alarms] == [
        (BedId("ICU^2^1"), "HR HIGH 130")
    ]
    assert not [f for f in hub.faults if "alarm" in f.text and "not evaluated" in f.text]
    running.cancel()
    await asyncio.wait([running])
    with JournalReader(tmp_path / "j.sqlite") as reader:
        log = reader.alarm_log(ward=True)
    assert [(t.change.value, t.text, t.operator) for t in log] == [
        ("operator", "operator unknown", "unknown"),
        ("raised", "HR HIGH 130", "gateway"),
    ]


def test_the_header_says_when_alarms_make_no_sound() -> None:
    assert sound_markers(parse_config("")) == ()
    assert sound_markers(parse_config("[dashboard]\nmute = true\n")) == ("MUTED",)
    assert sound_markers(parse_config('[alarms]\naudio = "off"\n')) == ("AUDIO OFF",)


def test_headless_with_the_bell_says_nothing_will_sound(tmp_path: Path) -> None:
    config = parse_config("")
    hub = build_hub(config)
    assert build_sound(config, hub, dashboard=False) is None
    assert 'set audio = "command"' in hub.faults[-1].text
    assert build_sound(config, hub, dashboard=True) is not None


def test_a_bed_limit_crossing_a_builtin_default_is_a_fault_at_start() -> None:
    config = parse_config('[[beds]]\nid = "b"\nlocations = ["X^1"]\nlimits.spo2 = { high = 80 }\n')
    hub = build_hub(config)
    assert [f.text for f in hub.faults] == [
        "bed b: spo2 low 90 is not below high 80; the built-in low limit 90 is not used"
        " for this bed"
    ]


def test_mute_on_run_and_demo_mutes_the_screen_and_says_so() -> None:
    from gateway.app.cli import _muted, _parser

    for command in ("run", "demo"):
        args = _parser().parse_args([command, "--mute"])
        assert args.mute is True
        assert _parser().parse_args([command]).mute is False
    config = _muted(parse_config(""), True)
    assert config.dashboard.mute is True
    assert sound_markers(config) == ("MUTED",)
    sound = build_sound(config, build_hub(config), dashboard=True)
    assert sound is not None and sound.muted

"""What the dashboard writes about alarms: pure functions from alarm records to Rich Text.

Like :mod:`tui.vitals`: no Textual, no state, no clock — the same snapshot gives the same
text. Every alarm carries its text priority marker, so colour is never the only cue:

==========  =========  ===================================================================
marker      colour     priority (IEC 60601-1-8)
==========  =========  ===================================================================
``!!!``     red        high: the tile flashes about twice a second
``!!``      yellow     medium: the tile flashes about once every two seconds
``!``       cyan       low: steady
==========  =========  ===================================================================

An acknowledged alarm reads ``ack`` and no longer flashes; a latched one (its condition
ended, a high-priority physiological alarm kept until someone acknowledges it) reads
``ended``; one the device silenced at the bedside reads ``silenced at bed``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text

from gateway.alarms.snapshot import ActiveAlarm, AlarmSnapshot
from gateway.clock import NS_PER_S
from gateway.domain import AlarmChange, AlarmPriority, AlarmTransition
from tui.vitals import format_age

HIGH, MEDIUM, LOW = AlarmPriority.HIGH, AlarmPriority.MEDIUM, AlarmPriority.LOW

MARKER = {HIGH: "!!!", MEDIUM: "!!", LOW: "!", AlarmPriority.NONE: ""}
PRIORITY_STYLE = {
    HIGH: "bold white on #d70000",
    MEDIUM: "bold black on #ffd700",
    LOW: "bold black on #00d7ff",
    AlarmPriority.NONE: "",
}
"""Marker and text of an unacknowledged alarm."""
QUIET_STYLE = {
    HIGH: "bold #ff5f5f",
    MEDIUM: "bold #ffd700",
    LOW: "bold #00d7ff",
    AlarmPriority.NONE: "",
}
"""An acknowledged alarm: its colour, without the block."""
CLASS_OF = {HIGH: "-alarm-high", MEDIUM: "-alarm-medium", LOW: "-alarm-low"}
"""The tile class of its highest alarm (border colour; flashing with ``-flash``)."""
FLASH_TICK_S = 0.25
"""The flash timer's period: high toggles every tick (2 Hz), medium every 4 ticks (0.5 Hz)."""
FLASH_TICKS = {HIGH: 1, MEDIUM: 4}
"""Ticks between toggles; a priority not listed does not flash."""
WARD_LABEL = "WARD"


def state_word(alarm: ActiveAlarm) -> str:
    if alarm.latched:
        return "ended"
    if alarm.acknowledged:
        return "ack"
    if alarm.silenced:
        return "silenced at bed"
    return ""


def alarm_style(alarm: ActiveAlarm) -> str:
    if alarm.acknowledged:
        return QUIET_STYLE[alarm.priority]
    return PRIORITY_STYLE[alarm.priority]


def flashes(alarm: ActiveAlarm | None) -> bool:
    """Whether a tile with this top alarm flashes: high and medium, until acknowledged."""
    return alarm is not None and not alarm.acknowledged and alarm.priority in FLASH_TICKS


def tile_alarm_line(alarms: Sequence[ActiveAlarm], width: int) -> Text:
    """A tile's alarm line: ``!!! SpO2 LOW 84 +2`` — the top alarm, and how many more."""
    line = Text(no_wrap=True, overflow="ellipsis")
    if not alarms:
        return line
    top = alarms[0]
    more = f" +{len(alarms) - 1}" if len(alarms) > 1 else ""
    word = state_word(top)
    text = f"{top.marker} {top.text}" + (f" {word}" if word else "")
    room = max(0, width - cell_len(more))
    if cell_len(text) > room:
        text = text[: max(0, room - 1)] + "…"
    line.append(f"{text:<{room}}", alarm_style(top))
    line.append(more, "bold")
    return line


def bar_line(alarm: ActiveAlarm, now_ns: int, width: int) -> Text:
    """One alarm in the alarm bar: ``!!! ICU 12-1   SpO2 LOW 84        ack   2m``."""
    line = Text(no_wrap=True, overflow="ellipsis")
    style = alarm_style(alarm)
    line.append(f" {alarm.marker:<3} ", style)
    line.append(f" {(alarm.bed_label or WARD_LABEL)[:16]:<16} ", "bold")
    word = state_word(alarm)
    age = format_age(max(0.0, (now_ns - alarm.onset_ns) / NS_PER_S))
    tail = f"  {word:<15} {age:>4}"
    room = max(8, width - line.cell_len - cell_len(tail))
    text = alarm.text if cell_len(alarm.text) <= room else alarm.text[: room - 1] + "…"
    line.append(f"{text:<{room}}", QUIET_STYLE[alarm.priority])
    line.append(tail, "dim" if alarm.acknowledged else "")
    return line


def bar_lines(alarms: AlarmSnapshot | None, width: int, lines: int) -> list[Text]:
    """The alarm bar: every alarm by priority then age; the last line says how many more
    when they do not all fit (and that ``A`` lists them all)."""
    if alarms is None:
        return []
    shown = alarms.alarms
    if not shown:
        quiet = Text(" no active alarms", "dim", no_wrap=True)
        return [quiet] + [Text(no_wrap=True) for _ in range(lines - 1)]
    out = [bar_line(alarm, alarms.time_ns, width) for alarm in shown[:lines]]
    hidden = len(shown) - len(out)
    if hidden > 0:
        note = f" +{hidden + 1} more · A: all alarms "
        last = out[-1]
        last.truncate(max(0, width - cell_len(note)))
        last.pad_right(max(0, width - cell_len(note) - last.cell_len))
        last.append(note, "bold reverse")
    while len(out) < lines:
        out.append(Text(no_wrap=True))
    return out


def notices(alarms: AlarmSnapshot | None) -> tuple[str, ...]:
    """Header notices: the audio pause countdown."""
    if alarms is None:
        return ()
    remaining = alarms.paused_remaining_s
    if remaining is None:
        return ()
    minutes, seconds = divmod(int(remaining + 0.999), 60)
    return (f"AUDIO PAUSED {minutes}:{seconds:02d}",)


CHANGE_WORDS = {
    AlarmChange.RAISED: "raised",
    AlarmChange.ESCALATED: "escalated",
    AlarmChange.DEESCALATED: "de-escalated",
    AlarmChange.LATCHED: "ended, latched",
    AlarmChange.ENDED: "ended",
    AlarmChange.ACKNOWLEDGED: "acknowledged",
    AlarmChange.CLEARED: "acknowledged, cleared",
    AlarmChange.AUDIO_PAUSED: "audio paused",
    AlarmChange.AUDIO_RESUMED: "audio on",
    AlarmChange.BROKE_THROUGH: "sounded through pause",
    AlarmChange.OPERATOR: "operator",
    AlarmChange.CONFIGURATION: "beds changed",
}


def history_line(transition: AlarmTransition, *, with_bed: bool) -> Text:
    """``14:03:20  ICU 12-1  !!  raised  SpO2 LOW 84   (Nurse Martin)``."""
    line = Text(no_wrap=True, overflow="ellipsis")
    clock = time.strftime("%m-%d %H:%M:%S", time.localtime(transition.time_ns // NS_PER_S))
    line.append(f"{clock}  ", "dim")
    if with_bed:
        line.append(f"{(transition.bed_label or WARD_LABEL)[:16]:<16} ", "bold")
    marker = MARKER.get(transition.priority, "")
    line.append(f"{marker:<3} ", QUIET_STYLE.get(transition.priority, ""))
    line.append(f"{CHANGE_WORDS.get(transition.change, transition.change.value):<22}")
    line.append(transition.text, QUIET_STYLE.get(transition.priority, ""))
    line.append(f"   ({transition.operator})", "dim")
    return line

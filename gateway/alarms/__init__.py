"""The alarms: device, limit and technical alarms of the ward, their states and their sound.

* :mod:`~gateway.alarms.engine` — :class:`AlarmEngine`, every alarm's lifecycle (IEC 60601-1-8:
  latch, acknowledge, audio pause), fed by the hub, moved on by a timer;
* :mod:`~gateway.alarms.rules` — the gateway's own rules on numerics (limits, apnoea,
  invalid values) and the limits in force for a bed;
* :mod:`~gateway.alarms.conditions` — which alarms are one condition, shown as one;
* :mod:`~gateway.alarms.settings` — the engine's settings, from a configuration;
* :mod:`~gateway.alarms.snapshot` — what views see: the alarms shown, what should sound;
* :mod:`~gateway.alarms.audio` — the sound itself (the terminal bell or a command).

A new alarm rule goes in :mod:`~gateway.alarms.rules` (a watch the engine keeps per
channel); the engine never raises into the ingest path and never touches the ward state.
"""

from gateway.alarms.engine import AlarmEngine
from gateway.alarms.settings import AlarmSettings
from gateway.alarms.snapshot import MARKERS, ActiveAlarm, AlarmSnapshot, Audible

__all__ = ["MARKERS", "ActiveAlarm", "AlarmEngine", "AlarmSettings", "AlarmSnapshot", "Audible"]

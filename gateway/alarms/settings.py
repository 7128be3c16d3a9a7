"""The alarm engine's settings: the rules' settings, the timeouts, the sound, and the
alarm limits in force for each bed — built in, or from a configuration
(:meth:`AlarmSettings.from_config`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from gateway.alarms.rules import EffectiveLimits, RuleSettings, default_limits, effective_limits
from gateway.config.model import GatewayConfig
from gateway.domain import BedId


def _builtin_limits(bed: BedId) -> Mapping[str, EffectiveLimits]:
    return _DEFAULT_LIMITS


_DEFAULT_LIMITS: Mapping[str, EffectiveLimits] = MappingProxyType(default_limits())


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    rules: RuleSettings = field(default_factory=RuleSettings)
    lost_after_s: float = 60.0
    """A device silent this long escalates DEVICE LOST to high priority."""
    audio_pause_s: float = 120.0
    present_timeout_s: float = 10.0
    """A device alarm without a lifecycle ends this long after its last repeat."""
    limits: Callable[[BedId], Mapping[str, EffectiveLimits]] = _builtin_limits
    """The limits in force for a bed (asked once per bed)."""
    audio: str = "bell"
    muted: bool = False

    @classmethod
    def from_config(cls, config: GatewayConfig) -> tuple[AlarmSettings, list[str]]:
        """Settings from a configuration, and what is wrong in its limits (each a fault)."""
        problems: list[str] = []
        for bed in config.beds:
            problems += effective_limits(config, bed.id)[1]
        cache: dict[BedId, Mapping[str, EffectiveLimits]] = {}

        def limits(bed: BedId) -> Mapping[str, EffectiveLimits]:
            found = cache.get(bed)
            if found is None:
                found = cache[bed] = MappingProxyType(effective_limits(config, bed.key)[0])
            return found

        settings = cls(
            rules=RuleSettings(
                hysteresis_pct=config.alarms.hysteresis_pct,
                stale_timeout_s=config.stale_timeout_s,
            ),
            lost_after_s=config.lost_after_s,
            audio_pause_s=config.alarms.audio_pause_s,
            present_timeout_s=config.stale_timeout_s,
            limits=limits,
            audio=config.alarms.audio,
            muted=config.dashboard.mute,
        )
        return settings, problems

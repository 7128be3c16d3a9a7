"""The topic tree, ``<prefix>/<site>/<ward>/<gateway>/…`` (prefix ``icu/v1``): names made
topic-safe, and the topics of one gateway.

Every level a gateway or bed contributes is limited to ``[a-z0-9-]`` (the Homie rule): no
MQTT wildcard, no ``.`` or space that RabbitMQ or NATS would translate. A name that is not
already of that form gets a short hash of the original after its slug, so two beds whose
slugs coincide (``Bed_1``, ``bed-1``) never share a topic; payloads carry the original
names, which are what a screen shows.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

SCHEMA_VERSION = 1
"""The ``v`` of every payload; a change that old screens cannot read takes a new prefix."""
DEFAULT_PREFIX = f"icu/v{SCHEMA_VERSION}"
LEVEL = re.compile(r"[a-z0-9-]+")
_NOT_LEVEL = re.compile(r"[^a-z0-9]+")


def level(name: str) -> str:
    """``name`` as one topic level: itself when already of ``[a-z0-9-]``, else its slug
    and six hex digits of its hash."""
    if LEVEL.fullmatch(name):
        return name
    slug = _NOT_LEVEL.sub("-", name.lower()).strip("-")[:40]
    digest = hashlib.blake2s(name.encode(), digest_size=3).hexdigest()
    return f"{slug}-{digest}" if slug else digest


def default_level(name: str, fallback: str) -> str:
    """A readable topic level made from a configured name (``ICU 3 North`` → ``icu-3-north``),
    for the ward and gateway levels a configuration leaves out."""
    return _NOT_LEVEL.sub("-", name.lower()).strip("-")[:40].strip("-") or fallback


def alarm_uid(key: str) -> str:
    """A topic level for an alarm of the engine (its key can hold any character)."""
    return hashlib.blake2s(key.encode(), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class GatewayTopics:
    """The topics of one gateway, under ``<prefix>/<site>/<ward>/<gateway>``."""

    prefix: str
    site: str
    ward: str
    gateway: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.site}/{self.ward}/{self.gateway}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def birth(self) -> str:
        return f"{self.base}/birth"

    @property
    def rebirth(self) -> str:
        return f"{self.base}/cmd/rebirth"

    @property
    def acknowledge(self) -> str:
        """Remote screens' acknowledgements (heard only with ``remote_acknowledge``)."""
        return f"{self.base}/cmd/ack"

    def numerics(self, bed: str) -> str:
        return f"{self.base}/bed/{level(bed)}/num"

    def waves(self, bed: str) -> str:
        return f"{self.base}/bed/{level(bed)}/wave"

    def alarm(self, bed: str | None, uid: str) -> str:
        if bed is None:
            return f"{self.base}/alarm/{uid}"
        return f"{self.base}/bed/{level(bed)}/alarm/{uid}"


def screen_filter(prefix: str, site: str | None, ward: str | None) -> str:
    """What a screen subscribes to: every gateway of one ward (or of every ward, ``None``)."""
    return f"{prefix}/{site or '+'}/{ward or '+'}/+/#"


@dataclass(frozen=True, slots=True)
class Parsed:
    """A topic a screen received, taken apart: which gateway, and what of it."""

    gateway: GatewayTopics
    rest: tuple[str, ...]
    """The levels after the gateway's: ``("status",)``, ``("bed", "icu-1", "num")`` …"""


def parse(prefix: str, topic: str) -> Parsed | None:
    """``topic`` taken apart, or None when it is not under ``prefix`` in our tree."""
    if not topic.startswith(prefix + "/"):
        return None
    levels = topic[len(prefix) + 1 :].split("/")
    if len(levels) < 4:
        return None
    site, ward, gateway, *rest = levels
    return Parsed(GatewayTopics(prefix, site, ward, gateway), tuple(rest))

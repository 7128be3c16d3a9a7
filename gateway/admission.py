"""Admission: how many beds and devices senders may create, and how fast one peer may.

A bed made automatically (``auto_beds``) and a device first heard each cost memory for as
long as the gateway runs and, once they fall silent, a technical alarm (DEVICE LOST). One
sender inventing locations or device ids must not be able to grow memory without end or
drown the ward in alarms, so what senders may create is bounded here:

* at most ``max_auto_beds`` automatic beds and ``max_devices`` devices in the ward;
* at most ``new_identities_per_minute`` new identities (a new automatic bed and a new
  device count one each) from one peer address — a token bucket holding that many, refilled
  at that rate, so a vendor gateway announcing its 32 beds at start-up passes at once.

A report past a limit is *refused an identity*: the router gives it no bed, the hub journals
it as unassigned and raises none of its alarms. Refusals are counted per peer address
(:class:`PeerRefusals`: how many identities, how many reports, why), and the hub tells them
— one fault when a peer is first refused, a summary with counts at most once a minute while
it goes on, one technical alarm per peer — never one line per report. Refusals are retried:
an identity refused for the rate is admitted once the peer's bucket has refilled.

This module must not know the ward, the alarm engine, the journal or the screen, and must
not log: it decides and counts, the hub tells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.clock import NS_PER_S, Clock, SystemClock

DEFAULT_MAX_AUTO_BEDS: Final = 128
DEFAULT_MAX_DEVICES: Final = 1024
DEFAULT_NEW_IDENTITIES_PER_MINUTE: Final = 256

MAX_PEERS: Final = 4096
"""Peer addresses whose buckets and refusals are kept; past it the quietest are forgotten."""
OTHER_PEERS: Final = "(more peers)"
"""Whom refusals are counted against when :data:`MAX_PEERS` peers are alarmed already."""
MAX_REMEMBERED_REFUSED: Final = 4096
"""Refused identities remembered, to count each once; past it they are forgotten and
counted again (the count can only run high, never hide a flood)."""


@dataclass(frozen=True, slots=True)
class AdmissionLimits:
    """What senders may create: the ``[admission]`` table of the configuration."""

    max_auto_beds: int = DEFAULT_MAX_AUTO_BEDS
    max_devices: int = DEFAULT_MAX_DEVICES
    new_identities_per_minute: int = DEFAULT_NEW_IDENTITIES_PER_MINUTE


@dataclass(slots=True)
class PeerRefusals:
    """What one peer address was refused since it was first refused."""

    host: str
    reason: str
    """Why its last refusal was made."""
    first_ns: int
    last_ns: int
    identities: int = 0
    """New beds and devices it was refused (each counted once, as far as remembered)."""
    reports: int = 0
    """Its reports that were refused an identity (journaled as unassigned)."""
    told_identities: int = 0
    told_reports: int = 0
    """What the last fault about it said (a summary tells only what came since)."""
    told_ns: int = 0
    alarmed: bool = False
    """Whether its ADMISSION LIMIT alarm is raised."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at_ns: int


class Admission:
    """The limits' bookkeeping: admitted devices, automatic beds made, each peer's bucket,
    and each peer's refusals (for the hub to tell: :meth:`take_fresh`)."""

    def __init__(self, limits: AdmissionLimits | None = None, clock: Clock | None = None) -> None:
        self.limits = limits or AdmissionLimits()
        self.clock: Clock = clock if clock is not None else SystemClock()
        """Whose monotonic time rates are counted in (the hub sets its own): a wall clock
        stepped back or forward neither refills nor empties a bucket."""
        self.auto_beds = 0
        """Automatic beds made so far."""
        self._devices: set[str] = set()
        self._buckets: dict[str, _Bucket] = {}
        self.refusals: dict[str, PeerRefusals] = {}
        """By peer address, in the order they were first refused."""
        self._refused: set[tuple[str, str]] = set()
        self._fresh: dict[str, PeerRefusals] = {}

    @property
    def devices(self) -> int:
        """Devices admitted so far."""
        return len(self._devices)

    def knows(self, device_key: str) -> bool:
        return device_key in self._devices

    def take_fresh(self) -> list[PeerRefusals]:
        """The peers refused since the last call (for the hub to tell), first refused first."""
        if not self._fresh:
            return []
        fresh = list(self._fresh.values())
        self._fresh.clear()
        return fresh

    def admit(self, host: str, device_key: str | None, bed_key: str | None, now_ns: int) -> bool:
        """Whether peer ``host`` may create the device ``device_key`` (None: known
        already) and the automatic bed ``bed_key`` (None: no new bed). When it may, they
        count from now on; when not, the refusal is counted against ``host``."""
        limits = self.limits
        if bed_key is not None and self.auto_beds >= limits.max_auto_beds:
            reason = f"{limits.max_auto_beds} automatic beds already made (max_auto_beds)"
        elif device_key is not None and len(self._devices) >= limits.max_devices:
            reason = f"{limits.max_devices} devices already known (max_devices)"
        elif not self._take(host, (device_key is not None) + (bed_key is not None), now_ns):
            reason = (
                f"more than {limits.new_identities_per_minute} new beds and devices a minute"
                " (new_identities_per_minute)"
            )
        else:
            if device_key is not None:
                self._devices.add(device_key)
            if bed_key is not None:
                self.auto_beds += 1
            return True
        self._refuse(host, f"{bed_key or ''}|{device_key or ''}", reason, now_ns)
        return False

    def _take(self, host: str, cost: int, now_ns: int) -> bool:
        per_minute = self.limits.new_identities_per_minute
        bucket = self._buckets.get(host)
        if bucket is None:
            if len(self._buckets) >= MAX_PEERS:
                self._forget_full_buckets(now_ns)
            bucket = self._buckets[host] = _Bucket(float(per_minute), now_ns)
        elif now_ns > bucket.at_ns:  # a clock stepping back refills nothing
            refill = (now_ns - bucket.at_ns) * per_minute / (60 * NS_PER_S)
            bucket.tokens = min(float(per_minute), bucket.tokens + refill)
            bucket.at_ns = now_ns
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
        return True

    def _forget_full_buckets(self, now_ns: int) -> None:
        """Forget the buckets that have refilled (their peers are as if never heard); all
        of them if none has, so the table stays bounded whatever the addresses."""
        refill_ns = 60 * NS_PER_S
        full = [host for host, b in self._buckets.items() if now_ns - b.at_ns >= refill_ns]
        for host in full or list(self._buckets):
            del self._buckets[host]

    def _refuse(self, host: str, identity: str, reason: str, now_ns: int) -> None:
        entry = self.refusals.get(host)
        if entry is None:
            if len(self.refusals) >= MAX_PEERS:
                # The quietest peer told of and not alarmed is forgotten; when every one is
                # still alarmed, the newcomers share one entry: bounded either way.
                told = [r for r in self.refusals.values() if not r.alarmed]
                if told:
                    del self.refusals[min(told, key=lambda r: r.last_ns).host]
                else:
                    host = OTHER_PEERS
            entry = self.refusals.get(host)
            if entry is None:
                entry = self.refusals[host] = PeerRefusals(host, reason, now_ns, now_ns)
        entry.reason, entry.last_ns = reason, now_ns
        entry.reports += 1
        key = (host, identity)
        if key not in self._refused:
            if len(self._refused) >= MAX_REMEMBERED_REFUSED:
                self._refused.clear()
            self._refused.add(key)
            entry.identities += 1
        self._fresh[host] = entry

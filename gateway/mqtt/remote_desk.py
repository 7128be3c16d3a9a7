"""A remote screen's alarm desk (``icu-gateway dashboard --mqtt URL --acknowledge``):
``a`` asks the gateway to acknowledge the alarms this screen shows of a bed.

The screen never changes an alarm itself: it publishes a request naming each alarm it shows
with the sequence number it has here (:func:`gateway.mqtt.payloads.ack_request`), and the
alarm reads ``ack`` only when the gateway's own alarm state says so. Gateways answer only
with ``[mqtt] remote_acknowledge = true`` (:mod:`gateway.mqtt.remote_ack`). There is no
sound here to pause and no alarm history (the gateway's journal has it).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from gateway.alarms.snapshot import UNKNOWN_OPERATOR, AlarmSnapshot
from gateway.domain import AlarmTransition, BedId
from gateway.mqtt import payloads
from gateway.mqtt.remote_ward import RemoteWard

ACK_EXPIRY_S = 10
"""A request the broker could not deliver within this is dropped, never acted on late."""
MAX_PENDING = 64


class RemoteDesk:
    remote = True
    on_new_alarm: Callable[[], None] | None
    """Acknowledgements go to gateways over the broker; no sound, no history here."""

    def __init__(self, ward: RemoteWard, screen: str) -> None:
        self.ward = ward
        self.screen = screen
        self.operator = UNKNOWN_OPERATOR
        self.on_new_alarm = None
        self.sent = 0
        self._pending: deque[tuple[str, bytes]] = deque(maxlen=MAX_PENDING)

    def acknowledge(self, bed: BedId | None, now_ns: int | None = None) -> int:
        """Ask each live gateway to acknowledge the alarms shown of ``bed``; returns how
        many alarms the requests name (none while nobody has said who they are)."""
        if self.operator == UNKNOWN_OPERATOR:
            return 0
        named = 0
        for topics, sess, alarms in self.ward.shown_alarms(bed):
            request = payloads.ack_request(self.screen, self.operator, sess, time.time_ns(), alarms)
            self._pending.append((topics.acknowledge, request))
            named += len(alarms)
        return named

    def take_requests(self) -> list[tuple[str, bytes]]:
        """The requests to publish now (the screen link does)."""
        taken = list(self._pending)
        self._pending.clear()
        self.sent += len(taken)
        return taken

    def pause_audio(self, now_ns: int | None = None) -> bool:
        return False

    def sign_in(self, operator: str, now_ns: int | None = None) -> None:
        self.operator = operator.strip() or UNKNOWN_OPERATOR

    def snapshot(self, now_ns: int | None = None) -> AlarmSnapshot:
        alarms = self.ward.snapshot().alarms
        return alarms if alarms is not None else AlarmSnapshot(0)

    def history(self, bed: BedId | None = None, *, ward: bool = False) -> list[AlarmTransition]:
        return []

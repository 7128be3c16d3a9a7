"""What a gateway does with a remote screen's acknowledgement (``[mqtt]
remote_acknowledge = true``; off by default: remote screens are display-only).

A request names the alarms the screen showed, each by uid and the alarm sequence number it
had there, in the gateway session the screen saw (:class:`~gateway.mqtt.payloads.AckRequest`).
Only an alarm still published under that very number is acknowledged: one that changed
since (escalated, ended, raised again) or belongs to an earlier session is not — nobody
acknowledges what they have not seen. The engine journals each acknowledgement with the
remote operator and screen (``Dr Roux (remote screen icu-screen-4711)``), never with the
name at the local screen. Requests are bounded (:data:`AT_MOST_PER_S`); anything refused is
a fault on the gateway's dashboard, summarised, never an exception into the publisher.
"""

from __future__ import annotations

import logging

from gateway.hub import Hub
from gateway.mqtt import payloads
from gateway.mqtt.outbox import AlarmBoard, Session
from gateway.mqtt.payloads import PayloadError

log = logging.getLogger(__name__)

AT_MOST_PER_S = 5.0
"""Requests taken per second, all screens together (a burst of as many is allowed)."""
SOURCE = "mqtt remote acknowledge"


def remote_operator(request: payloads.AckRequest) -> str:
    return f"{request.operator} (remote screen {request.screen})"


class RemoteAcknowledgements:
    """Takes the requests the publisher hears on ``cmd/ack``; see the module's rules."""

    def __init__(self, hub: Hub, board: AlarmBoard, session: Session) -> None:
        self.hub = hub
        self.board = board
        self.session = session
        self.taken = 0
        self.refused = 0
        self._tokens = AT_MOST_PER_S
        self._filled_ns = hub.clock.monotonic_ns()

    def handle(self, data: bytes) -> int:
        """Apply one request; returns how many of the engine's alarms it acknowledged."""
        if not self._admit():
            self._refuse("more than 5 requests a second; this one was dropped")
            return 0
        try:
            request = payloads.read_ack_request(data)
        except PayloadError as exc:
            self._refuse(f"unreadable request: {exc}")
            return 0
        if request.sess != self.session.sess:
            self._refuse(
                f"{remote_operator(request)} acknowledged what an earlier connection showed;"
                " nothing acknowledged (the screen shows the current alarms again)"
            )
            return 0
        keys: list[str] = []
        changed = 0
        for uid, aseq in request.alarms.items():
            entry = self.board.current.get(uid)
            if entry is None or entry.aseq != aseq or not entry.active:
                changed += 1
                continue
            keys.extend(entry.alarm.members or (entry.alarm.key,))
        touched = self.hub.alarms.acknowledge_alarms(keys, remote_operator(request))
        self.taken += 1
        log.info(
            "remote acknowledgement by %s: %d alarms acknowledged, %d changed since shown",
            remote_operator(request),
            touched,
            changed,
        )
        if changed:
            self._refuse(
                f"{remote_operator(request)}: {changed} alarm(s) changed since the screen"
                " showed them; those are not acknowledged"
            )
        return touched

    def _admit(self) -> bool:
        now = self.hub.clock.monotonic_ns()
        self._tokens = min(
            AT_MOST_PER_S, self._tokens + (now - self._filled_ns) / 1e9 * AT_MOST_PER_S
        )
        self._filled_ns = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _refuse(self, why: str) -> None:
        self.refused += 1
        self.hub.fault(SOURCE, f"remote acknowledgement: {why}", kind="remote acknowledgement")

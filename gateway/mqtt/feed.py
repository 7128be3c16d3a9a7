"""What the publisher takes from the hub: a bed's numerics every second, its waves' new
samples every 250 ms, and the alarms the engine shows, into the bounded hand-off
(:mod:`gateway.mqtt.outbox`).

It runs as a task of its own on the gateway's loop and only reads — ``Hub.snapshot`` (as
the dashboard does), ``WardState.waveform`` copies and the alarm engine's cached snapshot —
so ingest never waits for it and never sees the broker. While no broker is connected it
makes nothing but the alarm map (kept so that a connection sends the whole set).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from gateway.clock import NS_PER_S
from gateway.hub import Hub
from gateway.mqtt import payloads
from gateway.mqtt.outbox import AlarmBoard, Outbox, Outgoing, Session
from gateway.mqtt.topics import GatewayTopics
from gateway.ward.snapshot import BedSnapshot, WaveKey

WAVE_PERIOD_S = 0.25
NUMERICS_EVERY = 4
"""Numerics once every this many wave periods: 1 Hz."""
NUMERICS_EXPIRY_S = 5
WAVES_EXPIRY_S = 2
WAVE_CONTENT_TYPE = "application/x-icu-waves"


@dataclass(slots=True)
class _Cursor:
    end_ns: int
    """Device time just after the last sample published."""


class WardFeed:
    def __init__(
        self,
        hub: Hub,
        topics: GatewayTopics,
        outbox: Outbox,
        board: AlarmBoard,
        session: Session,
    ) -> None:
        self.hub = hub
        self.topics = topics
        self.outbox = outbox
        self.board = board
        self.session = session
        self.beds: tuple[BedSnapshot, ...] = ()
        """The beds of the latest snapshot: their waves are looked at between snapshots,
        and the birth lists them."""
        self._cursors: dict[tuple[str, WaveKey], _Cursor] = {}
        self._tick = 0

    async def run(self) -> None:
        while True:
            self.step()
            await asyncio.sleep(WAVE_PERIOD_S)

    def step(self) -> None:
        """One period: the alarms always; waves, and numerics every fourth, when connected."""
        self.board.update(self.hub.alarms.snapshot().alarms)
        numerics = self._tick % NUMERICS_EVERY == 0
        self._tick += 1
        if numerics or not self.beds:
            self.beds = self.hub.snapshot().beds
            if self.session.connected:
                self._numerics()
        if self.session.connected:
            self._waves()
        else:
            self._cursors.clear()  # after an outage, only what is new is sent

    def _numerics(self) -> None:
        clock = self.hub.clock
        now_ns, made = clock.now_ns(), clock.monotonic_ns()
        sess = self.session.sess
        for bed in self.beds:
            payload = payloads.numerics(sess, self.session.next_seq(), now_ns, bed)
            self.outbox.offer(
                Outgoing(self.topics.numerics(bed.bed.key), payload, sess, made, NUMERICS_EXPIRY_S),
                wave=False,
            )

    def _waves(self) -> None:
        clock = self.hub.clock
        ward = self.hub.ward
        now_ns, made = clock.now_ns(), clock.monotonic_ns()
        sess = self.session.sess
        for bed in self.beds:
            slices = []
            for info in bed.waves:
                window = ward.waveform(bed.bed, info.key, 1.0, now_ns)
                cursor_key = (bed.bed.key, info.key)
                if window is None or window.stale or not len(window.samples):
                    self._cursors.pop(cursor_key, None)
                    continue
                rate = window.sample_rate_hz
                cursor = self._cursors.get(cursor_key)
                if cursor is None or window.end_ns < cursor.end_ns:
                    count = round(WAVE_PERIOD_S * rate)
                else:
                    count = round((window.end_ns - cursor.end_ns) * rate / NS_PER_S)
                count = min(count, len(window.samples))
                if count <= 0:
                    continue
                self._cursors[cursor_key] = _Cursor(window.end_ns)
                samples = np.ascontiguousarray(window.samples[-count:])
                slices.append(
                    payloads.WaveSlice(
                        info.key[0],
                        info.key[1],
                        window.label,
                        window.unit,
                        rate,
                        window.end_ns - round(count * NS_PER_S / rate),
                        window.age_s,
                        samples,
                    )
                )
            if slices:
                payload = payloads.pack_waves(sess, self.session.next_seq(), now_ns, slices)
                self.outbox.offer(
                    Outgoing(
                        self.topics.waves(bed.bed.key),
                        payload,
                        sess,
                        made,
                        WAVES_EXPIRY_S,
                        WAVE_CONTENT_TYPE,
                    ),
                    wave=True,
                )

"""Simulated monitors publishing over MQTT, as IoT-style bedside devices and bridges do,
in the gateway's ingest schema v1 (:mod:`adapters.mqtt.codec`, ``docs/mqtt.md``).

Every ``period_s`` each connected monitor publishes one message (QoS 1, never retained)
to ``icu/in/v1/<site>/<ward>/<device>/obs``, ``<device>`` its EUI-64 in lower case:
``{"v": 1, "device": {"id", "label"}, "time", "seq", "location", "patient_id", "demo",
"obs": [...], "alarms": [...], "waves": [...]}`` — the numerics of the readout, the alarm
updates it raised, and with ``waveforms`` the samples of its waves. ``demo`` marks every
message demo (a monitor in demo mode). Nothing is retained: a retained reading would greet
a new subscriber as if it were live long after the device stopped. A scenario's
``disconnect`` silences that bed only. When the broker goes away the simulator reconnects
(a fresh connection each time, through :mod:`gateway.mqtt.client`) with backoff; the
patients live on. This module publishes; it must not invent physiology nor know HL7.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from adapters.mqtt import codec
from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.errors import ConfigError
from gateway.mqtt.client import Broker, BrokerError, BrokerLink, Credentials
from simulators.alarms import (
    ADVISORY,
    PHYSIOLOGICAL,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_MEDIUM,
    AlarmUpdate,
)
from simulators.monitor import Readout
from simulators.pcd01 import WaveKind
from simulators.physiology import Vitals
from simulators.scenario import WardScenario
from simulators.signals import Wave, WaveRates
from simulators.ward import SimulatedMonitor, build_monitors

log = logging.getLogger(__name__)

SITE = "site"
WARD = "sim"
QOS = 1
_PRIORITY = {PRIORITY_HIGH: "high", PRIORITY_MEDIUM: "medium", PRIORITY_LOW: "low"}
_KIND = {PHYSIOLOGICAL: "physiological", ADVISORY: "advisory"}


def device_topic(monitor: SimulatedMonitor, *, site: str = SITE, ward: str = WARD) -> str:
    """``icu/in/v1/site/sim/00a037eb2175780f/obs``: the monitor's EUI-64 as its level."""
    return str(codec.DeviceTopic(codec.DEFAULT_PREFIX, site, ward, monitor.device.eui64.lower()))


def parse_mqtt_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError([f"--mqtt must look like mqtt://HOST[:PORT], not {url!r}"])
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError([f"--mqtt must look like mqtt://HOST[:PORT], not {url!r}"]) from None
    return parts.hostname, port


def _row(code: int, label: str, value: float | None, unit: str) -> dict[str, Any]:
    row: dict[str, Any] = {"code": code, "label": label, "value": value, "unit": unit}
    row["status"] = "valid" if value is not None else "invalid"
    return row


def observation_rows(vitals: Vitals) -> list[dict[str, Any]]:
    """The numerics of a readout as schema rows; ``value`` null = cannot measure now."""
    rows = [
        _row(147842, "HR", vitals.heart_rate, "/min"),
        _row(149530, "PR", vitals.pulse_rate, "/min"),
        _row(150456, "SpO2", vitals.spo2, "%"),
        _row(151562, "RR", vitals.resp_rate, "/min"),
        _row(150344, "Temp", vitals.temperature_c, "°C"),
        _row(150448, "PI", vitals.perfusion_index, "%"),
    ]
    nibp_time = round(vitals.nibp_time_s * NS_PER_S)
    for code, label, value in (
        (150021, "NIBP sys", vitals.nibp_sys),
        (150022, "NIBP dia", vitals.nibp_dia),
        (150023, "NIBP mean", vitals.nibp_mean),
    ):
        rows.append({**_row(code, label, value, "mmHg"), "time": nibp_time})
    if vitals.abp is not None:
        for (code, label), value in zip(
            ((150037, "ABP sys"), (150038, "ABP dia"), (150039, "ABP mean")),
            vitals.abp,
            strict=True,
        ):
            rows.append(_row(code, label, value, "mmHg"))
    return rows


def alarm_row(alarm: AlarmUpdate, time_ns: int) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": alarm.alarm_id,
        "code": alarm.event.code,
        "text": alarm.text,
        "priority": _PRIORITY.get(alarm.priority, "none"),
        "kind": "technical" if alarm.technical else _KIND.get(alarm.kind, "physiological"),
        "phase": alarm.phase,
        "state": alarm.state,
        "inactivation": alarm.inactivation,
        "parameter": alarm.source.code,
        "time": time_ns,
    }
    if alarm.value is not None:
        row["value"] = alarm.value
    if alarm.limits is not None:
        low, high = alarm.limits
        row["limits"] = "-".join("" if x is None else f"{x:g}" for x in (low, high))
    return row


def wave_row(kind: WaveKind, wave: Wave, *, start_ns: int, valid: bool) -> dict[str, Any]:
    """One wave's samples of one interval (nulls where it is no signal)."""
    number, _, _ = kind.code.split("^")
    samples: list[float | None]
    if valid:
        samples = np.round(wave.samples, kind.decimals).tolist()
    else:
        samples = [None] * len(wave.samples)
    return {
        "code": int(number),
        "label": kind.name,
        "unit": kind.unit.split("^")[1],
        "rate": wave.rate,
        "start": start_ns,
        "channel": kind.sub_id,
        "samples": samples,
    }


def message_of(
    monitor: SimulatedMonitor,
    readout: Readout,
    now_ns: int,
    *,
    waveforms: bool,
    demo: bool = False,
) -> dict[str, Any]:
    """The document (without ``v``) the monitor publishes for ``readout``."""
    assert monitor.last_vitals is not None
    vitals = monitor.last_vitals
    monitor.sequence += 1
    document: dict[str, Any] = {
        "device": {"id": monitor.device.eui64, "label": monitor.device.name},
        "time": round(vitals.time_s * NS_PER_S),
        "seq": monitor.sequence,
        "location": monitor.bed.location,
        "patient_id": monitor.bed.patient_id,
        "obs": observation_rows(vitals),
    }
    if demo:
        document["demo"] = True
    if readout.alarms:
        document["alarms"] = [alarm_row(alarm, now_ns) for alarm in readout.alarms]
    if waveforms:
        document["waves"] = [
            wave_row(kind, wave, start_ns=monitor.wave_start_ns(wave), valid=valid)
            for kind, wave, valid in monitor.waves(readout)
        ]
    return document


class MqttWard:
    """``beds`` simulated monitors publishing to the broker at ``url`` until cancelled."""

    def __init__(
        self,
        url: str,
        *,
        beds: int = 8,
        seed: int = 0,
        period_s: float = 1.0,
        scenario: WardScenario | None = None,
        waveforms: bool = False,
        rates: WaveRates | None = None,
        clock: Clock | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        demo: bool = False,
        site: str = SITE,
        ward: str = WARD,
    ) -> None:
        self.host, self.port = parse_mqtt_url(url)
        self.period_s = period_s
        self.waveforms = waveforms
        self.demo = demo
        self.site, self.ward = site, ward
        self._clock = clock or SystemClock()
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.monitors = tuple(
            SimulatedMonitor(index, device, bed, model)
            for index, device, bed, model, _ in build_monitors(beds, seed, scenario, rates=rates)
        )
        self.published = 0
        self.connects = 0
        self.connect_failures = 0

    def topic(self, monitor: SimulatedMonitor) -> str:
        return device_topic(monitor, site=self.site, ward=self.ward)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        steps = 1
        delay = self.backoff_initial_s
        broker = Broker(self.host, self.port)
        while True:
            identifier = f"icu-sim-{os.getpid()}-{self.connects}-{self.connect_failures}"
            try:
                async with BrokerLink(broker, Credentials(), identifier=identifier) as link:
                    self.connects += 1
                    delay = self.backoff_initial_s
                    while True:
                        await asyncio.sleep(max(0.0, due - loop.time()))
                        await self._publish_tick(link, self.period_s * steps)
                        _stop_if_cancelled()
                        due += self.period_s
                        late = loop.time() - due
                        steps = 1
                        if late > 0:
                            missed = math.ceil(late / self.period_s)
                            due += missed * self.period_s
                            steps += missed
            except BrokerError as error:
                _stop_if_cancelled()
                self.connect_failures += 1
                log.info("MQTT %s: %s; retry in %.2f s", broker, error, delay)
                await asyncio.sleep(delay)
                delay = min(self.backoff_max_s, delay * 2)
                missed = math.floor((loop.time() - due) / self.period_s)
                if missed > 0:  # the patients lived on while the broker was away
                    due += missed * self.period_s
                    steps = missed + 1

    async def _publish_tick(self, link: BrokerLink, dt: float) -> None:
        now_ns = self._clock.now_ns()
        for monitor in self.monitors:
            readout = monitor.tick(dt, now_ns)
            if not readout.connected:
                continue
            document = message_of(
                monitor, readout, now_ns, waveforms=self.waveforms, demo=self.demo
            )
            await link.publish(self.topic(monitor), codec.encode(document), qos=QOS)
            self.published += 1


def _stop_if_cancelled() -> None:
    """Re-raise a cancellation the MQTT client swallowed.

    aiomqtt can absorb the CancelledError thrown into a pending publish, or turn it into an
    MqttError while disconnecting; the task is still marked as cancelling. Stopping the
    simulator must stop it, not have it reconnect or tick on forever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

"""Simulated monitors publishing over MQTT (aiomqtt), as IoT-style bedside devices do.

One client publishes for the whole simulated ward, every ``period_s``, under
``icu/v1/sim/<bed>/…`` where ``<bed>`` is the bed's PV1-3 location made topic-safe
(``ICU^3^1`` → ``ICU-3-1``):

=================================  =====  ==========================================
topic                              QoS    payload (JSON, UTF-8)
=================================  =====  ==========================================
``icu/v1/sim/status``              1, R   ``"online"``; the broker sends the will
                                          ``"offline"`` if the simulator dies
``icu/v1/sim/<bed>/vitals``        0      :func:`vitals_payload`
``icu/v1/sim/<bed>/alarms``        1      :func:`alarm_payload`, one per update
``icu/v1/sim/<bed>/waves/<wave>``  0      :func:`wave_payload` (``--waveforms`` only)
=================================  =====  ==========================================

Nothing per bed is retained: a retained reading would greet a new subscriber as if it were
live long after the device stopped. A scenario's ``disconnect`` silences that bed only.
When the broker goes away the simulator reconnects with backoff; the patients live on.
This module publishes; it must not invent physiology nor know HL7.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
import numpy as np

from gateway.clock import NS_PER_S, Clock, SystemClock
from gateway.errors import ConfigError
from simulators.alarms import AlarmUpdate
from simulators.monitor import Readout
from simulators.pcd01 import WaveKind
from simulators.physiology import Vitals
from simulators.scenario import WardScenario
from simulators.signals import Wave, WaveRates
from simulators.ward import SimulatedMonitor, build_monitors

log = logging.getLogger(__name__)

TOPIC_ROOT = "icu/v1/sim"
STATUS_TOPIC = f"{TOPIC_ROOT}/status"


def bed_topic(location: str) -> str:
    """``ICU^3^1`` → ``icu/v1/sim/ICU-3-1``: MQTT wildcards and separators never appear."""
    return f"{TOPIC_ROOT}/{re.sub(r'[^A-Za-z0-9_.-]+', '-', location).strip('-') or 'unknown'}"


def parse_mqtt_url(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ConfigError([f"--mqtt must look like mqtt://HOST[:PORT], not {url!r}"])
    try:
        port = parts.port or 1883
    except ValueError:
        raise ConfigError([f"--mqtt must look like mqtt://HOST[:PORT], not {url!r}"]) from None
    return parts.hostname, port


def _row(code: int, refid: str, label: str, value: float | None, unit: str) -> dict[str, Any]:
    return {
        "code": code,
        "refid": refid,
        "label": label,
        "value": value,
        "unit": unit,
        "status": "valid" if value is not None else "invalid",
    }


def vitals_payload(monitor: SimulatedMonitor, vitals: Vitals) -> dict[str, Any]:
    """The numerics as JSON-ready data: a list of rows; ``value`` null = cannot measure."""
    rows = [
        _row(147842, "MDC_ECG_HEART_RATE", "HR", vitals.heart_rate, "/min"),
        _row(149530, "MDC_PULS_OXIM_PULS_RATE", "PR", vitals.pulse_rate, "/min"),
        _row(150456, "MDC_PULS_OXIM_SAT_O2", "SpO2", vitals.spo2, "%"),
        _row(151562, "MDC_RESP_RATE", "RR", vitals.resp_rate, "/min"),
        _row(150344, "MDC_TEMP", "Temp", vitals.temperature_c, "°C"),
        _row(150448, "MDC_PULS_OXIM_PERF_REL", "PI", vitals.perfusion_index, "%"),
    ]
    nibp_time = round(vitals.nibp_time_s * NS_PER_S)
    for code, refid, label, value in (
        (150021, "MDC_PRESS_BLD_NONINV_SYS", "NIBP sys", vitals.nibp_sys),
        (150022, "MDC_PRESS_BLD_NONINV_DIA", "NIBP dia", vitals.nibp_dia),
        (150023, "MDC_PRESS_BLD_NONINV_MEAN", "NIBP mean", vitals.nibp_mean),
    ):
        rows.append({**_row(code, refid, label, value, "mmHg"), "time_ns": nibp_time})
    if vitals.abp is not None:
        for (code, refid, label), value in zip(
            (
                (150037, "MDC_PRESS_BLD_ART_ABP_SYS", "ABP sys"),
                (150038, "MDC_PRESS_BLD_ART_ABP_DIA", "ABP dia"),
                (150039, "MDC_PRESS_BLD_ART_ABP_MEAN", "ABP mean"),
            ),
            vitals.abp,
            strict=True,
        ):
            rows.append(_row(code, refid, label, value, "mmHg"))
    return {
        **_who(monitor),
        "time_ns": round(vitals.time_s * NS_PER_S),
        "observations": rows,
    }


def alarm_payload(monitor: SimulatedMonitor, alarm: AlarmUpdate, time_ns: int) -> dict[str, Any]:
    return {
        **_who(monitor),
        "time_ns": time_ns,
        "alarm_id": alarm.alarm_id,
        "event": {"code": alarm.event.code, "refid": alarm.event.refid, "text": alarm.text},
        "source": {"code": alarm.source.code, "refid": alarm.source.refid},
        "phase": alarm.phase,
        "state": alarm.state,
        "inactivation": alarm.inactivation,
        "priority": alarm.priority,
        "kind": alarm.kind,
        "value": alarm.value,
        "limits": list(alarm.limits) if alarm.limits is not None else None,
    }


def wave_payload(
    monitor: SimulatedMonitor, kind: WaveKind, wave: Wave, *, start_ns: int, valid: bool
) -> dict[str, Any]:
    """One wave's samples of one interval; ``start_ns`` is the first sample's time."""
    number, refid, _ = kind.code.split("^")
    return {
        **_who(monitor),
        "wave": kind.name,
        "code": int(number),
        "refid": refid,
        "unit": kind.unit.split("^")[1],
        "rate": wave.rate,
        "start_ns": start_ns,
        "status": "valid" if valid else "invalid",
        "samples": np.round(wave.samples, kind.decimals).tolist(),
    }


def _who(monitor: SimulatedMonitor) -> dict[str, Any]:
    return {
        "bed": monitor.bed.location,
        "patient_id": monitor.bed.patient_id,
        "device": {"eui64": monitor.device.eui64, "name": monitor.device.name},
    }


def messages_for(
    monitor: SimulatedMonitor, readout: Readout, now_ns: int, *, waveforms: bool
) -> list[tuple[str, bytes, int]]:
    """(topic, payload, QoS) of everything the monitor publishes for ``readout``."""
    assert monitor.last_vitals is not None
    root = bed_topic(monitor.bed.location)
    out = [(f"{root}/vitals", _json(vitals_payload(monitor, monitor.last_vitals)), 0)]
    for alarm in readout.alarms:
        out.append((f"{root}/alarms", _json(alarm_payload(monitor, alarm, now_ns)), 1))
    if waveforms:
        for kind, wave, valid in monitor.waves(readout):
            start_ns = monitor.wave_start_ns(wave)
            payload = wave_payload(monitor, kind, wave, start_ns=start_ns, valid=valid)
            out.append((f"{root}/waves/{kind.name}", _json(payload), 0))
    return out


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


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
    ) -> None:
        self.host, self.port = parse_mqtt_url(url)
        self.period_s = period_s
        self.waveforms = waveforms
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

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        steps = 1
        delay = self.backoff_initial_s
        will = aiomqtt.Will(STATUS_TOPIC, b'"offline"', qos=1, retain=True)
        while True:
            try:
                async with aiomqtt.Client(self.host, self.port, will=will) as client:
                    self.connects += 1
                    delay = self.backoff_initial_s
                    await client.publish(STATUS_TOPIC, b'"online"', qos=1, retain=True)
                    while True:
                        await asyncio.sleep(max(0.0, due - loop.time()))
                        await self._publish_tick(client, self.period_s * steps)
                        _stop_if_cancelled()
                        due += self.period_s
                        late = loop.time() - due
                        steps = 1
                        if late > 0:
                            missed = math.ceil(late / self.period_s)
                            due += missed * self.period_s
                            steps += missed
            except aiomqtt.MqttError as error:
                _stop_if_cancelled()
                self.connect_failures += 1
                log.info("MQTT %s:%d: %s; retry in %.2f s", self.host, self.port, error, delay)
                await asyncio.sleep(delay)
                delay = min(self.backoff_max_s, delay * 2)
                missed = math.floor((loop.time() - due) / self.period_s)
                if missed > 0:  # the patients lived on while the broker was away
                    due += missed * self.period_s
                    steps = missed + 1

    async def _publish_tick(self, client: aiomqtt.Client, dt: float) -> None:
        now_ns = self._clock.now_ns()
        for monitor in self.monitors:
            readout = monitor.tick(dt, now_ns)
            if not readout.connected:
                continue
            for topic, payload, qos in messages_for(
                monitor, readout, now_ns, waveforms=self.waveforms
            ):
                await client.publish(topic, payload, qos=qos)
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

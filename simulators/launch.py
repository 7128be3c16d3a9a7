"""What ``icu-gateway simulate`` runs: a simulated ward on one transport, until interrupted.

The command line parses its options into :class:`Simulation` and calls :func:`simulate`;
this module builds the ward for the transport asked for (MLLP, one connection per bed or
one for all through a vendor gateway; a pseudo-terminal per bed for a serial device; an
MQTT broker), tells the tester where to bind the gateway (the pty paths are printed on
standard output, one per line as ``ICU^n^1 /dev/pts/N``), and runs it. It holds no
physiology nor encoding of its own.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

from gateway.errors import ConfigError
from simulators.mqtt_emitter import MqttWard, parse_mqtt_url
from simulators.scenario import WardScenario, load_scenario
from simulators.serial_emitter import run_serial, serial_devices
from simulators.serial_formats import SERIAL_KINDS
from simulators.signals import WaveRates
from simulators.ward import SimulatedWard

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Simulation:
    beds: int = 8
    seed: int = 0
    period_s: float = 1.0
    scenario: str = "stable"
    """A built-in's name or a TOML file."""
    to: str | None = None
    """``mllp://HOST:PORT``."""
    serial: str | None = None
    """One of :data:`~simulators.serial_formats.SERIAL_KINDS`."""
    mqtt: str | None = None
    """``mqtt://HOST[:PORT]``."""
    waveforms: bool = False
    vendor_gateway: bool = False
    rates: WaveRates = field(default_factory=WaveRates)


def parse_mllp_url(url: str) -> tuple[str, int]:
    target = urlsplit(url)
    try:
        port = target.port
    except ValueError:
        port = None
    if target.scheme != "mllp" or not target.hostname or port is None:
        raise ConfigError([f"--to must look like mllp://HOST:PORT, not {url!r}"])
    return target.hostname, port


def check(simulation: Simulation) -> WardScenario:
    """Every problem with the options, at once; the scenario when there is none."""
    problems: list[str] = []
    chosen = [x for x in (simulation.to, simulation.serial, simulation.mqtt) if x]
    if len(chosen) != 1:
        problems.append("say where to send: exactly one of --to, --serial, --mqtt")
    if simulation.serial is not None and simulation.serial not in SERIAL_KINDS:
        problems.append(
            f"--serial: unknown device {simulation.serial!r}; known: {', '.join(SERIAL_KINDS)}"
        )
    if simulation.vendor_gateway and simulation.to is None:
        problems.append("--vendor-gateway needs --to mllp://HOST:PORT")
    for check_url, url in ((parse_mllp_url, simulation.to), (parse_mqtt_url, simulation.mqtt)):
        if url is not None:
            try:
                check_url(url)
            except ConfigError as error:
                problems.extend(error.problems)
    if simulation.period_s <= 0:
        problems.append(f"--period: {simulation.period_s} is not a time above 0")
    try:
        scenario = load_scenario(simulation.scenario)
    except ConfigError as error:
        problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    return scenario


async def simulate(simulation: Simulation, out: TextIO = sys.stdout) -> None:
    """Run the simulation until cancelled (Ctrl-C)."""
    scenario = check(simulation)
    s = simulation
    what = f"{s.beds} beds playing {scenario.name!r} (seed {s.seed})"
    if s.to is not None:
        host, port = parse_mllp_url(s.to)
        ward = SimulatedWard(
            host,
            port,
            beds=s.beds,
            seed=s.seed,
            period_s=s.period_s,
            scenario=scenario,
            waveforms=s.waveforms,
            rates=s.rates,
            vendor_gateway=s.vendor_gateway,
        )
        how = "one vendor-gateway connection" if s.vendor_gateway else "one connection per bed"
        log.info("simulating %s → %s over %s (Ctrl-C stops)", what, s.to, how)
        await ward.run()
    elif s.serial is not None:
        devices = serial_devices(
            s.serial, s.beds, s.seed, scenario, waveforms=s.waveforms, rates=s.rates
        )
        for device in devices:
            print(f"{device.monitor.bed.location} {device.path}", file=out, flush=True)
        log.info("simulating %s as %s devices on the ptys above (Ctrl-C stops)", what, s.serial)
        await run_serial(devices)
    else:
        assert s.mqtt is not None
        mqtt_ward = MqttWard(
            s.mqtt,
            beds=s.beds,
            seed=s.seed,
            period_s=s.period_s,
            scenario=scenario,
            waveforms=s.waveforms,
            rates=s.rates,
        )
        log.info("simulating %s → %s under icu/v1/sim/ (Ctrl-C stops)", what, s.mqtt)
        await mqtt_ward.run()


def run(simulation: Simulation) -> None:
    """:func:`simulate` in its own event loop (the command line's entry)."""
    check(simulation)
    asyncio.run(simulate(simulation))

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

from adapters.mqtt.codec import ingest_filter
from gateway.errors import ConfigError
from simulators.intellivue_emitter import INTELLIVUE, run_udp, serial_monitors, udp_monitors
from simulators.intellivue_emitter import run_serial as run_intellivue_serial
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
    intellivue: int = 0
    """Simulated IntelliVue monitors on UDP (loopback); 0: none."""
    indication_to: str = "127.0.0.1:24005"
    """Where their Connect Indications go (``HOST:PORT``)."""
    demo_mode: bool = False
    """IntelliVues (UDP or ``--serial intellivue``) or MQTT monitors in demo mode: data
    marked DEMO."""


def parse_mllp_url(url: str) -> tuple[str, int]:
    target = urlsplit(url)
    try:
        port = target.port
    except ValueError:
        port = None
    if target.scheme != "mllp" or not target.hostname or port is None:
        raise ConfigError([f"--to must look like mllp://HOST:PORT, not {url!r}"])
    return target.hostname, port


def parse_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError([f"--indication-to must look like HOST:PORT, not {text!r}"])
    return host, int(port)


def check(simulation: Simulation) -> WardScenario:
    """Every problem with the options, at once; the scenario when there is none."""
    problems: list[str] = []
    s = simulation
    chosen = [x for x in (s.to, s.serial, s.mqtt, s.intellivue) if x]
    if len(chosen) != 1:
        problems.append("say where to send: exactly one of --to, --serial, --mqtt, --intellivue")
    kinds = (*SERIAL_KINDS, INTELLIVUE)
    if s.serial is not None and s.serial not in kinds:
        problems.append(f"--serial: unknown device {s.serial!r}; known: {', '.join(kinds)}")
    if s.intellivue < 0:
        problems.append(f"--intellivue: {s.intellivue} is not a number of monitors")
    try:
        parse_host_port(s.indication_to)
    except ConfigError as error:
        problems.extend(error.problems)
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
    elif s.intellivue:
        monitors = udp_monitors(
            s.intellivue,
            s.seed,
            scenario,
            demo=s.demo_mode,
            indication_to=parse_host_port(s.indication_to),
        )
        for monitor in monitors:
            await monitor.bind()
            host, port = monitor.address
            print(f"{monitor.monitor.identity.bed_label} {host}:{port}", file=out, flush=True)
        log.info(
            "simulating %d IntelliVues playing %r, Connect Indications → %s (Ctrl-C stops)",
            s.intellivue, scenario.name, s.indication_to,
        )  # fmt: skip
        await run_udp(monitors)
    elif s.serial == INTELLIVUE:
        mib_ports = serial_monitors(s.beds, s.seed, scenario, demo=s.demo_mode)
        for mib in mib_ports:
            print(f"{mib.monitor.identity.bed_label} {mib.path}", file=out, flush=True)
        log.info("simulating %s as IntelliVues on the MIB ptys above (Ctrl-C stops)", what)
        await run_intellivue_serial(mib_ports)
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
            demo=s.demo_mode,
        )
        log.info(
            "simulating %s → %s under %s (Ctrl-C stops)",
            what, s.mqtt, ingest_filter(site=mqtt_ward.site, ward=mqtt_ward.ward),
        )  # fmt: skip
        await mqtt_ward.run()


def run(simulation: Simulation) -> None:
    """:func:`simulate` in its own event loop (the command line's entry)."""
    check(simulation)
    asyncio.run(simulate(simulation))

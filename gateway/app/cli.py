"""The ``icu-gateway`` command line.

Each sub-command parses its options, builds what it needs from the other modules and runs
it; no sub-command holds logic of its own. Exit status: 0 success, 2 bad usage or an
invalid configuration, 1 a runtime failure (a port in use, say), reported in one line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import logging.handlers
import os
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from gateway import __version__
from gateway.config.load import (
    check_config,
    default_config,
    load_config,
    parse_bind,
    parse_broker_url,
    parse_config,
)
from gateway.config.model import GatewayConfig, IntellivueConfig
from gateway.errors import ConfigError, GatewayError
from gateway.wording import plural

if TYPE_CHECKING:
    from simulators.intellivue_emitter import IntellivueUdpMonitor
    from simulators.scenario import WardScenario

log = logging.getLogger("icu-gateway")

DASHBOARD_LOG = "icu-gateway.log"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `icu-gateway export … | head`: the reader has what it wanted. Quietly, as a
        # command-line tool does; stdout is pointed at /dev/null so that Python's final
        # flush does not fail a second time.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (GatewayError, BaseExceptionGroup) as exc:
        errors = _leaves(exc)
        if not all(isinstance(e, GatewayError) for e in errors):
            raise
        for error in errors:
            for line in error.problems if isinstance(error, ConfigError) else [str(error)]:
                print(f"icu-gateway: {line}", file=sys.stderr)
        return 2 if any(isinstance(e, ConfigError) for e in errors) else 1


def _leaves(exc: BaseException) -> list[BaseException]:
    """The errors inside (nested) exception groups, as the TaskGroup raised them."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="icu-gateway",
        description="Collect bedside monitors' HL7 feeds and watch every bed on one screen.",
    )
    parser.add_argument("--version", action="version", version=f"icu-gateway {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="gateway + simulated ward + dashboard in one process, no setup"
    )
    demo.add_argument(
        "--beds",
        type=_positive_int,
        default=DEMO_BEDS,
        help=f"simulated beds in all ({DEMO_BEDS}: from 7 on, {DEMO_PHILIPS_BEDS} Philips"
        f" IntelliVue and {DEMO_SERIAL_BEDS} serial beds, the rest HL7)",
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated patients")
    demo.add_argument("--mute", action="store_true", help=_MUTE_HELP)
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="run the gateway (dashboard, or --headless service)")
    run.add_argument("--config", type=Path, help="TOML configuration (default: zero-config)")
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="listen for HL7/MLLP here instead of the configured listeners (0.0.0.0:2575)",
    )
    run.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard; log to stderr; stop on SIGTERM, reload the beds on SIGHUP",
    )
    run.add_argument(
        "--journal", type=Path, metavar="PATH", help="journal file (default: the config's)"
    )
    run.add_argument("--mute", action="store_true", help=_MUTE_HELP)
    run.add_argument(
        "--mqtt",
        metavar="mqtt://HOST[:PORT]",
        help="publish the ward to this broker (instead of the config's [mqtt] url)",
    )
    run.add_argument("--mqtt-ward", metavar="ID", help="the ward's MQTT topic level")
    run.add_argument("--mqtt-gateway", metavar="ID", help="this gateway's MQTT topic level")
    run.set_defaults(handler=_run)

    dashboard = commands.add_parser(
        "dashboard", help="a remote dashboard: the wards that gateways publish to a broker"
    )
    dashboard.add_argument(
        "--mqtt", required=True, metavar="mqtt://HOST[:PORT]", help="the broker to read"
    )
    dashboard.add_argument(
        "--ward", action="append", default=[], metavar="ID", help="a ward to show (default: all)"
    )
    dashboard.add_argument("--site", metavar="ID", help="the site (default: every site)")
    dashboard.add_argument(
        "--acknowledge",
        action="store_true",
        help="let this screen ask gateways to acknowledge alarms (they must allow it:"
        " [mqtt] remote_acknowledge = true); asks who you are first",
    )
    dashboard.add_argument(
        "--overview",
        action="store_true",
        help="open on the wards screen: every gateway and bed, each with its worst alarm",
    )
    dashboard.add_argument(
        "--config", type=Path, help="TOML: [mqtt] credentials, TLS, prefix; [dashboard] options"
    )
    dashboard.set_defaults(handler=_dashboard)

    simulate = commands.add_parser(
        "simulate",
        help="simulated bedside monitors for testing (see docs/simulators.md)",
    )
    simulate.add_argument("--beds", type=_positive_int, default=8, help="simulated beds (8)")
    where = simulate.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--to", metavar="mllp://HOST:PORT", help="HL7/MLLP: where the gateway listens"
    )
    where.add_argument(
        "--serial",
        metavar="KIND",
        help=(
            "serial devices on pseudo-terminals (masimo, nonin, ivy, hl7, ge-s5, medibus);"
            " prints each pty"
        ),
    )
    where.add_argument("--mqtt", metavar="mqtt://HOST[:PORT]", help="publish to this MQTT broker")
    simulate.add_argument(
        "--scenario", default="stable", metavar="NAME|FILE", help="built-in name or TOML (stable)"
    )
    simulate.add_argument("--seed", type=int, default=0, help="seed of the simulated patients")
    simulate.add_argument(
        "--period", type=float, default=1.0, metavar="S", help="seconds between messages (1)"
    )
    simulate.add_argument(
        "--waveforms", action="store_true", help="send ECG, pleth and respiration waves too"
    )
    simulate.add_argument(
        "--vendor-gateway", action="store_true", help="all beds over one MLLP connection"
    )
    where.add_argument(
        "--intellivue", type=_positive_int, metavar="N", help="N Philips IntelliVues over UDP"
    )
    simulate.add_argument(
        "--indication-to",
        default="127.0.0.1:24005",
        metavar="HOST:PORT",
        help="where IntelliVues send Connect Indications (127.0.0.1:24005)",
    )
    simulate.add_argument(
        "--demo-mode",
        action="store_true",
        help="IntelliVues or MQTT monitors in demo mode (data marked DEMO)",
    )
    simulate.set_defaults(handler=_simulate)

    export = commands.add_parser(
        "export", help="journal → CSV, JSON lines, HL7 batch or printable hourly flowsheet"
    )
    export.add_argument("--journal", type=Path, required=True, metavar="PATH")
    export.add_argument("--bed", help="one bed (its id, as in exports); default: all beds")
    export.add_argument("--since", metavar="T", help="ISO 8601 time, or relative: -2h, -30m")
    export.add_argument("--until", metavar="T", help="ISO 8601 time, or relative: -2h, -30m")
    export.add_argument("--format", required=True, choices=("csv", "jsonl", "hl7", "flowsheet"))
    export.add_argument("--out", type=Path, metavar="PATH", help="output file (default: stdout)")
    export.set_defaults(handler=_export)

    replay = commands.add_parser("replay", help="play a journal into the dashboard, as if live")
    replay.add_argument("--journal", type=Path, required=True, metavar="PATH")
    replay.add_argument(
        "--speed", type=_positive_float, default=1.0, metavar="X", help="times real time (1)"
    )
    replay.add_argument("--bed", help="one bed (its id); default: all beds")
    replay.add_argument("--since", metavar="T", help="start here: ISO 8601 or relative (-2h)")
    replay.add_argument("--until", metavar="T", help="stop here: ISO 8601 or relative (-2h)")
    replay.add_argument("--config", type=Path, help="ward name, timeouts and dashboard options")
    replay.set_defaults(handler=_replay)

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check_config)

    validate = commands.add_parser(
        "validate",
        help="conformance report for a captured HL7 message file (exit 0 conformant, "
        "1 not conformant, 2 unreadable)",
    )
    validate.add_argument("file", type=Path, help="a capture: one or more messages, MLLP or not")
    validate.set_defaults(handler=_validate)
    return parser


_MUTE_HELP = "no alarm sound (for testing); the screen says MUTED, alarms still show"


def _muted(config: GatewayConfig, mute: bool) -> GatewayConfig:
    if not mute:
        return config
    return dataclasses.replace(config, dashboard=dataclasses.replace(config.dashboard, mute=True))


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


LOG_MAX_BYTES = 10 << 20
LOG_BACKUPS = 5
"""The dashboard's log file rotates at 10 MiB and keeps 5 old files: at most 60 MiB, so a
flood of events can never fill the disk (repeated faults are summarised besides)."""


def _logging(args: argparse.Namespace, *, to_file: bool) -> None:
    level = logging.DEBUG if args.verbose else logging.INFO
    if to_file:
        # The dashboard owns the terminal; faults also show on screen.
        log_to_file(Path(DASHBOARD_LOG), level=level)
    else:
        logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_file(
    path: Path,
    *,
    level: int = logging.INFO,
    max_bytes: int = LOG_MAX_BYTES,
    backups: int = LOG_BACKUPS,
) -> logging.Handler:
    """Log to ``path``, rotated at ``max_bytes`` with ``backups`` old files kept
    (``path.1`` … ``path.N``): the log's size on disk is bounded by their sum."""
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    return handler


def _run(args: argparse.Namespace) -> int:
    from gateway.app.service import serve

    config = load_config(args.config) if args.config else default_config()
    if args.listen:
        config = _listen_on(config, args.listen)
    if args.journal:
        config = dataclasses.replace(config, journal=args.journal)
    config = _muted(config, args.mute)
    config = _with_mqtt(config, args.mqtt, ward=args.mqtt_ward, gateway=args.mqtt_gateway)
    _logging(args, to_file=not args.headless)
    asyncio.run(serve(config, dashboard=not args.headless, config_path=args.config))
    return 0


def _with_mqtt(
    config: GatewayConfig, url: str | None, *, ward: str | None = None, gateway: str | None = None
) -> GatewayConfig:
    """``config`` publishing to ``url`` (the rest of its ``[mqtt]`` kept), as ``ward`` /
    ``gateway`` when given."""
    from gateway.config.model import MqttConfig
    from gateway.mqtt.topics import LEVEL

    problems = [
        f"--mqtt-{name}: {value!r} is not allowed; expected lower-case letters, digits and -"
        for name, value in (("ward", ward), ("gateway", gateway))
        if value is not None and not LEVEL.fullmatch(value)
    ]
    mqtt = config.mqtt
    if url is not None:
        try:
            broker = parse_broker_url(url)
        except ValueError as error:
            problems.append(f"--mqtt: {error}")
        else:
            base = mqtt or MqttConfig(url, broker.host, broker.port, broker.tls)
            mqtt = dataclasses.replace(
                base, url=broker.url, host=broker.host, port=broker.port, tls=broker.tls
            )
    if problems:
        raise ConfigError(problems)
    if mqtt is None:
        if ward or gateway:
            raise ConfigError(["--mqtt-ward and --mqtt-gateway need --mqtt or [mqtt]"])
        return config
    mqtt = dataclasses.replace(mqtt, ward=ward or mqtt.ward, gateway=gateway or mqtt.gateway)
    return dataclasses.replace(config, mqtt=mqtt)


def _dashboard(args: argparse.Namespace) -> int:
    from gateway.app.remote import watch

    config = _with_mqtt(load_config(args.config) if args.config else default_config(), args.mqtt)
    assert config.mqtt is not None  # --mqtt is required
    _logging(args, to_file=True)
    asyncio.run(
        watch(
            config,
            site=args.site,
            wards=args.ward,
            overview=args.overview,
            acknowledge=args.acknowledge,
        )
    )
    return 0


def _listen_on(config: GatewayConfig, bind: str) -> GatewayConfig:
    try:
        host, port = parse_bind(bind)
    except ValueError as error:
        raise ConfigError([f"--listen: {error}"]) from None
    template = config.listeners[0]
    return dataclasses.replace(
        config, listeners=(dataclasses.replace(template, host=host, port=port),)
    )


def demo_split(beds: int) -> tuple[int, int, int]:
    """``demo --beds N``: (HL7, Philips IntelliVue, serial) beds, N in all. The other
    paths come in once there is room for them beside one HL7 bed."""
    if beds < DEMO_PHILIPS_BEDS + DEMO_SERIAL_BEDS + 1:
        return beds, 0, 0
    return beds - DEMO_PHILIPS_BEDS - DEMO_SERIAL_BEDS, DEMO_PHILIPS_BEDS, DEMO_SERIAL_BEDS


def _demo(args: argparse.Namespace) -> int:
    from gateway.app.service import serve
    from simulators.intellivue_emitter import run_udp
    from simulators.scenario import load_scenario
    from simulators.serial_emitter import run_serial, serial_devices
    from simulators.ward import SimulatedWard

    scenario = load_scenario("mixed-ward")
    hl7_beds, philips_beds, serial_beds = demo_split(args.beds)
    oximeters = []
    philips = []
    if serial_beds:
        # Philips IntelliVue monitors on the "switch" (loopback), found by their Connect
        # Indications as a real ward's would be; their own bed labels, their own patients.
        philips_port = _free_udp_port()
        philips = _demo_philips(args.seed + 2, scenario, philips_port, philips_beds)
        # Beds read over pseudo-terminals, bound as an engineer would: one whose oximeter
        # speaks Masimo ASCII, one with a GE S/5 monitor and a Dräger ventilator (MEDIBUS)
        # beside it — the serial path (USB-serial hub) runs in the demo too.
        oximeters = serial_devices("masimo", 1, args.seed + 1, scenario)
        oximeters += serial_devices("ge-s5", 1, args.seed + 2, scenario)
        oximeters += serial_devices("medibus", 1, args.seed + 3, scenario)
        oximeter_port, monitor_port, ventilator_port = (device.path for device in oximeters)
        serial_bed = _demo_serial_config(oximeter_port, monitor_port, ventilator_port, philips_port)
    else:
        serial_bed = parse_config("intellivue = []\n", "<demo>")  # nothing listens on 24005
    config = _listen_on(dataclasses.replace(serial_bed, name="DEMO WARD"), "127.0.0.1:0")
    config = _muted(config, args.mute)
    _logging(args, to_file=True)

    async def simulated_ward(port: int) -> None:
        for monitor in philips:
            await monitor.bind()
        async with asyncio.TaskGroup() as group:
            group.create_task(run_serial(oximeters))
            group.create_task(run_udp(philips))
            group.create_task(
                SimulatedWard(
                    "127.0.0.1",
                    port,
                    beds=hl7_beds,
                    seed=args.seed,
                    scenario=scenario,
                    waveforms=True,
                ).run()
            )

    # Simulated patients must never land in a real ward's journal: a throw-away one.
    try:
        with tempfile.TemporaryDirectory(prefix="icu-gateway-demo-") as scratch:
            config = dataclasses.replace(config, journal=Path(scratch) / "demo.sqlite")
            asyncio.run(
                serve(
                    config,
                    dashboard=True,
                    markers=("DEMO",),
                    companion=simulated_ward,
                    on_terminal_lost="stop",  # a demo nobody sees is not left running
                )
            )
    finally:
        for oximeter in oximeters:
            oximeter.close()
    return 0


def _demo_serial_config(
    oximeter: str, monitor: str, ventilator: str, philips_port: int
) -> GatewayConfig:
    """The zero-config gateway plus a bed with a serial oximeter on ``oximeter``, one with
    a GE S/5 monitor on ``monitor`` and a Dräger ventilator on ``ventilator``, listening
    for the demo's IntelliVue monitors on ``philips_port`` (loopback only)."""
    text = (
        f'[[intellivue]]\nlisten = "127.0.0.1:{philips_port}"\n'
        f'[[serial]]\nkind = "masimo"\nport = "{oximeter}"\nbed = "demo-serial"\n'
        # A pseudo-terminal carries no parity bit nor handshake lines (Linux refuses to set
        # even parity on one a second time): the simulated GE and Dräger lines are 8N1.
        f'[[serial]]\nkind = "ge-s5"\nport = "{monitor}"\nbed = "demo-ge"\n'
        'parity = "none"\nflow_control = "none"\n'
        f'[[serial]]\nkind = "medibus"\nport = "{ventilator}"\nbed = "demo-ge"\n'
        'parity = "none"\n'
        '[[beds]]\nid = "demo-serial"\nlabel = "Oximeter (serial)"\n'
        '[[beds]]\nid = "demo-ge"\nlabel = "GE + ventilator (serial)"\n'
    )
    return parse_config(text, "<demo>")


DEMO_PHILIPS_BEDS = 4
DEMO_SERIAL_BEDS = 2
DEMO_BEDS = 14
"""8 HL7 beds, 4 Philips IntelliVue, 2 serial (an oximeter; a GE monitor with a ventilator)."""


def _intellivue_source(spec: IntellivueConfig) -> str:
    if spec.listen is not None:
        return f"listening on UDP {spec.listen[0]}:{spec.listen[1]}"
    if spec.monitor is not None:
        return f"monitor {spec.monitor[0]}:{spec.monitor[1]}"
    return f"MIB port {spec.port}"


def _demo_philips(
    seed: int, scenario: WardScenario, port: int, count: int = DEMO_PHILIPS_BEDS
) -> list[IntellivueUdpMonitor]:
    """The demo's IntelliVue monitors, announcing themselves to ``127.0.0.1:port``, with
    bed labels of their own (``Philips 21`` …) beside the HL7 beds ``ICU n-1``."""
    from simulators.intellivue_emitter import udp_monitors

    philips = udp_monitors(count, seed, scenario, indication_to=("127.0.0.1", port))
    for number, monitor in enumerate(philips, start=21):
        identity = monitor.monitor.identity
        monitor.monitor.identity = dataclasses.replace(identity, bed_label=f"Philips {number}")
    return philips


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _simulate(args: argparse.Namespace) -> int:
    from simulators import launch

    simulation = launch.Simulation(
        beds=args.beds,
        seed=args.seed,
        period_s=args.period,
        scenario=args.scenario,
        to=args.to,
        serial=args.serial,
        mqtt=args.mqtt,
        waveforms=args.waveforms,
        vendor_gateway=args.vendor_gateway,
        intellivue=args.intellivue or 0,
        indication_to=args.indication_to,
        demo_mode=args.demo_mode,
    )
    launch.check(simulation)  # bad options: exit 2 with every reason, before any logging
    _logging(args, to_file=False)
    with contextlib.suppress(KeyboardInterrupt):
        launch.run(simulation)
    return 0


def _when(option: str, text: str | None, now_ns: int) -> int | None:
    from gateway.journal.export import parse_when

    if text is None:
        return None
    try:
        return parse_when(text, now_ns)
    except ValueError as error:
        raise ConfigError([f"{option}: {error}"]) from None


def _export(args: argparse.Namespace) -> int:
    from gateway.app.export import UnknownBed, check_selection, export
    from gateway.domain import BedId
    from gateway.journal.export import Selection
    from gateway.journal.reader import JournalReader

    now = time.time_ns()
    selection = Selection(
        BedId(args.bed) if args.bed else None,
        _when("--since", args.since, now),
        _when("--until", args.until, now),
    )
    _logging(args, to_file=False)
    with JournalReader(args.journal) as reader:
        try:
            check_selection(reader, selection)  # before --out is created: never an empty file
        except UnknownBed as error:
            print(f"icu-gateway export: --bed: {error}", file=sys.stderr)
            return 2
        if args.out is None:
            count = export(reader, sys.stdout, args.format, selection)
        else:
            with args.out.open("w", encoding="utf-8", newline="") as out:
                count = export(reader, out, args.format, selection)
    what = {"csv": "observation", "jsonl": "observation", "hl7": "message"}
    word = what.get(args.format, "flowsheet page")
    print(f"exported {plural(count, word)}", file=sys.stderr)
    return 0


def _replay(args: argparse.Namespace) -> int:
    from gateway.app.replay import replay
    from gateway.domain import BedId

    config = load_config(args.config) if args.config else default_config()
    now = time.time_ns()
    since, until = _when("--since", args.since, now), _when("--until", args.until, now)
    _logging(args, to_file=True)
    asyncio.run(
        replay(
            args.journal,
            speed=args.speed,
            bed=BedId(args.bed) if args.bed else None,
            since_ns=since,
            until_ns=until,
            title=config.name,
            stale_timeout_s=config.stale_timeout_s,
            lost_after_s=config.lost_after_s,
            refresh_hz=config.dashboard.refresh_hz,
            columns=config.dashboard.columns,
        )
    )
    return 0


def _check_config(args: argparse.Namespace) -> int:
    problems = check_config(args.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    config = load_config(args.file)
    from gateway.mqtt.credentials import credentials_for

    for mqtt in (config.mqtt, config.mqtt_ingest):
        if mqtt is None:
            continue
        try:
            credentials_for(mqtt)  # the files it names, readable and well formed
        except ConfigError as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            return 2
    print(
        f"{args.file}: valid — ward {config.name!r}, {plural(len(config.beds), 'bed')}, "
        f"{plural(len(config.listeners), 'listener')}, "
        f"{plural(len(config.serial), 'serial port')}"
    )
    if config.intellivue:
        print(f"intellivue: {', '.join(_intellivue_source(spec) for spec in config.intellivue)}")
    limits = config.admission
    automatic = (
        f"at most {plural(limits.max_auto_beds, 'automatic bed')}, " if config.auto_beds else ""
    )
    print(
        f"admission: {automatic}{plural(limits.max_devices, 'device')},"
        f" {limits.new_identities_per_minute} new beds/devices a minute per peer"
    )
    if config.mqtt is not None:
        brokers = ", ".join(broker.url for broker in config.mqtt.brokers)
        print(
            f"mqtt: publishing under {config.mqtt.topic_prefix}/{config.mqtt.site}/… to {brokers}"
        )
    if config.mqtt_ingest is not None:
        brokers = ", ".join(broker.url for broker in config.mqtt_ingest.brokers)
        print(f"mqtt ingest: reading {config.mqtt_ingest.topic_filter} from {brokers}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from adapters.hl7.validate import UnreadableCapture, render, validate_file

    try:
        report = validate_file(args.file)
    except UnreadableCapture as error:
        print(f"icu-gateway: {error}", file=sys.stderr)
        return 2
    print(render(report), end="")
    return 0 if report.conformant else 1


if __name__ == "__main__":
    sys.exit(main())

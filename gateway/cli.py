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
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from gateway import __version__
from gateway.config import GatewayConfig, check_config, default_config, load_config, parse_bind
from gateway.errors import ConfigError, GatewayError

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
    demo.add_argument("--beds", type=_positive_int, default=8, help="simulated beds (8)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the simulated patients")
    demo.set_defaults(handler=_demo)

    run = commands.add_parser("run", help="run the gateway (dashboard, or --headless service)")
    run.add_argument("--config", type=Path, help="TOML configuration (default: zero-config)")
    run.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="listen for HL7/MLLP here instead of the configured listeners (0.0.0.0:2575)",
    )
    run.add_argument(
        "--headless", action="store_true", help="no dashboard; log to stderr; stop on SIGTERM"
    )
    run.set_defaults(handler=_run)

    simulate = commands.add_parser("simulate", help="simulated bedside monitors for testing")
    simulate.add_argument("--beds", type=_positive_int, default=8, help="simulated beds (8)")
    simulate.add_argument(
        "--to", required=True, metavar="mllp://HOST:PORT", help="where the gateway listens"
    )
    simulate.add_argument("--seed", type=int, default=0, help="seed of the simulated patients")
    simulate.add_argument(
        "--period", type=float, default=1.0, metavar="S", help="seconds between messages (1)"
    )
    simulate.set_defaults(handler=_simulate)

    check = commands.add_parser("check-config", help="validate a configuration file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=_check_config)
    return parser


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _logging(args: argparse.Namespace, *, to_file: bool) -> None:
    level = logging.DEBUG if args.verbose else logging.INFO
    fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    if to_file:
        # The dashboard owns the terminal; faults also show on screen.
        logging.basicConfig(filename=DASHBOARD_LOG, level=level, format=fmt)
    else:
        logging.basicConfig(stream=sys.stderr, level=level, format=fmt)


def _run(args: argparse.Namespace) -> int:
    from gateway.service import serve

    config = load_config(args.config) if args.config else default_config()
    if args.listen:
        config = _listen_on(config, args.listen)
    _logging(args, to_file=not args.headless)
    asyncio.run(serve(config, dashboard=not args.headless))
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


def _demo(args: argparse.Namespace) -> int:
    from gateway.service import serve
    from simulators.ward import SimulatedWard

    config = _listen_on(dataclasses.replace(default_config(), name="DEMO WARD"), "127.0.0.1:0")
    _logging(args, to_file=True)

    async def simulated_ward(port: int) -> None:
        await SimulatedWard("127.0.0.1", port, beds=args.beds, seed=args.seed).run()

    asyncio.run(serve(config, dashboard=True, markers=("DEMO",), companion=simulated_ward))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from simulators.ward import SimulatedWard

    target = urlsplit(args.to)
    if target.scheme != "mllp" or not target.hostname or target.port is None:
        print("icu-gateway: --to must look like mllp://HOST:PORT", file=sys.stderr)
        return 2
    _logging(args, to_file=False)
    ward = SimulatedWard(
        target.hostname, target.port, beds=args.beds, seed=args.seed, period_s=args.period
    )
    log.info("simulating %d beds → %s (Ctrl-C stops)", args.beds, args.to)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(ward.run())
    return 0


def _check_config(args: argparse.Namespace) -> int:
    problems = check_config(args.file)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 2
    config = load_config(args.file)
    print(
        f"{args.file}: valid — ward {config.name!r}, {len(config.beds)} beds, "
        f"{len(config.listeners)} listeners, {len(config.serial)} serial ports"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

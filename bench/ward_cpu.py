"""CPU per process at 64 beds with waves: the gateway headless, and with its dashboard.

``python -m bench ward_cpu`` (``python -m bench.ward_cpu [--rounds 2] [--warm 20]
[--seconds 40] [--scenario stable]``): a real gateway fed by ``icu-gateway simulate --beds
64 --waveforms`` over MLLP, in rounds of two runs each, one after the other:

* ``icu-gateway run --headless`` (:func:`bench.programs.gateway`);
* ``icu-gateway run`` with its dashboard on a 200×60 pseudo-terminal, someone signed in
  (:func:`bench.programs.dashboard`): the ward screen, 64 tiles with their wave strips.

Each run is warmed for ``--warm`` seconds (every bed has spoken, the screen is built), then
each process's user + system time is read from /proc over ``--seconds``. The dashboard
shares the gateway's process and event loop, so **its share is the gateway's with the
dashboard less the headless gateway's of the same round**. The simulator's share is printed
beside them: its work is the same in every run, and this machine's speed moves every figure
by a third from one hour to the next, so each share is also given as a multiple of it.

``--scenario mixed-ward`` plays the demo's ward instead of stable patients: within the
first minute, alarms flashing on some tiles, a stale and a lost bed on others (one bed in
eight is lost, so the ward sends less).

Budget (DESIGN.md, issue #18): gateway + writer ≤ 25 % of one core, dashboard ≤ 20 %.
``python -m bench dashboard`` measures the dashboard alone, in-process, tick and paint.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

from bench import programs
from bench.programs import cpu_s, writer_of

BEDS = 64
SIZE = (200, 60)
GATEWAY_BUDGET = 25.0
DASHBOARD_BUDGET = 20.0


@dataclass(frozen=True)
class Shares:
    """One run's share of one core, per process."""

    gateway: float
    writer: float
    simulator: float


def run(*, dashboard: bool, warm_s: float, seconds: float, scenario: str) -> Shares:
    folder = Path(tempfile.mkdtemp(prefix="bench-ward-cpu-", dir=Path.cwd()))
    journal = folder / "journal.sqlite"
    port = programs.free_port()
    args = ("--listen", f"127.0.0.1:{port}", "--journal", str(journal))
    started: AbstractContextManager[Popen[bytes]] = (
        programs.dashboard(folder, *args, port=port, size=SIZE)
        if dashboard
        else programs.gateway(folder, *args, log=folder / "gateway.log", port=port)
    )
    to = f"mllp://127.0.0.1:{port}"
    beds = ("--beds", str(BEDS), "--waveforms", "--scenario", scenario, "--to", to)
    try:
        with started as gateway, programs.simulator(*beds) as simulator:
            time.sleep(warm_s)
            pids = (gateway.pid, writer_of(journal), simulator.pid)
            before, start = [cpu_s(pid) for pid in pids], time.monotonic()
            time.sleep(seconds)
            after, wall = [cpu_s(pid) for pid in pids], time.monotonic() - start
            if gateway.poll() is not None:
                raise RuntimeError(f"the gateway stopped during the run ({gateway.returncode})")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    shares = [100 * (b - a) / wall for a, b in zip(before, after, strict=True)]
    return Shares(*shares)


def _line(name: str, shares: Shares) -> str:
    ratio = shares.gateway / shares.simulator if shares.simulator else float("nan")
    return (
        f"  {name:<22} gateway {shares.gateway:5.1f} % ({ratio:4.2f}× sim)"
        f"  writer {shares.writer:5.1f} %  simulator {shares.simulator:5.1f} %"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ward_cpu")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--warm", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--seconds", type=float, default=40.0, help="seconds measured")
    parser.add_argument("--scenario", default="stable", help="the simulator's ward scenario")
    args = parser.parse_args([] if argv is None else argv)
    print(
        f"\n== ward CPU: {BEDS} beds with waves (icu-gateway simulate, {args.scenario}),"
        f" per process, headless and with the dashboard at {SIZE[0]}×{SIZE[1]};"
        f" {args.rounds} rounds of {args.warm:g} s warm-up + {args.seconds:g} s"
    )
    totals: list[float] = []
    dashboards: list[float] = []
    relative: list[float] = []
    for number in range(1, args.rounds + 1):
        timing = {"warm_s": args.warm, "seconds": args.seconds, "scenario": args.scenario}
        headless = run(dashboard=False, **timing)
        shown = run(dashboard=True, **timing)
        dashboard = shown.gateway - headless.gateway
        sim = statistics.mean((headless.simulator, shown.simulator))
        totals.append(headless.gateway + headless.writer)
        dashboards.append(dashboard)
        relative.append(dashboard / sim if sim else float("nan"))
        print(f"round {number}")
        print(_line("headless", headless))
        print(_line("with its dashboard", shown))
        print(
            f"  gateway + writer {totals[-1]:5.1f} %   dashboard {dashboard:5.1f} %"
            f" ({relative[-1]:4.2f}× the simulator)",
            flush=True,
        )
    print(
        f"ward CPU: gateway + writer {min(totals):.1f}–{max(totals):.1f} %"
        f" (budget ≤ {GATEWAY_BUDGET:g} %), dashboard {min(dashboards):.1f}–{max(dashboards):.1f} %"
        f" (budget ≤ {DASHBOARD_BUDGET:g} %; {min(relative):.2f}–{max(relative):.2f}× the"
        " simulator's share)"
    )


if __name__ == "__main__":
    main(sys.argv[1:])

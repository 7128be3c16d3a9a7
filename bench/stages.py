"""Where the gateway's CPU goes per message: each stage of the ingest path timed alone.

``python -m bench stages [--repeat N]``: for the bench's two messages of a bed-second
(``bench/disk.py``'s load: a numerics ORU with 7 values, and a message with ECG 250 Hz,
pleth 125 Hz and respiration 62.5 Hz), 64 beds of each, every stage run ``N`` times over
them in this process, by its CPU time (``time.process_time``):

- framing: ``MllpFramer.feed`` of the framed bytes;
- parse: ``er7.parse``;
- decode: ``pcd.decode_message`` (waveform samples from their text included);
- screen + route: plausibility screen, routing, the bed-conflict placement (``Hub.submit``
  before the alarms);
- alarm engine: ``AlarmEngine.observe`` of the routed reports;
- ward: ``WardState.apply`` (latest values, trend staging, wave buffers);
- journal encode: the writer job made on the event loop (``gateway.journal.encode``);
- ACK: the acknowledgement built (``acknowledgements``).

What is not here: the event loop and its system calls (reading the socket, writing the ACK
and the writer's pipe, waking the connection's task), the alarm timer, and the writer
process — ``python -m bench memory`` gives each process's share of a core with a real
gateway at 64 beds, against which the sum of these stages can be set.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

BEDS = 64


def _per_message(run: Callable[[int], None], count: int) -> float:
    """CPU µs per call of ``run``'s body, ``count`` calls."""
    started = time.process_time()
    run(count)
    return (time.process_time() - started) / count * 1e6


def measure(repeat: int) -> dict[str, dict[str, float]]:
    """CPU µs per message of each stage, for each of the two messages."""
    from bench import disk

    kinds: dict[str, list[bytes]] = {"numerics ORU": [], "wave message": []}
    for bed in range(1, BEDS + 1):
        for kind, (raw, _) in zip(kinds, disk._bench_waves(bed, 0), strict=True):
            kinds[kind].append(raw)
    return {kind: _stages(raws, repeat) for kind, raws in kinds.items()}


def _stages(raws: list[bytes], repeat: int) -> dict[str, float]:
    from adapters.hl7 import er7, pcd
    from adapters.hl7.ack import Outcome as AckOutcome
    from adapters.hl7.ack import acknowledgements
    from adapters.hl7.mllp import MllpFramer
    from gateway import plausibility
    from gateway.domain import ReceivedMessage
    from gateway.hub import Hub
    from gateway.journal.encode import _prepare
    from gateway.journal.records import Outcome, RoutedReport
    from gateway.ward.routing import REFUSED, Router
    from gateway.ward.state import WardState

    stages: dict[str, float] = {}
    framed = [b"\x0b" + raw + b"\x1c\x0d" for raw in raws]
    framer = MllpFramer(1 << 20)
    parsed = [er7.parse(raw) for raw in raws]
    now = time.time_ns()
    decoded = [
        pcd.decode_message(m, transport="mllp", peer="p", receive_time_ns=now).reports
        for m in parsed
    ]
    hub = Hub(WardState(), Router())
    clock = hub.clock
    routed = []
    for reports in decoded:
        items = []
        for report in reports:
            bound = hub.router.route(report)
            assert bound is not None and bound is not REFUSED
            items.append(RoutedReport(report, bound.bed, bound.label))
        routed.append(items)
    received = [
        ReceivedMessage(raw, "mllp", "p", now, m.control_id, reports[0].device)
        for raw, m, reports in zip(raws, parsed, decoded, strict=True)
    ]

    def framing(n: int) -> None:
        for i in range(n):
            framer.feed(framed[i % BEDS])

    def parse(n: int) -> None:
        for i in range(n):
            er7.parse(raws[i % BEDS])

    def decode(n: int) -> None:
        for i in range(n):
            message = parsed[i % BEDS]
            pcd.require_observation_report(message)
            pcd.decode_message(message, transport="mllp", peer="p", receive_time_ns=now)

    def route(n: int) -> None:
        for i in range(n):
            seen = clock.monotonic_ns()
            for sent in decoded[i % BEDS]:
                report, _ = plausibility.screen(sent)
                found = hub.router.route(report)
                if found is not None and found is not REFUSED:
                    hub.conflicts.place(found, report, seen)

    def alarms(n: int) -> None:
        for i in range(n):
            hub._observe(routed[i % BEDS], clock.monotonic_ns())

    def ward(n: int) -> None:
        for i in range(n):
            seen = clock.monotonic_ns()
            hub.apply(routed[i % BEDS], alarms=False, seen_ns=seen, placed=True)

    def encode(n: int) -> None:
        for i in range(n):
            _prepare(i, received[i % BEDS], routed[i % BEDS], Outcome.ACCEPTED, None)

    def ack(n: int) -> None:
        for i in range(n):
            acknowledgements(parsed[i % BEDS], AckOutcome.ACCEPTED)

    for name, run in (
        ("framing", framing),
        ("parse", parse),
        ("decode", decode),
        ("screen + route", route),
        ("alarm engine", alarms),
        ("ward", ward),
        ("journal encode", encode),
        ("ACK", ack),
    ):
        run(BEDS)  # warm: the caches and the beds made
        stages[name] = _per_message(run, repeat)
    return stages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench stages")
    parser.add_argument("--repeat", type=int, default=5000, help="calls per stage")
    args = parser.parse_args([] if argv is None else argv)
    results = measure(args.repeat)
    names = list(next(iter(results.values())))
    print(f"\n== stages: CPU µs per message on the gateway's loop, {BEDS} beds, bench waves")
    print(f"{'stage':16}" + "".join(f"{kind:>15}" for kind in results))
    for name in names:
        print(f"{name:16}" + "".join(f"{stages[name]:15.1f}" for stages in results.values()))
    print(f"{'sum':16}" + "".join(f"{sum(s.values()):15.1f}" for s in results.values()))


if __name__ == "__main__":
    main(sys.argv[1:])

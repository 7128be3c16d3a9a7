"""The gateway core's share of the ingest path: ``Hub.submit`` on decoded reports.

What the hub does for each message once the adapter has decoded it — routing, the alarm
engine's ``observe``, the ward state's ``apply`` (latest values, trends) — with no parsing,
no socket and no journal, so the figure is the core's alone. The load is the one the MLLP
benchmarks send (``bench.load.ORU``: one report, 7 numerics), from 16 beds, one message per
bed per second of gateway time, decoded beforehand with ``adapters.hl7.pcd``. Every repeat
starts from a fresh hub and times the steady state: the first second (beds, channels and
trend buffers created) is fed untimed, and the run is long enough (1,024 s) for every trend
to fold its staged values in at least once. Best of several repeats, on process time (see
:func:`bench.parse.rate`).

``python -m bench.hub [BEDS] [ROUNDS] [REPEATS]``
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Sequence

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import DeviceReport, ReceivedMessage
from gateway.hub import Hub

PEER = "127.0.0.1:4000"
Message = tuple[ReceivedMessage, tuple[DeviceReport, ...]]


def decoded_messages(beds: int, rounds: int, start_ns: int) -> list[Message]:
    """Decoded messages, one per bed per second, as the listener hands them to the hub."""
    from adapters.hl7 import er7, pcd
    from bench.load import ORU

    messages = []
    for second in range(rounds):
        for bed in range(beds):
            data = ORU.format(eui=f"{bed + 1:016X}", id=f"{bed}-{second}", bed=bed + 1).encode()
            # The device's own time moves on too, as a real monitor's does: a re-sent
            # measurement time would keep the value out of the trend.
            stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(start_ns // NS_PER_S + second))
            data = data.replace(b"20240101120000", stamp.encode())
            now = start_ns + second * NS_PER_S + bed * 1000
            message = er7.parse(data)
            decoded = pcd.decode_message(message, transport="mllp", peer=PEER, receive_time_ns=now)
            received = ReceivedMessage(data, "mllp", PEER, now, message.control_id)
            messages.append((received, decoded.reports))
    return messages


def run(beds: int = 16, rounds: int = 1025, repeats: int = 5) -> float:
    """Best µs per message through ``Hub.submit`` over ``repeats`` fresh hubs, after the
    first of ``rounds`` seconds."""
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    start_ns = 1_700_000_000 * NS_PER_S
    messages = decoded_messages(beds, rounds, start_ns)
    warm, timed = messages[:beds], messages[beds:]
    best = float("inf")
    for _ in range(repeats):
        hub = Hub(WardState(), Router(), ManualClock(start_ns))
        feed(hub, warm)
        gc.collect()
        began = time.process_time()
        feed(hub, timed)
        best = min(best, (time.process_time() - began) / len(timed))
    return best * 1e6


def feed(hub: Hub, messages: Sequence[Message]) -> None:
    """Each message through ``hub.submit``, driven by hand (no event loop to measure)."""
    submit = hub.submit
    for received, reports in messages:
        coroutine = submit(received, reports)
        try:
            coroutine.send(None)
        except StopIteration:
            continue
        coroutine.close()
        raise RuntimeError("hub.submit waited: this benchmark takes a hub without a journal")


def main(argv: list[str] | None = None) -> None:
    args = [int(a) for a in (sys.argv[1:] if argv is None else argv)]
    beds, rounds, repeats = (args + [16, 1025, 5][len(args) :])[:3]
    per_message = run(beds, rounds, repeats)
    print(
        f"\n== hub.submit: {beds} beds x {rounds - 1} s (after 1 s untimed), ORU 7 numerics,"
        f" no journal, best of {repeats}"
    )
    print(f"{per_message:.2f} µs/message  ({1e6 / per_message:,.0f} messages/s)")


if __name__ == "__main__":
    main()

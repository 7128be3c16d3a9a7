"""``python -m bench [NAME ...]``: run the benchmarks and print their figures."""

from __future__ import annotations

import sys
from collections.abc import Callable

from bench import (
    admission,
    alarm_delay,
    dashboard,
    disk,
    hub,
    ingest,
    intellivue,
    journal,
    memory,
    mqtt,
    parse,
    restart,
    simulators,
    slow_attack,
    stages,
    ward_cpu,
)

BENCHMARKS: dict[str, Callable[[], object]] = {
    "parse": parse.main,
    "hub": lambda: hub.main([]),
    "ingest": ingest.main,
    "stages": lambda: stages.main([]),
    "simulators": simulators.main,
    "journal": journal.main,
    "disk": lambda: disk.main([]),
    "dashboard": dashboard.main,
    "alarm_delay": alarm_delay.main,
    "admission": admission.main,
    "memory": memory.main,
    "ward_cpu": lambda: ward_cpu.main([]),
    "restart": lambda: restart.main([]),
    "slow_attack": slow_attack.main,
    "intellivue": lambda: intellivue.main([]),
    "mqtt": lambda: mqtt.main([]),
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    for name in names:
        if name not in BENCHMARKS:
            print(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
            return 2
    for name in names:
        BENCHMARKS[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

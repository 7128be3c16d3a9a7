"""ORU^R01 parsing throughput: our ER7 parser (+ IHE PCD decode) vs python-hl7 vs hl7apy.

Same message for all (the IHE PCD TF-2 Philips PCD-01 sample, 21 segments), one core,
best of several rounds. DESIGN.md target: ≥ 50,000 messages/s for our parser.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

SAMPLE = Path(__file__).parent.parent / "tests/fixtures/hl7"


def _sample() -> bytes:
    path = next(SAMPLE.glob("01_*.hl7"))
    data = path.read_bytes()
    while data.startswith(b"#"):
        data = data.split(b"\n", 1)[1]
    return data


def rate(fn: Callable[[], object], seconds: float = 1.0, rounds: int = 3) -> float:
    """Calls per second, best of ``rounds`` timed runs of about ``seconds`` each."""
    n = 1
    while True:  # calibrate
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start > 0.1:
            break
        n *= 2
    per_round = max(1, int(n * seconds / 0.1 / 2))
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(per_round):
            fn()
        best = max(best, per_round / (time.perf_counter() - start))
    return best


def main() -> None:
    from adapters.hl7 import er7, pcd

    data = _sample()
    text = data.decode("latin-1")
    results: dict[str, float] = {}
    results["icu-gateway er7.parse"] = rate(lambda: er7.parse(data))
    results["icu-gateway parse+decode"] = rate(
        lambda: pcd.decode(er7.parse(data), transport="b", peer="b", receive_time_ns=0)
    )
    try:
        import hl7

        results["python-hl7 hl7.parse"] = rate(lambda: hl7.parse(text))
    except ImportError:
        print("python-hl7 not installed: pip install -e '.[bench]'")
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    results["hl7apy parse_message"] = rate(
        lambda: parse_message(text, validation_level=VALIDATION_LEVEL.QUIET), seconds=0.5, rounds=1
    )
    ours = results["icu-gateway er7.parse"]
    print("\n== parse: ORU^R01, 21 segments (IHE PCD TF-2 E.1.1 sample), one core")
    print(f"{'parser':32} {'msg/s':>10} {'µs/msg':>9} {'ours ×':>8}")
    for name, value in results.items():
        print(f"{name:32} {value:10.0f} {1e6 / value:9.1f} {ours / value:8.1f}")
    print("target: ≥ 50,000 msg/s for er7.parse")

"""IntelliVue Data Export: decode rate of poll results, and the gateway reading 32 monitors.

1. **Decode rate** — one numerics poll reply (HR, PR, SpO2, PI, NIBP, RR, Temp, ABP: what
   the simulated monitor sends each second) and one wave reply (ECG II 500 Hz, Pleth and
   ABP 125 Hz, Resp 62.5 Hz: 256 ms of samples, the scales cached), each through the
   client's ``Session.receive`` (decode + mapping to observations / scaled waves), on one
   core, best of several rounds.
2. **CPU at 32 monitors** — a real ``icu-gateway run --headless`` listening for IntelliVue
   monitors on a loopback port (journal on disk), fed by ``icu-gateway simulate
   --intellivue 32`` (numerics every second, 3 or 4 waves, alarms) in its own process; the
   gateway's and its journal writer's CPU (utime + stime from /proc) over the last
   ``--seconds`` once every monitor is read.

``python -m bench intellivue``; ``python -m bench.intellivue --seconds N`` for a longer run.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import socket
import tempfile
import time
from pathlib import Path

from bench import programs
from bench.parse import rate
from bench.programs import cpu_s, writer_of

MONITORS = 32
DEFAULT_SECONDS = 30.0
NS = 1_000_000_000


def _replies() -> tuple[object, bytes, bytes]:
    """An associated client session and one numerics and one wave reply from the simulator."""
    from adapters.intellivue import ids, pdu
    from adapters.intellivue.session import Session
    from simulators.intellivue import build_intellivues
    from simulators.scenario import load_scenario

    (monitor,) = build_intellivues(1, 3, load_scenario("stable"), started_s=0.0)
    session = Session(transport="udp", peer="127.0.0.1:24105")
    now = 0.0
    replies = monitor.receive(session.start(0)[0], now)
    for reply in replies:
        for request in session.receive(reply, 0, 0).send:
            replies += monitor.receive(request, now)
    numerics = waves = b""
    while not (numerics and waves):
        now += 0.032
        for reply in monitor.tick(now) + replies:
            message = pdu.decode(reply)
            if isinstance(message, pdu.PollReply) and message.sequence_no > 0:
                if message.obj_class == ids.MOC_NU:
                    numerics = reply
                elif message.obj_class == ids.MOC_SA_RT:
                    waves = reply
            session.receive(reply, 0, 0)  # statics cached, as in a running association
        replies = []
    return session, numerics, waves


def decode_rates() -> None:
    session, numerics, waves = _replies()
    receive = session.receive  # type: ignore[attr-defined]
    n_rate = rate(lambda: receive(numerics, 0, 0))
    w_rate = rate(lambda: receive(waves, 0, 0))
    (report,) = receive(waves, 0, 0).reports
    samples = sum(len(chunk.samples) for chunk in report.waveforms)
    (numeric_report,) = receive(numerics, 0, 0).reports
    print(
        f"intellivue: decode + map, one core: numerics reply ({len(numerics)} B,"
        f" {len(numeric_report.observations)} values) {n_rate:,.0f}/s"
        f" ({1e6 / n_rate:.1f} µs); wave reply ({len(waves)} B, {len(report.waveforms)} waves,"
        f" {samples} samples incl. 128 of ECG 500 Hz) {w_rate:,.0f}/s ({1e6 / w_rate:.1f} µs)"
        f" = {w_rate * samples / 1e6:.1f} M samples/s"
    )


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _beds_read(folder: Path) -> int:
    """Monitors whose association completed, from the gateway's log."""
    with contextlib.suppress(OSError):
        return (folder / "gateway.log").read_text().count("reading IntelliVue Data Export")
    return 0


def cpu_at_32(seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-intellivue-", dir=Path.cwd()))
    journal = folder / "journal.sqlite"
    port = _free_udp_port()
    (folder / "ward.toml").write_text(
        f'[[intellivue]]\nlisten = "127.0.0.1:{port}"\n[[listeners]]\nbind = "127.0.0.1:0"\n'
    )
    config = ("--config", "ward.toml", "--journal", str(journal))
    monitors = ("--intellivue", str(MONITORS), "--indication-to", f"127.0.0.1:{port}")
    with programs.gateway(folder, *config, log=folder / "gateway.log") as gateway:
        time.sleep(2.0)
        with programs.simulator(*monitors) as simulator:
            deadline = time.monotonic() + 60
            while _beds_read(folder) < MONITORS and time.monotonic() < deadline:
                time.sleep(0.5)
            read = _beds_read(folder)
            time.sleep(5.0)  # past the association burst
            writer = writer_of(journal)
            start = time.monotonic()
            g0, w0, s0 = cpu_s(gateway.pid), cpu_s(writer), cpu_s(simulator.pid)
            time.sleep(seconds)
            wall = time.monotonic() - start
            g1, w1, s1 = cpu_s(gateway.pid), cpu_s(writer), cpu_s(simulator.pid)
    size = sum(p.stat().st_size for p in folder.iterdir() if p.name.startswith(journal.name))
    shutil.rmtree(folder, ignore_errors=True)
    print(
        f"intellivue: {read}/{MONITORS} simulated monitors read over UDP (numerics, 3-4 waves,"
        f" alarms), {wall:.0f} s: gateway {100 * (g1 - g0) / wall:.0f} % of a core, journal"
        f" writer {100 * (w1 - w0) / wall:.0f} % (simulator {100 * (s1 - s0) / wall:.0f} %);"
        f" journal {size / 2**20:.1f} MiB"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.intellivue")
    parser.add_argument("--seconds", type=float, default=DEFAULT_SECONDS)
    args = parser.parse_args(argv)
    decode_rates()
    cpu_at_32(args.seconds)


if __name__ == "__main__":
    main()

"""MQTT: what publishing to remote screens costs the ward, and how late a remote screen is.

1. **Ingest ACK with MQTT off and on.** The gateway in this process as ``run`` wires it
   (MLLP listener → hub → journal, ACK after the commit; the alarm timer; with MQTT, the
   publisher to a real Mosquitto), 16 monitors in a child process paced to 1,000 msg/s
   together (``bench.load``). ACK p50/p99 with MQTT off and on (twice each, interleaved,
   so a noisy minute costs both), then on with the broker killed and with it frozen
   (SIGSTOP). Target (issue #17): no measurable change.
2. **Publisher CPU at 64 beds with 3 waves.** ``icu-gateway run --headless`` fed by
   ``icu-gateway simulate --beds 64 --waveforms`` (ECG, pleth, respiration per bed), both
   subprocesses: CPU of the gateway process and of its journal writer over
   :data:`CPU_SECONDS`, MQTT off and on (twice each, interleaved); what the broker carried
   per bed (messages and bytes a second, counted by a subscriber here).
3. **Device → remote screen latency at 64 beds.** A gateway subprocess
   (``[alarms] condition_delay_s = 0``, so the figure is the path, not the alarm delay)
   publishing to Mosquitto; 64 monitors here, each sending an ORU once a second with a new
   heart rate; a remote screen's ward (:class:`~gateway.mqtt.screen_link.ScreenLink` and
   :class:`~gateway.mqtt.remote_ward.RemoteWard`) here. Numerics: from the send to the
   first arrival of that value on the screen (the gateway publishes each bed's numerics
   once a second, so about half a second is the wait for the next tick). Alarms: each bed
   sends one heart rate of 180 (over the default high limit); from that send to the
   arrival of the bed's active alarm.

Needs ``mosquitto`` (``apt-get install mosquitto``); without it this benchmark says so and
stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from bench import programs
from bench.load import CONNECTIONS, ORU, SECONDS, WARM_UP_SECONDS, measure, percentile
from bench.programs import cpu_s, free_port, wait_listening, writer_of
from gateway.mqtt.client import Broker
from gateway.mqtt.remote_ward import RemoteWard

PACED_RATE = 1000.0
BEDS = 64
CPU_SECONDS = 20.0
CPU_WARM_UP_S = 8.0
LATENCY_SECONDS = 24.0
ALARM_HR = 180
HR_CODE = 147842


def _mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None,
    )


class Mosquitto:
    """A Mosquitto on a free loopback port that can be killed, frozen and started again on
    that port."""

    def __init__(self, binary: str, folder: Path) -> None:
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        self.config = folder / f"mosquitto-{self.port}.conf"
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.binary = binary
        self.process = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        self.process = subprocess.Popen(
            [self.binary, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(self.port, self.process)
        return self.process

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
        self.process.wait()


@contextlib.contextmanager
def mosquitto(binary: str, folder: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(binary, folder)
    try:
        yield broker
    finally:
        broker.stop()


# --------------------------------------------------------------------------- 1. ACK


@contextlib.asynccontextmanager
async def _gateway_here(folder: Path, url: str | None) -> AsyncIterator[int]:
    """The gateway as ``run`` wires it, in this process; yields its MLLP port."""
    from adapters.hl7.listener import MllpListener
    from gateway.app.service import build_hub, build_publisher, keep_alarms
    from gateway.config.load import parse_config
    from gateway.journal.client import Journal

    mqtt = f'[mqtt]\nurl = "{url}"\nward = "bench"\ngateway = "gw"\n' if url else ""
    config = parse_config(f'[gateway]\nname = "bench"\n{mqtt}', "<bench>")
    hub = build_hub(config)
    journal = Journal(folder / f"ack-{time.monotonic_ns()}.sqlite", clock=hub.clock)
    hub.journal = journal
    await journal.start()
    publisher = build_publisher(config, hub)
    try:
        async with MllpListener(hub, host="127.0.0.1", port=0, clock=hub.clock) as listener:
            tasks = [
                asyncio.create_task(listener.serve_forever()),
                asyncio.create_task(keep_alarms(hub, None)),
            ]
            if publisher is not None:
                tasks.append(asyncio.create_task(publisher.run()))
            try:
                await asyncio.sleep(0.5)  # connected, birth sent
                yield listener.port
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await journal.close()


LAG_TICK_S = 0.01


async def _loop_lag(lags: list[float]) -> None:
    """How late the gateway's event loop wakes a 10 ms sleep: what every task waits extra."""
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(LAG_TICK_S)
        lags.append(max(0.0, loop.time() - before - LAG_TICK_S))


async def _broker_restart_midway(broker: Mosquitto) -> None:
    """Killed at the start of the window, started again on its port halfway through."""
    broker.process.kill()
    await asyncio.sleep(SECONDS / 2)
    await asyncio.to_thread(broker.start)


async def _ack_run(
    folder: Path, url: str | None, broker: Mosquitto | None = None, act: str = ""
) -> tuple[int, float, float, float]:
    async with _gateway_here(folder, url) as port:
        await measure(port, PACED_RATE, seconds=WARM_UP_SECONDS)
        lags: list[float] = []
        probe = asyncio.create_task(_loop_lag(lags))
        acting = None
        if broker is not None and act == "kill":
            broker.process.kill()
        elif broker is not None and act == "freeze":
            broker.process.send_signal(signal.SIGSTOP)
        elif broker is not None and act == "restart":
            acting = asyncio.create_task(_broker_restart_midway(broker))
        try:
            total, latencies = await measure(port, PACED_RATE)
        finally:
            probe.cancel()
            if acting is not None:
                await acting
            if broker is not None and act == "freeze":
                broker.process.send_signal(signal.SIGCONT)
    return total, percentile(latencies, 0.5), percentile(latencies, 0.99), percentile(lags, 0.99)


def ack_with_and_without(binary: str, folder: Path) -> None:
    print(
        f"\n== mqtt: MLLP ingest ACK (journal, ACK after commit), {CONNECTIONS} monitors paced"
        f" to {PACED_RATE:,.0f} msg/s, {SECONDS:g} s each, MQTT off and on interleaved"
    )
    rows: list[tuple[str, tuple[int, float, float, float]]] = []
    with mosquitto(binary, folder) as broker:
        for _ in range(2):
            rows.append(("MQTT off", asyncio.run(_ack_run(folder, None))))
            rows.append(("MQTT on, broker up", asyncio.run(_ack_run(folder, broker.url))))
    for act, what in (
        ("kill", "broker killed"),
        ("freeze", "broker frozen (SIGSTOP)"),
        ("restart", "broker killed, back midway"),
    ):
        with mosquitto(binary, folder) as broker:
            run = _ack_run(folder, broker.url, broker, act)
            rows.append((f"MQTT on, {what}", asyncio.run(run)))
    for name, (total, p50, p99, lag) in rows:
        print(
            f"{name:<36} {total / SECONDS:7,.0f} msg/s   ACK p50 {p50:5.2f} ms  p99 {p99:5.2f} ms"
            f"   loop lag p99 {lag:5.2f} ms"
        )


# --------------------------------------------------------------------------- 2. CPU


def _gateway_process(
    folder: Path, port: int, url: str | None, config: str = ""
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    """The headless gateway on MLLP ``port``, publishing to ``url`` when one is given."""
    journal = folder / f"journal-{port}.sqlite"
    args = ["--listen", f"127.0.0.1:{port}", "--journal", str(journal)]
    if config:
        path = folder / f"gateway-{port}.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    if url:
        args += ["--mqtt", url, "--mqtt-ward", "bench", "--mqtt-gateway", f"gw-{port}"]
    return programs.gateway(folder, *args, log=folder / f"gateway-{port}.log", port=port)


class _Counter:
    """Counts what the broker carries under a prefix: messages and payload bytes."""

    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0
        self.counting = False

    def receive(self, topic: str, payload: bytes) -> None:
        if self.counting:
            self.messages += 1
            self.bytes += len(payload) + len(topic)


async def _subscribe(url: str, sink: _Counter, seconds: float, start_after_s: float) -> None:
    from gateway.mqtt.client import BrokerLink, Credentials

    async with BrokerLink(_broker(url), Credentials(), identifier="bench-counter") as link:
        await link.subscribe("icu/v1/#", qos=0)
        loop = asyncio.get_running_loop()
        start = loop.time() + start_after_s
        end = start + seconds
        async for topic, payload in link.messages():
            now = loop.time()
            sink.counting = start <= now < end
            sink.receive(topic, payload)
            if now >= end:
                return


def publisher_cpu(binary: str, folder: Path) -> None:
    print(
        f"\n== mqtt: CPU at {BEDS} beds with 3 waves (simulate --beds {BEDS} --waveforms over"
        f" MLLP), {CPU_SECONDS:g} s after {CPU_WARM_UP_S:g} s, MQTT off and on interleaved"
    )
    results: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    carried: list[_Counter] = []
    with mosquitto(binary, folder) as broker:
        url = broker.url
        for _ in range(2):
            for mode in ("off", "on"):
                gateway, writer, counter = _cpu_window(folder, url if mode == "on" else None)
                results[mode].append((gateway, writer))
                if mode == "on":
                    carried.append(counter)
    for mode, runs in results.items():
        shown = "   ".join(f"gateway {g:5.1%} writer {w:5.1%}" for g, w in runs)
        print(f"MQTT {mode:<3}: {shown}   (of a core)")
    off = sum(g for g, _ in results["off"]) / len(results["off"])
    on = sum(g for g, _ in results["on"]) / len(results["on"])
    print(f"publisher: {on - off:+.1%} of a core for the gateway process (mean on − mean off)")
    for counter in carried:
        per_s = counter.messages / CPU_SECONDS
        print(
            f"broker carried {per_s:,.0f} msg/s, {counter.bytes / CPU_SECONDS / 1024:,.0f} KiB/s:"
            f" {per_s / BEDS:.1f} msg/s and {counter.bytes / CPU_SECONDS / BEDS / 1024:.2f} KiB/s"
            " per bed"
        )


def _cpu_window(folder: Path, url: str | None) -> tuple[float, float, _Counter]:
    """Fractions of a core used by the gateway and its writer over the measured window."""
    port = free_port()
    counter = _Counter()
    beds = ("--beds", str(BEDS), "--waveforms", "--to", f"mllp://127.0.0.1:{port}")
    with _gateway_process(folder, port, url) as gateway, programs.simulator(*beds):
        time.sleep(CPU_WARM_UP_S)
        writer = writer_of(folder / f"journal-{port}.sqlite")
        gw0, wr0, t0 = cpu_s(gateway.pid), cpu_s(writer), time.monotonic()
        if url:
            asyncio.run(_subscribe(url, counter, CPU_SECONDS, 0.0))
        else:
            time.sleep(CPU_SECONDS)
        gw1, wr1, t1 = cpu_s(gateway.pid), cpu_s(writer), time.monotonic()
    return (gw1 - gw0) / (t1 - t0), (wr1 - wr0) / (t1 - t0), counter


# --------------------------------------------------------------------------- 3. latency


def _oru(bed: int, control: str, hr: int) -> bytes:
    text = ORU.format(eui=f"{0xB0000 + bed:016X}", id=control, bed=bed)
    return b"\x0b" + text.replace("|72|", f"|{hr}|", 1).encode() + b"\x1c\r"


def _broker(url: str) -> Broker:
    from gateway.config.load import parse_broker_url

    address = parse_broker_url(url)
    return Broker(address.host, address.port, address.tls)


class _Stopwatch(RemoteWard):
    """The remote screen's ward, timing when each value sent first arrives."""

    def __init__(self) -> None:
        super().__init__("icu/v1")
        self.sent: dict[tuple[str, int], float] = {}
        self.alarm_sent: dict[str, float] = {}
        self.numerics: list[float] = []
        self.alarms: list[float] = []

    def receive(self, topic: str, payload: bytes) -> None:
        super().receive(topic, payload)
        now = time.perf_counter()
        if topic.endswith("/num"):
            data = json.loads(payload)
            for row in data["obs"]:
                if row[0] == HR_CODE and row[2] is not None:
                    sent = self.sent.pop((data["bed"], int(row[2])), None)
                    if sent is not None:
                        self.numerics.append(now - sent)
        elif "/alarm/" in topic:
            data = json.loads(payload)
            if data.get("state") == "active" and data.get("bed") in self.alarm_sent:
                self.alarms.append(now - self.alarm_sent.pop(data["bed"]))


async def _monitor(bed: int, port: int, watch: _Stopwatch, seconds: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    start = loop.time() + bed / BEDS
    bed_id = f"ICU^{bed}^1"
    alarm_at = 4 + (bed * (seconds - 8) / BEDS)
    raised = False
    second = 0
    while loop.time() < start + seconds:
        await asyncio.sleep(max(0.0, start + second - loop.time()))
        elapsed = loop.time() - start
        if not raised and elapsed >= alarm_at:
            hr, raised = ALARM_HR, True
            watch.alarm_sent[bed_id] = time.perf_counter()
        else:
            hr = 60 + second % 40
            watch.sent[(bed_id, hr)] = time.perf_counter()
        writer.write(_oru(bed, f"{os.getpid()}-{bed}-{second}", hr))
        await writer.drain()
        await reader.readuntil(b"\x1c\r")
        second += 1
    writer.close()


async def _latency(url: str, port: int) -> _Stopwatch:
    from gateway.mqtt.screen_link import ScreenLink

    watch = _Stopwatch()
    link = ScreenLink(watch, [_broker(url)])
    task = asyncio.create_task(link.run())
    try:
        await asyncio.sleep(1.0)
        await asyncio.gather(*(_monitor(bed, port, watch, LATENCY_SECONDS) for bed in range(BEDS)))
        await asyncio.sleep(1.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return watch


def latency(binary: str, folder: Path) -> None:
    print(
        f"\n== mqtt: device → remote screen latency, {BEDS} monitors each sending once a"
        f" second for {LATENCY_SECONDS:g} s, gateway and broker on this machine"
    )
    with mosquitto(binary, folder) as broker:
        url = broker.url
        port = free_port()
        with _gateway_process(folder, port, url, "[alarms]\ncondition_delay_s = 0\n"):
            watch = asyncio.run(_latency(url, port))
    numerics = len(watch.numerics) + len(watch.sent)
    alarms = len(watch.alarms) + len(watch.alarm_sent)
    for name, values, sent, note in (
        ("numerics (HR)", watch.numerics, numerics, "; one replaced within a 1 s tick is not sent"),
        ("alarms (HR 180 → active alarm)", watch.alarms, alarms, ""),
    ):
        if not values:
            print(f"{name}: nothing arrived of {sent} sent")
            continue
        print(
            f"{name:<32} p50 {percentile(values, 0.5):6.0f} ms  p99 {percentile(values, 0.99):6.0f}"
            f" ms  max {max(values) * 1e3:6.0f} ms   ({len(values)} of {sent} seen{note})"
        )


# --------------------------------------------------------------------------- report


def main(argv: list[str] | None = None) -> None:
    binary = _mosquitto_binary()
    if binary is None:
        print("\n== mqtt: skipped: mosquitto is not installed (apt-get install mosquitto)")
        return
    parts = {"ack": ack_with_and_without, "cpu": publisher_cpu, "latency": latency}
    chosen = argv or list(parts)
    folder = Path(tempfile.mkdtemp(prefix=".bench-mqtt-", dir=".")).resolve()
    try:
        for name in chosen:
            parts[name](binary, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Restart: how soon a gateway with a full journal answers monitors again, the whole ward
back on screen (stale, with its true age).

``python -m bench restart [--beds 64] [--minutes 12] [--runs 3] [--keep PATH | --reuse PATH]
[--cold]``:

1. builds a journal of ``--beds`` beds × ``--minutes`` of record time with the bench's
   waves (``bench/disk.py``'s load: per bed and second a numerics ORU and a message with
   ECG, pleth and respiration), through :meth:`gateway.hub.Hub.submit` and a real
   :class:`gateway.journal.client.Journal` (its writer process, packing, bed index): first
   the history, then the last 10 minutes, ending when they are built, as at a stop (the
   gap of record time between the two, what the history took to build, is printed);
   each bed's wave texts and samples are made once for a cycle of :data:`CYCLE_S` seconds,
   each second changing only the MSH-10s (unique per device) and the times. ``--keep
   PATH`` builds it at PATH and keeps it; ``--reuse PATH`` builds nothing and times a journal
   kept before (saying how old its end is); ``--finish PATH`` writes only the last 10
   minutes, ending now, onto a journal whose ``--keep`` build was stopped in its history
   (SIGTERM: its writer closes the file cleanly), then times it; by default the journal is
   built in a temporary folder under the current one and removed after;
2. times ``icu-gateway run --headless`` on it (a fresh process, as a service restarts)
   until its MLLP port accepts a connection: the gateway rebuilds the ward from the
   journal's last 10 minutes before any listener opens (``gateway/app/service.py``), so
   the ward is back by then; its log says how many reports that took;
3. in this process, the same steps the service takes before listening (open the journal,
   :func:`gateway.app.service.rebuild`), timed, and the beds the ward then shows counted;
   then the rebuild's reads one by one (:func:`reads`). ``--cold``: one more run with the
   page cache dropped before each of these (root only; it says so when it cannot).

What the journal's length changes: the rebuild reads the last 10 minutes through the time
index, the writer loads the last 10 minutes' MSH-10s, and the alarm history of 24 h is
read — so a journal longer than ~10 minutes costs these steps only a deeper B-tree (and,
on a cold page cache, reads further into a larger file). The back-fill of the older trends
runs beside the listeners and is not timed here. DESIGN.md: restart to a full
(stale-marked) ward in < 3 s.

The build's pace is the writer process's: ~230 µs of its CPU a message of this load (its
parts' folding and check, JSON, packing at zlib level 6, SQLite), ~3,500–3,900 msg/s on
the 2-core development machine, where the event loop needs ~100 µs a message.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gateway.journal.packer import WINDOW

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CYCLE_S = 60
"""Each bed's bench waves repeat after this many seconds of record time (ECG and pleth at
72/min, respiration at 16/min: whole periods in it), so their texts and samples are made
once per bed and cycle second; each second of the journal then changes only the messages'
MSH-10 (and OBR-3) and times. (Made every second, ``bench/disk.py``'s way, they were most
of the build's time: numpy signals and one formatted number per sample.)"""

AHEAD_S = 8
"""Seconds of the ward (each ``beds`` × 2 messages) in flight to the writer at once, so
that the event loop makes the next second while the writer commits the last."""

PACK_AHEAD = 6 * WINDOW
"""Messages committed but not packed yet past which the build waits for the writer to pack
(down to :data:`PACK_BEHIND`). A real ward leaves its writer idle most of the time, and the
writer packs while no job waits; a build that never lets it idle would leave it packing
one step a batch (``gateway.journal.packer.PACK_BACKLOG``), its backlog growing, and a
journal mostly unpacked at the end — not what a gateway writes."""
PACK_BEHIND = 2 * WINDOW

PROGRESS_S = 300.0
"""How often the build says how far it is."""

REBUILD_WINDOW_S = 600.0
"""``gateway.app.service.REBUILD_WINDOW_H`` in seconds: what a restart rebuilds before it
listens, and so the part of the journal built last, ending as it is built."""

_WaveSecond = tuple[bytes, bytes, bytes, tuple[tuple[int, str, float, "np.ndarray", str], ...]]


class _Cycle:
    """The bench's waves of ``beds`` beds over :data:`CYCLE_S` seconds, as ``bench/disk.py``'s
    ``_bench_waves`` makes them (the same bytes and samples, for a second of the first
    cycle), kept as the pieces around their MSH-10s; each bed-second made when first used."""

    def __init__(self, beds: int) -> None:
        from adapters.hl7 import er7, pcd
        from bench.load import ORU
        from gateway.domain import DeviceId, Location

        self.numerics: list[tuple[bytes, bytes]] = []
        self.devices: list[DeviceId] = []
        self.locations: list[Location | None] = []
        self.waves: list[list[_WaveSecond | None]] = []
        for bed in range(1, beds + 1):
            eui = f"00122118390{bed:05d}"
            head, tail = ORU.format(eui=eui, id="\0", bed=bed).encode().split(b"\0")
            self.numerics.append((head, tail))
            (report,) = pcd.decode(
                er7.parse(head + b"n0" + tail), transport="mllp", peer="p", receive_time_ns=0
            )
            self.devices.append(report.device)
            self.locations.append(report.location)
            self.waves.append([None] * CYCLE_S)

    @staticmethod
    def _wave_second(bed: int, second: int) -> _WaveSecond:
        """Bed ``bed`` (from 1)'s wave message of cycle second ``second``, cut at its MSH-10
        and OBR-3, and its chunks' (code, label, rate, samples, unit)."""
        from bench.journal import WAVES, _signal

        eui = f"00122118390{bed:05d}"
        chunks, rows = [], []
        for n, (code, refid, unit, rate, decimals) in enumerate(WAVES, 1):
            samples = _signal(code, rate, second + bed * 100_000)  # beds differ in their noise
            chunks.append((code, refid, rate, samples.astype(np.float32), unit))
            text = "^".join(f"{v:.{decimals}f}" for v in samples)
            rows.append(f"OBX|{n}|NA|{code}^{refid}^MDC|1.1.1.{n}|{text}|{unit}|||||R")
        head = f"MSH|^~\\&|MON^{eui}^EUI-64|W|||20240101120000+0000||ORU^R01^ORU_R01|"
        mid = f"|P|2.6|||AL|NE\rPID|||P{bed}\rPV1||I|ICU^{bed}^1\rOBR|1||"
        tail = "|182777000^monitoring of patient^SCT\r" + "\r".join(rows) + "\r"
        return head.encode(), mid.encode(), tail.encode(), tuple(chunks)

    def second(self, bed: int, number: int, now_ns: int) -> list[tuple[bytes, str, list[Any]]]:
        """Bed ``bed`` (from 0)'s messages of the journal's second ``number`` (their MSH-10s
        ``n<number>`` and ``w<number>``: unique per device over the journal), received at
        ``now_ns``: (bytes, MSH-10, reports). The numerics go through the real decoder."""
        from adapters.hl7 import er7, pcd
        from gateway.domain import DeviceReport, WaveformChunk

        head, tail = self.numerics[bed]
        numerics_id = f"n{number}"
        raw = b"".join((head, numerics_id.encode(), tail))
        reports = pcd.decode(er7.parse(raw), transport="mllp", peer="p", receive_time_ns=now_ns)
        device = self.devices[bed]
        waves = self.waves[bed]
        made = waves[number % CYCLE_S]
        if made is None:
            made = waves[number % CYCLE_S] = self._wave_second(bed + 1, number % CYCLE_S)
        wave_head, wave_mid, wave_tail, chunks = made
        wave_id = f"w{number}"
        encoded = wave_id.encode()
        wave_raw = b"".join((wave_head, encoded, wave_mid, encoded, wave_tail))
        waveforms = tuple(
            WaveformChunk(device, code, label, rate, now_ns, samples, unit)
            for code, label, rate, samples, unit in chunks
        )
        wave_report = DeviceReport(
            device, "mllp", "p", now_ns, wave_id, self.locations[bed], f"P{bed + 1}",
            waveforms=waveforms,
        )  # fmt: skip
        return [(raw, numerics_id, list(reports)), (wave_raw, wave_id, [wave_report])]


def _packed_through(path: Path) -> int:
    """``journal_state.packed_through`` as committed (read beside the writer, as any reader)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT value FROM journal_state WHERE name = 'packed_through'"
        ).fetchone()
    finally:
        conn.close()
    return int(row[0]) if row else 0


async def _packing(path: Path, through: int) -> None:
    """Wait (polling the file) until the writer has packed up to message ``through``."""
    while await asyncio.to_thread(_packed_through, path) < through:  # noqa: ASYNC110 - another process's progress
        await asyncio.sleep(0.01)


async def build(
    path: Path,
    beds: int,
    parts: Sequence[tuple[int, int | None]],
    *,
    progress: Callable[[str], None] | None = None,
    first_number: int = 0,
) -> tuple[int, list[tuple[int, int]]]:
    """A journal of ``beds`` beds of the bench's waves, in ``parts`` one after the other,
    each (seconds, last second's receive time in ns; None: the time the part starts being
    written, so that the journal's last part ends when it is built, as at a stop).
    Every message goes through :meth:`gateway.hub.Hub.submit` into a real
    :class:`gateway.journal.client.Journal` (its writer process, packing, bed index,
    checkpoints). ``first_number``: the first second's number in its MSH-10s (past those
    of a journal written on). Returns the messages written and each part's (first, last)
    receive ns."""
    from gateway.domain import ReceivedMessage
    from gateway.hub import Hub
    from gateway.journal.client import Journal
    from gateway.ward.routing import Router
    from gateway.ward.state import WardState

    cycle = _Cycle(beds)
    base = await asyncio.to_thread(_max_id, path)  # ids go on after its own
    count, number = 0, first_number
    spans: list[tuple[int, int]] = []
    flight: collections.deque[asyncio.Future[list[None]]] = collections.deque()
    began = time.perf_counter()
    reported = began
    async with Journal(path) as journal:
        hub = Hub(WardState(), Router(), journal=journal)
        submit = hub.submit
        for seconds, last_ns in parts:
            end_ns = time.time_ns() if last_ns is None else last_ns
            start_ns = end_ns - (seconds - 1) * 1_000_000_000
            spans.append((start_ns, end_ns))
            for second in range(seconds):
                now = start_ns + second * 1_000_000_000
                submits = []
                for bed in range(beds):
                    for raw, control_id, reports in cycle.second(bed, number, now):
                        device = reports[0].device
                        message = ReceivedMessage(raw, "mllp", "p", now, control_id, device)
                        submits.append(submit(message, reports))
                flight.append(asyncio.gather(*submits))
                count += len(submits)
                number += 1
                if len(flight) > AHEAD_S:
                    await flight.popleft()
                if number % 16 == 0 and base + count - _packed_through(path) > PACK_AHEAD:
                    while flight:
                        await flight.popleft()
                    await _packing(path, base + count - PACK_BEHIND)
                if progress is not None and time.perf_counter() - reported >= PROGRESS_S:
                    reported = time.perf_counter()
                    progress(
                        f"  {count} messages ({number / 3600:.2f} h of record) in"
                        f" {reported - began:.0f} s, {count / (reported - began):.0f} msg/s"
                    )
            while flight:
                await flight.popleft()
            # As a ward's writer, idle between its bursts: packed up to its last window
            # (the rest is packed when the journal closes, as at every stop).
            await _packing(path, base + count - WINDOW + 1)
    return count, spans


def time_to_port(path: Path) -> tuple[float, str]:
    """Seconds from starting ``icu-gateway run --headless`` to its port accepting, and the
    log line saying what the rebuild fed back."""
    port = _free_port()
    log = path.parent / "gateway.log"
    command = [sys.executable, "-m", "gateway.app.cli", "run", "--headless"]
    command += ["--listen", f"127.0.0.1:{port}", "--journal", str(path)]
    # The code of this checkout, whatever the folder it runs in (a relative PYTHONPATH, or
    # none, would start the copy installed in the virtual environment).
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    with log.open("wb") as out:
        started = time.perf_counter()
        gateway = subprocess.Popen(
            command, cwd=path.parent, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env
        )
        try:
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if gateway.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError(f"the gateway did not open its port (see {log})")
                time.sleep(0.005)
            elapsed = time.perf_counter() - started
        finally:
            gateway.send_signal(signal.SIGTERM)
            try:
                gateway.wait(30)
            except subprocess.TimeoutExpired:
                gateway.kill()
                gateway.wait()
    text = log.read_text()
    rebuilt = [line for line in text.splitlines() if "rebuilt the ward" in line]
    if not rebuilt:
        print(text[-2000:])
    return elapsed, (rebuilt[-1].split("rebuilt", 1)[-1] if rebuilt else "(no rebuild logged)")


async def in_process(path: Path, now_ns: int | None = None) -> tuple[float, float, int, int]:
    """What the service does before it listens, timed: (open s, rebuild s, reports, beds).
    ``now_ns``: the restart's time (None: now)."""
    from gateway.app.service import build_hub, open_journal, rebuild
    from gateway.config.load import default_config

    config = dataclasses.replace(default_config(), journal=path)
    hub = build_hub(config)
    started = time.perf_counter()
    journal = await open_journal(config, hub)
    opened = time.perf_counter()
    try:
        reports = await rebuild(hub, path, now_ns=now_ns)
        rebuilt = time.perf_counter()
        beds = len(hub.snapshot().beds)
    finally:
        await journal.close()
    return opened - started, rebuilt - opened, reports, beds


def reads(path: Path, now_ns: int | None = None) -> str:
    """The rebuild's reads of the journal one by one, timed (what :func:`rebuild` reads
    before the listeners open, in its order), to see which of them a journal's length
    changes."""
    from gateway.app import service
    from gateway.journal.backfill import restore_bounds
    from gateway.journal.reader import read_reports

    now = time.time_ns() if now_ns is None else now_ns
    since = now - round(service.REBUILD_WINDOW_H * 3600e9)
    day = now - round(service.TREND_BACKFILL_H * 3600e9)
    times = []

    def timed(name: str, read: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        found = read()
        times.append(f"{name} {time.perf_counter() - started:.3f} s")
        return found

    restored, waves = timed("bounds", lambda: restore_bounds(path, since, now))
    history = timed("alarm history", lambda: service._alarm_history(path, min(day, since)))
    timed("open alarms", lambda: service._open_device_alarms(path, history, waves))
    latest = timed("senders' latest", lambda: service._latest_reports(path, since, restored))

    async def read(begin: int, end: int | None, values_only: bool) -> int:
        count = 0
        async for batch in read_reports(
            path, since_ns=begin, until_ns=end, values_only=values_only
        ):
            count += len(batch)
        return count

    whole = timed("last 2 min, values", lambda: asyncio.run(read(restored, waves, True)))
    waved = timed("last 64 s, with waves", lambda: asyncio.run(read(waves, None, False)))
    return f"{'; '.join(times)} ({len(latest)}, {whole} and {waved} reports)"


def facts(path: Path) -> tuple[int, int, int, int, int]:
    """(messages, first and last receive ns, bytes of the file with its WAL, beds)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        messages, first, last = conn.execute(
            "SELECT max(id), min(receive_ns), max(receive_ns) FROM messages"
        ).fetchone()
        (beds,) = conn.execute("SELECT count(*) FROM beds").fetchone()
    finally:
        conn.close()
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    return int(messages or 0), int(first or 0), int(last or 0), size, int(beds)


def _max_id(path: Path) -> int:
    """The journal's last message id (0: no journal yet)."""
    return facts(path)[0] if path.is_file() else 0


def _last_number(path: Path) -> int:
    """The highest second number in the MSH-10s (``n<number>``) of the journal's last
    messages (each second of the bench's ward numbers them one more)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (number,) = conn.execute(
            "SELECT max(CAST(substr(control_id, 2) AS INTEGER)) FROM messages"
            " WHERE id > (SELECT max(id) FROM messages) - 100000 AND control_id LIKE 'n%'"
        ).fetchone()
    finally:
        conn.close()
    return int(number or 0)


def _span(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def drop_page_cache() -> str | None:
    """Write the dirty pages out and drop the page cache (root only): None when done, else
    why not."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench restart")
    parser.add_argument("--beds", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=12.0)
    parser.add_argument("--runs", type=int, default=3)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--keep", type=Path, metavar="PATH", help="build the journal at PATH, keep it"
    )
    where.add_argument(
        "--reuse", type=Path, metavar="PATH", help="time restarts on a journal --keep built"
    )
    where.add_argument(
        "--finish",
        type=Path,
        metavar="PATH",
        help="write the last 10 min, ending now, onto a journal --keep began (its build"
        " stopped before them), then time it",
    )
    parser.add_argument(
        "--cold", action="store_true", help="one more run on a cold page cache (needs root)"
    )
    args = parser.parse_args([] if argv is None else argv)
    folder = None
    if args.finish is not None:
        path = args.finish.resolve()
        if not path.is_file():
            parser.error(f"no journal at {path}")
        _, _, before_ns, _, args.beds = facts(path)
        recent = round(REBUILD_WINDOW_S)
        if time.time_ns() - before_ns < (recent + 1) * 1_000_000_000:
            parser.error(f"{path} ends less than {recent} s ago: its last minutes would overlap")
        began = time.perf_counter()
        count, spans = asyncio.run(
            build(path, args.beds, [(recent, None)], first_number=_last_number(path) + 1)
        )
        built_s = time.perf_counter() - began
        messages, first, last, size, _ = facts(path)
        print(
            f"\n== restart: the journal {path} ({args.beds} beds, {messages} messages,"
            f" {size / 2**20:.0f} MiB, {_span((last - first) / 1e9)} of record); its last"
            f" {recent / 60:g} min ({count} messages) written now in {built_s:.0f} s, after a"
            f" gap of {_span((spans[0][0] - before_ns) / 1e9 - 1)} of record time; packed"
            f" through message {_packed_through(path)}"
        )
    elif args.reuse is not None:
        path = args.reuse.resolve()
        if not path.is_file():
            parser.error(f"no journal at {path}")
        messages, first, last, size, args.beds = facts(path)
        print(
            f"\n== restart: the journal {path} ({args.beds} beds, {messages} messages,"
            f" {size / 2**20:.0f} MiB, {_span((last - first) / 1e9)} of record, packed through"
            f" message {_packed_through(path)}); not built now"
        )
    elif args.keep is not None:
        path = args.keep.resolve()
        if path.exists():
            parser.error(f"{path} exists: --reuse it, or remove it first")
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix=".bench-restart-", dir=Path.cwd()))
        path = folder / "journal.sqlite"
    try:
        if args.reuse is None and args.finish is None:
            seconds = round(args.minutes * 60)
            # The last 10 minutes (what a restart rebuilds before it listens) end when they
            # are built, as at a stop; the history before them ends where they would have
            # begun had the build taken no time, so the two never overlap.
            recent = min(seconds, round(REBUILD_WINDOW_S))
            began_ns = time.time_ns()
            parts: list[tuple[int, int | None]] = [(recent, None)]
            if seconds > recent:
                parts.insert(0, (seconds - recent, began_ns - (recent + 1) * 1_000_000_000))
            began = time.perf_counter()
            count, spans = asyncio.run(
                build(path, args.beds, parts, progress=lambda line: print(line, flush=True))
            )
            built_s = time.perf_counter() - began
            messages, first, last, size, _ = facts(path)
            gap = ""
            if len(spans) > 1:
                gap_s = (spans[1][0] - spans[0][1]) / 1e9 - 1
                history_s = (spans[0][1] - spans[0][0]) / 1e9 + 1
                gap = (
                    f"; {_span(history_s)} of history,"
                    f" then a gap of {gap_s:.0f} s of record time (the history's build time),"
                    f" then the last {recent / 60:g} min, ending as they were built"
                )
            print(
                f"\n== restart: a journal of {args.beds} beds × {args.minutes:g} min of bench"
                f" waves ({count} messages, {size / 2**20:.0f} MiB, built in {built_s:.0f} s,"
                f" {count / built_s:.0f} msg/s{gap}; packed through message"
                f" {_packed_through(path)})" + (f"; kept at {path}" if folder is None else "")
            )
        aged_s = (time.time_ns() - last) / 1e9
        print(f"its last message was received {aged_s:.0f} s before these runs")
        at_end = None
        if aged_s > 300:  # a restart now rebuilds less (or none) of its last 10 minutes
            at_end = last + 1_000_000_000
            print(
                f"warning: the journal ended {aged_s:.0f} s before these runs: a restart now"
                " has less (or none) of its last 10 minutes to rebuild, so the port times"
                " below may be too short; the in-process steps are timed at the journal's end"
                " (gateway.app.service.rebuild, now_ns = its last message + 1 s)"
            )
        runs = [(run, False) for run in range(1, args.runs + 1)]
        if args.cold:
            runs.append((args.runs + 1, True))
        for run, cold in runs:
            label = f"run {run}"
            if cold:
                why = drop_page_cache()
                if why is not None:
                    print(f"{label}, cold page cache: not run, the cache cannot be dropped ({why})")
                    continue
                label += " (page cache dropped before the port's run and the in-process steps)"
            elapsed, rebuilt = time_to_port(path)
            if cold:
                drop_page_cache()
            opened, rebuilding, reports, beds = asyncio.run(in_process(path, at_end))
            if cold:
                drop_page_cache()
            steps = reads(path, at_end)
            print(
                f"{label}: icu-gateway run --headless: port open after {elapsed:.2f} s"
                f" (rebuilt{rebuilt}); in process: journal open {opened:.2f} s, rebuild"
                f" {rebuilding:.2f} s of {reports} reports, {beds} of {args.beds} beds in the"
                f" ward; its reads: {steps}",
                flush=True,
            )
        print("target: the port open and every bed in the ward within 3 s of start")
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])

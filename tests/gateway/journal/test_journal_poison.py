"""One poison value fails its own message only: values are made storable on the event loop,
a batch that still fails is retried message by message in the writer, and the guilty one is
kept raw as rejected and answered with a definitive reject (AR/CR) once — never a CE its
device would resend for ever, and never a refusal of the other devices' messages.

Real parts: the real listener on loopback with honest monitors sending meanwhile, the real
journal and its writer process, the real writer's batch code, SQLite files under tmp_path."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from journal_support import Monitor, oru, received, running_gateway
from samples import FIXTURES, bad_input

from gateway.clock import ManualClock
from gateway.domain import (
    AlarmEvent,
    AlarmKind,
    AlarmPriority,
    AlarmSource,
    BedId,
    DeviceId,
    Observation,
    ObservationStatus,
    WaveformChunk,
)
from gateway.errors import MessageRefused
from gateway.journal.client import Journal
from gateway.journal.encode import _prepare
from gateway.journal.protocol import _Append, _job
from gateway.journal.reader import JournalReader
from gateway.journal.records import Outcome, RoutedReport
from gateway.journal.schema import _encode_json
from gateway.journal.values import INT64_MAX, MAX_TEXT
from gateway.journal.writer import _Writer

POISON_FIXTURES = [
    "15_obx3_code_of_5000_digits.hl7",
    "16_alarm_source_of_5000_digits_and_beyond_2_64.hl7",
    "17_unit_code_of_5000_digits.hl7",
    "18_values_beyond_every_range.hl7",
    "19_texts_of_100000_characters.hl7",
]


def alarm_event(device: DeviceId, code: int, text: str, **fields: object) -> AlarmEvent:
    return AlarmEvent(
        device,
        code,
        text,
        AlarmPriority.HIGH,
        AlarmKind.PHYSIOLOGICAL,
        "start",
        "active",
        "enabled",
        AlarmSource.DEVICE,
        **fields,  # type: ignore[arg-type]
    )


def append_job(item: tuple[object, ...]) -> _Append:
    """A job as the writer receives it."""
    job = _job(item)
    assert isinstance(job, _Append)
    return job


def stored(path: Path) -> dict[str, Outcome]:
    with JournalReader(path) as reader:
        return {m.control_id: m.outcome for m in reader.messages()}


async def honest(monitor: Monitor, name: str, count: int, acks: list[str]) -> None:
    for n in range(count):
        code, echoed = await monitor.send(oru(f"{name}-{n}", bed=2, hr=60 + n % 40))
        assert (code, echoed) == ("CA", f"{name}-{n}")
        acks.append(echoed)


async def test_hostile_values_on_one_connection_never_cost_the_others_their_acks(
    tmp_path: Path,
) -> None:
    """Every poison fixture from one sender, ten times, with two honest monitors sending
    meanwhile: the honest ones get CA for every message, the hostile connection stays up
    and is answered frame by frame (never CE, never dropped), recording never fails, and
    everything acknowledged is in the journal."""
    path = tmp_path / "j.sqlite"
    frames = [bad_input(FIXTURES / "bad" / name)[1] for name in POISON_FIXTURES]
    async with running_gateway(path) as gateway:
        hostile = await gateway.monitor()
        monitors = [await gateway.monitor() for _ in range(2)]
        acks: list[str] = []
        senders = [
            asyncio.create_task(honest(m, f"h{i}", 60, acks)) for i, m in enumerate(monitors)
        ]
        answers = []
        for _ in range(10):
            for data in frames:
                answers.append(await hostile.send(data))
        await asyncio.gather(*senders)
        # The hostile connection is still answered, and an honest message on it is stored.
        assert await hostile.send(oru("after-poison")) == ("CA", "after-poison")
        assert {code for code, _ in answers} <= {"CA", "CR"}, answers
        assert gateway.hub.recording_failed is None
        assert not any("RECORDING FAILED" in f.text for f in gateway.hub.faults)
        for monitor in [hostile, *monitors]:
            await monitor.close()
    kept = stored(path)
    assert len(acks) == 120
    assert all(kept.get(cid) is Outcome.ACCEPTED for cid in [*acks, "after-poison"])
    for code, control_id in answers:
        assert control_id in kept, f"{control_id} answered {code} but not kept"


def _poison_job(seq: int, control_id: str, parameter_code: int, clock: ManualClock) -> _Append:
    """An alarm message made ready as the loop would, then given a value past its checks
    (as a decoder bug or a new adapter could): the writer must still isolate it."""
    message, reports = received(oru(control_id), clock)
    alarm = alarm_event(reports[0].device, 196648, "HR high", time_ns=clock.now_ns())
    report = dataclasses.replace(reports[0], alarms=(alarm,))
    item = _prepare(
        seq, message, [RoutedReport(report, BedId("B1"), "Bed 1")], Outcome.ACCEPTED, None
    )
    job = append_job(item)
    row = list(job.alarms[0])
    row[13] = parameter_code  # parameter_code: beyond SQLite's 64 bits when poisoned
    return job._replace(alarms=[tuple(row)])


def test_the_writer_retries_a_failing_batch_one_by_one_and_keeps_the_guilty_one_raw(
    tmp_path: Path,
) -> None:
    """A batch of five with one integer above 2^63 in an alarm row: four stored, the fifth
    answered MessageRefused and kept raw as rejected; nothing else fails."""
    path, clock = tmp_path / "j.sqlite", ManualClock()
    writer = _Writer(
        {
            "path": str(path),
            "duplicate_window_ns": 600 * 10**9,
            "busy_timeout_s": 1.0,
            "max_size_bytes": None,
            "checkpoint_interval_s": 0.2,
            "commit_interval_s": 0.0,
        }
    )
    jobs = [
        _poison_job(n + 1, f"m{n}", (1 << 64) + 1 if n == 2 else 150456, clock) for n in range(5)
    ]
    settled = dict(writer._write_batch(jobs))
    writer._close()
    assert [settled[n] for n in (1, 2, 4, 5)] == [True] * 4
    assert isinstance(settled[3], MessageRefused)
    assert "OverflowError" in str(settled[3])
    assert writer.counters.failure is None  # recording did not fail
    kept = stored(path)
    assert kept == {
        "m0": Outcome.ACCEPTED,
        "m1": Outcome.ACCEPTED,
        "m2": Outcome.REJECTED,
        "m3": Outcome.ACCEPTED,
        "m4": Outcome.ACCEPTED,
    }
    with JournalReader(path) as reader:
        (raw,) = [m for m in reader.messages() if m.control_id == "m2"]
        assert raw.raw == oru("m2") and raw.reason is not None and "kept raw" not in raw.reason
        assert len(list(reader.reports())) == 4  # the refused one has no decoded reports


async def test_a_report_the_loop_cannot_take_apart_is_kept_raw_and_refused_once(
    tmp_path: Path,
) -> None:
    """Waveform samples that are no float32 (an adapter's bug): the loop cannot encode the
    report, so the message is kept raw as rejected and answered MessageRefused — the
    others of the same moment are stored."""
    path, clock = tmp_path / "j.sqlite", ManualClock()
    message, reports = received(oru("bad-wave"), clock)
    chunk = WaveformChunk(
        reports[0].device, 131330, "ECG", 250.0, clock.now_ns(), np.array([10**400], dtype=object)
    )
    bad = dataclasses.replace(reports[0], waveforms=(chunk,))
    good_message, good_reports = received(oru("good"), clock)
    async with Journal(path, clock=clock) as journal:
        refused = journal.record(message, [RoutedReport(bad, BedId("B1"), "Bed 1")])
        fine = journal.record(good_message, [RoutedReport(good_reports[0], BedId("B1"), "Bed 1")])
        with pytest.raises(MessageRefused, match="kept raw as rejected"):
            await refused
        assert await fine is True
        assert journal.counters.failure is None
    assert stored(path) == {"bad-wave": Outcome.REJECTED, "good": Outcome.ACCEPTED}


# ---- the encode path, over extreme values ------------------------------------------------------

EXTREME_INTS = st.one_of(
    st.integers(),
    st.sampled_from([1 << 63, -(1 << 63) - 1, 1 << 64, 10**5000, -(10**5000)]),
)
EXTREME_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -0.0]),
)
EXTREME_TEXT = st.one_of(
    st.text(max_size=50),
    st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=5),
    st.sampled_from(["x" * 100_000, "\ud800" * 10, "é" * (MAX_TEXT + 5)]),
)
DEVICE = DeviceId("MON^0012211839000001^EUI-64", "monitor")


@st.composite
def extreme_reports(draw: st.DrawFn) -> RoutedReport:
    _, reports = received(oru("x"), ManualClock())
    observations = tuple(
        Observation(
            device=DEVICE,
            code=draw(EXTREME_INTS),
            label=draw(EXTREME_TEXT),
            value=draw(st.one_of(EXTREME_FLOATS, EXTREME_TEXT)),
            unit=draw(EXTREME_TEXT),
            status=ObservationStatus.VALID,
            receive_time_ns=1,
            device_time_ns=draw(st.one_of(st.none(), EXTREME_INTS)),
            sub_id=draw(EXTREME_TEXT),
            source_code=draw(st.one_of(st.none(), EXTREME_TEXT)),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    alarms = tuple(
        alarm_event(
            DEVICE,
            draw(EXTREME_INTS),
            draw(EXTREME_TEXT),
            time_ns=draw(EXTREME_INTS),
            parameter_code=draw(st.one_of(st.none(), EXTREME_INTS)),
            parameter_label=draw(EXTREME_TEXT),
            value=draw(st.one_of(st.none(), EXTREME_FLOATS, EXTREME_TEXT, EXTREME_INTS)),
            limits=draw(EXTREME_TEXT),
        )
        for _ in range(draw(st.integers(0, 2)))
    )
    report = dataclasses.replace(reports[0], observations=observations, alarms=alarms)
    return RoutedReport(report, BedId(draw(EXTREME_TEXT) or "B1"), draw(EXTREME_TEXT))


def _refuse_constant(token: str) -> object:
    raise AssertionError(f"{token} in a journal document (SQLite's JSON refuses it)")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routed=extreme_reports(), control_id=EXTREME_TEXT, peer=EXTREME_TEXT)
def test_every_value_the_encode_path_makes_is_one_sqlite_and_json_take(
    routed: RoutedReport, control_id: str, peer: str
) -> None:
    """Integers beyond 2^63 and of 5,000 digits, NaN, ±inf, lone surrogates, 10^5-character
    texts: what the loop makes of them JSON-encodes, and binds into the journal's tables."""
    message, _ = received(oru("x"), ManualClock())
    message = dataclasses.replace(message, control_id=control_id, peer=peer)
    job = append_job(_prepare(1, message, [routed], Outcome.ACCEPTED, None))
    document = _encode_json(job.columns[-1])
    json.loads(document, parse_constant=_refuse_constant)  # no NaN/Infinity token
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a)")
    for value in (*job.columns[:-1], document, *(v for row in job.alarms for v in row)):
        conn.execute("INSERT INTO t VALUES (?)", (value,))
        if isinstance(value, int):
            assert abs(value) <= INT64_MAX + 1
        if isinstance(value, str):
            assert len(value) <= MAX_TEXT or value is document

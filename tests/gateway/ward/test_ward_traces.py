"""Ward state beyond the latest values: trends, waves, message rates, rejects, memory."""

from __future__ import annotations

import numpy as np

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import (
    BedId,
    DeviceId,
    DeviceReport,
    Observation,
    ObservationStatus,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.hub import Hub
from gateway.ward.routing import Router
from gateway.ward.state import MAX_TRENDS_PER_BED, MAX_WAVES_PER_BED, WardState
from gateway.ward.waveforms import MAX_SAMPLE_RATE_HZ

BED = BedId("icu-1")
MONITOR = DeviceId("EUI-64:00A037EB2175780F", "MR-1")
HR, NIBP_SYS, ECG_II = 147842, 150021, 131330


def ward_with_bed() -> WardState:
    ward = WardState(stale_timeout_s=10, lost_after_s=60)
    ward.add_bed(BED, "Bed 1")
    return ward


def send(
    ward: WardState,
    clock: ManualClock,
    *values: tuple[int, float],
    measured_ns: int | None = None,
    status: ObservationStatus = ObservationStatus.VALID,
    waves: tuple[WaveformChunk, ...] = (),
) -> None:
    now = clock.now_ns()
    observations = tuple(
        Observation(MONITOR, code, str(code), value, "", status, now, measured_ns)
        for code, value in values
    )
    ward.apply(
        BED,
        DeviceReport(MONITOR, "mllp", "10.0.0.5:4001", now, "m", None, "", observations, waves),
        seen_ns=clock.monotonic_ns(),
    )


def test_values_are_trended_by_the_time_they_were_received() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    for hr in (70, 72, 140, 71):
        send(ward, clock, (HR, hr))
        clock.advance(1)
    envelope = ward.trend(BED, HR, 60, 60, clock.now_ns())
    assert envelope is not None
    assert np.isfinite(envelope.low).sum() == 4
    assert np.nanmax(envelope.high) == 140
    assert ward.trend(BED, 150456, 60, 60, clock.now_ns()) is None
    assert ward.trend(BedId("nowhere"), HR, 60, 60, clock.now_ns()) is None


def test_a_resent_measurement_is_trended_once_and_an_invalid_one_never() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    cuff_time = clock.now_ns()
    for _ in range(30):  # the monitor repeats the last cuff reading every second
        send(ward, clock, (NIBP_SYS, 117), measured_ns=cuff_time)
        clock.advance(1)
    send(ward, clock, (HR, 250), status=ObservationStatus.INVALID)
    envelope = ward.trend(BED, NIBP_SYS, 60, 60, clock.now_ns())
    assert envelope is not None
    assert np.isfinite(envelope.low).sum() == 1
    assert ward.trend(BED, HR, 60, 60, clock.now_ns()) is None


def test_text_values_are_shown_but_not_trended() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    now = clock.now_ns()
    rhythm = Observation(MONITOR, 184327, "Rhythm", "Sinus", "", ObservationStatus.VALID, now)
    ward.apply(BED, DeviceReport(MONITOR, "mllp", "p", now, observations=(rhythm,)), seen_ns=now)
    assert ward.snapshot(now).beds[0].readings[184327].value == "Sinus"
    assert ward.trend(BED, 184327, 60, 10, now) is None


def ecg_chunk(clock: ManualClock, seconds: float = 1.0, rate: float = 250.0) -> WaveformChunk:
    samples = np.sin(np.linspace(0, 2 * np.pi, round(seconds * rate))).astype(np.float32)
    return WaveformChunk(MONITOR, ECG_II, "ECG II", rate, clock.now_ns(), samples, "mV")


def test_a_wave_is_listed_in_the_snapshot_and_read_on_demand() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    for _ in range(5):
        send(ward, clock, (HR, 72), waves=(ecg_chunk(clock),))
        clock.advance(1)
    (bed,) = ward.snapshot(clock.now_ns()).beds
    (info,) = bed.waves
    assert (info.code, info.label, info.unit, info.sample_rate_hz) == (ECG_II, "ECG II", "mV", 250)
    assert not info.stale
    window = ward.waveform(BED, info.key, 2.0, clock.now_ns())
    assert window is not None
    assert len(window.samples) == 500
    assert window.end_ns == clock.now_ns()
    assert not window.stale
    assert ward.waveform(BED, (ECG_II, "other channel"), 2.0, clock.now_ns()) is None


def test_a_wave_that_stops_is_stale_sooner_than_a_value() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    send(ward, clock, (HR, 72), waves=(ecg_chunk(clock),))
    clock.advance(4)
    send(ward, clock, (HR, 72))  # numerics keep coming, the wave stopped
    (bed,) = ward.snapshot(clock.now_ns()).beds
    assert not bed.readings[HR].stale
    assert bed.waves[0].stale
    window = ward.waveform(BED, bed.waves[0].key, 1.0, clock.now_ns())
    assert window is not None and window.stale and window.age_s == 4.0


def test_a_wave_at_an_impossible_rate_is_noted_not_dropped_silently() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    send(ward, clock, waves=(ecg_chunk(clock, rate=1e6, seconds=0.001),))
    (bed,) = ward.snapshot(clock.now_ns()).beds
    assert bed.waves == ()
    assert any("sample rate" in note for note in bed.notes)


def test_the_caps_are_noted_and_memory_per_bed_stays_under_5_mb_at_worst() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    for code in range(1000, 1000 + MAX_TRENDS_PER_BED + 5):
        send(ward, clock, (code, 1.0))
    waves = tuple(
        WaveformChunk(
            MONITOR,
            code,
            f"wave {code}",
            MAX_SAMPLE_RATE_HZ,
            clock.now_ns(),
            np.zeros(10, np.float32),
        )
        for code in range(2000, 2000 + MAX_WAVES_PER_BED + 2)
    )
    send(ward, clock, waves=waves)
    (bed,) = ward.snapshot(clock.now_ns()).beds
    assert len(bed.readings) == MAX_TRENDS_PER_BED + 5  # every value is still shown
    assert len(bed.waves) == MAX_WAVES_PER_BED
    assert len(bed.notes) == 5 + 2
    assert ward.memory_bytes(BED) < 5 * 1024 * 1024


def test_each_device_has_a_message_rate_that_falls_to_zero_when_it_stops() -> None:
    clock, ward = ManualClock(), ward_with_bed()
    for _ in range(40):
        send(ward, clock, (HR, 72))
        clock.advance(0.5)
    (link,) = ward.snapshot(clock.now_ns()).beds[0].devices
    assert link.messages == 40
    assert abs(link.rate_per_s - 2.0) < 0.25
    assert link.device == MONITOR
    clock.advance(25)
    (link,) = ward.snapshot(clock.now_ns()).beds[0].devices
    assert link.rate_per_s == 0.0


async def test_rejected_messages_are_counted_per_sender_never_per_address() -> None:
    clock = ManualClock()
    hub = Hub(WardState(), Router(), clock)
    for port, reason in ((4001, "no MSH segment"), (4002, "MSH-9 is not ORU^R01")):
        message = ReceivedMessage(b"junk", "mllp", f"10.0.0.5:{port}", clock.now_ns())
        await hub.reject(message, reason)
    await hub.reject(ReceivedMessage(b"", "mllp", "10.0.0.9:1", clock.now_ns()), "oversize")
    first, second, third = hub.snapshot().rejects
    # two connections of one address: two senders, each with its own count and reason
    assert (first.host, first.last_peer, first.rejected, first.last_reason) == (
        "10.0.0.5",
        "10.0.0.5:4001",
        1,
        "no MSH segment",
    )
    assert (second.last_peer, second.rejected, second.last_reason) == (
        "10.0.0.5:4002",
        1,
        "MSH-9 is not ORU^R01",
    )
    assert (third.host, third.rejected) == ("10.0.0.9", 1)
    assert hub.fault_count == 3  # still faults as well: never silent


def test_an_unassigned_device_keeps_its_patient_and_rate() -> None:
    clock, ward = ManualClock(), WardState()
    for _ in range(10):
        now = clock.now_ns()
        ward.note_unassigned(
            DeviceReport(MONITOR, "mllp", "10.0.0.7:1", now, patient_id="P9"),
            seen_ns=clock.monotonic_ns(),
        )
        clock.advance(1)
    (stray,) = ward.snapshot(clock.now_ns()).unassigned
    assert stray.patient_id == "P9"
    assert stray.reports == 10
    assert 0.5 < stray.rate_per_s <= 1.0
    assert NS_PER_S  # the clock unit the rates are counted in

"""Wave rings: a minute at the wave's own rate, dropouts kept as gaps."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.clock import NS_PER_S
from gateway.domain import DeviceId, WaveformChunk
from gateway.ward.waveforms import WAVE_SECONDS, WaveBuffer

T0 = 1_700_000_000 * NS_PER_S
MONITOR = DeviceId("EUI-64:00A037EB2175780F")


def chunk(start_s: float, samples: list[float] | np.ndarray, rate: float = 250.0) -> WaveformChunk:
    data = np.asarray(samples, dtype=np.float32)
    return WaveformChunk(MONITOR, 131330, "ECG II", rate, T0 + round(start_s * NS_PER_S), data)


def test_the_buffer_holds_at_least_a_minute_at_the_waves_rate() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 500.0)
    assert WAVE_SECONDS >= 60
    assert wave.capacity >= 60 * 500


def test_a_window_is_the_newest_samples_oldest_first_across_the_ring_end() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 250.0)
    counter = np.arange(250, dtype=np.float32)
    for second in range(70):  # past the end of the ring
        wave.add(chunk(second, counter + 1000 * second), received_ns=T0)
    window = wave.window(2.0)
    assert len(window) == 500
    assert window[0] == 68_000
    assert window[-1] == 69_249
    assert np.all(np.diff(window[:250]) == 1)
    assert wave.end_ns == T0 + 70 * NS_PER_S


def test_a_window_never_holds_more_than_was_received() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 250.0)
    assert len(wave.window(5)) == 0
    wave.add(chunk(0, np.ones(100)), received_ns=T0)
    assert len(wave.window(5)) == 100


def test_a_dropout_is_kept_as_a_gap_of_its_length() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 100.0)
    wave.add(chunk(0, np.ones(100), rate=100.0), received_ns=T0)
    wave.add(chunk(3, np.full(100, 2.0), rate=100.0), received_ns=T0)  # 2 s missing
    window = wave.window(4.0)
    assert len(window) == 400
    assert np.all(window[:100] == 1.0)
    assert np.all(np.isnan(window[100:300]))
    assert np.all(window[300:] == 2.0)


def test_jitter_and_overlap_do_not_break_the_trace() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 100.0)
    wave.add(chunk(0, np.ones(100), rate=100.0), received_ns=T0)
    wave.add(chunk(1.1, np.ones(100), rate=100.0), received_ns=T0)  # 100 ms late: jitter
    wave.add(chunk(2.0, np.ones(100), rate=100.0), received_ns=T0)  # overlaps: appended
    assert not np.isnan(wave.window(3.0)).any()


def test_a_chunk_longer_than_the_ring_keeps_its_newest_samples() -> None:
    wave = WaveBuffer(131330, "ECG II", "mV", 10.0)
    data = np.arange(10 * WAVE_SECONDS + 55, dtype=np.float32)
    wave.add(chunk(0, data, rate=10.0), received_ns=T0)
    assert wave.window(WAVE_SECONDS)[-1] == data[-1]
    assert wave.window(WAVE_SECONDS)[0] == data[55]


@pytest.mark.parametrize("rate", [0.0, -5.0, float("nan"), float("inf"), 1e6])
def test_an_impossible_sample_rate_is_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        WaveBuffer(131330, "ECG II", "mV", rate)

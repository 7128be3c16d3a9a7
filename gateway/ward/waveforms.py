"""Waveforms: the last minute of one wave of one bed, in a numpy ring at the wave's rate.

A :class:`WaveBuffer` holds :data:`WAVE_SECONDS` seconds of samples at the sample rate the
device sends (an ECG at 500 Hz: 32,000 float32 = 128 kB). Chunks are copied in with one or
two slice assignments, so the ingest path does no per-sample Python work.

A chunk that starts noticeably later than the previous one ended leaves a gap of NaN
samples of the missing length, so a dropout shows on screen as a break in the trace, never
as a trace that joins across the silence. A chunk that starts earlier (jitter, a device
clock correction) is appended as is: the trace stays continuous and the buffer's time
follows the newest chunk.

Reading (:meth:`WaveBuffer.window`) copies; no view into the ring leaks. Whether a wave is
fresh is judged by :mod:`gateway.ward`, not here. This module must not know beds or screens.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from gateway.clock import NS_PER_S
from gateway.domain import WaveformChunk

WAVE_SECONDS = 64
"""Seconds a buffer holds (at least the 60 s the detail screen may ask for)."""
MAX_SAMPLE_RATE_HZ = 1000.0
"""Highest rate accepted (ECGs are exported at 125-1000 Hz): bounds a buffer at 256 kB
whatever a device claims."""
GAP_TOLERANCE_S = 0.25
"""A chunk starting more than this after the previous one ended leaves a gap."""

FloatArray = npt.NDArray[np.float32]


class WaveBuffer:
    """One wave's ring of samples; ``end_ns`` is the time just after the newest sample."""

    __slots__ = (
        "_filled",
        "_pos",
        "_samples",
        "code",
        "end_ns",
        "label",
        "received_ns",
        "sample_rate_hz",
        "unit",
    )

    def __init__(self, code: int, label: str, unit: str, sample_rate_hz: float) -> None:
        if not (math.isfinite(sample_rate_hz) and 0 < sample_rate_hz <= MAX_SAMPLE_RATE_HZ):
            raise ValueError(
                f"sample rate {sample_rate_hz!r} Hz is outside 0 … {MAX_SAMPLE_RATE_HZ:g} Hz"
            )
        self.code = code
        self.label = label
        self.unit = unit
        self.sample_rate_hz = sample_rate_hz
        self._samples = np.full(math.ceil(sample_rate_hz * WAVE_SECONDS), np.nan, dtype=np.float32)
        self._pos = 0
        self._filled = 0
        self.end_ns: int | None = None
        self.received_ns = 0

    @property
    def capacity(self) -> int:
        return len(self._samples)

    @property
    def nbytes(self) -> int:
        return self._samples.nbytes

    def add(self, chunk: WaveformChunk, received_ns: int) -> None:
        """Append a chunk (received at ``received_ns``, on the ward's monotonic scale), after
        a NaN gap if one is missing."""
        rate = self.sample_rate_hz
        samples = chunk.samples
        if self.end_ns is not None:
            late_s = (chunk.start_time_ns - self.end_ns) / NS_PER_S
            if late_s > GAP_TOLERANCE_S:
                self._write_nan(round(late_s * rate))
        self._write(samples)
        self.end_ns = chunk.start_time_ns + round(len(samples) * NS_PER_S / rate)
        self.received_ns = received_ns
        if label := chunk.label:
            self.label = label
        if unit := chunk.unit:
            self.unit = unit

    def window(self, seconds: float) -> FloatArray:
        """A copy of the newest ``seconds`` of samples, oldest first (fewer if not yet held)."""
        count = min(self._filled, max(0, round(seconds * self.sample_rate_hz)))
        if count == 0:
            return np.empty(0, dtype=np.float32)
        start = self._pos - count
        if start >= 0:
            return self._samples[start : self._pos].copy()
        return np.concatenate((self._samples[start:], self._samples[: self._pos]))

    def _write(self, samples: npt.ArrayLike) -> None:
        data = np.asarray(samples, dtype=np.float32).ravel()
        capacity = len(self._samples)
        if len(data) >= capacity:
            data = data[-capacity:]
        count = len(data)
        pos = self._pos
        first = min(count, capacity - pos)
        self._samples[pos : pos + first] = data[:first]
        if first < count:
            self._samples[: count - first] = data[first:]
        self._pos = (pos + count) % capacity
        self._filled = min(capacity, self._filled + count)

    def _write_nan(self, count: int) -> None:
        capacity = len(self._samples)
        count = min(count, capacity)
        pos = self._pos
        first = min(count, capacity - pos)
        self._samples[pos : pos + first] = np.nan
        if first < count:
            self._samples[: count - first] = np.nan
        self._pos = (pos + count) % capacity
        self._filled = min(capacity, self._filled + count)

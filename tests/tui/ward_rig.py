"""A ward for dashboard tests: real WardState, hand-driven clock, seeded patients and waves.

Everything on screen comes from here, so snapshots are the same on every run: the clock
moves only when told, values come from seeded generators, and waves are computed from the
sample index (ECG: Gaussian P, QRS and T per beat at the bed's heart rate; pleth: a pulse
with a dicrotic notch; respiration: a sine at the respiratory rate).
"""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from rich.console import Console
from textual.app import App
from textual.pilot import Pilot

from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import (
    BedId,
    DeviceId,
    DeviceReport,
    Fault,
    Location,
    Observation,
    ObservationStatus,
    ReceivedMessage,
    WaveformChunk,
)
from gateway.ward.snapshot import WardSnapshot
from gateway.ward.state import WardState
from tui.app import WardApp

STALE_S = 10.0
LOST_S = 60.0
TEST_HZ = 20.0  # a fast timer keeps the waits short; the behaviour is the same at 4 Hz

VALID = ObservationStatus.VALID
HR, SPO2, RR, TEMP, ETCO2 = 147842, 150456, 151562, 150344, 151708
NIBP_SYS, NIBP_DIA, NIBP_MEAN = 150021, 150022, 150023
ABP_SYS, ABP_DIA, ABP_MEAN = 150033, 150034, 150035
ECG_II, PLETH, RESP = 131330, 150452, 151780
Floats = npt.NDArray[np.float64]
UNITS = {HR: "/min", SPO2: "%", RR: "/min", TEMP: "°C"}


@dataclass(frozen=True, slots=True)
class Patient:
    hr: float
    spo2: float
    rr: float
    temp: float
    nibp: tuple[float, float, float]
    abp: tuple[float, float, float] | None
    etco2: float | None


def patient(index: int, seed: int = 7) -> Patient:
    rng = np.random.default_rng([seed, index])
    sys_ = float(rng.integers(100, 150))
    dia = float(rng.integers(55, 90))
    abp = (sys_ + 4, dia - 2, round((sys_ + 4 + 2 * (dia - 2)) / 3)) if index % 3 == 0 else None
    return Patient(
        hr=float(rng.integers(55, 115)),
        spo2=float(rng.integers(91, 100)),
        rr=float(rng.integers(11, 24)),
        temp=round(float(rng.uniform(36.2, 38.4)), 1),
        nibp=(sys_, dia, round((sys_ + 2 * dia) / 3)),
        abp=abp,
        etco2=float(rng.integers(30, 45)) if index % 4 == 1 else None,
    )


def ecg(times_s: Floats, hr: float) -> Floats:
    """Millivolts: a P, QRS and T wave per beat."""
    period = 60.0 / hr
    phase = np.mod(times_s, period)
    wave = 0.12 * np.exp(-(((phase - 0.10) / 0.025) ** 2))
    wave += -0.10 * np.exp(-(((phase - 0.19) / 0.008) ** 2))
    wave += 1.10 * np.exp(-(((phase - 0.21) / 0.010) ** 2))
    wave += -0.25 * np.exp(-(((phase - 0.235) / 0.010) ** 2))
    wave += 0.30 * np.exp(-(((phase - 0.42) / 0.045) ** 2))
    return np.asarray(wave, dtype=np.float64)


def pleth(times_s: Floats, hr: float) -> Floats:
    period = 60.0 / hr
    phase = np.mod(times_s - 0.25, period) / period
    wave = 40 * np.exp(-(((phase - 0.2) / 0.09) ** 2)) + 18 * np.exp(-(((phase - 0.5) / 0.1) ** 2))
    return np.asarray(wave, dtype=np.float64)


def resp(times_s: Floats, rr: float) -> Floats:
    return np.asarray(np.sin(2 * math.pi * times_s * rr / 60.0), dtype=np.float64)


def monitor(index: int) -> DeviceId:
    return DeviceId(f"EUI-64:00A037EB2175{index:04X}", f"MX800 #{index + 1}")


class Rig:
    """A ward with configured beds, a hand-driven clock, and the app's snapshot function."""

    def __init__(self, *labels: str) -> None:
        self.clock = ManualClock()
        self.ward = WardState(stale_timeout_s=STALE_S, lost_after_s=LOST_S)
        self.beds = [BedId(f"icu-{n}") for n in range(1, len(labels) + 1)]
        self.faults: list[Fault] = []
        for bed, label in zip(self.beds, labels, strict=True):
            self.ward.add_bed(bed, label)

    @classmethod
    def of(cls, count: int) -> Rig:
        return cls(*(f"ICU {101 + n}" for n in range(count)))

    def send(
        self,
        index: int,
        *values: tuple[int, float | str],
        status: ObservationStatus = VALID,
        measured_ago_s: float = 0.0,
        patient_id: str = "",
        waves: tuple[WaveformChunk, ...] = (),
    ) -> None:
        """One report from bed ``index``'s monitor, received now."""
        device = monitor(index)
        now = self.clock.now_ns()
        observations = tuple(
            Observation(
                device,
                code,
                str(code),
                value,
                UNITS.get(code, "mmHg"),
                status,
                receive_time_ns=now,
                device_time_ns=now - round(measured_ago_s * NS_PER_S),
            )
            for code, value in values
        )
        report = DeviceReport(
            device,
            "mllp",
            f"10.1.0.{10 + index}:4{index:03d}",
            now,
            patient_id=patient_id,
            observations=observations,
            waveforms=waves,
        )
        self.ward.apply(self.beds[index], report, seen_ns=self.clock.monotonic_ns())

    def send_vitals(self, index: int, hr: float = 72, patient_id: str = "") -> None:
        self.send(index, (HR, hr), (SPO2, 97), (RR, 16), (TEMP, 36.75), patient_id=patient_id)
        self.send(index, (NIBP_SYS, 117), (NIBP_DIA, 82), (NIBP_MEAN, 90), measured_ago_s=720)

    def send_patient(self, index: int, *, nibp_ago_s: float = 420.0, jitter: float = 0.0) -> None:
        """The seeded patient of bed ``index``, now (``jitter`` moves the values a little)."""
        p = patient(index)
        values: list[tuple[int, float | str]] = [
            (HR, round(p.hr + jitter * 4)),
            (SPO2, min(100.0, round(p.spo2 + jitter))),
            (RR, round(p.rr + jitter)),
            (TEMP, round(p.temp + jitter / 10, 1)),
        ]
        if p.etco2 is not None:
            values.append((ETCO2, round(p.etco2 + jitter)))
        if p.abp is not None:
            values += [(ABP_SYS, p.abp[0] + jitter), (ABP_DIA, p.abp[1]), (ABP_MEAN, p.abp[2])]
        self.send(index, *values, patient_id=f"P-{4711 + index * 37}")
        nibp = tuple(zip((NIBP_SYS, NIBP_DIA, NIBP_MEAN), p.nibp, strict=True))
        self.send(index, *nibp, measured_ago_s=nibp_ago_s)

    def waves(self, index: int, seconds: float = 1.0) -> tuple[WaveformChunk, ...]:
        """The last ``seconds`` of bed ``index``'s ECG II, pleth and respiration, ending now."""
        p = patient(index)
        device = monitor(index)
        end = self.clock.now_ns()
        start = end - round(seconds * NS_PER_S)
        chunks = []
        waves: tuple[tuple[int, str, str, float, Callable[[Floats, float], Floats], float], ...]
        waves = (
            (ECG_II, "ECG II", "mV", 250.0, ecg, p.hr),
            (PLETH, "Pleth", "", 125.0, pleth, p.hr),
            (RESP, "Resp", "", 25.0, resp, p.rr),
        )
        for code, label, unit, rate, make, per_min in waves:
            count = round(seconds * rate)
            first = round(start / NS_PER_S * rate) % 1_000_000  # sample index, exact times
            times = (first + np.arange(count)) / rate
            samples = make(times, per_min).astype(np.float32)
            chunks.append(WaveformChunk(device, code, label, rate, start, samples, unit))
        return tuple(chunks)

    def live_ward(self, count_live: int, *, seconds: float = 8.0) -> None:
        """Beds 0 … ``count_live``-1 report their patient and waves every second for
        ``seconds``, ending now."""
        self.clock.advance(-seconds)
        for _ in range(round(seconds)):
            self.clock.advance(1.0)
            for index in range(count_live):
                self.send_patient(index)
                self.send(index, waves=self.waves(index))

    def history(self, index: int, hours: float = 24.0) -> None:
        """A day of bed ``index``'s values (per minute, then per second for the last hour),
        ending now; a desaturation 5 h ago and a gap (unplugged) 3 h ago."""
        p = patient(index)
        end = self.clock.now_ns()
        self.clock.advance(-hours * 3600)
        minutes = round(hours * 60) - 60
        for minute in range(minutes):
            ago_h = hours - minute / 60
            if 3.0 < ago_h < 3.4:
                self.clock.advance(60)
                continue
            wobble = math.sin(minute / 47.0) * 3
            spo2 = 84.0 if 5.0 < ago_h < 5.1 else p.spo2 + wobble / 3
            self.send(
                index,
                (HR, round(p.hr + wobble * 2)),
                (SPO2, round(min(100.0, spo2))),
                (RR, round(p.rr + wobble / 2)),
                (TEMP, round(p.temp + wobble / 20, 1)),
            )
            if minute % 15 == 0:
                nibp = tuple(zip((NIBP_SYS, NIBP_DIA, NIBP_MEAN), p.nibp, strict=True))
                self.send(index, *((c, v + wobble) for c, v in nibp))
            self.clock.advance(60)
        for second in range(3600):
            wobble = math.sin(second / 300.0) * 3
            self.send(index, (HR, round(p.hr + wobble)), (SPO2, p.spo2), (RR, p.rr))
            self.clock.advance(1)
        assert self.clock.now_ns() == end

    def scenario(self, *, history_bed: int | None = 0, seconds: int = 95) -> None:
        """The ward the snapshots show: every bed reporting its patient and waves for the
        last ``seconds`` seconds, except the last three — one silent for 15 s (STALE), one
        for 90 s (LOST), one that never spoke; a day of history for ``history_bed``; an
        unassigned monitor and a sender whose messages are rejected."""
        count = len(self.beds)
        stale, lost = (count - 3, count - 2) if count >= 4 else (-1, -1)
        live = range(count - 3 if count >= 4 else count)
        end = self.clock.now_ns()
        self.clock.advance(-seconds)
        if history_bed is not None:
            self.history(history_bed)
        for second in range(seconds):
            self.clock.advance(1.0)
            ago = seconds - 1 - second
            talking = [*live, *((stale,) if ago >= 15 else ()), *((lost,) if ago >= 90 else ())]
            for index in talking:
                if index >= 0:
                    self.send_patient(index, jitter=math.sin(second / 9 + index))
                    self.send(index, waves=self.waves(index))
        assert self.clock.now_ns() == end
        self.unassigned()

    def unassigned(self) -> None:
        """A monitor no bed claims, and a sender whose messages are all rejected."""
        now = self.clock.now_ns()
        stray = DeviceId("EUI-64:00A037EB21759999", "IntelliVue MX450")
        location = Location("ICU^9^2", "ICU", "9", "2")
        self.ward.note_unassigned(
            DeviceReport(stray, "mllp", "10.1.0.99:40112", now, "m1", location, "P-9001"),
            seen_ns=self.clock.monotonic_ns(),
        )
        self.ward.note_rejected(
            ReceivedMessage(b"junk", "mllp", "10.1.0.200:5100", now), "no MSH segment"
        )
        self.faults.append(
            Fault(now, "mllp 10.1.0.200:5100", "bad message rejected: no MSH segment")
        )

    def snapshot(self) -> WardSnapshot:
        return self.ward.snapshot(
            self.clock.now_ns(), faults=tuple(self.faults), fault_count=len(self.faults)
        )

    def app(
        self,
        title: str = "ICU",
        markers: tuple[str, ...] = (),
        *,
        refresh_hz: float = TEST_HZ,
        columns: int = 0,
    ) -> WardApp:
        return WardApp(
            self.snapshot,
            traces=self.ward,
            title=title,
            markers=markers,
            refresh_hz=refresh_hz,
            columns=columns,
        )


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], bool], what: str, timeout_s: float = 5.0
) -> None:
    """Let the app run (timer ticks, repaints) until ``condition`` holds, at most
    ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)


def screen_text(app: App[None]) -> str:
    """The whole screen as plain text, as the compositor draws it."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, legacy_windows=False
    )
    console.print(
        app.screen._compositor.render_update(
            full=True,
            screen_stack=app._background_screens,
        )
    )
    return console.export_text()

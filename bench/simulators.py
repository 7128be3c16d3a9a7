"""Simulator load: CPU time per simulated second for a ward of 256 beds, encode only.

Each bed plays the mixed-ward scenario and, every simulated second, makes what it sends
over HL7: the PCD-01 numerics, its PCD-04 alarm updates, and ECG (250 Hz), pleth (125 Hz)
and respiration (62.5 Hz) as NA waveform messages (plus the arterial pressure on beds with
an arterial line). No network: this is the cost of the physiology and the encoding, the
part a simulator process must fit on one core. Peer: hl7apy building one ORU^R01, the
reason the encoders are templates. Target (issue #7): 256 beds on one core, i.e. under
1 s of CPU per simulated second.
"""

from __future__ import annotations

import time

from simulators.scenario import load_scenario
from simulators.ward import SimulatedMonitor, build_monitors

BEDS = 256
SECONDS = 20
NOW_NS = 1_700_000_000 * 1_000_000_000


def _ward() -> list[SimulatedMonitor]:
    scenario = load_scenario("mixed-ward")
    return [
        SimulatedMonitor(index, device, bed, model)
        for index, device, bed, model, _ in build_monitors(BEDS, 1, scenario)
    ]


def _hl7apy_build_ms(repeats: int = 20) -> float:
    from hl7apy.core import Message

    start = time.perf_counter()
    for n in range(repeats):
        message = Message("ORU_R01", version="2.6")
        message.msh.msh_3 = "SIM^02A0C9FFFE000001^EUI-64"
        message.msh.msh_10 = str(n)
        group = message.add_group("ORU_R01_PATIENT_RESULT")
        group.add_segment("PID").pid_3 = "123"
        order = group.add_group("ORU_R01_ORDER_OBSERVATION")
        order.obr.obr_4 = "182777000^monitoring of patient^SCT"
        for row in range(17):
            obs = order.add_group("ORU_R01_OBSERVATION")
            obs.obx.obx_1 = str(row + 1)
            obs.obx.obx_2 = "NM"
            obs.obx.obx_3 = "150456^MDC_PULS_OXIM_SAT_O2^MDC"
            obs.obx.obx_5 = "97"
        message.to_er7()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    start = time.perf_counter()
    monitors = _ward()
    setup_s = time.perf_counter() - start
    messages = samples = octets = alarms = 0
    cpu_start = time.process_time()
    wall_start = time.perf_counter()
    for second in range(1, SECONDS + 1):
        now_ns = NOW_NS + second * 1_000_000_000
        for monitor in monitors:
            readout = monitor.tick(1.0, now_ns)
            out = monitor.hl7_messages(readout, now_ns, waveforms=True)
            messages += len(out)
            octets += sum(map(len, out))
            alarms += len(readout.alarms)
            samples += readout.ecg.samples.size + readout.pleth.samples.size
            samples += readout.resp.samples.size
            samples += 0 if readout.abp is None else readout.abp.samples.size
    cpu = time.process_time() - cpu_start
    wall = time.perf_counter() - wall_start
    per_second = cpu / SECONDS
    print(f"\n== simulators: {BEDS} beds, mixed-ward, numerics + alarms + waves, encode only")
    print(f"set-up (profiles, models, 8 s warm-up each): {setup_s:.2f} s")
    print(
        f"{SECONDS} simulated s: {messages:,} messages ({messages / SECONDS / BEDS:.1f}"
        f" per bed-second, {alarms} alarm updates), {samples / SECONDS:,.0f} samples/s,"
        f" {octets / SECONDS / 1e6:.1f} MB/s of HL7"
    )
    print(
        f"CPU per simulated second: {per_second * 1e3:.0f} ms "
        f"({per_second * 1e6 / BEDS:.0f} µs per bed) → one core simulates "
        f"{BEDS / per_second:,.0f} beds in real time   (wall {wall / SECONDS * 1e3:.0f} ms/s)"
    )
    print(f"peer: hl7apy builds one 17-OBX ORU^R01 in {_hl7apy_build_ms():.1f} ms")
    print("target: 256 beds on one core (< 1000 ms CPU per simulated second)")


if __name__ == "__main__":
    main()

"""What the simulators send (numerics, waves, PCD-04 alarms, through a vendor gateway)
decodes into complete records: the other end of the wire, from the real simulator code."""

from __future__ import annotations

import calendar

import numpy as np

from adapters.hl7 import er7, pcd
from gateway.domain import AlarmKind, AlarmPriority, DeviceReport
from simulators.monitor import MonitorModel, Readout
from simulators.pcd01 import ward_profiles
from simulators.pcd04 import encode_oru_r40
from simulators.scenario import load_scenario, parse_scenario
from simulators.ward import VENDOR_GATEWAY, SimulatedMonitor

NOW_NS = calendar.timegm((2024, 3, 9, 14, 39, 5)) * 1_000_000_000
DEVICE, BED = ward_profiles(3, seed=2)[2]


def simulate(
    scenario: str, seconds: int, *, vendor: bool = False
) -> tuple[SimulatedMonitor, list[Readout]]:
    ward = load_scenario(scenario) if "\n" not in scenario else parse_scenario(scenario)
    sim = SimulatedMonitor(
        2, DEVICE, BED, MonitorModel(ward.beds[0], 5), sender=VENDOR_GATEWAY if vendor else None
    )
    return sim, [sim.tick(1.0, NOW_NS + s * 1_000_000_000) for s in range(1, seconds + 1)]


def decode(message: bytes) -> pcd.Decoded:
    parsed = er7.parse(message)
    pcd.require_observation_report(parsed)
    return pcd.decode_message(parsed, transport="mllp", peer="127.0.0.1:1", receive_time_ns=1)


def test_a_monitor_behind_a_vendor_gateway_is_the_device_of_its_reports() -> None:
    sim, readouts = simulate("stable", 2, vendor=True)
    reports: list[DeviceReport] = []
    for message in sim.hl7_messages(readouts[-1], NOW_NS, waveforms=True):
        decoded = decode(message)
        assert decoded.problems == ()
        reports += decoded.reports
    assert {r.device.key for r in reports} == {f"EUI-64:{DEVICE.eui64}"}
    assert all(r.location is not None and r.location.raw == BED.location for r in reports)
    observations = {o.code for r in reports for o in r.observations}
    assert {147842, 150456} <= observations
    waves = [w for r in reports for w in r.waveforms]
    assert {w.label for w in waves} >= {"ECG II", "Pleth"}
    for wave in waves:
        assert wave.sample_rate_hz > 0 and wave.samples.dtype == np.float32
        assert wave.start_time_ns > 0


def test_simulated_alarms_decode_complete_and_tie_their_updates_together() -> None:
    _, readouts = simulate(
        "[patient]\nvariability = 0\n"
        '[[events]]\nat = "00:03"\nchange = "spo2"\nto = 80\n'
        '[[events]]\nat = "00:25"\nchange = "spo2"\nto = 97\n'
        '[[events]]\nat = "00:05"\nartefact = "lead_off"\nduration = "6s"\n',
        40,
    )
    updates = [a for r in readouts for a in r.alarms]
    assert len(updates) >= 5
    by_id: dict[str, list[str]] = {}
    for n, update in enumerate(updates):
        message = encode_oru_r40(update, device=DEVICE, bed=BED, control_id=f"A{n}", now_ns=NOW_NS)
        (report,) = decode(message).reports
        assert report.observations == ()  # facets, the value row included, are the alarm's
        (alarm,) = report.alarms
        assert alarm.priority in (AlarmPriority.LOW, AlarmPriority.MEDIUM, AlarmPriority.HIGH)
        assert alarm.kind in (AlarmKind.PHYSIOLOGICAL, AlarmKind.TECHNICAL)
        assert alarm.phase == update.phase and alarm.state == update.state
        assert alarm.text and alarm.code
        by_id.setdefault(alarm.alarm_id, []).append(alarm.phase)
    assert ["start", "continue", "end"] in sorted(by_id.values())
    assert all(phases[0] == "start" and phases[-1] == "end" for phases in by_id.values())

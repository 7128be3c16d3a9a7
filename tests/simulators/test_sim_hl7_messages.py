"""Every kind of HL7 message the simulators send, checked by hl7apy and read back with er7.

hl7apy (1.3.5) knows no ORU_R40 structure in any version it ships (``Message("ORU_R40")``
raises "Invalid name"), so a PCD-04 message is validated STRICT with the ORU_R01 grammar
(MSH PID PV1 OBR {OBX}, which PCD-04 shares) after MSH-9 is rewritten to ORU^R01^ORU_R01;
the R40 message type itself is checked by the er7 read-back.
"""

from __future__ import annotations

import calendar
import dataclasses

import numpy as np
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import InvalidName
from hl7apy.parser import parse_message

from adapters.hl7 import er7
from simulators.monitor import MonitorModel, Readout
from simulators.pcd01 import WAVE_KINDS, encode_oru_r01, encode_waveform, ward_profiles
from simulators.pcd04 import encode_oru_r40
from simulators.scenario import load_scenario, parse_scenario
from simulators.ward import VENDOR_GATEWAY, SimulatedMonitor

NOW_NS = calendar.timegm((2024, 3, 9, 14, 39, 5)) * 1_000_000_000
DEVICE, BED = ward_profiles(3, seed=2)[2]


def hl7apy_strict(message: bytes, structure: str = "ORU_R01") -> None:
    parsed = parse_message(
        message.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True
    )
    parsed.validate()
    assert parsed.name == structure


def monitor(
    scenario: str, seconds: int, *, vendor: bool = False
) -> tuple[SimulatedMonitor, list[Readout]]:
    ward = load_scenario(scenario) if "\n" not in scenario else parse_scenario(scenario)
    sim = SimulatedMonitor(
        2, DEVICE, BED, MonitorModel(ward.beds[0], 5), sender=VENDOR_GATEWAY if vendor else None
    )
    readouts = [sim.tick(1.0, NOW_NS + s * 1_000_000_000) for s in range(1, seconds + 1)]
    return sim, readouts


def test_hl7apy_has_no_oru_r40_structure_so_pcd04_is_checked_with_the_r01_grammar() -> None:
    with pytest.raises(InvalidName):
        Message("ORU_R40", version="2.6")


def test_numerics_with_unmeasurable_values_and_an_arterial_line_pass_strict_validation() -> None:
    sim, _ = monitor("hypotension", 5)
    assert sim.last_vitals is not None and sim.last_vitals.abp is not None
    blank = dataclasses.replace(sim.last_vitals, heart_rate=None, spo2=None, pulse_rate=None)
    message = encode_oru_r01(blank, device=DEVICE, bed=BED, control_id="N1", now_ns=NOW_NS)
    hl7apy_strict(message)
    rows = {o.get(4): o for o in er7.parse(message).all("OBX")}
    assert (rows["1.1.1.1"].get(5), rows["1.1.1.1"].get(11)) == ("", "X")
    assert rows["1.5.1.1"].raw(3) == "150037^MDC_PRESS_BLD_ART_ABP_SYS^MDC"
    assert rows["1.5.1.1"].get(5) == str(sim.last_vitals.abp[0])


@pytest.mark.parametrize("kind", sorted(WAVE_KINDS))
def test_every_waveform_message_passes_strict_validation_and_reads_back(kind: str) -> None:
    sim, readouts = monitor("hypotension", 3)
    wave = {k.name: w for k, w, _ in sim.waves(readouts[-1])}[kind]
    start_ns = sim.wave_start_ns(wave)
    message = encode_waveform(
        WAVE_KINDS[kind], wave.samples, wave.rate, start_ns,
        device=DEVICE, bed=BED, control_id="W1", now_ns=NOW_NS,
    )  # fmt: skip
    hl7apy_strict(message)
    obx = er7.parse(message).all("OBX")
    na, rate = obx[-2], obx[-1]
    assert na.get(2) == "NA"
    samples = np.array([float(x) for x in na.raw(5).split("^")])
    assert samples.size == wave.samples.size
    resolution = 10.0 ** -WAVE_KINDS[kind].decimals
    assert np.abs(samples - wave.samples).max() <= resolution / 2 + 1e-9
    assert rate.raw(3) == "0^MDC_ATTR_SAMP_RATE^MDC"
    assert rate.get(4) == f"{na.get(4)}.1"
    assert float(rate.get(5)) == wave.rate
    assert rate.raw(6) == "264608^MDC_DIM_PER_SEC^MDC"
    # The third second's samples start 2 s after the first tick's: 14:39:05 + 2 s.
    assert start_ns == NOW_NS + 2_000_000_000
    assert na.get(14) == "20240309143907.000+0000"


def test_one_second_of_waves_carries_250_125_and_62_or_63_samples() -> None:
    sim, readouts = monitor("stable", 4)
    for readout in readouts:
        sizes = {k.name: w.samples.size for k, w, _ in sim.waves(readout)}
        assert sizes["ecg"] == 250 and sizes["pleth"] == 125 and sizes["resp"] in (62, 63)
    assert sum(r.resp.samples.size for r in readouts) == 250  # 62.5 Hz exactly


def test_alarm_messages_pass_strict_validation_and_keep_one_obr3_per_alarm() -> None:
    _, readouts = monitor(
        "[patient]\nvariability = 0\n"
        '[[events]]\nat = "00:03"\nchange = "spo2"\nto = 80\n'
        '[[events]]\nat = "00:25"\nchange = "spo2"\nto = 97\n'
        '[[events]]\nat = "00:05"\nartefact = "lead_off"\nduration = "6s"\n',
        40,
    )
    messages = [
        encode_oru_r40(a, device=DEVICE, bed=BED, control_id=f"A{n}", now_ns=NOW_NS)
        for n, a in enumerate(a for r in readouts for a in r.alarms)
    ]
    assert len(messages) >= 5
    by_alarm: dict[str, list[str]] = {}
    for message in messages:
        hl7apy_strict(message.replace(b"ORU^R40^ORU_R40", b"ORU^R01^ORU_R01"))
        parsed = er7.parse(message)
        assert parsed.message_type == ("ORU", "R40", "ORU_R40")
        obr = parsed.first("OBR")
        assert obr is not None and obr.raw(4) == "196616^MDC_EVT_ALARM^MDC"
        facets = {o.get(4).rsplit(".", 1)[1]: o for o in parsed.all("OBX")}
        assert facets["2"].raw(3) == "68480^MDC_ATTR_ALERT_SOURCE^MDC"
        assert facets["7"].get(5) in ("SP", "ST", "SA")
        by_alarm.setdefault(obr.get(3), []).append(facets["3"].get(5))
    phases = sorted(by_alarm.values())
    assert ["start", "continue", "end"] in phases  # the SpO2 alarm: 3 s delay, 10 s repeats…
    assert all(p[0] == "start" and p[-1] == "end" for p in phases)


def test_a_technical_alarm_carries_its_event_as_a_coded_value() -> None:
    _, readouts = monitor('[[events]]\nat = "00:02"\nartefact = "sensor_off"\nduration = "9s"\n', 8)
    [alarm] = [a for r in readouts for a in r.alarms]
    parsed = er7.parse(encode_oru_r40(alarm, device=DEVICE, bed=BED, control_id="T", now_ns=NOW_NS))
    event = parsed.all("OBX")[0]
    assert event.raw(3) == "196616^MDC_EVT_ALARM^MDC"
    assert event.components(5)[:3] == ["196916", "MDC_EVT_SENSOR_DISCONN", "MDC"]
    assert event.components(5)[8] == "SpO2 sensor off"
    assert event.components(18)[0] == DEVICE.eui64
    priority = [o.get(5) for o in parsed.all("OBX") if o.get(3) == "68485"]
    assert priority == ["ST"]


def test_vendor_gateway_messages_name_the_gateway_in_msh3_and_the_monitor_in_obx18() -> None:
    sim, readouts = monitor("stable", 2, vendor=True)
    for message in sim.hl7_messages(readouts[-1], NOW_NS, waveforms=True):
        hl7apy_strict(message)
        parsed = er7.parse(message)
        assert parsed.msh.components(3)[:2] == [VENDOR_GATEWAY.name, VENDOR_GATEWAY.eui64]
        mds = parsed.all("OBX")[0]
        assert mds.components(18)[0] == DEVICE.eui64
        pv1 = parsed.first("PV1")
        assert pv1 is not None and pv1.raw(3) == BED.location

"""Values no patient can have: the markers and ranges of gateway.plausibility, and the
property that any number in OBX-5 decodes and is screened without an unexpected error and
never stays VALID outside its parameter's range."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7 import er7, pcd
from gateway import nomenclature, plausibility
from gateway.domain import DeviceId, DeviceReport, Observation, ObservationStatus
from gateway.errors import ParseError

INVALID, VALID = ObservationStatus.INVALID, ObservationStatus.VALID
DEVICE = DeviceId("serial:/dev/ttyUSB0", "Rad-8")


def observation(
    code: int, value: float | str, unit: str, status: ObservationStatus = VALID
) -> Observation:
    return Observation(DEVICE, code, "x", value, unit, status, 1)


@pytest.mark.parametrize(
    ("code", "value", "unit", "reason"),
    [
        (150456, -999.0, "%", "no-value marker -999"),
        (150344, -99.9, "°C", "no-value marker -99.9"),
        (147842, 9999.0, "/min", "no-value marker 9999"),
        (150021, -32767.0, "mmHg", "no-value marker -32767"),
        (150456, 101.0, "%", "outside the physiological range 0–100 %"),
        (147842, 351.0, "/min", "outside the physiological range 0–350 /min"),
        (150344, 4.0, "°C", "outside the physiological range 15–45 °C"),
        (150033, -31.0, "mmHg", "outside the physiological range -30–400 mmHg"),
        (151712, 160.0, "mmHg", "outside the physiological range 0–150 mmHg"),
        (151712, 21.0, "kPa", "outside the physiological range 0–20 kPa"),
        (151562, 201.0, "/min", "outside the physiological range 0–200 /min"),
        (150456, 140.0, "", "outside the physiological range 0–100 %"),  # no unit: its own
        (152096, 40.0, "%", "outside the physiological range 0–25 %"),  # etSEV
        (152108, 120.0, "%", "outside the physiological range 0–100 %"),  # etN2O
    ],
)
def test_markers_and_values_outside_the_range_have_their_reason(
    code: int, value: float, unit: str, reason: str
) -> None:
    assert plausibility.reason(code, value, unit) == reason


@pytest.mark.parametrize(
    ("code", "value", "unit"),
    [
        (150456, 0.0, "%"),
        (150456, 100.0, "%"),
        (147842, 300.0, "/min"),  # SVT: an extreme, still a value
        (150344, 20.0, "°C"),  # deep hypothermia
        (150033, -5.0, "mmHg"),
        (151712, 5.3, "kPa"),
        (151712, 5.0, "%"),
        (150087, 12.0, "cmH2O"),
        (152084, 18.0, "%"),  # etDES at a desflurane vaporiser's top
        (152192, 70.0, "%"),  # inN2O
        (12345678, -999.0, "%"),  # a code not judged here: left as sent
        (150456, 140.0, "furlong"),  # a unit that cannot be compared: left as sent
    ],
)
def test_values_a_patient_can_have_are_left_alone(code: int, value: float, unit: str) -> None:
    assert plausibility.reason(code, value, unit) is None


def test_every_marker_is_outside_every_range() -> None:
    """So a marker is never a real reading of a parameter judged here."""
    markers = plausibility.NO_VALUE_MARKERS | plausibility.INTEGER_MARKERS
    for spans in plausibility.RANGES.values():
        for span in spans.values():
            assert not [m for m in markers if span.low <= m <= span.high], span


def test_the_tile_parameters_all_have_a_range() -> None:
    for codes in (
        nomenclature.HEART_RATE, nomenclature.SPO2, nomenclature.NIBP_SYS, nomenclature.ABP_SYS,
        nomenclature.RESP_RATE, nomenclature.TEMPERATURE, nomenclature.ETCO2, nomenclature.FICO2,
    ):  # fmt: skip
        assert all(code in plausibility.RANGES for code in codes), codes


def test_screen_keeps_a_report_with_only_real_values_as_it_is() -> None:
    report = DeviceReport(DEVICE, "serial", "/dev/ttyUSB0", 1, observations=(
        observation(150456, 97.0, "%"), observation(147842, 72.0, "/min"),
        observation(184327, "Sinus", ""),
    ))  # fmt: skip
    assert plausibility.screen(report) == (report, ())
    assert plausibility.screen(report)[0] is report


def test_screen_makes_the_impossible_invalid_and_keeps_the_rest() -> None:
    already = observation(150456, 50.0, "%", INVALID)
    report = DeviceReport(DEVICE, "serial", "/dev/ttyUSB0", 1, observations=(
        observation(150456, -999.0, "%"), observation(147842, 72.0, "/min"),
        observation(150344, 99.0, "°C", ObservationStatus.QUESTIONABLE), already,
    ))  # fmt: skip
    screened, rejected = plausibility.screen(report)
    assert [(o.status, o.reason) for o in screened.observations] == [
        (INVALID, "no-value marker -999"),
        (VALID, ""),
        (INVALID, "outside the physiological range 15–45 °C"),
        (INVALID, ""),  # the device said so already: its own reason, if any, is kept
    ]
    assert [o.code for o in rejected] == [150456, 150344]
    assert [o.value for o in screened.observations] == [-999.0, 72.0, 99.0, 50.0]  # kept raw


def test_the_tally_counts_per_device_and_says_each_parameter_once() -> None:
    tally = plausibility.RejectedValueTally()
    report = DeviceReport(
        DEVICE, "serial", "/dev/ttyUSB0", 1, observations=(observation(150456, -999.0, "%"),)
    )
    screened, rejected = plausibility.screen(report)
    first = tally.note(screened, rejected)
    second = tally.note(screened, rejected)
    assert first == ["value out of range from Rad-8: x -999: no-value marker -999"]
    assert second == []
    (counted,) = tally.snapshot()
    assert (counted.device, counted.count, counted.last_text) == (
        DEVICE,
        2,
        "x -999: no-value marker -999",
    )


# ---- any number in OBX-5 --------------------------------------------------------------------

_ROWS = [
    ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC"),
    ("147842^MDC_ECG_HEART_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC"),
    ("0002-4182^HR^MDIL", "0004-0aa0^bpm^MDIL"),
    ("0002-5000^Resp^MDIL", "0004-0ae0^rpm^MDIL"),
    ("150344^MDC_TEMP^MDC", "268192^MDC_DIM_DEGC^MDC"),
    ("150033^MDC_PRESS_BLD_ART_SYS^MDC", "mm[Hg]^mm[Hg]^UCUM"),
    ("151712^MDC_CONC_AWAY_CO2_EXP^MDC", "kPa^kPa^UCUM"),
    ("151716^MDC_CONC_AWAY_CO2_INSP^MDC", ""),
]
_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**12), 10**12).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=2).map(str),
    st.sampled_from(["-999", "-99.9", "-9999", "9999", "-32767", "1e3", "+5", "-0", ".5"]),
    st.text(alphabet="0123456789.-+eE", min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(row=st.sampled_from(_ROWS), text=_NUMBER, status=st.sampled_from(["R", "F", "", "X", "P"]))
def test_any_number_in_obx5_decodes_and_never_stays_valid_outside_its_range(
    row: tuple[str, str], text: str, status: str
) -> None:
    code, unit = row
    raw = (
        "MSH|^~\\&|MON|W|||20240101120000+0000||ORU^R01^ORU_R01|P1|P|2.6\r"
        "PID|||1\rPV1||I|ICU^1^1\rOBR|1\r"
        f"OBX|1|NM|{code}|1.1.1.1|{text}|{unit}|||||{status}\r"
    ).encode()
    try:
        reports = pcd.decode(er7.parse(raw), transport="t", peer="p", receive_time_ns=1)
    except ParseError:
        return
    for report in reports:
        screened, _ = plausibility.screen(report)
        for obs in screened.observations:
            if obs.status is not VALID or isinstance(obs.value, str):
                continue
            assert math.isfinite(obs.value)
            span = plausibility.RANGES[obs.code][obs.unit]
            assert span.low <= obs.value <= span.high, (text, obs)

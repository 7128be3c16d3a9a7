"""Waveforms: NA rows with their child rate rows (IHE PCD), Mindray counts × resolution with
an invalid-sample marker, Philips scaled units, and ORU^W01 channel definitions."""

from __future__ import annotations

import calendar
import time

import numpy as np
import pytest
from samples import load_sample

from adapters.hl7 import er7, pcd
from gateway.domain import DeviceReport, WaveformChunk


def decode(data: bytes) -> pcd.Decoded:
    return pcd.decode_message(er7.parse(data), transport="mllp", peer="p:1", receive_time_ns=99)


def report_of(name: str) -> DeviceReport:
    (report,) = decode(load_sample(name)).reports
    return report


def utc(*fields: int) -> int:
    return calendar.timegm((*fields, 0, 0, 0)) * 1_000_000_000


def test_pcd01_waveforms_take_their_rate_from_the_child_row() -> None:
    report = report_of("17")
    ecg, pleth = report.waveforms
    assert (ecg.code, ecg.label, ecg.sample_rate_hz, ecg.unit, ecg.sub_id) == (
        131330,
        "ECG II",
        250.0,
        "mV",
        "1.1.1.1",
    )
    assert ecg.samples.dtype == np.float32
    assert ecg.samples.size == 25
    assert ecg.samples[5] == pytest.approx(1.2)
    assert ecg.start_time_ns == utc(2024, 3, 5, 9, 14, 59) + 900_000_000  # OBX-14
    assert (pleth.code, pleth.label, pleth.sample_rate_hz, pleth.samples.size) == (
        150452,
        "Pleth",
        125.0,
        15,
    )
    assert ecg.device == pleth.device == report.device
    assert ecg.message_id == "WF-0001"
    # Rate and range rows describe the waveform: they are not observations.
    assert [(o.code, o.value) for o in report.observations] == [(147842, 72.0)]


def test_mindray_counts_are_scaled_by_resolution_and_the_inop_value_is_a_gap() -> None:
    report = report_of("18")
    (resp,) = report.waveforms
    assert (resp.code, resp.label, resp.sample_rate_hz) == (151780, "Resp", 500.0)
    expected = [1024.0, 1025.0, 1030.5, 1045.0, np.nan, np.nan, 1050.0, 1040.0, 1030.0, 1024.5]
    np.testing.assert_array_equal(resp.samples, np.array(expected, dtype=np.float32))
    local = int(time.mktime((2024, 3, 5, 10, 14, 59, 0, 0, -1))) * 1_000_000_000
    assert resp.start_time_ns == local + 610_000_000  # OBR-7, milliseconds without a point
    assert report.observations == ()
    assert report.location is None


def test_philips_counts_scaled_in_the_unit() -> None:
    (wave,) = report_of("19").waveforms
    assert (wave.code, wave.unit, wave.sample_rate_hz) == (69121, "mV", 500.0)
    np.testing.assert_allclose(
        wave.samples, [0, 410 * 10 / 4096, 819 * 10 / 4096, 10, -10], rtol=1e-6
    )


def test_w01_channel_definitions_give_rate_sensitivity_baseline_and_names() -> None:
    report = report_of("20")
    ecg, resp, co2 = report.waveforms
    assert (ecg.code, ecg.label, ecg.sample_rate_hz, ecg.unit, ecg.sub_id) == (
        131330,
        "ECG II",
        250.0,
        "mV",
        "1",
    )
    np.testing.assert_allclose(ecg.samples[:6], [0, 0.05, 0.12, 0.08, -0.1, 1.2], rtol=1e-6)
    assert (resp.label, resp.sample_rate_hz, resp.unit, resp.sub_id) == ("Resp", 62.5, "mV", "2")
    np.testing.assert_allclose(resp.samples, [0.5, 0.6, 0.8, 1.2, 1.5, 1.6], rtol=1e-6)
    assert (co2.label, co2.unit, co2.sub_id) == ("CO2", "mmHg", "3")
    np.testing.assert_allclose(co2.samples, [0, 1, 5, 15, 25, 30], rtol=1e-6)
    assert ecg.start_time_ns == resp.start_time_ns == utc(2024, 3, 5, 2, 14, 59) + 500_000_000
    assert report.observations == ()  # TS and CD rows describe the waves


def waveform_message(rows: bytes, obr_end: bytes = b"") -> bytes:
    return (
        b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|W9|P|2.6\r"
        b"PV1||I|ICU^1^1\r"
        b"OBR|1||9|WAVEFORM|||20240101120000+0000|" + obr_end + b"\r" + rows
    )


def test_without_a_rate_the_obr_window_gives_one() -> None:
    data = waveform_message(
        b"OBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^2^3^4^5^6^7^8^9^10|||||F\r",
        obr_end=b"20240101120000.080+0000",
    )
    (wave,) = decode(data).reports[0].waveforms
    assert wave.sample_rate_hz == pytest.approx(125.0)


def test_a_waveform_without_any_rate_is_not_shown_and_the_problem_is_reported() -> None:
    data = waveform_message(b"OBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^2^3|||||F\r")
    decoded = decode(data)
    assert decoded.reports[0].waveforms == ()
    assert decoded.problems == ("waveform Pleth (OBX-4 1.1.1.1) has no sample rate: not shown",)


def test_unreadable_samples_are_gaps_not_failures() -> None:
    data = waveform_message(
        b"OBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^^x^inf^5|||||F\r"
        b"OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|100|264608^MDC_DIM_PER_SEC^MDC|||||F\r"
    )
    (wave,) = decode(data).reports[0].waveforms
    np.testing.assert_array_equal(wave.samples, np.array([1, np.nan, np.nan, np.nan, 5], "f4"))


def test_a_rate_given_as_a_period_is_turned_into_a_rate() -> None:
    data = waveform_message(
        b"OBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^2^3|||||F\r"
        b"OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|8|264338^MDC_DIM_MILLI_SEC^MDC|||||F\r"
    )
    (wave,) = decode(data).reports[0].waveforms
    assert wave.sample_rate_hz == pytest.approx(125.0)


def test_two_leads_with_their_own_rates_are_matched_by_sub_id() -> None:
    data = waveform_message(
        b"OBX|1|NA|131329^MDC_ECG_ELEC_POTL_I^MDC|1.1.1.1|1^2|266418^MDC_DIM_MILLI_VOLT^MDC\r"
        b"OBX|2|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1.2|3^4|266418^MDC_DIM_MILLI_VOLT^MDC\r"
        b"OBX|3|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|500|264608^MDC_DIM_PER_SEC^MDC\r"
        b"OBX|4|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.2.1|250|264608^MDC_DIM_PER_SEC^MDC\r"
    )
    lead_i, lead_ii = decode(data).reports[0].waveforms
    assert [(w.label, w.sample_rate_hz) for w in (lead_i, lead_ii)] == [
        ("ECG I", 500.0),
        ("ECG II", 250.0),
    ]


def test_a_waveform_marked_invalid_is_a_gap_not_a_flat_signal() -> None:
    data = waveform_message(
        b"OBX|1|NA|131330^MDC_ECG_ELEC_POTL_II^MDC|1.1.1.1|0^0^0^0|266418^MDC_DIM_MILLI_VOLT^MDC"
        b"|||||X\r"
        b"OBX|2|NM|0^MDC_ATTR_SAMP_RATE^MDC|1.1.1.1.1|250|264608^MDC_DIM_PER_SEC^MDC|||||R\r"
    )
    (wave,) = decode(data).reports[0].waveforms
    assert wave.sample_rate_hz == 250.0 and wave.samples.size == 4
    assert np.isnan(wave.samples).all()


def chunks(report: DeviceReport) -> list[WaveformChunk]:
    return list(report.waveforms)


def test_every_waveform_fixture_gives_float32_chunks_with_a_positive_rate() -> None:
    for name in ("17", "18", "19", "20"):
        for wave in chunks(report_of(name)):
            assert wave.samples.dtype == np.float32, name
            assert wave.sample_rate_hz > 0, name
            assert wave.samples.ndim == 1 and wave.samples.size > 0, name

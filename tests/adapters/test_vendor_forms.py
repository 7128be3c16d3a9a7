"""Vendor nomenclatures as the OBX reader takes them (issue 12): Philips MDIL ids and units
with hexadecimal partitions, Philips ``Resp`` as the respiration rate, GE's CO2 codes, and
the units the HL7 export writes with their real coding system."""

from __future__ import annotations

import pytest

from adapters.hl7 import obx
from adapters.hl7.batch import _units as export_units
from gateway import nomenclature


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0004-0aa0^bpm^MDIL", "/min"),
        ("0004-0220^%^MDIL", "%"),
        ("0004-0f20^mmHg^MDIL", "mmHg"),
        ("0004-0ae0^rpm^MDIL", "/min"),
        ("0004-17a0^°C^MDIL", "°C"),
        ("0004-0f03^kPa^MDIL", "kPa"),
        ("0004-0200^^MDIL", ""),
        ("0004-7777^mmol/L^MDIL", "mmol/L"),  # a unit id not in the table: its text
        ("0004-7777^^MDIL", str(4 * 65536 + 0x7777)),  # nor a text: its MDC number
    ],
)
def test_mdil_unit_ids_read_as_their_display_text(raw: str, shown: str) -> None:
    assert obx.unit_of(raw) == shown


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("0002-4182^HR^MDIL", 147842),
        ("0002-4bb8^SpO2^MDIL", 150456),
        ("0402-f8f5^X^MDIL", 0x0402 * 65536 + 0xF8F5),
        ("00ff-0001^X^MDIL", 0xFF * 65536 + 1),
        ("0002-5000^Resp^MDIL", 151562),  # Philips Resp is MDC_RESP_RATE
        ("0002-4a11^ABPs^MDIL", 150033),
        ("0002-4a47^CVPm^MDIL", 150087),
        ("0002-50b0^etCO2^MDIL", 151728),
        ("0002-5220^etSEV^MDIL", 152096),  # NOM_CONC_AWAY_SEVOFL_ET
        ("0002-5280^inN2O^MDIL", 152192),  # NOM_CONC_AWAY_N2O_INSP
    ],
)
def test_mdil_ids_are_hexadecimal_in_both_halves(raw: str, code: int) -> None:
    assert obx.identify(raw).mdc == code
    assert obx.identify(raw).source_code is None


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("152096^MDC_CONC_AWAY_SEVOFL_ET^MDC", "etSEV"),
        ("152180^MDC_CONC_AWAY_SEVOFL_INSP^MDC", "inSEV"),
        ("152084^MDC_CONC_AWAY_DESFL_ET^MDC", "etDES"),
        ("152100^MDC_CONC_AWAY_ISOFL_ET^MDC", "etISO"),
        ("152108^MDC_CONC_AWAY_N2O_ET^MDC", "etN2O"),
        ("152460^MDC_CONC_AWAY_AGENT_ET^MDC", "etAGT"),
        ("0^MDC_CONC_AWAY_HALOTH_ET^MDC", "etHAL"),  # by its REFID when the number is 0
    ],
)
def test_anaesthetic_agents_and_n2o_are_known_parameters(raw: str, label: str) -> None:
    found = obx.identify(raw)
    assert nomenclature.BY_CODE[found.mdc].label == label
    assert nomenclature.BY_CODE[found.mdc].unit == "%"


def test_an_mdil_id_that_is_not_hex_is_kept_as_the_senders_own_code() -> None:
    found = obx.identify("00g2-4182^HR^MDIL")
    assert (found.mdc, found.source_code) == (0, "MDIL:00g2-4182")


@pytest.mark.parametrize(
    ("raw", "label", "watched_as"),
    [
        ("151712^MDC_CONC_AWAY_CO2_EXP^MDC", "EtCO2", nomenclature.ETCO2),
        ("151716^MDC_CONC_AWAY_CO2_INSP^MDC", "FiCO2", nomenclature.FICO2),
        ("0002-5000^Resp^MDIL", "RR", nomenclature.RESP_RATE),
        ("0002-480a^Pulse^MDIL", "PR", nomenclature.HEART_RATE),
        ("0002-5012^awRR^MDIL", "awRR", nomenclature.RESP_RATE),
        ("0002-4b60^Tcore^MDIL", "Tcore", nomenclature.TEMPERATURE),
    ],
)
def test_vendor_variants_are_the_parameters_the_tile_and_limits_know(
    raw: str, label: str, watched_as: tuple[int, ...]
) -> None:
    found = obx.identify(raw)
    assert found.known and found.label == label
    assert found.mdc in watched_as


def test_mdil_units_are_known_to_validate() -> None:
    assert obx.unit_is_known("0004-0aa0^bpm^MDIL")
    assert not obx.unit_is_known("0004-7777^^MDIL")


@pytest.mark.parametrize(
    ("unit", "obx6"),
    [
        ("/min", "/min^/min^UCUM"),
        ("°C", "Cel^Cel^UCUM"),
        ("mmHg", "mm[Hg]^mm[Hg]^UCUM"),
        ("kPa", "kPa^kPa^UCUM"),
        ("0004-0aa0", "/min^/min^UCUM"),  # as journals before issue 12 kept it
        ("0004-7777", f"{4 * 65536 + 0x7777}^^MDC"),
        ("262999", "262999^^MDC"),
        ("10.mV/4096", "10.mV/4096^10.mV/4096^L"),
        ("", ""),
    ],
)
def test_the_export_writes_each_unit_with_its_real_coding_system(unit: str, obx6: str) -> None:
    assert export_units(unit) == obx6


@pytest.mark.parametrize("unit", ["/min", "°C", "mmHg", "kPa", "262999", "10.mV/4096", "mL/h"])
def test_an_exported_unit_reads_back_as_itself(unit: str) -> None:
    assert obx.unit_of(export_units(unit)) == unit

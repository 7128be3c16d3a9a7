"""The MDC (ISO/IEEE 11073-10101) nomenclature the gateway understands.

Maps context-free codes (block × 65536 + term code) and their REFIDs to what a person
reads: a short label, the unit, the number of decimals. Facts from ISO/IEEE 11073-10101 as
cited by the IHE PCD Technical Framework; codes that public sources disagree on (EtCO2)
are all mapped, and lookups by REFID catch senders whose number is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Parameter:
    code: int
    refid: str
    label: str
    unit: str
    precision: int


# Units: code → display text (MDC_DIM_*).
UNITS: dict[int, str] = {
    262656: "",  # MDC_DIM_DIMLESS
    262688: "%",  # MDC_DIM_PERCENT
    264864: "/min",  # MDC_DIM_BEAT_PER_MIN
    264928: "/min",  # MDC_DIM_RESP_PER_MIN
    266016: "mmHg",  # MDC_DIM_MMHG
    268192: "°C",  # MDC_DIM_DEGC
    264338: "ms",  # MDC_DIM_MILLI_SEC
    264320: "s",  # MDC_DIM_SEC
    264352: "min",  # MDC_DIM_MIN
    266418: "mV",  # MDC_DIM_MILLI_VOLT
    264640: "Hz",  # MDC_DIM_HZ
    264608: "/s",  # MDC_DIM_PER_SEC
    265266: "mL/h",  # MDC_DIM_MILLI_L_PER_HR
    263762: "mL",  # MDC_DIM_MILLI_L
    263875: "kg",  # MDC_DIM_KILO_G
}

# UCUM and vendor unit spellings → the display text used on screen.
UNIT_ALIASES: dict[str, str] = {
    "mm[Hg]": "mmHg",
    "mmHg": "mmHg",
    "{beat}/min": "/min",
    "{beats}/min": "/min",
    "/min": "/min",
    "bpm": "/min",
    "{breath}/min": "/min",
    "{resp}/min": "/min",
    "rpm": "/min",
    "%": "%",
    "Cel": "°C",
    "degC": "°C",
    "ms": "ms",
    "mL/h": "mL/h",
    "mL": "mL",
    "kg": "kg",
    "mV": "mV",
    "s": "s",
    "min": "min",
    "kPa": "kPa",
}

_PARAMETERS = (
    Parameter(147842, "MDC_ECG_HEART_RATE", "HR", "/min", 0),
    Parameter(148066, "MDC_ECG_V_P_C_RATE", "PVC", "/min", 0),
    Parameter(150456, "MDC_PULS_OXIM_SAT_O2", "SpO2", "%", 0),
    Parameter(149530, "MDC_PULS_OXIM_PULS_RATE", "PR", "/min", 0),
    Parameter(149538, "MDC_PLETH_PULS_RATE", "PR", "/min", 0),
    Parameter(149546, "MDC_PULS_RATE_NON_INV", "PR (NIBP)", "/min", 0),
    Parameter(150448, "MDC_PULS_OXIM_PERF_REL", "PI", "", 1),
    Parameter(150488, "MDC_BLD_PERF_INDEX", "PI", "", 1),
    Parameter(150021, "MDC_PRESS_BLD_NONINV_SYS", "NIBP sys", "mmHg", 0),
    Parameter(150022, "MDC_PRESS_BLD_NONINV_DIA", "NIBP dia", "mmHg", 0),
    Parameter(150023, "MDC_PRESS_BLD_NONINV_MEAN", "NIBP mean", "mmHg", 0),
    Parameter(150301, "MDC_PRESS_CUFF_SYS", "NIBP sys", "mmHg", 0),
    Parameter(150302, "MDC_PRESS_CUFF_DIA", "NIBP dia", "mmHg", 0),
    Parameter(150303, "MDC_PRESS_CUFF_MEAN", "NIBP mean", "mmHg", 0),
    Parameter(150033, "MDC_PRESS_BLD_ART_SYS", "ABP sys", "mmHg", 0),
    Parameter(150034, "MDC_PRESS_BLD_ART_DIA", "ABP dia", "mmHg", 0),
    Parameter(150035, "MDC_PRESS_BLD_ART_MEAN", "ABP mean", "mmHg", 0),
    Parameter(150037, "MDC_PRESS_BLD_ART_ABP_SYS", "ABP sys", "mmHg", 0),
    Parameter(150038, "MDC_PRESS_BLD_ART_ABP_DIA", "ABP dia", "mmHg", 0),
    Parameter(150039, "MDC_PRESS_BLD_ART_ABP_MEAN", "ABP mean", "mmHg", 0),
    Parameter(150045, "MDC_PRESS_BLD_ART_PULM_SYS", "PAP sys", "mmHg", 0),
    Parameter(150046, "MDC_PRESS_BLD_ART_PULM_DIA", "PAP dia", "mmHg", 0),
    Parameter(150047, "MDC_PRESS_BLD_ART_PULM_MEAN", "PAP mean", "mmHg", 0),
    Parameter(150087, "MDC_PRESS_BLD_VEN_CENT_MEAN", "CVP", "mmHg", 0),
    Parameter(151562, "MDC_RESP_RATE", "RR", "/min", 0),
    Parameter(151578, "MDC_TTHOR_RESP_RATE", "RR", "/min", 0),
    Parameter(150344, "MDC_TEMP", "Temp", "°C", 1),
    Parameter(131841, "MDC_ECG_AMPL_ST_I", "ST I", "mV", 2),
    Parameter(131842, "MDC_ECG_AMPL_ST_II", "ST II", "mV", 2),
    Parameter(131901, "MDC_ECG_AMPL_ST_III", "ST III", "mV", 2),
    Parameter(147232, "MDC_ECG_TIME_PD_QT_GL", "QT", "ms", 0),
    Parameter(147236, "MDC_ECG_TIME_PD_QTc", "QTc", "ms", 0),
    Parameter(184327, "MDC_ECG_STAT_RHY", "Rhythm", "", 0),
    Parameter(151708, "MDC_AWAY_CO2_ET", "EtCO2", "mmHg", 0),
    Parameter(151728, "MDC_AWAY_CO2_ET", "EtCO2", "mmHg", 0),
    Parameter(151928, "MDC_VENT_AWAY_CO2_ET", "EtCO2", "mmHg", 0),
    Parameter(131329, "MDC_ECG_ELEC_POTL_I", "ECG I", "mV", 3),
    Parameter(131330, "MDC_ECG_ELEC_POTL_II", "ECG II", "mV", 3),
    Parameter(150452, "MDC_PULS_OXIM_PLETH", "Pleth", "", 0),
    Parameter(151780, "MDC_IMPED_TTHOR", "Resp", "", 0),
)

BY_CODE: dict[int, Parameter] = {p.code: p for p in _PARAMETERS}
# A REFID seen with an unexpected number still resolves: the first code listed wins.
BY_REFID: dict[str, Parameter] = {}
for _p in _PARAMETERS:
    BY_REFID.setdefault(_p.refid, _p)
BY_REFID["MDC_ECG_CARD_BEAT_RATE"] = BY_CODE[147842]  # synonym used by IHE samples

# The parameters a bed tile shows, by what they are rather than by which code carried them.
HEART_RATE = (147842, 149530, 149538)
SPO2 = (150456,)
NIBP_SYS = (150021, 150301)
NIBP_DIA = (150022, 150302)
NIBP_MEAN = (150023, 150303)
ABP_SYS = (150033, 150037)
ABP_DIA = (150034, 150038)
ABP_MEAN = (150035, 150039)
RESP_RATE = (151562, 151578)
TEMPERATURE = (150344,)
ETCO2 = (151708, 151728, 151928)


def parameter(code: int, refid: str = "") -> Parameter | None:
    """The parameter for a code, falling back to its REFID when the number is unknown."""
    return BY_CODE.get(code) or (BY_REFID.get(refid) if refid else None)


def unit_text(code: int | None, text: str = "") -> str:
    """Display text for a unit given as an MDC code and/or a UCUM/vendor spelling."""
    if code is not None and code in UNITS:
        return UNITS[code]
    return UNIT_ALIASES.get(text, text)


def format_value(value: float | str, precision: int) -> str:
    """A value at its parameter's precision; text values pass through."""
    if isinstance(value, str):
        return value
    return f"{value:.{precision}f}"

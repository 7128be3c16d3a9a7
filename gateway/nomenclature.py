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
    # Units Philips writes as MDIL (partition 4, hex term: 0004-0f03 is 4 × 65536 + 0x0f03);
    # the term codes are VSCaptureMP's UnitCode table (shared/reference/bedside-protocols.md).
    265987: "kPa",  # MDC_DIM_KILO_PASCAL (0x0f03)
    266048: "cmH2O",  # MDC_DIM_CM_H2O (0x0f40)
    265216: "L/min",  # MDC_DIM_L_PER_MIN (0x0c00)
    266419: "µV",  # MDC_DIM_MICRO_VOLT (0x10b3)
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
    "cmH2O": "cmH2O",
    "cm[H2O]": "cmH2O",
    "L/min": "L/min",
    "l/min": "L/min",
    "uV": "µV",
    "µV": "µV",
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
    # Vendor variants (issue 12). GE B40/Mural send CO2 as MDC_CONC_AWAY_CO2_EXP/_INSP.
    Parameter(151712, "MDC_CONC_AWAY_CO2_EXP", "EtCO2", "mmHg", 0),
    Parameter(151716, "MDC_CONC_AWAY_CO2_INSP", "FiCO2", "mmHg", 0),
    # Philips SCADA physio ids (IntelliVue, also its HL7 MDIL ids 0002-hhhh): the term
    # codes of shared/reference/bedside-protocols.md §1.9, partition 2. The REFIDs are
    # Philips' NOM_ names as MDC_ ones: not checked against ISO/IEEE 11073-10101 itself.
    Parameter(149514, "MDC_PULS_RATE", "PR", "/min", 0),  # NOM_PULS_RATE 0x480a
    Parameter(150032, "MDC_PRESS_BLD_ART", "ABP", "mmHg", 0),  # ART (compound) 0x4a10
    Parameter(150036, "MDC_PRESS_BLD_ART_ABP", "ABP", "mmHg", 0),  # ABP (compound) 0x4a14
    Parameter(150044, "MDC_PRESS_BLD_ART_PULM", "PAP", "mmHg", 0),  # PAP 0x4a1c
    Parameter(150052, "MDC_PRESS_BLD_ART_PULM_WEDGE", "PAWP", "mmHg", 0),  # PAWP 0x4a24
    Parameter(150084, "MDC_PRESS_BLD_VEN_CENT", "CVP", "mmHg", 0),  # CVP 0x4a44
    Parameter(153608, "MDC_PRESS_INTRA_CRAN", "ICP", "mmHg", 0),  # ICP 0x5808
    Parameter(153611, "MDC_PRESS_INTRA_CRAN_MEAN", "ICP", "mmHg", 0),  # ICP mean 0x580b
    Parameter(151570, "MDC_AWAY_RESP_RATE", "awRR", "/min", 0),  # awRR 0x5012
    Parameter(150368, "MDC_TEMP_CORE", "Tcore", "°C", 1),  # Tcore 0x4b60
    Parameter(150388, "MDC_TEMP_SKIN", "Tskin", "°C", 1),  # Tskin 0x4b74
    Parameter(150372, "MDC_TEMP_ESOPH", "Tesoph", "°C", 1),  # Tesoph 0x4b64
    Parameter(188420, "MDC_TEMP_RECT", "Trect", "°C", 1),  # Trect 0xe004
    Parameter(188436, "MDC_TEMP_BLD", "Tblood", "°C", 1),  # Tblood 0xe014
    Parameter(151738, "MDC_AWAY_CO2_INSP_MIN", "imCO2", "mmHg", 0),  # imCO2 0x50ba
    Parameter(152440, "MDC_CONC_AWAY_O2_ET", "etO2", "%", 0),  # etO2 0x5378
    Parameter(152196, "MDC_CONC_AWAY_O2_INSP", "inO2", "%", 0),  # inO2 0x5284
    # Anaesthetic agents and N2O, end-tidal and inspired (partition 2, SCADA: 0x0002 ×
    # 65536 + term; the terms as the IntelliVue Data Export nomenclature lists them).
    Parameter(152084, "MDC_CONC_AWAY_DESFL_ET", "etDES", "%", 1),  # 0x5214
    Parameter(152168, "MDC_CONC_AWAY_DESFL_INSP", "inDES", "%", 1),  # 0x5268
    Parameter(152088, "MDC_CONC_AWAY_ENFL_ET", "etENF", "%", 1),  # 0x5218
    Parameter(152172, "MDC_CONC_AWAY_ENFL_INSP", "inENF", "%", 1),  # 0x526c
    Parameter(152092, "MDC_CONC_AWAY_HALOTH_ET", "etHAL", "%", 1),  # 0x521c
    Parameter(152176, "MDC_CONC_AWAY_HALOTH_INSP", "inHAL", "%", 1),  # 0x5270
    Parameter(152096, "MDC_CONC_AWAY_SEVOFL_ET", "etSEV", "%", 1),  # 0x5220
    Parameter(152180, "MDC_CONC_AWAY_SEVOFL_INSP", "inSEV", "%", 1),  # 0x5274
    Parameter(152100, "MDC_CONC_AWAY_ISOFL_ET", "etISO", "%", 1),  # 0x5224
    Parameter(152184, "MDC_CONC_AWAY_ISOFL_INSP", "inISO", "%", 1),  # 0x5278
    Parameter(152108, "MDC_CONC_AWAY_N2O_ET", "etN2O", "%", 0),  # 0x522c
    Parameter(152192, "MDC_CONC_AWAY_N2O_INSP", "inN2O", "%", 0),  # 0x5280
    Parameter(152460, "MDC_CONC_AWAY_AGENT_ET", "etAGT", "%", 1),  # 0x538c
    Parameter(152464, "MDC_CONC_AWAY_AGENT_INSP", "inAGT", "%", 1),  # 0x5390
    # Ventilation (issue 16: Dräger MEDIBUS, GE S/5 spirometry). Each number is the one
    # device output and open implementations use for its REFID: 151817 in an anaesthesia
    # machine's PCD-01 message, 151976/151784/151868/151880 in OpenICE's ventilator
    # mappings, 151868/151880 also in an IEEE 11073-20601 code list (term 20796/20808),
    # 151976/151586 in a terminology server's lookup; not checked against 10101 itself.
    Parameter(151817, "MDC_PRESS_AWAY_INSP_PEAK", "Ppeak", "cmH2O", 0),
    Parameter(151976, "MDC_VENT_PRESS_AWAY_END_EXP_POS", "PEEP", "cmH2O", 0),
    Parameter(151784, "MDC_PRESS_RESP_PLAT", "Pplat", "cmH2O", 0),
    Parameter(151868, "MDC_VOL_AWAY_TIDAL", "VT", "mL", 0),
    Parameter(151880, "MDC_VOL_MINUTE_AWAY", "MV", "L/min", 1),
    Parameter(151586, "MDC_VENT_RESP_RATE", "RR (vent)", "/min", 0),
)

BY_CODE: dict[int, Parameter] = {p.code: p for p in _PARAMETERS}
# A REFID seen with an unexpected number still resolves: the first code listed wins.
BY_REFID: dict[str, Parameter] = {}
for _p in _PARAMETERS:
    BY_REFID.setdefault(_p.refid, _p)
BY_REFID["MDC_ECG_CARD_BEAT_RATE"] = BY_CODE[147842]  # synonym used by IHE samples

MDIL_ALIASES: dict[int, int] = {
    151552: 151562,
}
"""Philips MDIL ids (read as partition × 65536 + term) that mean another MDC code: Philips'
``Resp`` (``0002-5000``, NOM_RESP) is the respiration rate it writes as MDC_RESP_RATE
(151562) in its own IHE output, so it is taken as RR — on the tile and for apnoea."""

# The parameters a bed tile shows, by what they are rather than by which code carried them.
HEART_RATE = (147842, 149530, 149538, 149514)
SPO2 = (150456,)
NIBP_SYS = (150021, 150301)
NIBP_DIA = (150022, 150302)
NIBP_MEAN = (150023, 150303)
ABP_SYS = (150033, 150037)  # Philips ART 0x4a11, ABP 0x4a15
ABP_DIA = (150034, 150038)
ABP_MEAN = (150035, 150039)
RESP_RATE = (151562, 151578, 151570)
TEMPERATURE = (150344, 150368, 150372, 188420, 188436)
"""Body (core) temperatures only: a skin temperature (Tskin) is not judged by these limits."""
ETCO2 = (151708, 151728, 151928, 151712)
FICO2 = (151716, 151738)
AGENTS = (
    152084,
    152168,
    152088,
    152172,
    152092,
    152176,
    152096,
    152180,
    152100,
    152184,
    152460,
    152464,
)
"""Volatile anaesthetic agents, end-tidal and inspired (%)."""
N2O = (152108, 152192)
VENTILATION = (151817, 151976, 151784, 151868, 151880, 151586)
"""What a ventilator (or a monitor's spirometry) measures: its bed's ventilator line."""


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

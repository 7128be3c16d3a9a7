"""``icu-gateway validate FILE``: hl7apy's verdict plus our IHE PCD checks, for samples with
``# source:`` lines and raw captures (MLLP-framed or not, several messages a file)."""

from __future__ import annotations

from pathlib import Path

import pytest
from samples import load_sample, sample_path

from adapters.hl7 import validate
from adapters.hl7.mllp import frame
from adapters.hl7.validate import Severity
from gateway.app.cli import main


def findings(report: validate.MessageReport, severity: Severity) -> list[str]:
    return [f"{f.where}: {f.text}" for f in report.findings if f.severity is severity]


def only(name: str) -> validate.MessageReport:
    (message,) = validate.validate_file(sample_path(name)).messages
    return message


def test_a_conformant_sample_says_what_the_gateway_reads_from_it() -> None:
    report = only("13")
    assert report.conformant
    assert report.message_type == "ORU^R40^ORU_R40"
    text = "\n".join(report.summary)
    assert "device EUI-64:0000000000000001" in text
    assert "location 'CU1 Bed001'" in text
    assert "keep-alive (watchdog): answered CA" in text and "5 s" in text


def test_missing_obx11_is_an_ihe_pcd_warning_and_hl7apys_error() -> None:
    report = only("07")
    assert not report.conformant
    assert any("OBX_11" in f.text for f in report.hl7apy if f.severity is Severity.ERROR)
    warnings = findings(report, Severity.WARNING)
    assert (
        "OBX 3 (OBX-11): no result status: IHE PCD requires it (R, F or X); read as valid"
        in warnings
    )
    assert any(w.startswith("PV1-3: no location") for w in warnings)


def test_times_without_zone_unknown_codes_and_units_are_reported() -> None:
    data = (
        b"MSH|^~\\&|MON^0012211839000001^EUI-64|W|||20240101120000||ORU^R01^ORU_R01|V1|P|2.6|||AL|NE"
        b"||UNICODE UTF-8|||IHE_PCD_001^IHE PCD^1.3.6.1.4.1.19376.1.6.1.1.1^ISO\r"
        b"PV1||I|ICU^1^1\rOBR|1||1|182777000^monitoring of patient^SCT|||20240101120000-0000\r"
        b"OBX|1|NM|999999^MDC_SOMETHING_NEW^MDC|1.1.1.1|5|furlongs|||||R\r"
        b"OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.2.1.1|97||||||R\r"
        b"OBX|3|NM|147842^MDC_ECG_HEART_RATE^MDC|1.3.1.1|seventy|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R\r"
        b"OBX|4|NM|1234^Pulse Pressure^99MNDRY|1.4.1.1|40|mm[Hg]^mm[Hg]^UCUM|||||R|||"
        b"20240101115959.5\r"
        b"OBX|5|NM|1504560^MDC_PULS_OXIM_SAT_O2^MDC|1.5.1.1|96|262688^MDC_DIM_PERCENT^MDC|||||R\r"
    )
    report = validate.validate_message(data)
    assert not report.conformant
    errors, warnings = findings(report, Severity.ERROR), findings(report, Severity.WARNING)
    notes = findings(report, Severity.NOTE)
    assert "OBX 3 (OBX-5): 'seventy' is not a number: shown as questionable text" in errors
    assert any(w.startswith("MSH-7: time '20240101120000' has no UTC offset") for w in warnings)
    assert any(
        w.startswith("OBR-7: time '20240101120000-0000' has no UTC offset (-0000") for w in warnings
    )
    assert any(w.startswith("OBX 4 (OBX-14): time") for w in warnings)
    assert any(
        w.startswith("OBX 1 (OBX-3): MDC code 999999 MDC_SOMETHING_NEW is not in") for w in warnings
    )
    assert "OBX 1 (OBX-6): unit 'furlongs' is not one the gateway knows: shown as sent" in warnings
    assert "OBX 2 (OBX-6): SpO2: no unit; the usual unit '%' is assumed" in warnings
    assert any(w.startswith("OBX 5 (OBX-3): code 1504560 does not match") for w in warnings)
    assert any("local code 99MNDRY:1234 ('Pulse Pressure')" in n for n in notes)


def test_alarm_checks_name_the_deprecated_form_and_a_missing_priority() -> None:
    report = only("03")
    assert any("deprecated form" in n for n in findings(report, Severity.NOTE))
    # Dräger's reference alarm as a production gateway sends it (MSH-11 P, not D: debugging
    # data is demo data, its alarms low advisories, whatever the priority facet says).
    production = load_sample("12").replace(b"|0|D|2.6|", b"|0|P|2.6|")
    data = production.replace(b"|PL||||||F|", b"|xx||||||F|")
    report = validate.validate_message(data)
    assert any(
        "priority 'xx' is not in the IHE ACM vocabulary" in w
        for w in findings(report, Severity.WARNING)
    )
    no_priority = b"\r\n".join(line for line in production.split(b"\r\n") if b"68484^" not in line)
    report = validate.validate_message(no_priority)
    assert any(
        "'CO2 Sensor unplugged'" in w and "shows it as medium" in w
        for w in findings(report, Severity.WARNING)
    )


def test_a_waveform_without_rate_is_an_error_and_a_charset_lie_too() -> None:
    data = (
        b"MSH|^~\\&|M^0012211839000001^EUI-64||||20240101120000+0000||ORU^R01|W1|P|2.6|||AL|NE||ASCII\r"
        b"PV1||I|ICU^1^1\rOBR|1\rOBX|1|NA|150452^MDC_PULS_OXIM_PLETH^MDC|1.1.1.1|1^2^3|||||F\r"
        b"OBX|2|ST|184327^MDC_ECG_STAT_RHY^MDC|1.1.1.2|caf\xe9||||||F\r"
    )
    report = validate.validate_message(data)
    errors = findings(report, Severity.ERROR)
    assert any("no sample rate" in e for e in errors)
    assert any(e.startswith("MSH-18: bytes that are not valid ASCII") for e in errors)


def test_an_ack_is_not_an_observation_report() -> None:
    report = only("08")
    assert not report.conformant
    assert any(
        e.startswith("MSH-9: ACK^A01 is not an observation report")
        for e in findings(report, Severity.ERROR)
    )


def test_an_unparseable_message_is_an_error_saying_where() -> None:
    report = validate.validate_message(b"MSH|^~\\&|A||||||")
    assert findings(report, Severity.ERROR) == [
        "MSH-9: not readable as HL7: MSH-9 (message type) is missing — the gateway rejects it"
    ]


def test_a_raw_mllp_capture_with_several_messages_and_noise(tmp_path: Path) -> None:
    capture = tmp_path / "capture.bin"
    capture.write_bytes(
        b"\x0c\r\n" + frame(load_sample("02")) + frame(load_sample("13")) + b"\x0bMSH|^~\\&|cut"
    )
    report = validate.validate_file(capture)
    assert [m.control_id for m in report.messages] == [
        "0104ef190d604db188c3",
        "2df8823a-f8fb-44e0-a4ba-1d826e0809f1",
    ]
    assert any("ends inside a frame" in p for p in report.problems)


def test_an_unframed_file_with_several_messages_and_source_lines(tmp_path: Path) -> None:
    capture = tmp_path / "two.hl7"
    capture.write_bytes(
        sample_path("01").read_bytes() + b"\n" + sample_path("12").read_bytes() + b"\r\n"
    )
    report = validate.validate_file(capture)
    assert [m.message_type for m in report.messages] == ["ORU^R01^ORU_R01", "ORU^R40^ORU_R40"]
    text = validate.render(report)
    assert text.startswith(f"{capture}: 2 messages — ")
    assert "Message 2 of 2 — ORU^R40^ORU_R40, control id 0" in text


def test_the_cli_exit_status_says_conformant_not_conformant_or_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(sample_path("13"))]) == 0
    assert "1 conformant, 0 not conformant" in capsys.readouterr().out
    assert main(["validate", str(sample_path("07"))]) == 1
    assert "Verdict: NOT conformant" in capsys.readouterr().out
    assert main(["validate", str(tmp_path / "missing.hl7")]) == 2
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "noise.bin").write_bytes(b"\x00\x01 nothing here")
    assert main(["validate", str(tmp_path / "noise.bin")]) == 2
    assert "no HL7 message found" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["01", "02", "12", "13", "17", "21", "22", "23", "24", "36"])
def test_our_well_formed_fixtures_have_no_ihe_pcd_errors(name: str) -> None:
    report = only(name)
    assert findings(report, Severity.ERROR) == []


def test_hl7apy_is_not_imported_on_the_ingest_path() -> None:
    import subprocess
    import sys

    code = (
        "import sys; import adapters.hl7.listener, adapters.hl7.pcd, gateway.app.service; "
        "print('hl7apy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_validate_reports_demo_data_and_a_shifted_header() -> None:
    demo = only("54")
    warnings = findings(demo, Severity.WARNING)
    assert sum("demo or test data" in w for w in warnings) == 4  # DEMO, DEMO, demo-data, TEST
    assert any("4 demo/test data, shown marked DEMO" in line for line in demo.summary)
    training = findings(only("55"), Severity.WARNING)
    assert any("processing id 'T'" in w and "demo or test data" in w for w in training)
    data = next((sample_path("01").parent.parent / "bad").glob("20_*.hl7")).read_bytes()
    while data.startswith(b"#"):
        data = data.split(b"\n", 1)[1]
    report = validate.validate_message(data)
    assert report.control_id == "375"
    assert any("shifted MSH" in w for w in findings(report, Severity.WARNING))

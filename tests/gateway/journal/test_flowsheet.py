"""The printable flowsheet as a nurse charts it (issue 19): a page per bed and patient with
name and id, rows in clinical order, NIBP once per cuff measurement with its time, the
value at the hour with its range, the hour's alarms, demo data apart — and the page as
headless Chromium prints it (A4, one page per bed-patient at least)."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from environment import unavailable
from journal_support import received

from gateway.app.export import export
from gateway.clock import NS_PER_S, ManualClock
from gateway.domain import BedId
from gateway.journal.client import Journal
from gateway.journal.export import Selection
from gateway.journal.reader import JournalReader
from gateway.journal.records import RoutedReport

HOUR = 3600 * NS_PER_S
MINUTE = 60 * NS_PER_S
# A full UTC hour: 2023-11-14 22:00.
T0 = ManualClock().now_ns() - ManualClock().now_ns() % HOUR
EUI = "0012211839000001"


def hl7_time(time_ns: int) -> str:
    return dt.datetime.fromtimestamp(time_ns // NS_PER_S, dt.UTC).strftime("%Y%m%d%H%M%S+0000")


def bedside(
    control_id: str,
    at_ns: int,
    *,
    patient: str = "P1",
    name: str = "DOE^JANE^^^^^L",
    hr: float = 80,
    nibp: tuple[int, int, int] | None = None,
    nibp_at_ns: int | None = None,
    abp: tuple[int, int, int] | None = None,
    demo: bool = False,
    spo2_status: str = "R",
) -> bytes:
    """A PCD-01 of a bedside monitor at ``at_ns`` (OBR-7) in that order of rows: the rest
    first (PR, QT), then Temp, NIBP (with its own OBX-14 time when given), HR, SpO2,
    rhythm, ABP, EtCO2, RR — so the flowsheet's order is its own, not the message's."""
    flag = "DEMO" if demo else ""
    rows = [
        f"NM|149530^MDC_PULS_OXIM_PULS_RATE^MDC|1.3.1.2|{hr:g}|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        f"||{flag}|||R",
        "NM|147232^MDC_ECG_TIME_PD_QT_GL^MDC|1.2.1.14|360|264338^MDC_DIM_MILLI_SEC^MDC|||||R",
        "NM|150344^MDC_TEMP^MDC|1.4.1.1|37.2|268192^MDC_DIM_DEGC^MDC|||||R",
    ]
    if nibp is not None:
        own = hl7_time(nibp_at_ns) if nibp_at_ns is not None else ""
        for n, (code, ref) in enumerate(
            ((150021, "SYS"), (150022, "DIA"), (150023, "MEAN")), start=1
        ):
            rows.append(
                f"NM|{code}^MDC_PRESS_BLD_NONINV_{ref}^MDC|1.1.1.{n}|{nibp[n - 1]}"
                f"|266016^MDC_DIM_MMHG^MDC|||||R|||{own}"
            )
    rows += [
        f"NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.1|{hr:g}|264864^MDC_DIM_BEAT_PER_MIN^MDC"
        f"||{flag}|||R",
        f"NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.1|97|262688^MDC_DIM_PERCENT^MDC"
        f"||{flag}|||{spo2_status}",
        "ST|184327^MDC_ECG_STAT_RHY^MDC|1.2.1.21|Sinus rhythm||||||R",
    ]
    if abp is not None:
        for n, (code, ref) in enumerate(((150033, "SYS"), (150034, "DIA"), (150035, "MEAN"))):
            rows.append(
                f"NM|{code}^MDC_PRESS_BLD_ART_{ref}^MDC|1.5.1.{n + 1}|{abp[n]}"
                "|266016^MDC_DIM_MMHG^MDC|||||R"
            )
    rows += [
        "NM|151708^MDC_AWAY_CO2_ET^MDC|1.6.1.1|38|266016^MDC_DIM_MMHG^MDC|||||R",
        "NM|151562^MDC_RESP_RATE^MDC|1.2.1.19|16|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R",
    ]
    obx = "".join(f"OBX|{n}|{row}\r" for n, row in enumerate(rows, start=1))
    return (
        f"MSH|^~\\&|MON^{EUI}^EUI-64|W|||{hl7_time(at_ns)}||ORU^R01^ORU_R01|{control_id}|P|2.6"
        f"|||AL|NE\rPID|||{patient}^^^^MR||{name}\rPV1||I|ICU^1^1\r"
        f"OBR|1||{control_id}|182777000^monitoring of patient^SCT|||{hl7_time(at_ns)}\r{obx}"
    ).encode()


BED = BedId("ICU^1^1")
ROW_ORDER = ["HR", "Rhythm", "SpO2", "NIBP", "ABP", "RR", "Temp", "EtCO2", "PR", "QT"]


async def two_patients(path: Path) -> None:
    """Bed ICU^1^1 over 3 h 30: Jane Doe (P1) from 22:00, every minute, her cuff measured
    at 22:10 (repeated, with its own time, in every message until the next), 22:40 and
    23:10, then a cuff reading repeated with only the message's time from 23:30; HR 80
    at the hour, 120 from 22:30 to 22:35; ABP; an SpO2 alarm repeated 5 times at 22:31.
    At 00:00 John Roe (P2) is admitted: his own page, until 01:30."""
    clock = ManualClock(T0)
    async with Journal(path, clock=clock) as journal:

        async def send(raw: bytes) -> None:
            message, reports = received(raw, clock)
            await journal.record(
                message, [RoutedReport(report, BED, "Bed 1") for report in reports]
            )

        for minute in range(120):
            at = T0 + minute * MINUTE
            if minute < 10:
                cuff, cuff_at = None, None
            elif minute < 40:
                cuff, cuff_at = (118, 76, 90), T0 + 10 * MINUTE
            elif minute < 70:
                cuff, cuff_at = (124, 80, 95), T0 + 40 * MINUTE
            elif minute < 90:
                cuff, cuff_at = (131, 84, 99), T0 + 70 * MINUTE
            else:
                cuff, cuff_at = (127, 81, 96), None  # no OBX-14: the message's time only
            hr = 120 if 30 <= minute <= 35 else 80 + (minute % 60 == 59)
            invalid = "X" if minute == 0 else "R"  # the reading at 22:00 is not charted
            await send(
                bedside(
                    f"a{minute}",
                    at,
                    hr=hr,
                    nibp=cuff,
                    nibp_at_ns=cuff_at,
                    abp=(110 + minute % 7, 70, 83),
                    spo2_status=invalid,
                )
            )
            clock.advance(60)
        for n in range(5):
            await send(spo2_alarm(f"al{n}", T0 + 31 * MINUTE + n * NS_PER_S))
        await send(bedside("demo1", T0 + 45 * MINUTE, hr=200, demo=True))
        for minute in range(120, 210):
            await send(
                bedside(
                    f"b{minute}",
                    T0 + minute * MINUTE,
                    patient="P2",
                    name="ROE^JOHN",
                    hr=66,
                    nibp=(101, 61, 74),
                    nibp_at_ns=T0 + 125 * MINUTE,
                )
            )
            clock.advance(60)


def spo2_alarm(control_id: str, at_ns: int) -> bytes:
    """A PCD-04 SpO2 LOW alarm of the bed's monitor (repeated while it lasts)."""
    when = hl7_time(at_ns)
    return (
        f"MSH|^~\\&|MON^{EUI}^EUI-64|W|||{when}||ORU^R40^ORU_R40|{control_id}|P|2.6|||AL|NE\r"
        "PID|||P1^^^^MR||DOE^JANE\rPV1||I|ICU^1^1\r"
        f"OBR|1|{control_id}|{control_id}|196616^MDC_EVT_ALARM^MDC|||{when}\r"
        f"OBX|1|ST|196670^MDC_EVT_LO^MDC|1.3.1.150456.1|SpO2 LOW|||L~PH~SP|||F|||{when}\r"
        "OBX|2|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456.2|85|262688^MDC_DIM_PERCENT^MDC"
        "|90-100||||F\r"
        "OBX|3|ST|68481^MDC_ATTR_EVENT_PHASE^MDC|1.3.1.150456.3|continue||||||F\r"
    ).encode()


def flowsheet(path: Path, selection: Selection | None = None) -> str:
    out = io.StringIO()
    with JournalReader(path) as reader:
        export(reader, out, "flowsheet", selection or Selection())
    return out.getvalue()


def pages(sheet: str) -> list[str]:
    return sheet.split("<section class='sheet'")[1:]


def row(page: str, name: str) -> list[str]:
    """The cells (inner HTML) of a patient row of a page's first table."""
    found = re.search(rf"<tr class='row' data-row='{re.escape(name)}'>(.*?)</tr>", page)
    assert found, f"no row {name}"
    return re.findall(r"<td[^>]*>(.*?)</td>", found[1])[1:]


def clock_of(time_ns: int) -> str:
    return dt.datetime.fromtimestamp(time_ns // NS_PER_S).strftime("%H:%M")  # local, as printed


@pytest.fixture(scope="module")
def two_patient_journal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("flowsheet") / "j.sqlite"
    asyncio.run(two_patients(path))
    return path


def test_a_bed_that_held_two_patients_gives_a_page_each_with_name_and_id(
    two_patient_journal: Path,
) -> None:
    sheet = flowsheet(two_patient_journal)
    first, second = pages(sheet)
    assert "Patient <b>DOE, JANE</b> · ID <b>P1</b> · bed Bed 1 (ICU^1^1)" in first
    assert "Patient <b>ROE, JOHN</b> · ID <b>P2</b> · bed Bed 1 (ICU^1^1)" in second
    assert "Period " in first
    # Her hours on her page, his on his: 22:00, 23:00 and 00:00, 01:00 (local time).
    assert first.count("<th data-hour=") == 2
    assert second.count("<th data-hour=") == 2
    assert ">66<" in second and ">66<" not in first


def test_rows_are_in_clinical_order_whatever_the_message_order(
    two_patient_journal: Path,
) -> None:
    for page in pages(flowsheet(two_patient_journal)):
        table = page.split("</table>")[0]
        order = re.findall(r"<tr class='row' data-row='([^']*)'>", table)
        expected = ROW_ORDER if "P1" in page[:60] else [r for r in ROW_ORDER if r != "ABP"]
        assert order == expected


def test_nibp_is_charted_once_per_cuff_measurement_with_its_time(
    two_patient_journal: Path,
) -> None:
    first, second = pages(flowsheet(two_patient_journal))
    cells = row(first, "NIBP")
    assert cells[2:] == [""] * 10  # two hours; the table's other columns are blank
    measurements = [re.findall(r"data-time='([^']*)'.*?</span>([^<]*)</div>", c) for c in cells]
    # 90 messages carried a cuff reading: four measurements, each once, with its time.
    assert measurements == [
        [(clock_of(T0 + 10 * MINUTE), "118/76 (90)"), (clock_of(T0 + 40 * MINUTE), "124/80 (95)")],
        [(clock_of(T0 + 70 * MINUTE), "131/84 (99)"), (clock_of(T0 + 90 * MINUTE), "127/81 (96)")],
        *[[]] * 10,
    ]
    assert first.count("class='nibp'") == 4
    assert second.count("class='nibp'") == 1
    assert "NIBP sys/dia (mean) (mmHg)" in first


def test_a_cell_holds_the_value_at_the_hour_and_the_hours_range(
    two_patient_journal: Path,
) -> None:
    first, _ = pages(flowsheet(two_patient_journal))
    hr = row(first, "HR")
    # 80 at 22:00 (not the mean, which the 120s of 22:30 would lift), 80–120 in the hour.
    assert hr[0] == "80<span class='range'>80–120</span>"
    assert hr[1] == "80<span class='range'>80–81</span>"
    # SpO2 at 22:00 was invalid: the value at the hour is the next valid one, with its time.
    spo2 = row(first, "SpO2")
    assert spo2[0] == "97<span class='range'>97–97</span>"  # 22:01: within 5 min, no time
    abp = row(first, "ABP")
    assert abp[0].startswith("110/70 (83)")  # 22:00: sys, dia and mean of one message
    assert "110–116 / 70–70" in abp[0]
    assert row(first, "Rhythm")[0].startswith("Sinus rhythm")
    assert row(first, "Temp")[0].startswith("37.2")


def test_the_hours_alarms_are_listed_once_with_their_first_time(
    two_patient_journal: Path,
) -> None:
    first, second = pages(flowsheet(two_patient_journal))
    alarms = re.search(r"<tr class='alarms'>(.*?)</tr>", first)
    assert alarms
    cells = re.findall(r"<td class='alarms[^']*'>(.*?)</td>", alarms[1])
    assert cells[0] == (
        f"<div class='high'>{clock_of(T0 + 31 * MINUTE)} HIGH SpO2 LOW (continue) ×5</div>"
    )
    assert cells[1] == "–"
    assert "SpO2 LOW" not in second


def test_demo_data_is_on_rows_of_its_own_marked_demo(two_patient_journal: Path) -> None:
    first, second = pages(flowsheet(two_patient_journal))
    assert "DEMO: 3 demo or test readings" in first
    assert "DEMO" not in second
    demo = re.findall(r"<tr class='row demo' data-row='([^']*)'>(.*?)</tr>", first)
    assert [name for name, _ in demo] == ["HR", "SpO2", "PR"]
    assert "DEMO 200" in demo[0][1]
    assert "200" not in "".join(row(first, "HR"))  # never in the patient's row


def test_every_table_has_the_same_columns(two_patient_journal: Path) -> None:
    sheet = flowsheet(two_patient_journal)
    tables = re.findall(r"<table>.*?</table>", sheet)
    assert len(tables) == 2
    for table in tables:
        assert table.count("<col class='hour'>") == 12
        for line in re.findall(r"<tr.*?</tr>", table):
            assert len(re.findall(r"<t[dh][ >]", line)) == 13
    assert "table-layout: fixed" in sheet
    assert "@page { size: A4 landscape" in sheet


# --------------------------------------------------------------------------- in a browser


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    unavailable("chromium is not installed (apt-get install chromium)")


def run_chromium(binary: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={cwd / 'profile'}",
            *args,
        ],
        capture_output=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


_MEDIABOX = re.compile(rb"/MediaBox\s*\[\s*([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*\]")
_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def test_chromium_prints_the_flowsheet_on_a4_a_page_per_bed_patient(
    two_patient_journal: Path, tmp_path: Path
) -> None:
    binary = chromium()
    html_file = tmp_path / "flowsheet.html"
    html_file.write_text(flowsheet(two_patient_journal), encoding="utf-8")
    pdf = tmp_path / "flowsheet.pdf"
    printed = run_chromium(
        binary, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html_file.as_uri(), cwd=tmp_path
    )
    assert pdf.is_file(), printed.stderr.decode(errors="replace")[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = {tuple(round(float(n)) for n in box.groups()) for box in _MEDIABOX.finditer(data)}
    assert boxes == {(0, 0, 842, 595)}  # A4 landscape: 297 × 210 mm in points
    assert len(_PAGE.findall(data)) >= 2  # a page per bed-patient at least

    # The page as the browser built it: rows in order, NIBP once per measurement, and no
    # cell wider than its column at the printed width (A4 landscape less margins, 96 dpi).
    probe = tmp_path / "probe.html"
    probe.write_text(
        html_file.read_text(encoding="utf-8").replace(
            "</body>",
            "<script>document.body.dataset.cut = [...document.querySelectorAll('td, th')]"
            ".filter(c => c.scrollWidth > c.clientWidth + 1).length;"
            "document.body.dataset.width = Math.max(...[...document.querySelectorAll('table')]"
            ".map(t => t.getBoundingClientRect().width));</script></body>",
        ),
        encoding="utf-8",
    )
    dumped = run_chromium(
        binary, "--window-size=1047,740", "--dump-dom", probe.as_uri(), cwd=tmp_path
    )
    dom = dumped.stdout.decode()
    assert '<section class="sheet"' in dom, dumped.stderr.decode(errors="replace")[-2000:]
    body = re.search(r'<body data-cut="(\d+)" data-width="([\d.]+)"', dom)
    assert body, dom[:500]
    assert body[1] == "0"  # no cut cell
    assert float(body[2]) <= 277 / 25.4 * 96  # the table fits the printed width, 277 mm
    sections = dom.split('<section class="sheet"')[1:]
    assert len(sections) == 2
    first_table = sections[0].split("</table>")[0]
    assert re.findall(r'<tr class="row" data-row="([^"]*)">', first_table) == ROW_ORDER
    times = re.findall(r'<div class="nibp" data-time="([^"]*)">', sections[0])
    assert times == [clock_of(T0 + m * MINUTE) for m in (10, 40, 70, 90)]

"""The report exports (crm.reports.exports): every format renders a report document, the same bytes
every time, with its figures; text partners send is never a formula or markup; a partner's slice
shows no other partner."""

import copy
import csv
import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import openpyxl
import pytest

from crm.reports.exports import FORMATS, export
from crm.reports.slices import partner_slice
from crm.reports.store import encode

HOSTILE_FORMULA = "=cmd|' /C calc'!A0"
HOSTILE_MARKUP = "<script>alert(1)</script>"
OTHERS = ("sisp", "vasteras-science-park")


def _indicator(
    code: str, name: str, target: int, milestone: int | None, figures: dict[str, tuple[int, int, int]]
) -> dict[str, Any]:
    by_partner = {
        partner: {"target": 10, "previously_reported": before, "this_period": now, "cumulative": total}
        for partner, (before, now, total) in figures.items()
    }
    return {
        "code": code,
        "name": name,
        "unit": "SMEs",
        "measure": "smes_selected",
        "agreement_type": None,
        "market": None,
        "mode": "cumulative",
        "target": target,
        "milestone": milestone,
        "previously_reported": sum(f[0] for f in figures.values()),
        "this_period": sum(f[1] for f in figures.values()),
        "cumulative": sum(f[2] for f in figures.values()),
        "by_partner": by_partner,
    }


def document(*, frozen: bool = True) -> dict[str, Any]:
    """A report document as crm.reports.content makes it, with hostile and non-ASCII text."""
    return {
        "programme": {
            "id": "4smartgrowth",
            "name": "Smart Clusters (4SmartGrowth) <b>bold</b>",
            "funding_programme": "Interreg Central Baltic",
            "objective": "+more exports",
            "version": 3,
        },
        "period": {"number": 3, "start": "2020-04-01", "end": "2020-09-30", "report_deadline": "2020-12-31"},
        "partners": [
            {"id": "sisp", "legal_name": "SISP", "short_name": "SISP", "country": "SE", "role": "lead"},
            {
                "id": "tehnopol",
                "legal_name": "Tallinn Science Park Tehnopol",
                "short_name": "Tehnopol",
                "country": "EE",
                "role": "partner",
            },
            {
                "id": "vasteras-science-park",
                "legal_name": "Västerås Science Park AB",
                "short_name": "Västerås Science Park",
                "country": "SE",
                "role": "partner",
            },
        ],
        "indicators": [
            _indicator(
                "OUT-2",
                "SMEs selected",
                50,
                45,
                {"sisp": (10, 2, 12), "tehnopol": (8, 3, 11), "vasteras-science-park": (9, 1, 10)},
            ),
            _indicator(
                "OUT-4",
                "Meetings held",
                0,
                None,
                {"sisp": (0, 4, 4), "tehnopol": (0, 5, 5), "vasteras-science-park": (0, 0, 0)},
            ),
        ],
        "agreements_signed": [
            {
                "partner_id": "sisp",
                "sme_id": "sisp-sme-1",
                "agreement_id": "sisp-ag-1",
                "agreement_type": "sales",
                "market": "CN",
                "counterpart": "Guangzhou Import Ltd",
                "signed_at": "2020-05-02T10:00:00Z",
                "event_id": "00000000-0000-4000-8000-000000000001",
            },
            {
                "partner_id": "tehnopol",
                "sme_id": "T-7",
                "agreement_id": "T-AG-1",
                "agreement_type": "sales",
                "market": "VN",
                "counterpart": HOSTILE_FORMULA,
                "signed_at": "2020-06-03T09:30:00Z",
                "event_id": "00000000-0000-4000-8000-000000000002",
            },
        ],
        "pilots_in_discussion": [
            {
                "partner_id": "tehnopol",
                "sme_id": "T-8",
                "pilot_id": "T-P-1",
                "market": "CL",
                "counterpart": "Viña Valparaíso",
                "title": HOSTILE_MARKUP,
                "opened_at": "2020-07-01T00:00:00Z",
                "stalled": True,
                "event_id": "00000000-0000-4000-8000-000000000003",
            },
            {
                "partner_id": "vasteras-science-park",
                "sme_id": "vasteras-sme-2",
                "pilot_id": "vasteras-p-9",
                "market": "CN",
                "counterpart": "@SUM(1+1)*cmd|' /C calc'!A0",
                "title": "Pilot in Hebei",
                "opened_at": "2020-08-01T00:00:00Z",
                "stalled": False,
                "event_id": "00000000-0000-4000-8000-000000000004",
            },
        ],
        "shared_companies": [
            {
                "company": "EE:10000356",
                "partners": ["sisp", "tehnopol"],
                "smes": [["sisp", "sisp-sme-1"], ["tehnopol", "T-7"]],
            },
            {"company": "EE:10137319", "partners": ["tehnopol"], "smes": [["tehnopol", "T-7"], ["tehnopol", "T-9"]]},
        ],
        "report": {
            "status": "submitted" if frozen else "draft",
            "revision": 2 if frozen else None,
            "frozen_at": "2020-10-05T08:15:30.250000Z" if frozen else None,
            "frozen_by": "anna.löfgren" if frozen else None,
        },
    }


def series_of(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Periods 1..3 as crm.reports.reading.report_series gives them for `doc`."""
    out = []
    milestones = {} if doc.get("slice") else {2: 20, 3: 45}
    for number, end, share in ((1, "2019-09-30", 0.3), (2, "2020-03-31", 0.7), (3, "2020-09-30", 1.0)):
        out.append(
            {
                "period": number,
                "end": end,
                "status": "submitted",
                "indicators": {
                    i["code"]: {
                        "cumulative": round(i["cumulative"] * share),
                        "target": i["target"],
                        "milestone": milestones.get(number) if i["code"] == "OUT-2" else None,
                    }
                    for i in doc["indicators"]
                },
            }
        )
    return out


DOC = document()
SERIES = series_of(DOC)


MEDIA_TYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def test_the_formats_say_their_media_type_and_suffix() -> None:
    assert {name: f.media_type for name, f in FORMATS.items()} == MEDIA_TYPES
    assert all(f.suffix == name for name, f in FORMATS.items())


@pytest.mark.parametrize("name", sorted(FORMATS))
@pytest.mark.parametrize("frozen", [True, False], ids=["frozen", "draft"])
def test_each_format_renders_the_same_bytes_every_time(name: str, frozen: bool) -> None:
    doc = document(frozen=frozen)
    first = export(name, doc, series_of(doc))
    again = export(name, copy.deepcopy(doc), copy.deepcopy(series_of(doc)))
    assert first and first == again
    assert doc == document(frozen=frozen)  # rendering changes nothing of the document


def test_json_is_the_canonical_document() -> None:
    assert export("json", DOC, SERIES) == encode(DOC)


# -- CSV ------------------------------------------------------------------------------------------


def csv_sections(data: bytes) -> dict[str, list[list[str]]]:
    assert data.startswith(b"\xef\xbb\xbf")  # a BOM: spreadsheets read the UTF-8 as UTF-8
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    found: dict[str, list[list[str]]] = {}
    blocks: list[list[list[str]]] = [[]]
    for row in rows:
        if row:
            blocks[-1].append(row)
        else:
            blocks.append([])
    for block in blocks:
        assert len(block[0]) == 1  # the section's title alone on its row
        found[block[0][0]] = block[1:]
    return found


def test_the_csv_holds_every_section_with_its_figures_and_no_formula() -> None:
    data = export("csv", DOC, SERIES)
    found = csv_sections(data)
    assert list(found) == [
        "Summary",
        "Partners",
        "Indicators",
        "By partner",
        "Agreements signed",
        "Pilots in discussion",
        "Shared companies",
        "Progress by period",
    ]
    summary = dict(found["Summary"][1:])
    assert summary["Status"] == "submitted" and summary["Revision"] == "2" and summary["Frozen by"] == "anna.löfgren"
    assert summary["Objective"] == "'+more exports"
    indicators = {row[0]: row for row in found["Indicators"][1:]}
    header = found["Indicators"][0]
    out2 = dict(zip(header, indicators["OUT-2"], strict=True))
    shown = [out2[c] for c in ("Target", "Milestone", "Previously reported", "This period", "Cumulative")]
    assert shown == ["50", "45", "27", "6", "33"]
    assert len(found["By partner"]) == 1 + 6
    assert ["OUT-2", "SMEs selected", "tehnopol", "10", "8", "3", "11"] in found["By partner"]
    counterparts = [row[5] for row in found["Agreements signed"][1:]]
    assert counterparts == ["Guangzhou Import Ltd", "'" + HOSTILE_FORMULA]
    assert [row[4] for row in found["Pilots in discussion"][1:]][1].startswith("'@")
    assert "Västerås Science Park AB" in [row[1] for row in found["Partners"][1:]]
    assert len(found["Progress by period"]) == 1 + 3 * 2
    for rows in found.values():
        for row in rows:
            for cell in row:
                assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
                assert not cell.startswith("-") or re.fullmatch(r"-[\d.]+", cell), cell


# -- a partner's slice ----------------------------------------------------------------------------


def assert_only_tehnopol(shown: str) -> None:
    assert "tehnopol" in shown and "T-AG-1" in shown
    for other in (*OTHERS, "sisp-sme-1", "vasteras-p-9", "SISP", "Västerås", "Guangzhou", "EE:10000356"):
        assert other not in shown, other
    assert "EE:10137319" in shown  # the companies its own SMEs share stay


@pytest.mark.parametrize("name", sorted(set(FORMATS) - {"pdf"}))
def test_a_partner_slice_shows_no_other_partner(name: str) -> None:
    own = partner_slice(DOC, "tehnopol")
    data = export(name, own, series_of(own))
    if name == "xlsx":  # the workbook's parts, unzipped
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            data = b"\n".join(package.read(member) for member in package.namelist())
    assert_only_tehnopol(data.decode())


# -- XLSX -----------------------------------------------------------------------------------------


def workbook_of(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def sheet_rows(sheet: Any) -> list[list[Any]]:
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_the_xlsx_has_a_sheet_per_section_with_the_figures_and_a_chart_per_indicator() -> None:
    data = export("xlsx", DOC, SERIES)
    book = workbook_of(data)
    assert book.sheetnames == [
        "Summary",
        "Partners",
        "Indicators",
        "By partner",
        "Agreements",
        "Pilots",
        "Shared companies",
        "Progress",
    ]
    assert book.properties.created.isoformat() == "2020-10-05T08:15:30"  # frozen_at, not now
    summary = {row[0]: row[1] for row in sheet_rows(book["Summary"])[1:]}
    assert summary["Programme"] == DOC["programme"]["name"] and summary["Revision"] == 2
    header, *rows = sheet_rows(book["Indicators"])
    figures = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert figures["OUT-2"]["Cumulative"] == 33 and figures["OUT-2"]["Target"] == 50
    assert figures["OUT-2"]["Milestone"] == 45 and figures["OUT-4"]["Milestone"] is None
    assert figures["OUT-4"]["This period"] == 9
    by_partner = sheet_rows(book["By partner"])
    assert ("OUT-4", "Meetings held", "tehnopol", 10, 0, 5, 5) in [tuple(r) for r in by_partner]
    agreement = book["Agreements"]["F3"]
    assert agreement.value == HOSTILE_FORMULA and agreement.data_type == "s"  # text, never a formula
    assert agreement.quotePrefix
    assert book["Pilots"]["F2"].value == HOSTILE_MARKUP and book["Pilots"]["H2"].value is True
    assert sheet_rows(book["Shared companies"])[1] == ["EE:10000356", "sisp; tehnopol", "sisp/sisp-sme-1; tehnopol/T-7"]
    progress = sheet_rows(book["Progress"])
    assert progress[1][:6] == ["Period", "Period end", "Status", "Cumulative", "Target", "Milestone"]
    assert [row[3:6] for row in progress[2:5]] == [[10, 50, None], [23, 50, 20], [33, 50, 45]]
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        charts = sorted(n for n in package.namelist() if n.startswith("xl/charts/chart"))
        assert len(charts) == len(DOC["indicators"])
        first = package.read(charts[0]).decode()
        assert "Progress!$D$3:$D$5" in first and "Progress!$E$3:$E$5" in first  # cumulative and target


def test_a_draft_workbook_is_dated_by_its_period_end() -> None:
    book = workbook_of(export("xlsx", document(frozen=False), SERIES))
    assert book.properties.created.isoformat() == "2020-09-30T00:00:00"


# -- HTML -----------------------------------------------------------------------------------------


def test_the_html_page_is_escaped_self_contained_with_an_svg_chart_per_indicator() -> None:
    page = export("html", DOC, SERIES).decode()
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert "Västerås Science Park AB" in page and "Viña Valparaíso" in page
    assert not re.search(r"\b(src|href)=|<link|@import|url\(", page)  # nothing fetched
    assert "@media print" in page
    svgs = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    assert len(svgs) == len(DOC["indicators"])
    out2, out4 = svgs
    assert len(re.findall(r'class="dot"', out2)) == 3 and len(re.findall(r'class="target"', out2)) == 3 + 1
    assert "target 50" in out2 and "milestone 45" in out2 and "milestone 20" in out2
    assert "no target" in out4 and "target 0" not in out4  # a target of 0 is none
    for section in ("summary", "indicators", "by_partner", "agreements", "pilots", "shared_companies", "progress"):
        assert f'<section id="{section}">' in page


# -- PDF ------------------------------------------------------------------------------------------


@pytest.fixture
def pdf_text(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every text fpdf2 sets (the PDF's own streams are compressed and subset-encoded)."""
    from fpdf import FPDF

    seen: list[str] = []
    original = FPDF.normalize_text

    def spy(self: Any, text: str) -> str:
        seen.append(text)
        return original(self, text)

    monkeypatch.setattr(FPDF, "normalize_text", spy)
    yield seen


def test_the_pdf_sets_every_section_in_an_embedded_unicode_font(pdf_text: list[str]) -> None:
    data = export("pdf", DOC, SERIES)
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert b"/CreationDate (D:20201005081530" in data
    assert b"DejaVuSans" in data  # embedded
    text = "\n".join(pdf_text)
    for expected in (
        "Västerås Science Park AB",
        "anna.löfgren",
        HOSTILE_FORMULA,
        HOSTILE_MARKUP,
        "target 50",
        "milestone 45",
        "Viña Valparaíso",
        "EE:10000356",
        "Progress by period",
    ):
        assert expected in text, expected


def test_the_pdf_charts_never_overlap(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm.reports.exports import pdf

    drawn: list[tuple[int, float, float, float, float]] = []
    original = pdf._chart

    def spy(canvas: Any, chart: Any, left: float, top: float, width: float, height: float) -> None:
        assert top + height <= canvas.h - 14
        drawn.append((canvas.page_no(), left, top, width, height))
        original(canvas, chart, left, top, width, height)

    monkeypatch.setattr(pdf, "_chart", spy)
    many = copy.deepcopy(DOC)
    many["indicators"] = [dict(many["indicators"][n % 2], code=f"I-{n}") for n in range(9)]
    export("pdf", many, series_of(many))
    assert len(drawn) == 9
    for (page, left, top, width, height), (other, left2, top2, _, _) in itertools.combinations(drawn, 2):
        assert page != other or abs(left2 - left) >= width or abs(top2 - top) >= height  # boxes apart


def test_the_pdf_needs_its_font_and_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from crm.reports.exports.pdf import FontMissing

    monkeypatch.setenv("CRM_PDF_FONT_DIR", str(tmp_path))
    with pytest.raises(FontMissing, match="fonts-dejavu-core"):
        export("pdf", DOC, SERIES)


def test_a_partners_pdf_shows_no_other_partner(pdf_text: list[str]) -> None:
    own = partner_slice(DOC, "tehnopol")
    data = export("pdf", own, series_of(own))
    assert_only_tehnopol("\n".join(pdf_text) + data.decode("latin-1"))

"""A report in the formats a funder accepts (docs/reports.md, "Exports").

`export(format, document, series)` renders one report document (a frozen revision's, or a
draft; a partner's slice or the whole) and, for the charts, the `series` of every period up to
it (`crm.reports.reading.report_series`). Pure and deterministic: the same document gives the
same bytes, so a frozen report's exports never change either (for the formats made by a
library, XlsxWriter and fpdf2, as long as constraints.txt pins the same version).

Formats: json (the canonical document), csv (every section, blank-line separated), xlsx (a sheet
per section and a chart per indicator), html (a printable page with an SVG chart per indicator)
and pdf. The tables they show are `crm.reports.exports.sections`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from crm.reports.store import encode


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    media_type: str
    suffix: str
    render: Callable[[dict[str, Any], list[dict[str, Any]]], bytes]


def _json(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    del series  # the document alone: for a frozen report, its stored bytes
    return encode(document)


def _lazy(module: str) -> Callable[[dict[str, Any], list[dict[str, Any]]], bytes]:
    """A renderer imported when first used: XlsxWriter and fpdf2 load only for their format."""

    def render(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
        found: Callable[[dict[str, Any], list[dict[str, Any]]], bytes] = import_module(module).render
        return found(document, series)

    return render


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("json", "application/json", "json", _json),
        Format("csv", "text/csv; charset=utf-8", "csv", _lazy("crm.reports.exports.csv_export")),
        Format(
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "xlsx",
            _lazy("crm.reports.exports.xlsx"),
        ),
        Format("html", "text/html; charset=utf-8", "html", _lazy("crm.reports.exports.html")),
        Format("pdf", "application/pdf", "pdf", _lazy("crm.reports.exports.pdf")),
    )
}


def export(format_name: str, document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    return FORMATS[format_name].render(document, series)

"""The report as a PDF (fpdf2, pure Python; docs/reports.md, "Exports").

A4 landscape: the summary, a drawn chart of each indicator (cumulative value per period against
its target and milestones), then every section as a table. Text is set in DejaVu Sans (embedded,
subset), which covers the Latin, Greek and Cyrillic names partners use ("Västerås", "Łódź");
Debian's fonts-dejavu-core provides it (infra/install-system-deps.sh installs it when missing).

Deterministic: the document's creation date is the report's frozen_at (a draft: its period's
end) and its file id is derived from its content, so the same document gives the same bytes.
"""

import os
from itertools import pairwise
from pathlib import Path
from typing import Any

from crm.reports.exports.sections import (
    Cell,
    Chart,
    Section,
    cell_text,
    charts,
    created_at,
    nice_ceiling,
    number_text,
    sections,
    title_of,
)

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
)
_FONT = "DejaVu"
_BLUE, _RED, _ORANGE, _GREY, _LIGHT = (31, 78, 121), (192, 0, 0), (237, 125, 49), (91, 100, 112), (201, 209, 219)
_HEAD = (232, 238, 245)


class FontMissing(RuntimeError):
    """The PDF's font is not installed."""


def font_files() -> tuple[Path, Path]:
    """DejaVu Sans, regular and bold: from CRM_PDF_FONT_DIR, else the usual system folders."""
    folders = [os.environ["CRM_PDF_FONT_DIR"]] if os.environ.get("CRM_PDF_FONT_DIR") else list(FONT_DIRS)
    for folder in folders:
        regular, bold = Path(folder, "DejaVuSans.ttf"), Path(folder, "DejaVuSans-Bold.ttf")
        if regular.is_file() and bold.is_file():
            return regular, bold
    raise FontMissing(
        "the PDF export needs the DejaVu Sans font (DejaVuSans.ttf, DejaVuSans-Bold.ttf) in one of "
        f"{', '.join(folders)}: install it (Debian: apt-get install fonts-dejavu-core) or set CRM_PDF_FONT_DIR"
    )


def render(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    regular, bold = font_files()

    class _Report(FPDF):  # type: ignore[misc]
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(_FONT, "", 7)
            self.set_text_color(*_GREY)
            self.cell(0, 5, f"{title_of(document)} - page {self.page_no()} of {{nb}}", align="C")

    pdf = _Report(orientation="landscape", unit="mm", format="A4")
    pdf.set_creation_date(created_at(document))
    pdf.set_producer("SmartGrowth CRM (fpdf2)")
    pdf.set_creator("SmartGrowth CRM")
    pdf.set_title(title_of(document))
    pdf.set_author("SmartGrowth CRM")
    pdf.set_margins(12, 12, 12)
    pdf.set_auto_page_break(True, margin=14)
    pdf.add_font(_FONT, "", str(regular))
    pdf.add_font(_FONT, "B", str(bold))
    pdf.add_page()

    programme, period, report = document["programme"], document["period"], document["report"]
    pdf.set_font(_FONT, "B", 14)
    pdf.multi_cell(0, 7, programme["name"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FONT, "", 9)
    pdf.set_text_color(*_GREY)
    status = report["status"] + (f", revision {report['revision']}" if report.get("revision") is not None else "")
    whose = f"; partner {document['slice']['partner_id']} only" if document.get("slice") else ""
    pdf.multi_cell(
        0,
        5,
        f"{programme['funding_programme']}\nReport of period {period['number']} ({period['start']} to "
        f"{period['end']}, due {period['report_deadline']}): {status}{whose}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_text_color(0, 0, 0)
    found = {section.key: section for section in sections(document, series)}
    heading = FontFace(emphasis="BOLD", fill_color=_HEAD)

    def title(text: str) -> None:
        pdf.ln(3)
        pdf.set_font(_FONT, "B", 11)
        pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FONT, "", 7.5)

    def table(section: Section, widths: tuple[float, ...] | None = None) -> None:
        if not section.rows:
            pdf.set_text_color(*_GREY)
            pdf.cell(0, 5, "none", new_x="LMARGIN", new_y="NEXT")
            pdf.set_text_color(0, 0, 0)
            return
        with pdf.table(
            col_widths=widths or _widths(section),
            headings_style=heading,
            line_height=4,
            padding=1,
            borders_layout="SINGLE_TOP_LINE" if section.key == "summary" else "ALL",
            first_row_as_headings=section.key != "summary",
            repeat_headings=1,
        ) as drawn:
            if section.key != "summary":
                head = drawn.row()
                for column in section.columns:
                    head.cell(column)
            for values in section.rows:
                row = drawn.row()
                for value in values:
                    numeric = _numeric(value) and section.key != "summary"
                    row.cell(cell_text(value), align="RIGHT" if numeric else "LEFT")

    title("Summary")
    table(found["summary"], (1, 4))
    title("Indicators against their targets")
    _charts(pdf, charts(document, series))
    for key in ("indicators", "by_partner", "agreements", "pilots", "shared_companies", "partners", "progress"):
        title(found[key].title)
        table(found[key])
    return bytes(pdf.output())


def _numeric(value: Cell) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _widths(section: Section) -> tuple[float, ...]:
    """Relative column widths: the longest value (up to 38 characters), never narrower than the
    header's longest word, so headings wrap between words only."""
    return tuple(
        float(
            max(
                max(len(word) for word in header.split()) + 2.5,
                min(38, max(6, len(header), *(len(cell_text(row[column])) for row in section.rows))),
            )
        )
        for column, header in enumerate(section.columns)
    )


def _charts(pdf: Any, found: list[Chart]) -> None:
    """Two charts side by side per row, each in a box of 133 x 62 mm; a row that does not fit on
    the page starts the next one."""
    width, height, gap = 133.0, 62.0, 7.0
    top = pdf.get_y()
    for number, chart in enumerate(found):
        column = number % 2
        if column == 0:
            if number:
                top += height + 3
            if top + height > pdf.h - 16:
                pdf.add_page()
                top = pdf.get_y()
        with pdf.local_context():  # the chart's colours and line widths stay in the chart
            _chart(pdf, chart, pdf.l_margin + column * (width + gap), top, width, height)
    if found:
        pdf.set_y(top + height + 3)
    pdf.set_font(_FONT, "", 7.5)


def _chart(pdf: Any, chart: Chart, left: float, top: float, width: float, height: float) -> None:
    pdf.set_draw_color(*_LIGHT)
    pdf.set_line_width(0.2)
    pdf.rect(left, top, width, height)
    pdf.set_font(_FONT, "B", 8)
    pdf.set_xy(left + 2, top + 1.5)
    pdf.cell(width - 4, 4, f"{chart.code} {chart.name} ({chart.unit})")
    pdf.set_font(_FONT, "", 6.5)
    points = chart.points
    values = [v for p in points for v in (p.cumulative, p.target, p.milestone) if v is not None]
    ceiling = nice_ceiling(max(values, default=0) * 1.08)
    plot_left, plot_right = left + 14, left + width - 20
    plot_top, plot_bottom = top + 8, top + height - 13
    step = (plot_right - plot_left) / max(1, len(points))

    def x(index: int) -> float:
        return plot_left + step * (index + 0.5)

    def y(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * value / ceiling

    pdf.set_text_color(*_GREY)
    for tick in range(5):
        value = ceiling * tick / 4
        pdf.set_draw_color(*_LIGHT)
        pdf.line(plot_left, y(value), plot_right, y(value))
        label = number_text(value)
        pdf.text(plot_left - 1.5 - pdf.get_string_width(label), y(value) + 1, label)
    pdf.set_draw_color(*_GREY)
    pdf.line(plot_left, plot_top, plot_left, plot_bottom)
    pdf.line(plot_left, plot_bottom, plot_right, plot_bottom)
    for index, point in enumerate(points):
        label = f"P{point.period}"
        pdf.text(x(index) - pdf.get_string_width(label) / 2, plot_bottom + 3.5, label)
        pdf.text(x(index) - pdf.get_string_width(point.end) / 2, plot_bottom + 6.5, point.end)
    pdf.set_text_color(0, 0, 0)
    # The target: a dashed step per period.
    pdf.set_draw_color(*_RED)
    pdf.set_line_width(0.4)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=1.6, gap=1.0)
        for index, point in enumerate(points):
            if point.target is not None and point.target > 0:
                pdf.line(x(index) - step / 2, y(point.target), x(index) + step / 2, y(point.target))
    final = next((p.target for p in reversed(points) if p.target is not None and p.target > 0), None)
    if final is not None:
        pdf.set_text_color(*_RED)
        pdf.text(plot_right + 1.5, y(final) + 1, f"target {number_text(final)}")
        pdf.set_text_color(0, 0, 0)
    # The cumulative value: a line through the periods, each labelled.
    counted = [(index, p.cumulative) for index, p in enumerate(points) if p.cumulative is not None]
    pdf.set_draw_color(*_BLUE)
    pdf.set_fill_color(*_BLUE)
    pdf.set_line_width(0.6)
    for (i, a), (j, b) in pairwise(counted):
        pdf.line(x(i), y(a), x(j), y(b))
    for index, value in counted:
        pdf.circle(x(index), y(value), 0.9, style="F")
        label = number_text(value)
        pdf.text(x(index) - pdf.get_string_width(label) / 2, y(value) - 1.8, label)
    # The milestones: diamonds.
    pdf.set_fill_color(*_ORANGE)
    pdf.set_line_width(0.2)
    for index, point in enumerate(points):
        if point.milestone is not None:
            cx, cy = x(index), y(point.milestone)
            pdf.polygon([(cx, cy - 1.6), (cx + 1.6, cy), (cx, cy + 1.6), (cx - 1.6, cy)], style="F")
            pdf.text(cx + 2.2, cy + 1, f"milestone {number_text(point.milestone)}")
    # The legend.
    legend = top + height - 2.5
    pdf.set_draw_color(*_BLUE)
    pdf.set_line_width(0.6)
    pdf.line(left + 4, legend - 1, left + 10, legend - 1)
    pdf.text(left + 11.5, legend, "cumulative")
    pdf.set_draw_color(*_RED)
    pdf.set_line_width(0.4)
    with pdf.local_context():
        pdf.set_dash_pattern(dash=1.6, gap=1.0)
        pdf.line(left + 30, legend - 1, left + 36, legend - 1)
    pdf.text(left + 37.5, legend, "target" if final is not None else "no target")
    if any(p.milestone is not None for p in points):
        pdf.set_fill_color(*_ORANGE)
        cx, cy = left + 56, legend - 1
        pdf.polygon([(cx, cy - 1.4), (cx + 1.4, cy), (cx, cy + 1.4), (cx - 1.4, cy)], style="F")
        pdf.text(left + 58.5, legend, "milestone")

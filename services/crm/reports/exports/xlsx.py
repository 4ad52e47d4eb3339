"""The report as an Excel workbook (XlsxWriter; docs/reports.md, "Exports").

One sheet per section (Summary, Partners, Indicators, By partner, Agreements, Pilots, Shared
companies) and a Progress sheet: each period's cumulative value, target and milestone per
indicator, with a native line chart of each indicator against its target over the periods.

Text is always written as text (never as a formula or a link, whatever it starts with; text
starting with = + - @ is marked quote-prefixed, so editing the cell keeps it text), numbers as
numbers. Deterministic: the workbook's created date is the report's frozen_at (a draft: its
period's end) and XlsxWriter dates every file of the package 1980-01-01, so the same document
gives the same bytes.
"""

import io
from typing import Any

from crm.reports.exports.sections import Cell, Chart, Section, cell_text, charts, created_at, sections, title_of

_SHEETS = {
    "summary": "Summary",
    "partners": "Partners",
    "indicators": "Indicators",
    "by_partner": "By partner",
    "agreements": "Agreements",
    "pilots": "Pilots",
    "shared_companies": "Shared companies",
}
_MAX_WIDTH = 60
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _width(values: list[Cell], header: str) -> float:
    longest = max([len(header), *(len(cell_text(v)) for v in values)])
    return float(min(_MAX_WIDTH, max(8, longest + 2)))


def render(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output,
        {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False},
    )
    workbook.set_properties(
        {
            "title": title_of(document),
            "subject": f"Funder report, period {document['period']['number']}",
            "author": "SmartGrowth CRM",
            "created": created_at(document).replace(tzinfo=None),
        }
    )
    styles = {
        "header": workbook.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True}),
        "field": workbook.add_format({"bold": True}),
        "number": workbook.add_format({"num_format": "#,##0.##"}),
        # Text that a spreadsheet would take for a formula when edited: shown and kept as text.
        "quoted": workbook.add_format({"quote_prefix": True}),
    }
    for section in sections(document, series):
        if section.key in _SHEETS:
            _section_sheet(workbook, styles, _SHEETS[section.key], section)
    _progress_sheet(workbook, styles, charts(document, series))
    workbook.close()
    return output.getvalue()


def _write(sheet: Any, row: int, column: int, value: Cell, styles: dict[str, Any]) -> None:
    if value is None:
        sheet.write_blank(row, column, None)
    elif isinstance(value, bool):
        sheet.write_boolean(row, column, value)
    elif isinstance(value, int | float):
        sheet.write_number(row, column, value, styles["number"])
    elif value.startswith(_FORMULA_TRIGGERS):
        sheet.write_string(row, column, value, styles["quoted"])
    else:
        sheet.write_string(row, column, value)


def _section_sheet(workbook: Any, styles: dict[str, Any], name: str, section: Section) -> None:
    sheet = workbook.add_worksheet(name)
    for column, header in enumerate(section.columns):
        sheet.write_string(0, column, header, styles["header"])
        sheet.set_column(column, column, _width([row[column] for row in section.rows], header))
    for row, values in enumerate(section.rows, start=1):
        for column, value in enumerate(values):
            if section.key == "summary" and column == 0:
                sheet.write_string(row, column, str(value), styles["field"])
            else:
                _write(sheet, row, column, value, styles)
    sheet.freeze_panes(1, 0)
    if section.key != "summary" and section.rows:
        sheet.autofilter(0, 0, len(section.rows), len(section.columns) - 1)


def _progress_sheet(workbook: Any, styles: dict[str, Any], found: list[Chart]) -> None:
    """Per period a row; per indicator three columns (cumulative, target, milestone); below the
    table, a chart of each indicator, two side by side."""
    sheet = workbook.add_worksheet("Progress")
    name = "Progress"
    periods = found[0].points if found else []
    sheet.write_string(0, 0, "Indicator", styles["header"])
    sheet.write_string(1, 0, "Period", styles["header"])
    sheet.write_string(1, 1, "Period end", styles["header"])
    sheet.write_string(1, 2, "Status", styles["header"])
    sheet.set_column(0, 2, 12)
    for row, point in enumerate(periods, start=2):
        sheet.write_string(row, 0, f"P{point.period}")
        sheet.write_string(row, 1, point.end)
        sheet.write_string(row, 2, point.status)
    last = 1 + len(periods)
    chart_row = last + 3
    for number, chart in enumerate(found):
        first = 3 + 3 * number
        sheet.merge_range(0, first, 0, first + 2, f"{chart.code} {chart.name} ({chart.unit})", styles["header"])
        for offset, header in enumerate(("Cumulative", "Target", "Milestone")):
            sheet.write_string(1, first + offset, header, styles["header"])
        sheet.set_column(first, first + 2, 11)
        for row, point in enumerate(chart.points, start=2):
            for offset, value in enumerate((point.cumulative, point.target, point.milestone)):
                _write(sheet, row, first + offset, value, styles)
        if not periods:
            continue
        line = workbook.add_chart({"type": "line"})
        categories = [name, 2, 0, last, 0]
        line.add_series(
            {
                "name": [name, 1, first],
                "categories": categories,
                "values": [name, 2, first, last, first],
                "marker": {"type": "circle", "size": 6},
                "data_labels": {"value": True, "position": "above"},
                "line": {"color": "#1F4E79", "width": 2.25},
            }
        )
        line.add_series(
            {
                "name": [name, 1, first + 1],
                "categories": categories,
                "values": [name, 2, first + 1, last, first + 1],
                "line": {"color": "#C00000", "dash_type": "dash", "width": 1.5},
                "marker": {"type": "none"},
            }
        )
        if any(p.milestone is not None for p in chart.points):
            line.add_series(
                {
                    "name": [name, 1, first + 2],
                    "categories": categories,
                    "values": [name, 2, first + 2, last, first + 2],
                    "line": {"none": True},
                    "marker": {"type": "diamond", "size": 9, "fill": {"color": "#ED7D31"}},
                }
            )
        # The title is the indicator's own header cell: text from the programme is never a formula.
        line.set_title({"name": [name, 0, first], "name_font": {"size": 11}})
        line.set_x_axis({"name": "Period"})
        line.set_y_axis({"min": 0, "major_gridlines": {"visible": True}})
        line.set_legend({"position": "bottom"})
        line.show_blanks_as("gap")
        line.set_size({"width": 560, "height": 300})
        sheet.insert_chart(chart_row + 16 * (number // 2), 9 * (number % 2), line)
    sheet.freeze_panes(2, 1)

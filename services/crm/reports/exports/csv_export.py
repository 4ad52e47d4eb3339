"""The report as one CSV: every section in turn, blank-line separated (docs/reports.md, "Exports").

Each section is its title alone on a row, its column headers, then its rows; one blank row
follows. A spreadsheet opens the file as one sheet that reads top to bottom like the report;
a program splits it at the blank rows. Cells are spreadsheet-safe (`crm.query.csv_export`):
text starting with = + - @ is prefixed with ' so it is never evaluated. UTF-8 with a byte-order
mark, so that spreadsheets read names like "Västerås" as written.
"""

import csv
import io
from typing import Any

from crm.query.csv_export import safe_cell
from crm.reports.exports.sections import sections


def render(document: dict[str, Any], series: list[dict[str, Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for number, section in enumerate(sections(document, series)):
        if number:
            writer.writerow([])
        writer.writerow([section.title])
        writer.writerow(section.columns)
        for row in section.rows:
            writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")

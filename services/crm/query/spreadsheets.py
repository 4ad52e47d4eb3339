"""Rows to an Excel workbook (XLSX), row by row, whatever their number.

XlsxWriter's `constant_memory` mode flushes each row to a temporary file as soon as the next one
starts, so memory stays flat however many rows an export has; the workbook is assembled on
`close()`. A sheet holds at most 1,048,576 rows (Excel's limit): the rows go on in a next sheet,
under the same header.

As in the reports' workbooks (crm/reports/exports/xlsx.py): text is written as text, never as a
formula or a link; text a spreadsheet would take for a formula when edited is quote-prefixed.
Instants are Excel date-times in UTC shown as `2020-01-02T09:00:00Z`; lists are `;`-joined text.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ROWS_PER_SHEET = 1_048_576  # header included
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_MAX_TEXT = 32_767  # the most characters an Excel cell holds


class SheetWriter:
    """Rows (mappings) into the workbook at `target` (a path, or a binary file object with `in_memory`)."""

    def __init__(
        self,
        target: str | IO[bytes],
        columns: Sequence[str],
        *,
        title: str = "Export",
        rows_per_sheet: int = ROWS_PER_SHEET,
        in_memory: bool = False,
    ) -> None:
        import xlsxwriter

        options: dict[str, Any] = {
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        }
        options |= {"in_memory": True} if in_memory else {"constant_memory": True}
        self._workbook = xlsxwriter.Workbook(target, options)
        self._workbook.set_properties({"title": title, "author": "SmartGrowth CRM"})
        self._header = self._workbook.add_format({"bold": True})
        self._quoted = self._workbook.add_format({"quote_prefix": True})
        self._instant = self._workbook.add_format({"num_format": 'yyyy-mm-dd"T"hh:mm:ss"Z"'})
        self._columns = list(columns)
        self._title = title[:25]
        self._rows_per_sheet = rows_per_sheet
        self._sheets = 0
        self._sheet: Any = None
        self._row = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self._sheets += 1
        name = self._title if self._sheets == 1 else f"{self._title} {self._sheets}"
        self._sheet = self._workbook.add_worksheet(name)
        self._sheet.freeze_panes(1, 0)
        for column, name in enumerate(self._columns):
            self._sheet.write_string(0, column, name, self._header)
        self._row = 1

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            if self._row >= self._rows_per_sheet:
                self._new_sheet()
            for column, name in enumerate(self._columns):
                self._cell(column, row.get(name))
            self._row += 1

    def _cell(self, column: int, value: Any) -> None:
        if value is None:
            return  # an empty cell: nothing to write
        sheet, row = self._sheet, self._row
        if isinstance(value, bool):
            sheet.write_boolean(row, column, value)
        elif isinstance(value, int | float):
            sheet.write_number(row, column, value)
        elif isinstance(value, datetime):
            moment = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
            sheet.write_datetime(row, column, moment, self._instant)
        else:
            text = _text(value)[:_MAX_TEXT]
            if text.startswith(_FORMULA_TRIGGERS):
                sheet.write_string(row, column, text, self._quoted)
            else:
                sheet.write_string(row, column, text)

    def close(self) -> None:
        self._workbook.close()


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)  # a UUID, a Decimal: their exact text

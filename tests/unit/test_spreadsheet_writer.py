"""Rows into an XLSX workbook row by row, read back with openpyxl: types, safety, sheet overflow."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import openpyxl

from crm.query.spreadsheets import SheetWriter

COLUMNS = ["name", "count", "stalled", "at", "markets", "missing"]


def read_back(path: Path) -> dict[str, list[tuple[object, ...]]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in workbook.worksheets}


def test_values_keep_their_types_and_text_never_becomes_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "rows.xlsx"
    writer = SheetWriter(str(path), COLUMNS, title="tehnopol-pilots")
    at = datetime(2020, 3, 10, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    writer.write(
        [
            {"name": "Härmälä Oy", "count": 3, "stalled": True, "at": at, "markets": ["CN", "VN"]},
            {"name": '=HYPERLINK("http://evil.invalid")', "count": -2.5, "stalled": False, "at": None},
        ]
    )
    writer.close()
    sheets = read_back(path)
    assert list(sheets) == ["tehnopol-pilots"]
    header, first, second = sheets["tehnopol-pilots"]
    assert header == tuple(COLUMNS)
    assert first == ("Härmälä Oy", 3, True, datetime(2020, 3, 10, 9, 0), "CN;VN", None)  # the instant in UTC
    assert second == ('=HYPERLINK("http://evil.invalid")', -2.5, False, None, None, None)
    cell = openpyxl.load_workbook(path)["tehnopol-pilots"]["A3"]
    assert cell.data_type == "s" and cell.quotePrefix  # text, kept text when edited in Excel
    assert at.astimezone(UTC).replace(tzinfo=None) == first[3]


def test_a_full_sheet_goes_on_in_the_next_under_the_same_header(tmp_path: Path) -> None:
    path = tmp_path / "many.xlsx"
    writer = SheetWriter(str(path), ["n"], title="rows", rows_per_sheet=3)  # a header and 2 rows a sheet
    for start in range(0, 7, 2):  # in batches, as an export writes them
        writer.write({"n": n} for n in range(start, min(start + 2, 7)))
    writer.close()
    assert read_back(path) == {
        "rows": [("n",), (0,), (1,)],
        "rows 2": [("n",), (2,), (3,)],
        "rows 3": [("n",), (4,), (5,)],
        "rows 4": [("n",), (6,)],
    }

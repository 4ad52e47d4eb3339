"""CSV is safe to open in a spreadsheet; cursors round-trip and refuse forgeries."""

import csv
import io
from datetime import UTC, datetime

import pytest

from crm.query.csv_export import flatten, safe_cell, to_csv
from crm.query.pagination import BadCursor, decode_cursor, encode_cursor


@pytest.mark.parametrize("text", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_formula_triggers_are_neutralised(text: str) -> None:
    assert safe_cell(text) == "'" + text


def test_plain_values_are_kept() -> None:
    assert safe_cell("Huangpu District") == "Huangpu District"
    assert safe_cell(-5) == -5
    assert safe_cell(None) == ""
    assert safe_cell(datetime(2020, 1, 2, tzinfo=UTC)) == "2020-01-02T00:00:00Z"
    assert safe_cell(["CN", "VN"]) == "CN;VN"


def test_to_csv_writes_header_and_escaped_rows() -> None:
    text = to_csv([{"a": "=1+1", "b": 2}, {"a": "x,y", "b": None}], ["a", "b"])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=1+1", "2"], ["x,y", ""]]


def test_flatten_nests_with_dots() -> None:
    assert flatten({"a": 1, "b": {"c": 2, "d": {"e": 3}}}) == {"a": 1, "b.c": 2, "b.d.e": 3}


def test_cursor_round_trips() -> None:
    key = ("2020-10-05T09:00:00Z", "tehnopol", "p-17")
    assert decode_cursor(encode_cursor(key), 3) == key


@pytest.mark.parametrize("cursor", ["", "not base64!", encode_cursor(("a",)), "W10", "eyJ4IjogMX0"])
def test_bad_cursors_are_refused(cursor: str) -> None:
    with pytest.raises(BadCursor):
        decode_cursor(cursor, 3)


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_a_cursor_with_text_postgresql_cannot_hold_is_refused(text: str) -> None:
    # Such a key reached PostgreSQL and came back as "database unreachable" (a 503) before.
    with pytest.raises(BadCursor):
        decode_cursor(encode_cursor((text,)), 1)

"""`?as_of=`: dates mean the end of the day in UTC; timestamps need a zone."""

from datetime import UTC, datetime

import pytest

from crm.query.as_of import BadAsOf, parse_as_of


def test_a_date_is_the_end_of_that_day_in_utc() -> None:
    assert parse_as_of("2020-12-31") == datetime(2020, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_a_timestamp_keeps_its_instant() -> None:
    assert parse_as_of("2021-06-30T14:00:00+02:00") == datetime(2021, 6, 30, 12, 0, tzinfo=UTC)
    assert parse_as_of("2021-06-30T12:00:00Z") == datetime(2021, 6, 30, 12, 0, tzinfo=UTC)
    assert parse_as_of(None) is None and parse_as_of("") is None


@pytest.mark.parametrize("value", ["2021-06-30T12:00:00", "yesterday", "2020-02-30", "31.12.2020", "'; DROP TABLE x"])
def test_anything_else_is_refused_with_the_value_named(value: str) -> None:
    with pytest.raises(BadAsOf, match="as_of"):
        parse_as_of(value)

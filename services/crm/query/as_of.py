"""`?as_of=`: the instant in event time a report is computed at.

A date means the end of that day in UTC (`2020-12-31` → `2020-12-31T23:59:59.999999Z`), so a
period's report includes everything that happened on its last day. A timestamp must carry its
time zone, like every timestamp of the contract.
"""

from datetime import UTC, date, datetime, time


class BadAsOf(ValueError):
    pass


def parse_as_of(value: str | None) -> datetime | None:
    if value is None or value == "":
        return None
    text = value.strip()
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadAsOf(f"as_of {value!r} is not a date (YYYY-MM-DD) nor an RFC 3339 timestamp") from None
        return datetime.combine(day, time.max, tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadAsOf(f"as_of {value!r} is not a date (YYYY-MM-DD) nor an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise BadAsOf(f"as_of {value!r} has no time zone; add Z or an offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-01:00 is past the last instant UTC can hold
        raise BadAsOf(f"as_of {value!r} is out of range once converted to UTC (years 0001 to 9999)") from None

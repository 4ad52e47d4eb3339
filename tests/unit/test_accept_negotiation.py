"""The Accept header parsed as RFC 9110 says: q-values, wildcards, parameters, specificity, 406."""

import pytest

from crm.query.negotiation import (
    MEDIA_TYPES,
    ConflictingRepresentation,
    MediaRange,
    Representation,
    chosen_representation,
    negotiate,
    parse_accept,
)

JSON, CSV, XLSX = MEDIA_TYPES["json"], MEDIA_TYPES["csv"], MEDIA_TYPES["xlsx"]
OFFERED = [JSON, CSV, XLSX]


def test_a_header_parses_into_ranges_with_parameters_and_qualities() -> None:
    assert parse_accept('Text/CSV; charset="UTF-8"; q=0.5; ext=1, */*;q=0') == [
        MediaRange("text", "csv", (("charset", "utf-8"),), 0.5),
        MediaRange("*", "*", (), 0.0),
    ]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),  # no header: anything goes, our first choice
        ("", JSON),
        ("*/*", JSON),
        ("text/csv", CSV),
        ("TEXT/CSV", CSV),
        ("text/*", CSV),  # the only text we offer
        ("text/csv;charset=utf-8", CSV),
        ("application/json;q=0.5, text/csv", CSV),  # q-values, not order, decide
        ("text/csv;q=0.2, application/json;q=0.9", JSON),
        ("text/csv;q=0.8, application/*;q=0.8", JSON),  # a tie: the server's preference
        ("application/*;q=0.5, " + XLSX, XLSX),
        ("*/*;q=0.1, text/csv;q=0", JSON),  # the most specific range decides: CSV refused
        ("text/csv;q=0, */*", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),  # a browser
        ("nonsense, text/csv", CSV),  # an element we cannot read is ignored
        ("text/csv;q=2, application/json;q=0.1", JSON),  # q=2 is no qvalue: that element is ignored
        ("text/csv;q=0.0001, application/json;q=0.001", JSON),  # more than 3 decimals: ignored
        ('text/csv;q=0.5;ext="a,b", image/png', CSV),  # a comma inside quotes does not split
        ("@@@", JSON),  # nothing readable at all: as if no header
    ],
)
def test_the_preferred_offered_type_wins(accept: str | None, chosen: str) -> None:
    assert negotiate(accept, OFFERED) == chosen


@pytest.mark.parametrize(
    "accept",
    ["image/png", "text/html", "*/*;q=0", "text/csv;charset=latin-1", "application/xml, text/plain;q=0.9"],
)
def test_nothing_acceptable_is_none(accept: str) -> None:
    assert negotiate(accept, OFFERED) is None


def test_a_parameter_the_offered_type_lacks_does_not_match() -> None:
    assert negotiate("text/csv;header=present", OFFERED) is None
    assert negotiate("text/csv;header=present, application/json;q=0.1", OFFERED) == JSON


def test_format_overrides_accept_and_a_whole_list_is_not_offered_as_json() -> None:
    assert chosen_representation("csv", "application/json") == Representation("csv")
    assert chosen_representation(None, "*/*", whole=True) == Representation("csv", whole=True)
    assert chosen_representation(None, XLSX, bom=True, whole=True) == Representation("xlsx", True, True)
    assert chosen_representation(None, "application/json", whole=True) is None  # a 406
    assert chosen_representation(None, "image/png") is None
    with pytest.raises(ConflictingRepresentation):
        chosen_representation("json", None, whole=True)


def test_the_tag_tells_the_byte_order_mark_apart_only_for_csv() -> None:
    assert Representation("csv", bom=True).tag == "csv+bom"
    assert Representation("csv").tag == "csv"
    assert Representation("json", bom=True).tag == "json"
    assert Representation("xlsx").media_type == XLSX

"""Entity tags of the figures follow what the body is made of; If-None-Match compares weakly."""

import pytest

from crm.query.etags import figures_etag, still_current

KPIS = {"smes_selected": 12, "partners": {"sisp": {"smes_selected": 5}}, "as_of": None}


def test_the_tag_is_weak_and_follows_the_figures_and_the_format() -> None:
    tag = figures_etag(KPIS, "json")
    assert tag.startswith('W/"') and tag.endswith('"')
    assert figures_etag(dict(reversed(KPIS.items())), "json") == tag  # key order is not content
    assert figures_etag({**KPIS, "smes_selected": 13}, "json") != tag
    assert figures_etag({**KPIS, "partners": {"sisp": {"smes_selected": 6}}}, "json") != tag
    assert figures_etag({**KPIS, "as_of": "2020-12-31T23:59:59.999999Z"}, "json") != tag
    assert len({tag, figures_etag(KPIS, "csv"), figures_etag(KPIS, "csv+bom"), figures_etag(KPIS, "xlsx")}) == 4


@pytest.mark.parametrize(
    "header",
    [
        'W/"abc"',
        '"abc"',  # weak comparison: a strong tag with the same opaque part matches
        '"x", W/"abc"',
        ' "x" ,W/"abc" ',
        "*",
        '"a,b", W/"abc"',  # a comma inside a tag does not split it
    ],
)
def test_a_header_naming_the_tag_means_304(header: str) -> None:
    assert still_current(header, 'W/"abc"')


@pytest.mark.parametrize("header", [None, "", 'W/"abd"', "abc", 'W/"ab', 'W/abc, "abc"', '"x" "abc"', "W/", '""'])
def test_anything_else_means_the_full_answer(header: str | None) -> None:
    assert not still_current(header, 'W/"abc"')

"""The demo's replay cut at the report deadlines: by each partner's own clock, late lines later."""

import json
from datetime import date
from pathlib import Path

from crm.demo.periods import late_lines, stretches
from crm.demo.scenario import ExpectedFigures, PartnerFeed, Scenario


def _line(day: str, n: int) -> bytes:
    return json.dumps({"event_id": str(n), "occurred_at": f"{day}T10:00:00Z"}).encode()


def _scenario(feeds: dict[str, list[bytes]]) -> Scenario:
    expected = ExpectedFigures(kpis={}, funnels={}, invalid=(), feed={}, stall_threshold_days=30)
    return Scenario("t", Path("."), {p: PartnerFeed(p, tuple(lines)) for p, lines in feeds.items()}, expected)


def test_a_line_goes_with_the_deadline_its_partners_clock_has_not_passed() -> None:
    a = [_line("2020-01-10", 1), _line("2020-07-02", 2), _line("2020-05-01", 3), b"not json", _line("2021-01-05", 4)]
    b = [_line("2020-06-30", 5), _line("2020-12-31", 6)]
    cut = stretches(_scenario({"a": a, "b": b}), [date(2020, 12, 31), date(2020, 6, 30)])
    assert [s.deadline for s in cut] == [date(2020, 6, 30), date(2020, 12, 31), None]
    assert {p: [n for n, _ in lines] for p, lines in cut[0].lines.items()} == {"a": [1], "b": [1]}
    # a's line 3 happened before the first deadline but is sent after a's clock passed it: late.
    assert [n for n, _ in cut[1].lines["a"]] == [2, 3, 4]
    assert [n for n, _ in cut[1].lines["b"]] == [2]  # on the deadline's own day: before it passed
    assert [n for n, _ in cut[2].lines["a"]] == [5]  # after both deadlines; the unreadable line 4 stays put
    assert late_lines(_scenario({"a": a, "b": b})) == 1

"""Programme definition files: the shipped 4SmartGrowth file, and every problem located by line."""

from datetime import date
from pathlib import Path

import pytest

from crm.programmes.definition import FILTERED, Measure
from crm.programmes.loading import ProgrammeFileError, key_lines, load_programme, parse_programme
from crm.programmes.measures import MEASURES

SHIPPED = Path(__file__).resolve().parents[2] / "scenario" / "4smartgrowth" / "programme.toml"

MINIMAL = """\
id = "prog-a"
name = "A"
funding_programme = "F"
objective = "O"
start = 2020-01-01
end = 2020-12-31
markets = ["CN"]

[[partners]]
id = "tehnopol"
legal_name = "Tallinn Science Park Tehnopol"
short_name = "Tehnopol"
country = "EE"
role = "lead"

[[periods]]
number = 1
start = 2020-01-01
end = 2020-06-30
report_deadline = 2020-09-30

[[periods]]
number = 2
start = 2020-07-01
end = 2020-12-31
report_deadline = 2021-03-31

[[indicators]]
code = "OUT-1"
name = "SMEs selected"
unit = "SMEs"
measure = "smes_selected"
target = 10
milestones = { 1 = 4 }
"""


def test_the_shipped_programme_is_the_seeds() -> None:
    programme = load_programme(SHIPPED)
    assert programme.id == "4smartgrowth"
    assert (programme.start, programme.end) == (date(2019, 4, 1), date(2021, 12, 31))
    assert programme.lead == "sisp"
    assert {p.id: p.budget_eur for p in programme.partners} == {
        "sisp": 265583,
        "tehnopol": 199150,
        "business-tampere": 199100,
        "turku-science-park": 200000,
        "vasteras-science-park": 200000,
    }
    assert [p.number for p in programme.periods] == [1, 2, 3, 4, 5, 6]
    by_code = {i.code: i for i in programme.indicators}
    assert (by_code["OUT-1"].measure, by_code["OUT-1"].target) == (Measure.SMES_IN_MATCHMAKING, 30)
    assert (by_code["RES-1"].agreement_type, by_code["RES-1"].target) == ("sales", 3)
    assert (by_code["RES-2"].measure, by_code["RES-2"].target) == (Measure.AGREEMENT_MARKETS, 3)


def test_a_minimal_file_loads() -> None:
    programme = parse_programme(MINIMAL, Path("p.toml"))
    assert programme.indicators[0].milestones == {1: 4}


def problems_of(text: str) -> list[tuple[int, str, str]]:
    with pytest.raises(ProgrammeFileError) as refused:
        parse_programme(text, Path("p.toml"))
    assert str(refused.value).startswith("p.toml:")
    return [(p.line, p.path, p.message) for p in refused.value.problems]


def line_of(text: str, snippet: str, after: str = "") -> int:
    """1-based line of the first `snippet` after the first `after`."""
    start = text.index(after) if after else 0
    return text[: text.index(snippet, start)].count("\n") + 1


def test_every_field_problem_is_reported_at_its_line() -> None:
    broken = (
        MINIMAL.replace('country = "EE"', 'country = "XX"')
        .replace('measure = "smes_selected"', 'measure = "smes_chosen"')
        .replace("number = 2", "number = 0")
    )
    found = problems_of(broken)
    assert [(line, path) for line, path, _ in found] == [
        (line_of(broken, 'country = "XX"'), "partners[0].country"),
        (line_of(broken, "number = 0"), "periods[1].number"),
        (line_of(broken, 'measure = "smes_chosen"'), "indicators[0].measure"),
    ]
    assert "ISO 3166-1 alpha-2" in found[0][2]


def test_a_toml_syntax_error_is_located() -> None:
    broken = MINIMAL.replace('unit = "SMEs"', 'unit = "SMEs')
    ((line, path, _),) = problems_of(broken)
    assert (line, path) == (line_of(broken, 'unit = "SMEs'), "(file)")


def test_what_fields_say_together_is_located_too() -> None:
    broken = (
        MINIMAL.replace('role = "lead"', 'role = "partner"')
        .replace("start = 2020-07-01", "start = 2020-07-02")
        .replace("milestones = { 1 = 4 }", "milestones = { 3 = 4 }")
    )
    assert problems_of(broken) == [
        (
            line_of(broken, "[[partners]]"),
            "partners",
            'a programme has exactly one lead partner (role = "lead"), not 0',
        ),
        (
            line_of(broken, "start = 2020-07-02"),
            "periods[1].start",
            "a period starts the day after the one before it ends (2020-06-30)",
        ),
        (line_of(broken, "milestones"), "indicators[0].milestones.3", "there is no period 3"),
    ]


def test_filters_are_only_for_the_agreement_measures() -> None:
    broken = MINIMAL.replace('measure = "smes_selected"', 'measure = "smes_selected"\nagreement_type = "sales"')
    ((line, path, message),) = problems_of(broken)
    assert (line, path) == (line_of(broken, "[[indicators]]"), "indicators[0]")
    assert "agreement_type and market filter only" in message


def test_key_lines_follow_tables_arrays_of_tables_and_dotted_keys() -> None:
    lines = key_lines('a = 1\n[t]\nx.y = 2\n[[arr]]\nk = 1\n[[arr]]\nk = 2\nlist = [\n  "not = a key",\n]\n')
    assert lines[("a",)] == 1
    assert lines[("t", "x", "y")] == 3
    assert lines[("arr", 0, "k")] == 5
    assert lines[("arr", 1, "k")] == 7
    assert lines[("arr", 1, "list")] == 8
    assert len(lines) == 9  # a, t, t.x.y, arr, arr[0], arr[0].k, arr[1], arr[1].k, arr[1].list: none inside the list


def test_every_measure_of_the_catalogue_has_its_query_and_no_query_is_without_a_measure() -> None:
    assert {measure.value for measure in Measure} == set(MEASURES)
    assert {Measure.AGREEMENTS, Measure.AGREEMENT_MARKETS} == FILTERED


AGREEMENTS = """
[[indicators]]
code = "RES-1"
name = "Sales agreements in Vietnam"
unit = "agreements"
measure = "agreements"
agreement_type = "sales"
market = "VN"
target = 3
milestones = { 1 = 2, 2 = 1 }
"""


def test_a_market_outside_the_programmes_and_cumulative_milestones_that_fall_or_pass_the_target() -> None:
    broken = (MINIMAL + AGREEMENTS).replace("milestones = { 1 = 4 }", "milestones = { 1 = 12, 3 = 1 }")
    at = line_of(broken, "milestones = { 1 = 12")
    assert problems_of(broken) == [  # with the other rules' problems, each at its line
        (at, "indicators[0].milestones.1", "a cumulative milestone cannot be above the target (10)"),
        (at, "indicators[0].milestones.3", "there is no period 3"),
        (line_of(broken, 'market = "VN"'), "indicators[1].market", "VN is not one of the programme's markets (CN)"),
        (
            line_of(broken, "milestones = { 1 = 2"),
            "indicators[1].milestones.2",
            "a cumulative milestone cannot be below an earlier one (period 1: 2)",
        ),
    ]


def test_milestones_may_fall_in_period_and_any_market_counts_when_the_programme_lists_none() -> None:
    text = (MINIMAL + AGREEMENTS.replace("target = 3", 'mode = "in_period"\ntarget = 3')).replace(
        'markets = ["CN"]\n', ""
    )
    programme = parse_programme(text, Path("p.toml"))
    assert (programme.markets, programme.indicators[1].market) == ([], "VN")
    assert programme.indicators[1].milestones == {1: 2, 2: 1}
    equal = parse_programme(MINIMAL.replace("milestones = { 1 = 4 }", "milestones = { 1 = 10, 2 = 10 }"), Path("p"))
    assert equal.indicators[0].milestones == {1: 10, 2: 10}  # non-decreasing, up to the target

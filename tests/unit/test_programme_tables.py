"""`crm programme show` reads in 80 columns: ids, codes and dates whole, long text folded (never
cut), targets per partner in tables of their own, times to the minute in UTC."""

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

from rich.console import Console

from crm.cli.programme_tables import print_programme, print_programmes
from crm.programmes.definition import Programme
from crm.programmes.loading import load_programme
from crm.programmes.store import StoredProgramme

SHIPPED = Path(__file__).resolve().parents[2] / "scenario" / "4smartgrowth" / "programme.toml"
LONG_WORD = "Exportförderungsmaßnahmenbegleitungsprogrammbestandteil"  # longer than any column
APPLIED = datetime(2026, 3, 1, 14, 5, 59, tzinfo=timezone(timedelta(hours=2)))


def shown(programme: Programme, width: int = 80) -> list[str]:
    out = io.StringIO()
    print_programme(Console(file=out, width=width), StoredProgramme(programme, 3, APPLIED, "Ana Tamm"))
    return [line.rstrip() for line in out.getvalue().splitlines()]


def with_partner_targets(programme: Programme, codes: set[str]) -> Programme:
    targets = {partner.id: index + 1 for index, partner in enumerate(programme.partners)}
    indicators = [
        i.model_copy(update={"partner_targets": targets}) if i.code in codes else i for i in programme.indicators
    ]
    return programme.model_copy(update={"indicators": indicators})


def cells(lines: list[str], column: int) -> str:
    """The text of one column of a table's rows, its lines joined without spaces."""
    return "".join(line.split("│")[column].strip() for line in lines if line.count("│") > column)


def test_every_line_fits_and_ids_codes_and_dates_are_whole() -> None:
    programme = load_programme(SHIPPED)
    lines = shown(programme)
    assert max(len(line) for line in lines) <= 80
    assert not any("…" in line for line in lines)  # nothing was cut
    whole = [p.id for p in programme.partners] + [i.code for i in programme.indicators]
    whole += [str(day) for p in programme.periods for day in (p.start, p.end, p.report_deadline)]
    whole += [i.measure.value for i in programme.indicators] + ["265,583.00"]
    for value in whole:
        assert any(value in line for line in lines), value
    text = "\n".join(lines)
    for partner in programme.partners:  # the legal names wrap, every word is there
        assert all(word in text for word in partner.legal_name.split()), partner.legal_name


def test_a_word_longer_than_its_column_folds_instead_of_losing_characters() -> None:
    programme = load_programme(SHIPPED)
    first = programme.indicators[0].model_copy(update={"name": LONG_WORD})
    lines = shown(programme.model_copy(update={"indicators": [first, *programme.indicators[1:]]}))
    assert max(len(line) for line in lines) <= 80
    assert not any(LONG_WORD in line for line in lines)
    start = next(n for n, line in enumerate(lines) if "│ OUT-1 " in line)
    assert LONG_WORD in cells(lines[start : start + 4], 2)


def test_the_version_is_applied_at_a_minute_in_utc_by_someone() -> None:
    lines = shown(load_programme(SHIPPED))
    assert "4smartgrowth, version 3, applied 2026-03-01 12:05 UTC by Ana Tamm" in lines
    out = io.StringIO()
    print_programmes(Console(file=out, width=80), [StoredProgramme(load_programme(SHIPPED), 3, APPLIED, None)])
    table = out.getvalue()
    assert "2026-03-01 12:05 UTC" in table and max(len(line) for line in table.splitlines()) <= 80


def test_targets_per_partner_are_a_table_of_their_own_split_to_fit() -> None:
    programme = load_programme(SHIPPED)
    lines = shown(with_partner_targets(programme, {"OUT-1", "RES-2"}))
    assert lines.count("Targets per partner") == 1
    header = next(line for line in lines if "partner" in line and "OUT-1" in line)
    assert "RES-2" in header and "name" not in header
    assert any("vasteras-science-park" in line and line.split("│")[2:4] == ["     5 ", "     5 "] for line in lines)

    every = with_partner_targets(programme, {i.code for i in programme.indicators})
    lines = shown(every)
    assert max(len(line) for line in lines) <= 80
    assert lines.count("Targets per partner") == 2  # eight indicators do not fit in one
    headers = [line for line in lines if line.startswith("┃ partner")]
    assert all(sum(i.code in h for h in headers) == 1 for i in programme.indicators)

"""How `crm programme show` prints programmes: Rich tables that read in 80 columns.

Ids, codes, dates and numbers never wrap (they are what one copies or compares); names and
measures fold onto more lines instead of losing characters; targets per partner have a table of
their own; times are to the minute, in UTC.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crm.programmes.definition import Indicator, Programme
from crm.programmes.store import StoredProgramme


def _table(title: str, *columns: str) -> Table:
    """Columns named `=x` never wrap, `>x` neither and are right-aligned (numbers); the others
    wrap at spaces, and fold a word longer than the column rather than cut it."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        if column[0] in "=>":
            table.add_column(column[1:], no_wrap=True, justify="right" if column[0] == ">" else "left")
        else:
            table.add_column(column, overflow="fold")
    return table


def _minute(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def print_programmes(console: Console, listed: Sequence[StoredProgramme]) -> None:
    """Every programme with its current version."""
    table = _table("Programmes", "=programme", "name", ">version", "=applied", "by")
    for stored in listed:
        table.add_row(
            stored.programme.id,
            stored.programme.name,
            str(stored.version),
            _minute(stored.applied_at),
            stored.applied_by or "",
        )
    console.print(table)


def print_programme(console: Console, stored: StoredProgramme) -> None:
    """One version of a programme: what it is, its partners, periods, indicators and the targets
    per partner."""
    p = stored.programme
    by = f" by {stored.applied_by}" if stored.applied_by else ""
    console.print(f"[bold]{p.name}[/bold]")
    console.print(f"{p.id}, version {stored.version}, applied {_minute(stored.applied_at)}{by}")
    console.print(f"{p.funding_programme}: {p.objective}")
    console.print(f"{p.start} to {p.end}; markets {', '.join(p.markets) or 'none listed'}")

    partners = _table("Partners", "=id", "short name: legal name", "=country", "=role", ">budget (EUR)")
    for partner in p.partners:
        budget = f"{partner.budget_eur:,.2f}" if partner.budget_eur is not None else ""
        partners.add_row(
            partner.id, f"{partner.short_name}: {partner.legal_name}", partner.country, partner.role, budget
        )
    console.print(partners)

    periods = _table("Reporting periods", ">period", "=start", "=end", "=report due")
    for period in p.periods:
        periods.add_row(str(period.number), str(period.start), str(period.end), str(period.report_deadline))
    console.print(periods)

    indicators = _table("Indicators", "=code", "name (unit), measure", "=mode", ">target", "=milestones")
    for i in p.indicators:
        milestones = "\n".join(f"P{number}: {value}" for number, value in sorted(i.milestones.items()))
        indicators.add_row(i.code, _what(i), i.mode, str(i.target), milestones)
    console.print(indicators)

    for table in _partner_targets(p, console.width):
        console.print(table)


def _what(indicator: Indicator) -> Text:
    """The indicator's name and unit, then (dim) what it counts: its measure and filters."""
    filters = [f"{name} {value}" for name in ("agreement_type", "market") if (value := getattr(indicator, name))]
    text = Text(f"{indicator.name} ({indicator.unit})\n")
    text.append(", ".join([indicator.measure.value, *filters]), style="dim")
    return text


def _partner_targets(programme: Programme, width: int) -> Iterator[Table]:
    """A partner per row, an indicator per column; as many tables as it takes for the columns to
    fit in `width` (each column is a code or a target, neither wraps)."""
    split = [i for i in programme.indicators if i.partner_targets]
    first = max(len("partner"), *(len(p.id) for p in programme.partners)) + 4  # borders and padding
    chunk: list[Indicator] = []
    used = first
    for indicator in split:
        column = max(len(indicator.code), *(len(str(t)) for t in indicator.partner_targets.values())) + 3
        if chunk and used + column > width:
            yield _targets_table(programme, chunk)
            chunk, used = [], first
        chunk.append(indicator)
        used += column
    if chunk:
        yield _targets_table(programme, chunk)


def _targets_table(programme: Programme, indicators: list[Indicator]) -> Table:
    table = _table("Targets per partner", "=partner", *(f">{i.code}" for i in indicators))
    for partner in programme.partners:
        table.add_row(partner.id, *(str(i.partner_targets.get(partner.id, "")) for i in indicators))
    return table

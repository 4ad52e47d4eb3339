"""An indicator's two report figures and their basis, counted in PostgreSQL in one statement.

The things a measure counts (its items, `crm.programmes.measures`) never leave the database: one
statement cuts them at the period (this period: what began counting in it; cumulative: what
counts at its end; a stock: what counts at its end, for both) and counts the distinct keys per
partner and programme-wide; for a freeze it also keeps the counted things (the report's basis)
in a temporary table, from which the report's row takes them.

A basis holds per figure the counted things, each partner_id, key, sme_id and subject joined by
FIELD, the things joined by ENTRY (`entries` reads them back). The same rules as `crm.programmes.counting.counted` and
`value_of`; `tests/integration/test_report_freezing.py` holds the figures equal to an
independent fold.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.engine import driver_connection
from crm.programmes.counting import Value, Window
from crm.programmes.definition import Indicator
from crm.programmes.measures import MEASURES, MeasureQuery

FIELD, ENTRY = "\x1f", "\x1e"
"""The basis's separators (ASCII unit and record separators, which no id may hold)."""
_ENTRY = "concat(partner_id, E'\\x1f', key, E'\\x1f', sme_id, E'\\x1f', subject)"
BASIS_TABLE = "pg_temp.report_basis"
"""Where a freeze keeps each indicator's basis until it stores the report (`keep_basis`)."""

_TEMPLATE = """
WITH items AS MATERIALIZED ({items}),
cut AS MATERIALIZED (
    SELECT partner_id, key, sme_id, subject,
           counts_from <= ${end} AND (counts_until IS NULL OR counts_until > ${end}) AS at_end,
           counts_from >= ${start} AND counts_from <= ${end} AS began
    FROM items
){keep}
SELECT partner_id, count(DISTINCT key) FILTER (WHERE {this}) AS this_period,
       count(DISTINCT key) FILTER (WHERE at_end) AS cumulative
FROM cut GROUP BY ROLLUP (partner_id)
"""
_KEEP = f""",
kept AS (
    INSERT INTO {BASIS_TABLE} (code, basis)
    SELECT ${{code}}, jsonb_build_object(
        'this_period', COALESCE(string_agg({{entry}}, E'\\x1e') FILTER (WHERE {{this}}), ''),
        'cumulative', COALESCE(string_agg({{entry}}, E'\\x1e') FILTER (WHERE at_end), '')
    ) FROM cut
)"""


def keep_basis_sql() -> str:
    """The table a freeze's transaction keeps the basis in, dropped when it commits."""
    return f"CREATE TEMP TABLE {BASIS_TABLE.split('.')[1]} (code text PRIMARY KEY, basis jsonb) ON COMMIT DROP"


@dataclass(frozen=True, slots=True)
class Figures:
    this_period: Value
    cumulative: Value


def entries(text: str) -> list[tuple[str, str, str, str]]:
    """The counted things of one figure of a basis."""
    found = []
    for entry in text.split(ENTRY) if text else []:
        partner_id, key, sme_id, subject = entry.split(FIELD)
        found.append((partner_id, key, sme_id, subject))
    return found


def figures_sql(spec: MeasureQuery, *, keep: bool) -> str:
    """The statement for one measure: its own parameters first, then the window's start and end
    (and, keeping the basis, the indicator's code)."""
    start, end, code = (len(spec.parameters) + n for n in (1, 2, 3))
    this = "at_end" if spec.stock else "began"
    kept = _KEEP.format(code=code, entry=_ENTRY, this=this) if keep else ""
    return _TEMPLATE.format(items=spec.sql, start=start, end=end, this=this, keep=kept)


_STATEMENTS = {(name, keep): figures_sql(spec, keep=keep) for name, spec in MEASURES.items() for keep in (False, True)}


async def indicator_figures(
    connection: AsyncConnection,
    programme_id: str,
    indicator: Indicator,
    window: Window,
    partners: list[str],
    *,
    keep_basis: bool = False,
) -> Figures:
    """Both figures of `indicator` for the period `window`, per partner (every one of `partners`
    listed, 0 when it has nothing) and programme-wide. With `keep_basis`, the counted things are
    kept in BASIS_TABLE under the indicator's code (the transaction must have created it)."""
    spec = MEASURES[indicator.measure.value]
    given: dict[str, Any] = {
        "programme": programme_id,
        "partner": None,
        "agreement_type": indicator.agreement_type,
        "market": indicator.market,
    }
    arguments = [*(given[name] for name in spec.parameters), window.start, window.end]
    if keep_basis:
        arguments.append(indicator.code)
    driver = await driver_connection(connection)
    rows = await driver.fetch(_STATEMENTS[(indicator.measure.value, keep_basis)], *arguments)
    totals = {"this_period": 0, "cumulative": 0}
    by_partner = {"this_period": dict.fromkeys(partners, 0), "cumulative": dict.fromkeys(partners, 0)}
    for partner_id, this_period, cumulative in rows:
        if partner_id is None:
            totals = {"this_period": this_period, "cumulative": cumulative}
        else:
            by_partner["this_period"][partner_id] = this_period
            by_partner["cumulative"][partner_id] = cumulative
    return Figures(
        Value(totals["this_period"], dict(sorted(by_partner["this_period"].items()))),
        Value(totals["cumulative"], dict(sorted(by_partner["cumulative"].items()))),
    )

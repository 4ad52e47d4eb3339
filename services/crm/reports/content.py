"""What a period's report holds, computed from the read models (docs/reports.md, "Contents").

Per indicator: its target, the period's milestone, what was previously reported (the cumulative
figure of the newest submitted report of an earlier period), this period's value (what began
counting in it) and the cumulative value at its end, programme-wide and per partner. Then the
agreements signed in the period, the pilots in discussion at its end (stalled or not), and the
companies several partners share.

For a freeze, `report_content(..., keep_basis=True)` also keeps the report's *basis* (per
indicator the things it counted) in PostgreSQL, for the report's row (`crm.reports.figures`);
a restatement compares it with what counts today.
"""

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.contract.events import rfc3339
from crm.db.engine import driver_connection
from crm.programmes.counting import Window
from crm.programmes.definition import Period, Programme
from crm.programmes.indicators import described, json_number, period_window
from crm.programmes.measures import MEASURES
from crm.reports.figures import indicator_figures

FIGURES = ("this_period", "cumulative")
"""The two values of an indicator a report holds (and a restatement may change)."""


_AGREEMENTS_SIGNED = """
SELECT a.partner_id, a.sme_id, a.agreement_id, a.agreement_type, a.market, a.counterpart,
       GREATEST(a.signed_at, s.selected_at) AS counts_from, a.signed_at, a.version_key_event_id AS event_id
FROM agreements a JOIN smes s USING (partner_id, sme_id)
WHERE s.programme_id = $1 AND s.selected_at IS NOT NULL
  AND GREATEST(a.signed_at, s.selected_at) BETWEEN $2 AND $3
ORDER BY a.partner_id, a.signed_at, a.sme_id, a.agreement_id
"""

_PILOTS_AT_END = """
SELECT p.partner_id, p.sme_id, p.pilot_id, p.market, p.counterpart, p.title, p.opened_at,
       p.opened_key_event_id AS event_id,
       EXISTS (
           SELECT 1 FROM alerts st
           WHERE st.partner_id = p.partner_id AND st.pilot_id = p.pilot_id
             AND st.fired_at <= $2 AND (st.resolved_at IS NULL OR st.resolved_at > $2)
       ) AS stalled
FROM pilots p JOIN smes s USING (partner_id, sme_id)
WHERE s.programme_id = $1 AND s.selected_at IS NOT NULL AND p.opened_at IS NOT NULL
  AND GREATEST(p.opened_at, s.selected_at) <= $2 AND (p.closed_at IS NULL OR p.closed_at > $2)
ORDER BY p.partner_id, p.sme_id, p.pilot_id
"""


async def _fetch(connection: AsyncConnection, sql: str, *arguments: object) -> list[Any]:
    driver = await driver_connection(connection)
    return list(await driver.fetch(sql, *arguments))


def _instant(value: datetime | None) -> str | None:
    return None if value is None else rfc3339(value)


async def report_content(
    connection: AsyncConnection,
    programme: Programme,
    version: int,
    period: Period,
    previous: dict[str, Any] | None,
    *,
    keep_basis: bool = False,
) -> dict[str, Any]:
    """The report of `period` as the read models on `connection` hold it now. `previous` is the
    document of the newest submitted report of an earlier period (its cumulative figures are this
    report's "previously reported"), or None."""
    window = period_window(period)
    partners = [p.id for p in programme.partners]
    earlier = {i["code"]: i for i in (previous or {}).get("indicators", [])}
    indicators: list[dict[str, Any]] = []
    for indicator in programme.indicators:
        figures = await indicator_figures(connection, programme.id, indicator, window, partners, keep_basis=keep_basis)
        values = {"this_period": figures.this_period, "cumulative": figures.cumulative}
        before = earlier.get(indicator.code)
        by_partner = {
            partner: {
                "target": json_number(indicator.partner_targets.get(partner)),
                "previously_reported": None
                if before is None
                else before["by_partner"].get(partner, {}).get("cumulative"),
                "this_period": values["this_period"].by_partner[partner],
                "cumulative": values["cumulative"].by_partner[partner],
            }
            for partner in partners
        }
        indicators.append(
            described(indicator)
            | {
                "target": json_number(indicator.target),
                "milestone": json_number(indicator.milestones.get(period.number)),
                "previously_reported": None if before is None else before["cumulative"],
                "this_period": values["this_period"].total,
                "cumulative": values["cumulative"].total,
                "by_partner": by_partner,
            }
        )
    agreements = await _fetch(connection, _AGREEMENTS_SIGNED, programme.id, window.start, window.end)
    pilots = await _fetch(connection, _PILOTS_AT_END, programme.id, window.end)
    document = {
        "programme": {
            "id": programme.id,
            "name": programme.name,
            "funding_programme": programme.funding_programme,
            "objective": programme.objective,
            "version": version,
        },
        "period": {
            "number": period.number,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "report_deadline": period.report_deadline.isoformat(),
        },
        "partners": [
            {"id": p.id, "legal_name": p.legal_name, "short_name": p.short_name, "country": p.country, "role": p.role}
            for p in programme.partners
        ],
        "indicators": indicators,
        "agreements_signed": [
            {
                "partner_id": r["partner_id"],
                "sme_id": r["sme_id"],
                "agreement_id": r["agreement_id"],
                "agreement_type": r["agreement_type"],
                "market": r["market"],
                "counterpart": r["counterpart"],
                "signed_at": _instant(r["signed_at"]),
                "event_id": str(r["event_id"]),
            }
            for r in agreements
        ],
        "pilots_in_discussion": [
            {
                "partner_id": r["partner_id"],
                "sme_id": r["sme_id"],
                "pilot_id": r["pilot_id"],
                "market": r["market"],
                "counterpart": r["counterpart"],
                "title": r["title"],
                "opened_at": _instant(r["opened_at"]),
                "stalled": r["stalled"],
                "event_id": str(r["event_id"]),
            }
            for r in pilots
        ],
        "shared_companies": await shared_companies(connection, programme, window),
    }
    return document


_SHARED = """
WITH items AS MATERIALIZED ({items})
SELECT key, array_agg(partner_id ORDER BY partner_id, sme_id), array_agg(sme_id ORDER BY partner_id, sme_id)
FROM items
WHERE key LIKE '%:%' AND counts_from <= ${end} AND (counts_until IS NULL OR counts_until > ${end})
GROUP BY key HAVING count(*) > 1
ORDER BY key
"""
"""An SME without a business id counts by its own id (no ':' in its key)."""


async def shared_companies(connection: AsyncConnection, programme: Programme, window: Window) -> list[dict[str, Any]]:
    """The enterprises (country:business_id) more than one SME of the programme stands for, selected
    by the window's end: each counts once in "distinct enterprises supported"."""
    spec = MEASURES["distinct_enterprises_supported"]
    given = {"programme": programme.id, "partner": None}
    sql = _SHARED.format(items=spec.sql, end=len(spec.parameters) + 1)
    rows = await _fetch(connection, sql, *(given[name] for name in spec.parameters), window.end)
    return [
        {"company": key, "partners": sorted(set(partners)), "smes": [list(p) for p in zip(partners, smes, strict=True)]}
        for key, partners, smes in rows
    ]

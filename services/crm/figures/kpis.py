"""Derived figures (docs/contract.md "Derived figures" and "Response shapes"), read from the read models.

Every figure can be asked `as_of` an instant in *event time*: it then counts what had happened by
then (an SME selected by then, a pilot opened by then and not closed by then, ...), using the
earliest-time columns the projector keeps. Attributes (an agreement's type, a pilot's market)
are the latest known ones.

Every figure can be asked for one programme (`programme_id`): it then counts that programme's
SMEs only, and the markets, pilots and agreements of those SMEs (an SME's programme is the one of
its selection, docs/contract.md "Programmes"); without, every programme's.

Only SMEs whose `SMESelected` has been applied are counted: an SME known only from other events
(its selection still on its way) enters every figure, with all its facts, once it arrives.

`pilots_stalled` counts pilots in discussion with an alert of the alerts read model (`alerts`)
fired by then and not resolved by then; until the alerts service has written any, it is 0.

`progress` sets three figures against their targets, which come from the indicators of a
programme's current definition (`crm.programmes.kpi_targets`): of `programme_id`, or without one
of the deployment's default programme; `null` when it has no such indicator or is not defined.
"""

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.contract.events import rfc3339
from crm.contract.upcasting import IMPLICIT_PROGRAMME
from crm.figures.applied import applied_events
from crm.programmes.kpi_targets import KpiTargets, Number
from crm.programmes.store import stored_programme

_T = "COALESCE(CAST(:as_of AS timestamptz), 'infinity'::timestamptz)"
# One programme's SMEs (and through them their markets, pilots and agreements), or all of them.
_IN = "(CAST(:programme_id AS varchar) IS NULL OR {s}programme_id = CAST(:programme_id AS varchar))"
_S_IN = _IN.format(s="s.")
_SMES_IN = _IN.format(s="")

_SMES = text(f"""
SELECT partner_id,
       count(*) AS smes_selected,
       count(*) FILTER (WHERE withdrawn_at <= {_T}) AS smes_withdrawn,
       count(*) FILTER (WHERE matchmaking_at <= {_T}) AS smes_in_matchmaking
FROM smes WHERE selected_at <= {_T} AND {_SMES_IN} GROUP BY partner_id
""")

_MATCHMAKING_MARKETS = text(f"""
SELECT DISTINCT m.partner_id, m.market
FROM sme_markets m JOIN smes s USING (partner_id, sme_id)
WHERE s.selected_at <= {_T} AND m.matchmaking_at <= {_T} AND {_S_IN}
""")

_AGREEMENTS = text(f"""
SELECT a.partner_id, a.agreement_type, a.market, count(*) AS n
FROM agreements a JOIN smes s USING (partner_id, sme_id)
WHERE s.selected_at <= {_T} AND a.signed_at <= {_T} AND {_S_IN}
GROUP BY a.partner_id, a.agreement_type, a.market
""")

_PILOTS = text(f"""
SELECT p.partner_id,
       count(*) AS pilots_in_discussion,
       count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM alerts st
           WHERE st.partner_id = p.partner_id AND st.pilot_id = p.pilot_id
             AND st.fired_at <= {_T} AND (st.resolved_at IS NULL OR st.resolved_at > {_T})
       )) AS pilots_stalled
FROM pilots p JOIN smes s USING (partner_id, sme_id)
WHERE s.selected_at <= {_T} AND p.opened_at <= {_T} AND (p.closed_at IS NULL OR p.closed_at > {_T})
  AND {_S_IN}
GROUP BY p.partner_id
""")

_FUNNEL = text(f"""
SELECT count(*) AS selected,
       count(*) FILTER (WHERE LEAST(trained_at, met_at, piloting_at, agreement_at) <= {_T}) AS trained,
       count(*) FILTER (WHERE LEAST(met_at, piloting_at, agreement_at) <= {_T}) AS met,
       count(*) FILTER (WHERE LEAST(piloting_at, agreement_at) <= {_T}) AS piloting,
       count(*) FILTER (WHERE agreement_at <= {_T}) AS agreement
FROM smes WHERE partner_id = :partner_id AND selected_at <= {_T} AND {_SMES_IN}
""")

_FUNNEL_BY_MARKET = text(f"""
SELECT m.market,
       count(*) FILTER (WHERE LEAST(m.met_at, m.piloting_at, m.agreement_at) <= {_T}) AS met,
       count(*) FILTER (WHERE LEAST(m.piloting_at, m.agreement_at) <= {_T}) AS piloting,
       count(*) FILTER (WHERE m.agreement_at <= {_T}) AS agreement
FROM sme_markets m JOIN smes s USING (partner_id, sme_id)
WHERE s.partner_id = :partner_id AND s.selected_at <= {_T} AND {_S_IN}
GROUP BY m.market ORDER BY m.market
""")


async def programme_kpis(
    connection: AsyncConnection,
    as_of: datetime | None = None,
    *,
    programme_id: str | None = None,
    default_programme: str = IMPLICIT_PROGRAMME,
) -> dict[str, Any]:
    """`GET /v1/programme/kpis`: programme-wide figures with a per-partner breakdown; with
    `programme_id`, of that programme's SMEs only (None: every programme's). The targets are those
    of `programme_id`'s indicators, or without it of `default_programme`'s."""
    params = {"as_of": as_of, "programme_id": programme_id}
    partners: dict[str, dict[str, Any]] = {}

    def partner(partner_id: str) -> dict[str, Any]:
        return partners.setdefault(partner_id, _empty_kpis())

    for row in (await connection.execute(_SMES, params)).mappings():
        figures = partner(row["partner_id"])
        for name in ("smes_selected", "smes_withdrawn", "smes_in_matchmaking"):
            figures[name] = row[name]
    for row in (await connection.execute(_MATCHMAKING_MARKETS, params)).mappings():
        partner(row["partner_id"])["matchmaking_markets"].append(row["market"])
    for row in (await connection.execute(_AGREEMENTS, params)).mappings():
        figures = partner(row["partner_id"])
        figures["agreements_by_type"][row["agreement_type"]] += row["n"]
        figures["agreements_by_market"][row["market"]] += row["n"]
        if row["agreement_type"] == "sales":
            figures["_sales_markets"].add(row["market"])
    for row in (await connection.execute(_PILOTS, params)).mappings():
        figures = partner(row["partner_id"])
        figures["pilots_in_discussion"] = row["pilots_in_discussion"]
        figures["pilots_stalled"] = row["pilots_stalled"]

    total = _empty_kpis()
    for figures in partners.values():
        for name in (
            "smes_selected",
            "smes_withdrawn",
            "smes_in_matchmaking",
            "pilots_in_discussion",
            "pilots_stalled",
        ):
            total[name] += figures[name]
        total["matchmaking_markets"].extend(figures["matchmaking_markets"])
        total["agreements_by_type"].update(figures["agreements_by_type"])
        total["agreements_by_market"].update(figures["agreements_by_market"])
        total["_sales_markets"] |= figures["_sales_markets"]
    if as_of is None:
        as_of = (await applied_events(connection)).overall.newest_event_at
    stored = await stored_programme(connection, programme_id if programme_id is not None else default_programme)
    targets = KpiTargets.of(None if stored is None else stored.programme)
    return {
        "as_of": rfc3339(as_of) if as_of else None,
        **_finished(total, targets.programme_wide()),
        "partners": {
            partner_id: _finished(partners[partner_id], targets.of_partner(partner_id))
            for partner_id in sorted(partners)
        },
    }


def _empty_kpis() -> dict[str, Any]:
    return {
        "smes_selected": 0,
        "smes_withdrawn": 0,
        "smes_in_matchmaking": 0,
        "matchmaking_markets": [],
        "agreements_by_type": Counter(),
        "agreements_by_market": Counter(),
        "pilots_in_discussion": 0,
        "pilots_stalled": 0,
        "_sales_markets": set(),
    }


def _finished(figures: dict[str, Any], targets: dict[str, Number]) -> dict[str, Any]:
    sales = figures["agreements_by_type"].get("sales", 0)
    return {
        "smes_selected": figures["smes_selected"],
        "smes_withdrawn": figures["smes_withdrawn"],
        "smes_in_matchmaking": figures["smes_in_matchmaking"],
        "matchmaking_markets": sorted(set(figures["matchmaking_markets"])),
        "agreements_by_type": dict(sorted(figures["agreements_by_type"].items())),
        "agreements_by_market": dict(sorted(figures["agreements_by_market"].items())),
        "pilots_in_discussion": figures["pilots_in_discussion"],
        "pilots_stalled": figures["pilots_stalled"],
        "progress": {
            "smes_on_export_missions": {
                "actual": figures["smes_in_matchmaking"],
                "target": targets["smes_on_export_missions"],
            },
            "sales_agreements": {"actual": sales, "target": targets["sales_agreements"]},
            "sales_agreement_markets": {
                "actual": len(figures["_sales_markets"]),
                "target": targets["sales_agreement_markets"],
            },
        },
    }


async def partner_funnel(
    connection: AsyncConnection, partner_id: str, as_of: datetime | None = None, *, programme_id: str | None = None
) -> dict[str, Any]:
    """`GET /v1/partners/{partner_id}/funnel`: SMEs at each stage or beyond, overall and per market;
    with `programme_id`, of the partner's SMEs in that programme only."""
    params = {"as_of": as_of, "partner_id": partner_id, "programme_id": programme_id}
    stages = dict((await connection.execute(_FUNNEL, params)).mappings().one())
    by_market = {
        row["market"]: {"met": row["met"], "piloting": row["piloting"], "agreement": row["agreement"]}
        for row in (await connection.execute(_FUNNEL_BY_MARKET, params)).mappings()
        if row["met"] or row["piloting"] or row["agreement"]
    }
    return {"partner_id": partner_id, "stages": stages, "by_market": by_market}

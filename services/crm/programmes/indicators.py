"""A programme's indicators per period and partner, as of an event time, with their evidence.

Each indicator's value at each period's end (or at `as_of`, when that comes first), programme-wide
and per partner, beside its target and milestone, is counted by one query of its measure for every
period at once (`crm.programmes.measures.measure_values`, the rule of
`crm.programmes.counting.counted`). Its evidence is the measure's items, each with its event,
cut by the period in Python (`measure_items`, `counted`). A partner's view holds its own values,
targets and evidence only, and reads only that partner's rows.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from crm.contract.events import rfc3339
from crm.programmes.counting import Item, Window, counted
from crm.programmes.definition import Indicator, Period, Programme
from crm.programmes.measures import MEASURES, measure_items, measure_values


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def period_window(period: Period) -> Window:
    """The period from its first instant to its last, in event time (UTC)."""
    return Window(_start(period.start), _start(period.end + timedelta(days=1)) - timedelta(microseconds=1))


def window(period: Period, as_of: datetime | None) -> Window | None:
    """The period from its first instant to its last (or to `as_of`); None when it starts after `as_of`."""
    whole = period_window(period)
    if as_of is None:
        return whole
    if as_of < whole.start:
        return None
    return Window(whole.start, min(whole.end, as_of))


@dataclass(frozen=True, slots=True)
class Slice:
    """Whose values are shown: the programme's and every partner's (None), or one partner's."""

    partner_id: str | None = None


async def items_of(
    connection: AsyncConnection, programme_id: str, indicator: Indicator, *, partner_id: str | None = None
) -> list[Item]:
    return await measure_items(
        connection,
        programme_id,
        indicator.measure.value,
        partner_id=partner_id,
        agreement_type=indicator.agreement_type,
        market=indicator.market,
    )


def counted_in(indicator: Indicator, items: list[Item], cut: Window) -> list[Item]:
    return counted(items, cut, indicator.mode, stock=MEASURES[indicator.measure.value].stock)


async def indicator_values(
    connection: AsyncConnection,
    programme: Programme,
    version: int,
    *,
    as_of: datetime | None = None,
    period: int | None = None,
    view: Slice = Slice(),
) -> dict[str, Any]:
    """The JSON document of `GET /v1/programmes/{id}/indicators`."""
    periods = [p for p in programme.periods if period is None or p.number == period]
    partners = [p.id for p in programme.partners] if view.partner_id is None else [view.partner_id]
    cuts = [window(p, as_of) for p in periods]
    counted_cuts = [cut for cut in cuts if cut is not None]
    indicators = []
    for indicator in programme.indicators:
        values = iter(
            await measure_values(
                connection,
                programme.id,
                indicator.measure.value,
                counted_cuts,
                in_period=indicator.mode == "in_period",
                partners=partners,
                partner_id=view.partner_id,
                agreement_type=indicator.agreement_type,
                market=indicator.market,
            )
        )
        rows = []
        for p, cut in zip(periods, cuts, strict=True):
            value = None if cut is None else next(values)
            shown = None
            if value is not None:
                shown = value.total if view.partner_id is None else value.by_partner[view.partner_id]
            row: dict[str, Any] = {
                "number": p.number,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "milestone": json_number(indicator.milestones.get(p.number)) if view.partner_id is None else None,
                "value": shown,
            }
            if view.partner_id is None:
                row["by_partner"] = None if value is None else value.by_partner
            rows.append(row)
        target = indicator.target if view.partner_id is None else indicator.partner_targets.get(view.partner_id)
        indicators.append(
            described(indicator)
            | {
                "target": json_number(target),
                "partner_targets": {k: json_number(v) for k, v in indicator.partner_targets.items()}
                if view.partner_id is None
                else None,
                "periods": rows,
            }
        )
    return {
        "programme_id": programme.id,
        "version": version,
        "partner_id": view.partner_id,
        "as_of": rfc3339(as_of) if as_of else None,
        "indicators": indicators,
    }


async def indicator_evidence(
    connection: AsyncConnection,
    programme: Programme,
    indicator: Indicator,
    period: Period,
    *,
    as_of: datetime | None = None,
    partner_id: str | None = None,
) -> list[dict[str, Any]]:
    """What counts in one indicator's value for a period (and partner): each thing and its event."""
    cut = window(period, as_of)
    if cut is None:
        return []
    items = await items_of(connection, programme.id, indicator, partner_id=partner_id)
    return [
        {
            "partner_id": item.partner_id,
            "kind": item.kind,
            "key": item.key,
            "sme_id": item.sme_id,
            "subject": item.subject,
            "event_id": str(item.event_id),
            "counts_from": rfc3339(item.counts_from),
            "counts_until": rfc3339(item.counts_until) if item.counts_until else None,
        }
        for item in sorted(counted_in(indicator, items, cut), key=lambda i: (i.partner_id, i.key, i.counts_from))
    ]


def described(indicator: Indicator) -> dict[str, Any]:
    """What an indicator is, as the indicators and the reports show it."""
    return {
        "code": indicator.code,
        "name": indicator.name,
        "unit": indicator.unit,
        "measure": indicator.measure.value,
        "agreement_type": indicator.agreement_type,
        "market": indicator.market,
        "mode": indicator.mode,
    }


def json_number(value: Any) -> float | int | None:
    """A target or milestone (a Decimal) as JSON writes it: an int when whole, else a float."""
    if value is None:
        return None
    return int(value) if value == int(value) else float(value)

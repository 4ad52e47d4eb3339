"""Restatements: what today's read models say of a frozen report's figures, and which events changed them.

Late feeds are normal: an event of a period may arrive after its report was frozen. The frozen
report never changes; instead, for each figure (an indicator's this-period or cumulative value,
programme-wide or of one partner) that today's recomputation (under the programme version the
report was frozen with) gives differently, a restatement holds the frozen figure, today's, and
the events responsible.

The events responsible for a changed figure are, among the events applied after the freeze
(not among the applied events the report lists), those that
- made a thing count that did not: the thing's own event (the meeting, the pilot's opening, the
  agreement's terms, ...) and its SME's selections;
- or made a thing stop counting that did: its SME's events by the period's end (for a pilot or
  an agreement, those of that pilot or agreement), such as a pilot's closing.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.contract.events import rfc3339
from crm.db.engine import driver_connection
from crm.programmes.counting import Mode, Window, counted
from crm.programmes.definition import Indicator, Programme
from crm.programmes.indicators import items_of, period_window
from crm.programmes.measures import MEASURES
from crm.reports.content import FIGURES, report_content
from crm.reports.figures import entries
from crm.reports.store import FrozenReport, frozen_basis

Entry = tuple[str, str, str, str, str]
"""A counted thing: partner_id, key, sme_id, subject, and the event that made it count (today's
things; a frozen basis does not keep it: "")."""


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    event_id: UUID
    event_type: str
    partner_id: str
    sme_id: str
    occurred_at: datetime
    subject: str | None
    """The pilot or agreement the event is about, if any."""


def _figures(indicator: dict[str, Any], figure: str) -> tuple[Any, ...]:
    """One figure of an indicator, programme-wide and of each partner."""
    own = sorted((p, v.get(figure)) for p, v in indicator["by_partner"].items())
    return (indicator[figure], *own)


_MODES: tuple[tuple[str, Mode], ...] = (("this_period", "in_period"), ("cumulative", "cumulative"))


async def _counted_today(
    connection: AsyncConnection, programme_id: str, indicator: Indicator, window: Window
) -> dict[str, list[Entry]]:
    """What each figure counts today, with the event that made each thing count."""
    items = await items_of(connection, programme_id, indicator)
    stock = MEASURES[indicator.measure.value].stock
    return {
        figure: [
            (i.partner_id, i.key, i.sme_id, i.subject, str(i.event_id))
            for i in counted(items, window, mode, stock=stock)
        ]
        for figure, mode in _MODES
    }


def changed_things(frozen: list[Entry], today: list[Entry], partner_id: str | None) -> tuple[list[Entry], list[Entry]]:
    """The things of a figure (programme-wide, or one partner's) whose key counts today and did not
    when frozen (added), and the other way round (removed)."""
    mine = [e for e in frozen if partner_id in (None, e[0])], [e for e in today if partner_id in (None, e[0])]
    frozen_keys, today_keys = {e[1] for e in mine[0]}, {e[1] for e in mine[1]}
    return [e for e in mine[1] if e[1] not in frozen_keys], [e for e in mine[0] if e[1] not in today_keys]


def responsible(
    added: list[Entry],
    removed: list[Entry],
    timeline: dict[tuple[str, str], list[TimelineEvent]],
    late: set[UUID],
    *,
    kind: str,
    end: datetime,
) -> list[TimelineEvent]:
    """The late events (`late`: applied after the freeze) that made `added` count or `removed` stop."""
    found: dict[UUID, TimelineEvent] = {}
    for partner, _key, sme, _subject, event_id in added:
        for event in timeline.get((partner, sme), []):
            if event.event_id in late and (str(event.event_id) == event_id or event.event_type == "SMESelected"):
                found[event.event_id] = event
    for partner, _key, sme, subject, _event_id in removed:
        for event in timeline.get((partner, sme), []):
            about_it = kind not in ("pilot", "agreement") or event.subject == subject
            if event.event_id in late and event.occurred_at <= end and about_it:
                found[event.event_id] = event
    return sorted(found.values(), key=lambda e: (e.occurred_at, str(e.event_id)))


_TIMELINE = """
SELECT t.event_id, t.event_type, t.partner_id, t.sme_id, t.occurred_at,
       COALESCE(t.payload ->> 'pilot_id', t.payload ->> 'agreement_id') AS subject
FROM sme_timeline t JOIN unnest($1::text[], $2::text[]) AS w(partner_id, sme_id) USING (partner_id, sme_id)
"""


async def _timeline(
    connection: AsyncConnection, smes: set[tuple[str, str]]
) -> dict[tuple[str, str], list[TimelineEvent]]:
    if not smes:
        return {}
    partners, ids = zip(*sorted(smes), strict=True)
    driver = await driver_connection(connection)
    out: dict[tuple[str, str], list[TimelineEvent]] = {}
    for r in await driver.fetch(_TIMELINE, list(partners), list(ids)):
        event = TimelineEvent(r[0], r[1], r[2], r[3], r[4], r[5])
        out.setdefault((event.partner_id, event.sme_id), []).append(event)
    return out


async def restatements(connection: AsyncConnection, programme: Programme, report: FrozenReport) -> dict[str, Any]:
    """The restatements of a frozen report: `programme` is the version it was frozen under."""
    frozen_document = orjson.loads(report.document)
    frozen_basis_, applied = await frozen_basis(connection, report)
    period = programme.period(report.period)
    assert period is not None
    window = period_window(period)
    end = window.end
    today = await report_content(connection, programme, report.programme_version, period, None)
    frozen_values = {i["code"]: i for i in frozen_document["indicators"]}
    indicators = {i.code: i for i in programme.indicators}
    partners = [p.id for p in programme.partners]

    changes: list[tuple[dict[str, Any], list[Entry], list[Entry], str]] = []
    for now in today["indicators"]:
        code = now["code"]
        then = frozen_values[code]
        changed = [f for f in FIGURES if _figures(now, f) != _figures(then, f)]
        found = await _counted_today(connection, programme.id, indicators[code], window) if changed else {}
        for figure in changed:
            frozen_entries = [(*entry, "") for entry in entries(frozen_basis_[code][figure])]
            today_entries = found[figure]
            for partner in [None, *partners]:
                before = then[figure] if partner is None else then["by_partner"].get(partner, {}).get(figure, 0)
                after = now[figure] if partner is None else now["by_partner"][partner][figure]
                if before == after:
                    continue
                added, removed = changed_things(frozen_entries, today_entries, partner)
                change = {
                    "indicator": code,
                    "partner_id": partner,
                    "figure": figure,
                    "frozen": before,
                    "today": after,
                    "difference": after - before,
                }
                changes.append((change, added, removed, MEASURES[now["measure"]].kind))
    smes = {(e[0], e[2]) for _, added, removed, _ in changes for e in [*added, *removed]}
    timeline = await _timeline(connection, smes)
    late = {event.event_id for events in timeline.values() for event in events} - applied
    listed = []
    for change, added, removed, kind in changes:
        events = responsible(added, removed, timeline, late, kind=kind, end=end)
        listed.append(change | {"events": [_event(e) for e in events]})
    return {
        "programme_id": report.programme_id,
        "period": report.period,
        "revision": report.revision,
        "programme_version": report.programme_version,
        "frozen_at": rfc3339(report.frozen_at),
        "restatements": listed,
    }


def _event(event: TimelineEvent) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "partner_id": event.partner_id,
        "sme_id": event.sme_id,
        "occurred_at": rfc3339(event.occurred_at),
    }

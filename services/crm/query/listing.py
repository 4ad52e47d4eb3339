"""The list and detail queries of the query API: filters, a stable order, keyset pages, exports.

Every value reaches PostgreSQL as a bound parameter. Each list has a total order (ending in
the row's identity), and the cursor names the last row served in that order, so pages neither
skip nor repeat rows when others are inserted meanwhile. A list is one `Listing` (its query,
filters and order), served either a page at a time (`page_of`) or whole (`whole_list`): every
row in the same order, read through a server-side cursor a batch at a time, so an export of
any size holds one batch in memory. Whoever may read the partner is checked before (deps.py);
each listing's filters start with its partner.
"""

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import ColumnElement, Select, Table, any_, false, func, literal, or_, select, text, true, tuple_
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.alerts.queries import AlertView, alert_views, alerts_for_partner, partner_alerts
from crm.db.alert_tables import alerts
from crm.db.engine import driver_connection
from crm.db.tables import agreements, pilots, sme_markets, sme_timeline, smes
from crm.query.pagination import BadCursor, decode_cursor, encode_cursor

PilotStatus = Literal["open", "stalled", "closed"]
Stage = Literal["selected", "trained", "met", "piloting", "agreement"]


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    next: str | None


EXPORT_BATCH = 2000
"""Rows a whole list reads from its cursor at a time (and turns into one chunk of CSV)."""


@dataclass(frozen=True, slots=True)
class Listing:
    """A list: its rows' query, their filters, a total order and the Python types of its cursor's key.
    `count_from`: a cheaper query for the total, of the same filters (without the joined columns)."""

    query: Select[Any]
    filters: list[ColumnElement[bool]]
    order: Sequence[ColumnElement[Any]]
    key_types: Sequence[type]
    count_from: Select[Any] | None = field(default=None)

    def rows_after(self, cursor: str | None) -> Select[Any]:
        """The rows after the cursor's (every row without one), in order."""
        after: list[ColumnElement[bool]] = []
        if cursor is not None:
            key = _typed_key(decode_cursor(cursor, len(self.order)), self.key_types)
            after.append(tuple_(*self.order) > tuple_(*key))
        return self.query.where(*self.filters, *after).order_by(*self.order)


async def page_of(connection: AsyncConnection, listing: Listing, *, limit: int, cursor: str | None) -> Page:
    """`limit` rows after the cursor, the total of the filters, and the cursor of the next page."""
    rows = [dict(row) for row in (await connection.execute(listing.rows_after(cursor).limit(limit + 1))).mappings()]
    counted = (listing.count_from if listing.count_from is not None else listing.query).where(*listing.filters)
    count = select(func.count()).select_from(counted.order_by(None).subquery())
    total = int(await connection.scalar(count) or 0)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(tuple(_plain(last[column.key]) for column in listing.order))  # type: ignore[attr-defined]
    return Page(rows, total, next_cursor)


async def whole_list(
    connection: AsyncConnection, listing: Listing, *, cursor: str | None = None, batch: int = EXPORT_BATCH
) -> AsyncGenerator[Sequence[Mapping[str, Any]]]:
    """Every row after the cursor (all without one), `batch` at a time, from one statement's
    server-side cursor: one snapshot of the data, one batch in memory.

    The rows are asyncpg's records (read-only mappings), straight from the driver: through
    SQLAlchemy's result the same 200,000 pilots took about 5 s more (docs/benchmarks.md, "Exports").
    """
    # The statement's own JIT compilation costs more than it saves on rows streamed out (0.7 s of
    # a 200,000-pilot export); SET LOCAL also opens the transaction the cursor needs.
    await connection.execute(_NO_JIT)
    compiled = listing.rows_after(cursor).compile(dialect=connection.dialect)
    parameters = [compiled.params[name] for name in compiled.positiontup or ()]
    driver = await driver_connection(connection)
    rows = await driver.cursor(str(compiled), *parameters)
    while found := await rows.fetch(batch):
        yield found


_NO_JIT = text("SET LOCAL jit = off")


def _plain(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    return value.isoformat() if isinstance(value, datetime) else value


def _typed_key(key: tuple[Any, ...], types: Sequence[type]) -> tuple[Any, ...]:
    typed: list[Any] = []
    for value, kind in zip(key, types, strict=True):
        if kind is datetime:
            try:
                moment = datetime.fromisoformat(str(value))
            except ValueError:
                raise BadCursor("cursor is not valid; use the `next` value of a previous page") from None
            if moment.tzinfo is None:
                raise BadCursor("cursor is not valid; use the `next` value of a previous page")
            try:  # an instant past what UTC can hold (9999-12-31T23:59:59-01:00) came from no page of ours
                moment.astimezone(UTC)
            except OverflowError:
                raise BadCursor("cursor is not valid; use the `next` value of a previous page") from None
            typed.append(moment)
        elif kind is UUID:
            try:
                typed.append(UUID(str(value)))
            except ValueError:
                raise BadCursor("cursor is not valid; use the `next` value of a previous page") from None
        elif not isinstance(value, str):
            raise BadCursor("cursor is not valid; use the `next` value of a previous page")
        else:
            typed.append(value)
    return tuple(typed)


_SME_COLUMNS = (
    smes.c.partner_id,
    smes.c.sme_id,
    smes.c.programme_id,
    smes.c.name,
    smes.c.country,
    smes.c.sector,
    smes.c.target_markets,
    smes.c.stage,
    smes.c.withdrawn,
    smes.c.selected_at,
    smes.c.trained_at,
    smes.c.met_at,
    smes.c.piloting_at,
    smes.c.agreement_at,
    smes.c.matchmaking_at,
    smes.c.withdrawn_at,
    smes.c.last_activity_at,
)


def smes_listing(
    partner_id: str,
    *,
    stage: Stage | None = None,
    market: str | None = None,
    withdrawn: bool | None = None,
    programme_id: str | None = None,
) -> Listing:
    """A partner's SMEs by `sme_id`; `stage` is the furthest stage reached, `market` a target or active
    market, `programme_id` the programme of its selection."""
    filters: list[ColumnElement[bool]] = [smes.c.partner_id == partner_id]
    if programme_id is not None:
        filters.append(smes.c.programme_id == programme_id)
    if stage is not None:
        filters.append(smes.c.stage == stage)
    if market is not None:
        active = (
            select(sme_markets.c.market)
            .where(
                sme_markets.c.partner_id == smes.c.partner_id,
                sme_markets.c.sme_id == smes.c.sme_id,
                sme_markets.c.market == market,
            )
            .exists()
        )
        filters.append(or_(literal(market) == any_(smes.c.target_markets), active))
    if withdrawn is not None:
        filters.append(smes.c.withdrawn == (true() if withdrawn else false()))
    return Listing(select(*_SME_COLUMNS), filters, [smes.c.sme_id], [str])


TIMELINE_PAGE = 50
"""Timeline entries the SME detail carries; the rest through `timeline_page` (finding 9 of issue 13)."""


async def sme_detail(
    connection: AsyncConnection, partner_id: str, sme_id: str, timeline_limit: int = TIMELINE_PAGE
) -> dict[str, Any] | None:
    """One SME, its markets, and the first page of its timeline (`timeline`, `timeline_total`,
    `timeline_next`: the cursor of `timeline_page`). None when the partner has no such SME."""
    key = (smes.c.partner_id == partner_id, smes.c.sme_id == sme_id)
    row = (await connection.execute(select(*_SME_COLUMNS).where(*key))).mappings().first()
    if row is None:
        return None
    sme = dict(row)
    sme["markets"] = [
        dict(r)
        for r in (
            await connection.execute(
                select(sme_markets.c.market, sme_markets.c.met_at, sme_markets.c.piloting_at)
                .add_columns(sme_markets.c.agreement_at, sme_markets.c.matchmaking_at)
                .where(sme_markets.c.partner_id == partner_id, sme_markets.c.sme_id == sme_id)
                .order_by(sme_markets.c.market)
            )
        ).mappings()
    ]
    page = await page_of(connection, timeline_listing(partner_id, sme_id), limit=timeline_limit, cursor=None)
    sme |= {"timeline": page.rows, "timeline_total": page.total, "timeline_next": page.next}
    return sme


async def sme_exists(connection: AsyncConnection, partner_id: str, sme_id: str) -> bool:
    found = await connection.scalar(select(literal(1)).where(smes.c.partner_id == partner_id, smes.c.sme_id == sme_id))
    return found is not None


async def timeline_page(
    connection: AsyncConnection, partner_id: str, sme_id: str, *, limit: int, cursor: str | None
) -> Page | None:
    """A page of an SME's applied events in event-time order (then event id); None: no such SME."""
    if not await sme_exists(connection, partner_id, sme_id):
        return None
    return await page_of(connection, timeline_listing(partner_id, sme_id), limit=limit, cursor=cursor)


def timeline_listing(partner_id: str, sme_id: str) -> Listing:
    """An SME's applied events in event-time order, then event id."""
    query = select(sme_timeline.c.event_id, sme_timeline.c.event_type, sme_timeline.c.occurred_at).add_columns(
        sme_timeline.c.payload
    )
    filters: list[ColumnElement[bool]] = [sme_timeline.c.partner_id == partner_id, sme_timeline.c.sme_id == sme_id]
    order = [sme_timeline.c.occurred_at, sme_timeline.c.event_id]
    return Listing(query, filters, order, [datetime, UUID], count_from=select(sme_timeline.c.event_id))


def _of_programme(table: Table, programme_id: str) -> ColumnElement[bool]:
    """The rows of SMEs in that programme: a pilot or agreement is in its SME's programme."""
    return (
        select(literal(1))
        .where(
            smes.c.partner_id == table.c.partner_id,
            smes.c.sme_id == table.c.sme_id,
            smes.c.programme_id == programme_id,
        )
        .exists()
    )


def _open_stall() -> Any:
    # The alerts read model's view of a stall: one unresolved alert per stalled pilot.
    return (
        select(alerts.c.idle_days, alerts.c.threshold_days, alerts.c.fired_at, alerts.c.last_activity_at)
        .where(
            alerts.c.partner_id == pilots.c.partner_id,
            alerts.c.pilot_id == pilots.c.pilot_id,
            alerts.c.resolved_at.is_(None),
        )
        .order_by(alerts.c.fired_at.desc())
        .limit(1)
        .lateral("stall")
    )


def _open_stalls_of(partner_id: str) -> Any:
    # The same stalls, of all the partner's pilots at once, for a whole list: a merge join with
    # the pilots instead of one index probe per pilot (200,000 pilots: 0.15 s, not 1.6 s).
    return (
        select(alerts.c.pilot_id, alerts.c.idle_days, alerts.c.threshold_days, alerts.c.fired_at)
        .where(alerts.c.partner_id == partner_id, alerts.c.resolved_at.is_(None))
        .ext(distinct_on(alerts.c.pilot_id))
        .order_by(alerts.c.pilot_id, alerts.c.fired_at.desc())
        .subquery("stall")
    )


def pilots_listing(
    partner_id: str,
    *,
    status: PilotStatus | None = None,
    market: str | None = None,
    programme_id: str | None = None,
    whole: bool = False,
) -> Listing:
    """A partner's pilots by `pilot_id`; stalled ones carry the alert's idle days and threshold.
    `programme_id`: the pilots of that programme's SMEs. `whole`: the same rows, joined the way
    that suits all of them at once (`whole_list`) rather than a page."""
    if whole:
        stall = _open_stalls_of(partner_id)
        joined = pilots.outerjoin(stall, stall.c.pilot_id == pilots.c.pilot_id)
    else:
        stall = _open_stall()
        joined = pilots.outerjoin(stall, true())
    query = select(
        pilots.c.partner_id,
        pilots.c.pilot_id,
        pilots.c.sme_id,
        pilots.c.status,
        pilots.c.market,
        pilots.c.region,
        pilots.c.counterpart,
        pilots.c.title,
        pilots.c.opened_at,
        pilots.c.closed_at,
        pilots.c.outcome,
        pilots.c.last_activity_at,
        pilots.c.agreement_ids,
        stall.c.fired_at.is_not(None).label("stalled"),
        stall.c.fired_at.label("stalled_since"),
        stall.c.idle_days,
        stall.c.threshold_days,
    ).select_from(joined)
    filters: list[ColumnElement[bool]] = [pilots.c.partner_id == partner_id]
    if status == "stalled":
        unresolved = (
            select(alerts.c.alert_id)
            .where(
                alerts.c.partner_id == pilots.c.partner_id,
                alerts.c.pilot_id == pilots.c.pilot_id,
                alerts.c.resolved_at.is_(None),
            )
            .exists()
        )
        filters += [pilots.c.status == "open", unresolved]
    elif status is not None:
        filters.append(pilots.c.status == status)
    if market is not None:
        filters.append(pilots.c.market == market)
    if programme_id is not None:
        filters.append(_of_programme(pilots, programme_id))
    order = [pilots.c.pilot_id, pilots.c.sme_id]
    return Listing(query, filters, order, [str, str], count_from=select(pilots.c.pilot_id))


def agreements_listing(
    partner_id: str,
    *,
    market: str | None = None,
    agreement_type: str | None = None,
    programme_id: str | None = None,
) -> Listing:
    """A partner's agreements in signing order (event time), then SME and agreement id.
    `programme_id`: the agreements of that programme's SMEs."""
    query = select(
        agreements.c.partner_id,
        agreements.c.agreement_id,
        agreements.c.sme_id,
        agreements.c.agreement_type,
        agreements.c.market,
        agreements.c.counterpart,
        agreements.c.pilot_id,
        agreements.c.value_eur,
        agreements.c.signed_at,
    )
    filters: list[ColumnElement[bool]] = [agreements.c.partner_id == partner_id]
    if market is not None:
        filters.append(agreements.c.market == market)
    if agreement_type is not None:
        filters.append(agreements.c.agreement_type == agreement_type)
    if programme_id is not None:
        filters.append(_of_programme(agreements, programme_id))
    order = [agreements.c.signed_at, agreements.c.sme_id, agreements.c.agreement_id]
    return Listing(query, filters, order, [datetime, str, str])


async def list_alerts(
    connection: AsyncConnection, partner_id: str, *, open_only: bool, limit: int, cursor: str | None
) -> tuple[list[AlertView], int, str | None]:
    """A partner's alerts, newest first (crm.alerts.queries); the cursor is a position in that order."""
    offset = _alerts_offset(cursor)
    views = await alerts_for_partner(connection, partner_id, open_only=open_only, limit=limit + 1, offset=offset)
    count = select(func.count()).select_from(alerts).where(alerts.c.partner_id == partner_id)
    if open_only:
        count = count.where(alerts.c.resolved_at.is_(None))
    total = int(await connection.scalar(count) or 0)
    next_cursor = encode_cursor((offset + limit,)) if len(views) > limit else None
    return views[:limit], total, next_cursor


async def whole_alerts(
    connection: AsyncConnection, partner_id: str, *, open_only: bool, cursor: str | None, batch: int = EXPORT_BATCH
) -> AsyncGenerator[list[AlertView]]:
    """Every alert of `list_alerts` from the cursor's position (all without one), `batch` at a time."""
    query = partner_alerts(partner_id, open_only=open_only).offset(_alerts_offset(cursor))
    async with connection.stream(query.execution_options(yield_per=batch)) as result:
        async for rows in result.partitions(batch):
            yield alert_views(rows)


def _alerts_offset(cursor: str | None) -> int:
    if cursor is None:
        return 0
    (position,) = decode_cursor(cursor, 1)
    if not isinstance(position, int) or position < 0:
        raise BadCursor("cursor is not valid; use the `next` value of a previous page")
    return position


__all__ = [
    "EXPORT_BATCH",
    "TIMELINE_PAGE",
    "Listing",
    "Page",
    "PilotStatus",
    "Stage",
    "agreements_listing",
    "list_alerts",
    "page_of",
    "pilots_listing",
    "sme_detail",
    "smes_listing",
    "timeline_listing",
    "timeline_page",
    "whole_alerts",
    "whole_list",
]

"""Per-partner reads: funnel, SMEs (and one with its timeline), pilots, agreements, alerts."""

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from crm.contract.events import rfc3339
from crm.contract.fields import IDENTIFIER_PATTERN
from crm.query import listing
from crm.query.api.models import (
    AgreementPage,
    AlertPage,
    Funnel,
    PilotPage,
    Problem,
    SmeDetail,
    SmePage,
    TimelinePage,
)
from crm.query.deps import (
    AsOf,
    Connection,
    CurrentFreshness,
    Cursor,
    Database,
    Figures,
    Limit,
    Market,
    Output,
    Programme,
    ReadablePartner,
)
from crm.query.rendering import render, stream_csv

router = APIRouter(tags=["partners"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A cursor this API did not produce"},
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "A partner token asking about another partner"},
    422: {"model": Problem, "description": "A bad parameter"},
}
_PREFIX = "/v1/partners/{partner_id}"


@router.get(f"{_PREFIX}/funnel", response_model=Funnel, responses=_ERRORS, summary="Funnel of a partner")
async def get_funnel(
    partner_id: ReadablePartner,
    connection: Connection,
    figures: Figures,
    as_of: AsOf,
    output: Output,
    freshness: CurrentFreshness,
    programme: Programme = None,
) -> Response:
    """SMEs at each stage or beyond, overall and per market; `programme`: of the partner's SMEs in that
    programme only. CSV: a row `(all)`, then one per market."""
    funnel = await figures.partner_funnel(connection, partner_id, as_of, programme)
    funnel["as_of"] = rfc3339(as_of) if as_of else None
    rows = [{"market": "(all)", **funnel["stages"]}]
    rows += [{"market": market, **stages} for market, stages in funnel["by_market"].items()]
    columns = ["market", "selected", "trained", "met", "piloting", "agreement"]
    return render(output, funnel, freshness, rows=rows, columns=columns, filename=f"{partner_id}-funnel")


def _page(page: listing.Page, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": page.total, "next": page.next}


_SME_COLUMNS = list(SmePage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


def _sme(row: dict[str, Any]) -> dict[str, Any]:
    row["in_matchmaking"] = row["matchmaking_at"] is not None
    return row


@router.get(f"{_PREFIX}/smes", response_model=SmePage, responses=_ERRORS, summary="SMEs of a partner")
async def get_smes(
    partner_id: ReadablePartner,
    connection: Connection,
    output: Output,
    freshness: CurrentFreshness,
    stage: Annotated[listing.Stage | None, Query(description="The furthest stage reached")] = None,
    market: Market = None,
    withdrawn: Annotated[bool | None, Query()] = None,
    programme: Programme = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Ordered by `sme_id`. `market`: SMEs targeting that market or active in it; `programme`: SMEs of
    that programme (of their selection)."""
    page = await listing.list_smes(
        connection,
        partner_id,
        stage=stage,
        market=market,
        withdrawn=withdrawn,
        programme_id=programme,
        limit=limit,
        cursor=cursor,
    )
    items = [_sme(row) for row in page.rows]
    body = _page(page, items)
    return render(output, body, freshness, rows=items, columns=_SME_COLUMNS, filename=f"{partner_id}-smes")


SmeId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128, description="The SME's id")]
_NO_SME: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such SME"}}
_TIMELINE_COLUMNS = ["partner_id", "sme_id", "occurred_at", "event_type", "event_id", "payload"]


def _timeline_rows(partner_id: str, sme_id: str, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The payload as one JSON text cell: its fields differ by event type, and flattening it into
    # `payload.*` columns left the `payload` column empty (finding 10 of issue 13).
    return [
        {"partner_id": partner_id, "sme_id": sme_id, **entry, "payload": _json_text(entry["payload"])}
        for entry in entries
    ]


def _no_sme(partner_id: str, sme_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no SME {sme_id!r} at partner {partner_id!r}")


@router.get(
    f"{_PREFIX}/smes/{{sme_id}}",
    response_model=SmeDetail,
    responses={**_ERRORS, **_NO_SME},
    summary="One SME with the first page of its timeline",
)
async def get_sme(
    partner_id: ReadablePartner,
    sme_id: SmeId,
    connection: Connection,
    db: Database,
    output: Output,
    freshness: CurrentFreshness,
) -> Response:
    """The SME, its markets and its first 50 applied events in event-time order; `timeline_next`
    is the cursor of `.../timeline` for the rest. CSV: the whole timeline, streamed."""
    if output == "csv":
        if not await listing.sme_exists(connection, partner_id, sme_id):
            raise _no_sme(partner_id, sme_id)

        async def batches() -> AsyncIterator[list[dict[str, Any]]]:
            # Its own connection: the stream outlives the handler (and its dependencies).
            async with db.connect() as streaming:
                async for batch in listing.whole_timeline(streaming, partner_id, sme_id):
                    yield _timeline_rows(partner_id, sme_id, batch)

        return stream_csv(batches(), _TIMELINE_COLUMNS, filename=f"{partner_id}-{sme_id}")
    sme = await listing.sme_detail(connection, partner_id, sme_id)
    if sme is None:
        raise _no_sme(partner_id, sme_id)
    return render(output, _sme(sme), freshness)


@router.get(
    f"{_PREFIX}/smes/{{sme_id}}/timeline",
    response_model=TimelinePage,
    responses={**_ERRORS, **_NO_SME},
    summary="An SME's timeline, page by page",
)
async def get_timeline(
    partner_id: ReadablePartner,
    sme_id: SmeId,
    connection: Connection,
    output: Output,
    freshness: CurrentFreshness,
    limit: Limit = listing.TIMELINE_PAGE,
    cursor: Cursor = None,
) -> Response:
    """The SME's applied events in event-time order (then event id), as in the SME's detail;
    start with its `timeline_next`, or without a cursor from the first event."""
    page = await listing.timeline_page(connection, partner_id, sme_id, limit=limit, cursor=cursor)
    if page is None:
        raise _no_sme(partner_id, sme_id)
    body = _page(page, page.rows)
    rows = _timeline_rows(partner_id, sme_id, page.rows)
    return render(
        output, body, freshness, rows=rows, columns=_TIMELINE_COLUMNS, filename=f"{partner_id}-{sme_id}-timeline"
    )


_PILOT_COLUMNS = list(PilotPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/pilots", response_model=PilotPage, responses=_ERRORS, summary="Pilots of a partner")
async def get_pilots(
    partner_id: ReadablePartner,
    connection: Connection,
    output: Output,
    freshness: CurrentFreshness,
    status: Annotated[
        listing.PilotStatus | None,
        Query(description="open (in discussion, stalled ones included), stalled (per the alerts service), closed"),
    ] = None,
    market: Market = None,
    programme: Programme = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Ordered by `pilot_id`. Stalled pilots carry `stalled_since`, `idle_days` and `threshold_days`.
    `programme`: the pilots of that programme's SMEs."""
    page = await listing.list_pilots(
        connection, partner_id, status=status, market=market, programme_id=programme, limit=limit, cursor=cursor
    )
    body = _page(page, page.rows)
    return render(output, body, freshness, rows=page.rows, columns=_PILOT_COLUMNS, filename=f"{partner_id}-pilots")


_AGREEMENT_COLUMNS = list(AgreementPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/agreements", response_model=AgreementPage, responses=_ERRORS, summary="Agreements")
async def get_agreements(
    partner_id: ReadablePartner,
    connection: Connection,
    output: Output,
    freshness: CurrentFreshness,
    market: Market = None,
    agreement_type: Annotated[
        str | None, Query(pattern=r"^(sales|commercial_representation|distribution|licence|other)$")
    ] = None,
    programme: Programme = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Ordered by signing time (event time), then SME and agreement id. `programme`: the agreements
    of that programme's SMEs."""
    page = await listing.list_agreements(
        connection,
        partner_id,
        market=market,
        agreement_type=agreement_type,
        programme_id=programme,
        limit=limit,
        cursor=cursor,
    )
    items = [{**row, "value_eur": None if row["value_eur"] is None else float(row["value_eur"])} for row in page.rows]
    body = _page(page, items)
    return render(output, body, freshness, rows=items, columns=_AGREEMENT_COLUMNS, filename=f"{partner_id}-agreements")


_ALERT_COLUMNS = list(AlertPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/alerts", response_model=AlertPage, responses=_ERRORS, summary="Stalled-pilot alerts")
async def get_alerts(
    partner_id: ReadablePartner,
    connection: Connection,
    output: Output,
    freshness: CurrentFreshness,
    open: Annotated[bool, Query(description="Only unresolved alerts (the stalled pilots)")] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Newest first, one per stall (from the alerts read model)."""
    views, total, next_cursor = await listing.list_alerts(
        connection, partner_id, open_only=open, limit=limit, cursor=cursor
    )
    items = [{**{name: getattr(view, name) for name in _ALERT_COLUMNS}} for view in views]
    body = {"items": items, "total": total, "next": next_cursor}
    return render(output, body, freshness, rows=items, columns=_ALERT_COLUMNS, filename=f"{partner_id}-alerts")


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

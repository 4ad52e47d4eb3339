"""Per-partner reads: funnel, SMEs (and one with its timeline), pilots, agreements, alerts."""

from collections.abc import Mapping
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from crm.alerts.queries import AlertView
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
    Figures,
    IfNoneMatch,
    Limit,
    ListOutput,
    Market,
    Output,
    Programme,
    ReadablePartner,
)
from crm.query.etags import figures_etag, still_current
from crm.query.negotiation import Representation
from crm.query.rendering import export, not_modified, render

router = APIRouter(tags=["partners"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A cursor this API did not produce"},
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "A partner token asking about another partner"},
    406: {"model": Problem, "description": "An Accept header that accepts none of JSON, CSV and XLSX"},
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
    if_none_match: IfNoneMatch = None,
    programme: Programme = None,
) -> Response:
    """SMEs at each stage or beyond, overall and per market; `programme`: of the partner's SMEs in that
    programme only. CSV: a row `(all)`, then one per market. An `ETag`; 304 to a matching `If-None-Match`."""
    funnel = await figures.partner_funnel(connection, partner_id, as_of, programme)
    funnel["as_of"] = rfc3339(as_of) if as_of else None
    etag = figures_etag(funnel, output.tag)
    if still_current(if_none_match, etag):
        return not_modified(etag)
    rows = [{"market": "(all)", **funnel["stages"]}]
    rows += [{"market": market, **stages} for market, stages in funnel["by_market"].items()]
    columns = ["market", "selected", "trained", "met", "piloting", "agreement"]
    return render(output, funnel, freshness, rows=rows, columns=columns, filename=f"{partner_id}-funnel", etag=etag)


def _page(page: listing.Page, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"items": items, "total": page.total, "next": page.next}


_SME_COLUMNS = list(SmePage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


def _sme(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "in_matchmaking": row["matchmaking_at"] is not None}


@router.get(f"{_PREFIX}/smes", response_model=SmePage, responses=_ERRORS, summary="SMEs of a partner")
async def get_smes(
    partner_id: ReadablePartner,
    connection: Connection,
    output: ListOutput,
    freshness: CurrentFreshness,
    stage: Annotated[listing.Stage | None, Query(description="The furthest stage reached")] = None,
    market: Market = None,
    withdrawn: Annotated[bool | None, Query()] = None,
    programme: Programme = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Ordered by `sme_id`. `market`: SMEs targeting that market or active in it; `programme`: SMEs of
    that programme (of their selection). `all=true`: every one, as CSV or XLSX."""
    listed = listing.smes_listing(partner_id, stage=stage, market=market, withdrawn=withdrawn, programme_id=programme)
    filename = f"{partner_id}-smes"
    if output.whole:
        whole = listing.whole_list(connection, listed, cursor=cursor)
        return await export(output, whole, _SME_COLUMNS, filename=filename, shape=_sme)
    page = await listing.page_of(connection, listed, limit=limit, cursor=cursor)
    items = [_sme(row) for row in page.rows]
    return render(output, _page(page, items), freshness, rows=items, columns=_SME_COLUMNS, filename=filename)


SmeId = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, max_length=128, description="The SME's id")]
_NO_SME: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "No such SME"}}
_TIMELINE_COLUMNS = ["partner_id", "sme_id", "occurred_at", "event_type", "event_id", "payload"]


def _timeline_row(partner_id: str, sme_id: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    # The payload as one JSON text cell: its fields differ by event type, and flattening it into
    # `payload.*` columns left the `payload` column empty (finding 10 of issue 13).
    return {"partner_id": partner_id, "sme_id": sme_id, **entry, "payload": _json_text(entry["payload"])}


async def _timeline_export(
    output: Representation, connection: Connection, partner_id: str, sme_id: str, cursor: str | None, filename: str
) -> Response:
    if not await listing.sme_exists(connection, partner_id, sme_id):
        raise _no_sme(partner_id, sme_id)
    # The request's connection lives until the response is sent (FastAPI's request scope).
    whole = listing.whole_list(connection, listing.timeline_listing(partner_id, sme_id), cursor=cursor)
    return await export(
        output,
        whole,
        _TIMELINE_COLUMNS,
        filename=filename,
        shape=lambda entry: _timeline_row(partner_id, sme_id, entry),
    )


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
    output: Output,
    freshness: CurrentFreshness,
) -> Response:
    """The SME, its markets and its first 50 applied events in event-time order; `timeline_next`
    is the cursor of `.../timeline` for the rest. CSV or XLSX: the whole timeline (CSV streamed)."""
    if output.format != "json":
        return await _timeline_export(output, connection, partner_id, sme_id, None, f"{partner_id}-{sme_id}")
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
    output: ListOutput,
    freshness: CurrentFreshness,
    limit: Limit = listing.TIMELINE_PAGE,
    cursor: Cursor = None,
) -> Response:
    """The SME's applied events in event-time order (then event id), as in the SME's detail;
    start with its `timeline_next`, or without a cursor from the first event. `all=true`: every
    one (after the cursor), as CSV or XLSX."""
    if output.whole:
        return await _timeline_export(output, connection, partner_id, sme_id, cursor, f"{partner_id}-{sme_id}-timeline")
    page = await listing.timeline_page(connection, partner_id, sme_id, limit=limit, cursor=cursor)
    if page is None:
        raise _no_sme(partner_id, sme_id)
    body = _page(page, page.rows)
    rows = [_timeline_row(partner_id, sme_id, entry) for entry in page.rows]
    return render(
        output, body, freshness, rows=rows, columns=_TIMELINE_COLUMNS, filename=f"{partner_id}-{sme_id}-timeline"
    )


_PILOT_COLUMNS = list(PilotPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/pilots", response_model=PilotPage, responses=_ERRORS, summary="Pilots of a partner")
async def get_pilots(
    partner_id: ReadablePartner,
    connection: Connection,
    output: ListOutput,
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
    `programme`: the pilots of that programme's SMEs. `all=true`: every one, as CSV or XLSX."""
    listed = listing.pilots_listing(
        partner_id, status=status, market=market, programme_id=programme, whole=output.whole
    )
    filename = f"{partner_id}-pilots"
    if output.whole:
        return await export(
            output, listing.whole_list(connection, listed, cursor=cursor), _PILOT_COLUMNS, filename=filename
        )
    page = await listing.page_of(connection, listed, limit=limit, cursor=cursor)
    body = _page(page, page.rows)
    return render(output, body, freshness, rows=page.rows, columns=_PILOT_COLUMNS, filename=filename)


_AGREEMENT_COLUMNS = list(AgreementPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/agreements", response_model=AgreementPage, responses=_ERRORS, summary="Agreements")
async def get_agreements(
    partner_id: ReadablePartner,
    connection: Connection,
    output: ListOutput,
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
    of that programme's SMEs. `all=true`: every one, as CSV or XLSX."""
    listed = listing.agreements_listing(
        partner_id, market=market, agreement_type=agreement_type, programme_id=programme
    )
    filename = f"{partner_id}-agreements"
    if output.whole:
        whole = listing.whole_list(connection, listed, cursor=cursor)
        return await export(output, whole, _AGREEMENT_COLUMNS, filename=filename, shape=_agreement)
    page = await listing.page_of(connection, listed, limit=limit, cursor=cursor)
    items = [_agreement(row) for row in page.rows]
    body = _page(page, items)
    return render(output, body, freshness, rows=items, columns=_AGREEMENT_COLUMNS, filename=filename)


def _agreement(row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, "value_eur": None if row["value_eur"] is None else float(row["value_eur"])}


_ALERT_COLUMNS = list(AlertPage.model_fields["items"].annotation.__args__[0].model_fields)  # type: ignore[union-attr]


@router.get(f"{_PREFIX}/alerts", response_model=AlertPage, responses=_ERRORS, summary="Stalled-pilot alerts")
async def get_alerts(
    partner_id: ReadablePartner,
    connection: Connection,
    output: ListOutput,
    freshness: CurrentFreshness,
    open: Annotated[bool, Query(description="Only unresolved alerts (the stalled pilots)")] = False,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Response:
    """Newest first, one per stall (from the alerts read model). `all=true`: every one, as CSV or XLSX."""
    filename = f"{partner_id}-alerts"
    if output.whole:
        whole = listing.whole_alerts(connection, partner_id, open_only=open, cursor=cursor)
        return await export(output, whole, _ALERT_COLUMNS, filename=filename, shape=_alert)
    views, total, next_cursor = await listing.list_alerts(
        connection, partner_id, open_only=open, limit=limit, cursor=cursor
    )
    items = [_alert(view) for view in views]
    body = {"items": items, "total": total, "next": next_cursor}
    return render(output, body, freshness, rows=items, columns=_ALERT_COLUMNS, filename=filename)


def _alert(view: AlertView) -> dict[str, Any]:
    return {name: getattr(view, name) for name in _ALERT_COLUMNS}


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

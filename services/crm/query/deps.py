"""FastAPI dependencies of the query service, as `Annotated` aliases for the handlers."""

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Query, Request, status
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.auth.bearer import Authenticated
from crm.auth.principals import Principal, can_read, can_write
from crm.contract.fields import ProgrammeId
from crm.http_problems import invalid
from crm.query.as_of import BadAsOf, parse_as_of
from crm.query.figures_cache import FiguresCache
from crm.query.freshness import Freshness, FreshnessProbe
from crm.query.negotiation import (
    ConflictingRepresentation,
    OutputFormat,
    Representation,
    chosen_representation,
    offered_media_types,
)

PARTNER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
MARKET_PATTERN = r"^[A-Z]{2}$"


def freshness_partner(principal: Principal) -> str | None:
    """Whose freshness figures the caller may see: None (the programme's) for an analyst."""
    if principal.role == "analyst":
        return None
    return principal.partner_id or ""  # a partner token without a partner sees no one's figures


CurrentPrincipal = Authenticated
"""The caller (crm.auth.bearer: 401 without a valid token, 503 when the tokens cannot be read)."""


async def _analyst(principal: CurrentPrincipal) -> Principal:
    if principal.role != "analyst":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "programme-wide figures are for analyst tokens")
    return principal


async def _readable_partner(
    principal: CurrentPrincipal,
    partner_id: Annotated[str, Path(pattern=PARTNER_ID_PATTERN, description="A partner id (lowercase slug)")],
) -> str:
    if not can_read(principal, partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may only read its own partner")
    return partner_id


async def _writable_partner(
    principal: CurrentPrincipal,
    partner_id: Annotated[str, Path(pattern=PARTNER_ID_PATTERN, description="A partner id (lowercase slug)")],
) -> str:
    if not can_write(principal, partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a token of this partner may change it")
    return partner_id


def _engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    engine: AsyncEngine = request.app.state.engine
    async with engine.connect() as connection:
        yield connection


async def _freshness(request: Request, principal: CurrentPrincipal) -> Freshness:
    probe: FreshnessProbe = request.app.state.freshness
    return await probe.latest(freshness_partner(principal))


def _figures(request: Request) -> FiguresCache:
    figures: FiguresCache = request.app.state.figures
    return figures


_Format = Annotated[
    OutputFormat | None, Query(description="`json`, `csv` or `xlsx` (Excel); overrides Accept (q-values heeded)")
]
_Bom = Annotated[
    bool, Query(description="CSV for Excel: start with a UTF-8 byte-order mark, so Excel reads Härmälä right")
]
_Accept = Annotated[str | None, Header(description="application/json, text/csv or the XLSX type; q-values heeded")]


def _representation(format: OutputFormat | None, accept: str | None, bom: bool, whole: bool) -> Representation:
    try:
        chosen = chosen_representation(format, accept, bom=bom, whole=whole)
    except ConflictingRepresentation as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    if chosen is None:
        offered = ", ".join(offered_media_types(whole=whole))
        raise HTTPException(
            status.HTTP_406_NOT_ACCEPTABLE,
            f"nothing this answer comes in is acceptable (Accept: {(accept or '')[:200]}); offered: {offered}",
            headers={"Vary": "Accept"},
        )
    return chosen


def _output_format(format: _Format = None, bom: _Bom = False, accept: _Accept = None) -> Representation:
    return _representation(format, accept, bom, whole=False)


def _list_output_format(
    format: _Format = None,
    bom: _Bom = False,
    accept: _Accept = None,
    whole: Annotated[
        bool,
        Query(
            alias="all",
            description="Every row in one export (CSV streamed, or XLSX) instead of a page; `limit` is then ignored",
        ),
    ] = False,
) -> Representation:
    return _representation(format, accept, bom, whole)


def _as_of(
    as_of: Annotated[
        str | None,
        Query(
            max_length=40,
            description="Report as of this instant in event time: a date (end of that day, UTC) or RFC 3339",
        ),
    ] = None,
) -> datetime | None:
    try:
        return parse_as_of(as_of)
    except BadAsOf as error:
        raise invalid(("query", "as_of"), str(error)) from None


Figures = Annotated[FiguresCache, Depends(_figures)]
Analyst = Annotated[Principal, Depends(_analyst)]
ReadablePartner = Annotated[str, Depends(_readable_partner)]
"""The path's partner id, once the caller is known to be allowed to read it (else 401/403)."""
WritablePartner = Annotated[str, Depends(_writable_partner)]
"""The path's partner id, once the caller is known to be that partner (else 401/403)."""
Database = Annotated[AsyncEngine, Depends(_engine)]
Connection = Annotated[AsyncConnection, Depends(_connection)]
CurrentFreshness = Annotated[Freshness, Depends(_freshness)]
Output = Annotated[Representation, Depends(_output_format)]
"""JSON, CSV or XLSX, from `format` or the Accept header (406 when none is acceptable)."""
ListOutput = Annotated[Representation, Depends(_list_output_format)]
"""As `Output`, and `all=true`: the whole list (`whole`), as CSV or XLSX only."""
AsOf = Annotated[datetime | None, Depends(_as_of)]
IfNoneMatch = Annotated[
    str | None, Header(description="The `ETag` of figures read before: 304 when they are unchanged")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Items per page (1-1000)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="The `next` value of the previous page")]
Market = Annotated[str | None, Query(pattern=MARKET_PATTERN, description="ISO 3166-1 alpha-2 market, e.g. CN")]
Programme = Annotated[
    ProgrammeId | None,
    Query(description="Only the SMEs of this programme (of their selection), and their pilots and agreements"),
]

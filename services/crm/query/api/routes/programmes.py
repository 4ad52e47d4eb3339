"""`GET /v1/programmes/{id}/indicators` and `.../indicators/{code}/evidence` (docs/programmes.md).

Analysts read every programme; a partner token reads its own slice of a programme it belongs to
(its values and targets, its evidence) and nothing of the others'.
"""

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from crm.auth.principals import Principal
from crm.contract.fields import PartnerId, ProgrammeId
from crm.programmes.definition import Programme as ProgrammeDefinition
from crm.programmes.indicators import Slice, indicator_evidence, indicator_values
from crm.programmes.store import StoredProgramme, stored_programme
from crm.query.api.models import Problem
from crm.query.deps import AsOf, Connection, CurrentPrincipal, IfNoneMatch, Output
from crm.query.etags import figures_etag, still_current
from crm.query.negotiation import Representation
from crm.query.rendering import not_modified, render

router = APIRouter(tags=["programmes"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "A partner token of a partner outside the programme, or asking for another"},
    404: {"model": Problem, "description": "No such programme, indicator or period"},
    406: {"model": Problem, "description": "An Accept header that accepts none of what the answer comes in"},
    422: {"model": Problem, "description": "A bad parameter"},
}
ProgrammePath = Annotated[ProgrammeId, Path(description="A programme id (crm programme show)")]
PeriodNumber = Annotated[int | None, Query(ge=1, le=10_000, description="One reporting period (default: every one)")]


async def readable_programme(
    connection: Connection, programme_id: str, principal: Principal
) -> tuple[StoredProgramme, Slice]:
    """The programme and the caller's view of it (analysts: the whole; a partner of it: its own
    slice); 404 when it is not defined, 403 for a partner outside it."""
    stored = await stored_programme(connection, programme_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no programme {programme_id} is defined (crm programme apply)")
    if principal.role == "analyst":
        return stored, Slice()
    if principal.partner_id not in {p.id for p in stored.programme.partners}:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token's partner is not a partner of this programme")
    return stored, Slice(principal.partner_id)


def _period(programme: ProgrammeDefinition, number: int | None) -> None:
    if number is not None and programme.period(number) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"programme {programme.id} has no period {number}")


@router.get("/v1/programmes/{programme_id}/indicators", responses=_ERRORS, summary="A programme's indicators")
async def get_indicators(
    principal: CurrentPrincipal,
    connection: Connection,
    programme_id: ProgrammePath,
    as_of: AsOf,
    if_none_match: IfNoneMatch = None,
    period: PeriodNumber = None,
) -> Response:
    """Each indicator per period: its value at the period's end (or `as_of`, an event time), its target
    and milestone, programme-wide and per partner; a partner token sees its own values only. An
    `ETag` (of the values); 304 to a matching `If-None-Match`."""
    stored, view = await readable_programme(connection, programme_id, principal)
    _period(stored.programme, period)
    body = await indicator_values(connection, stored.programme, stored.version, as_of=as_of, period=period, view=view)
    etag = figures_etag(body, "json")
    if still_current(if_none_match, etag):
        return not_modified(etag)
    return render(_JSON, body, None, etag=etag)


@router.get(
    "/v1/programmes/{programme_id}/indicators/{code}/evidence", responses=_ERRORS, summary="What an indicator counts"
)
async def get_evidence(
    principal: CurrentPrincipal,
    connection: Connection,
    programme_id: ProgrammePath,
    code: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$", description="An indicator code")],
    as_of: AsOf,
    output: Output,
    period: PeriodNumber = None,
    partner: Annotated[PartnerId | None, Query(description="One partner's evidence")] = None,
) -> Response:
    """The SMEs, pilots, agreements, markets or meetings behind a value (of `period`, by default the last),
    each with the event that made it count. CSV or XLSX: the items, one row each."""
    stored, view = await readable_programme(connection, programme_id, principal)
    if view.partner_id is not None and partner not in (None, view.partner_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this token may only read its own partner's evidence")
    programme = stored.programme
    indicator = next((i for i in programme.indicators if i.code == code), None)
    if indicator is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"programme {programme.id} has no indicator {code}")
    _period(programme, period)
    found = programme.periods[-1] if period is None else programme.period(period)
    assert found is not None
    partner_id = view.partner_id or partner
    items = await indicator_evidence(connection, programme, indicator, found, as_of=as_of, partner_id=partner_id)
    body = {
        "programme_id": programme.id,
        "version": stored.version,
        "indicator": code,
        "period": found.number,
        "partner_id": partner_id,
        "count": len({item["key"] for item in items}),
        "items": items,
    }
    filename = f"{programme.id}-{code}-period-{found.number}-evidence"
    return render(output, body, None, rows=items, columns=_EVIDENCE_COLUMNS, filename=filename)


_JSON = Representation("json")
_EVIDENCE_COLUMNS = ["partner_id", "kind", "key", "sme_id", "subject", "event_id", "counts_from", "counts_until"]

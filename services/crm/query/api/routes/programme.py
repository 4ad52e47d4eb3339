"""`GET /v1/programme/kpis`: the funder's figures, programme-wide and per partner (analysts only)."""

from typing import Any

from fastapi import APIRouter, Response

from crm.query.api.models import Problem, ProgrammeKpis
from crm.query.deps import Analyst, AsOf, Connection, CurrentFreshness, Figures, IfNoneMatch, Output, Programme
from crm.query.etags import figures_etag, still_current
from crm.query.rendering import not_modified, render

router = APIRouter(tags=["programme"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "A partner token (programme figures are for analysts)"},
    406: {"model": Problem, "description": "An Accept header that accepts none of JSON, CSV and XLSX"},
    422: {"model": Problem, "description": "A bad parameter"},
}


@router.get("/v1/programme/kpis", response_model=ProgrammeKpis, responses=_ERRORS, summary="Programme KPIs")
async def get_programme_kpis(
    _: Analyst,
    connection: Connection,
    figures: Figures,
    as_of: AsOf,
    output: Output,
    freshness: CurrentFreshness,
    if_none_match: IfNoneMatch = None,
    programme: Programme = None,
) -> Response:
    """The KPIs of docs/contract.md with progress against the targets; `as_of` computes them in event time,
    `programme` for one programme's SMEs only. CSV: one row for the programme, then one per partner.
    An `ETag` (of the figures and the format); 304 to a matching `If-None-Match`."""
    kpis = await figures.programme_kpis(connection, as_of, programme)
    etag = figures_etag(kpis, output.tag)
    if still_current(if_none_match, etag):
        return not_modified(etag)
    rows = [{"partner_id": "(programme)", **_figures(kpis)}]
    rows += [{"partner_id": partner_id, **figures} for partner_id, figures in kpis["partners"].items()]
    return render(output, kpis, freshness, rows=rows, filename="programme-kpis", etag=etag)


def _figures(kpis: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in kpis.items() if name not in ("partners", "as_of")}

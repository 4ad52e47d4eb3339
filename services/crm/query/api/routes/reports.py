"""A programme's funder reports over HTTP (docs/reports.md): read, export, restate, freeze, re-open.

Analysts read every report whole; a partner of the programme reads its own slice; the lead
partner (and analysts) may freeze and re-open the programme's reports.
"""

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from crm.auth.principals import Principal
from crm.http_bodies import LimitedBodyRoute
from crm.programmes.store import StoredProgramme
from crm.query.api.models import Problem
from crm.query.api.routes.programmes import ProgrammePath, readable_programme
from crm.query.deps import Connection, CurrentPrincipal, Database
from crm.query.rendering import json_response
from crm.reports.exports import FORMATS, export
from crm.reports.exports.pdf import FontMissing
from crm.reports.reading import lifecycle_json, report_body, report_restatements, report_series
from crm.reports.store import ReportRefused, ReportStore, UnknownReport, lifecycle

router = APIRouter(tags=["reports"], route_class=LimitedBodyRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "A partner token of a partner outside the programme"},
    404: {"model": Problem, "description": "No such programme, period or revision"},
    422: {"model": Problem, "description": "A bad parameter"},
}
_STEP_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    403: {"model": Problem, "description": "Neither an analyst nor the programme's lead partner"},
    409: {"model": Problem, "description": "Refused now: the period has not ended, or the report is submitted already"},
}
PeriodPath = Annotated[int, Path(ge=1, le=10_000, description="The reporting period's number")]
_REPORT = "/v1/programmes/{programme_id}/reports/{period}"


class ReopenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(None, max_length=2000, description="Why it is re-opened (recorded with the step)")


async def _reader(
    connection: Connection, programme_id: str, principal: Principal
) -> tuple[StoredProgramme, str | None]:
    """The programme and whose slice the caller reads (None: the whole report)."""
    stored, view = await readable_programme(connection, programme_id, principal)
    return stored, view.partner_id


def _by(principal: Principal) -> str:
    who = principal.partner_id or principal.role
    return f"{who} (token {principal.token_id})"


async def _steward(connection: Connection, programme_id: str, period: int, principal: Principal) -> None:
    """Analysts and the programme's lead partner may freeze and re-open its reports."""
    stored, _ = await _reader(connection, programme_id, principal)
    if principal.role != "analyst" and principal.partner_id != stored.programme.lead:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "only an analyst or the programme's lead partner may freeze or re-open reports"
        )
    if stored.programme.period(period) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"programme {programme_id} has no period {period}")


def _unknown(error: UnknownReport) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, str(error))


@router.get("/v1/programmes/{programme_id}/reports", responses=_ERRORS, summary="A programme's reports")
async def get_reports(principal: CurrentPrincipal, connection: Connection, programme_id: ProgrammePath) -> Response:
    """Each period's report: its status (draft, submitted, reopened), revision and lifecycle steps."""
    stored, _ = await _reader(connection, programme_id, principal)
    periods = [
        lifecycle_json(programme_id, p.number, await lifecycle(connection, programme_id, p.number))
        | {"end": p.end.isoformat(), "report_deadline": p.report_deadline.isoformat()}
        for p in stored.programme.periods
    ]
    return json_response({"programme_id": programme_id, "reports": periods})


@router.get(_REPORT, responses=_ERRORS, summary="A period's report")
async def get_report(
    principal: CurrentPrincipal,
    connection: Connection,
    programme_id: ProgrammePath,
    period: PeriodPath,
    revision: Annotated[int | None, Query(ge=1, le=10_000, description="One frozen revision")] = None,
) -> Response:
    """The submitted report byte for byte as frozen (a partner: its slice); a draft computed now
    when none is submitted. `revision` reads an earlier frozen revision."""
    _, partner = await _reader(connection, programme_id, principal)
    try:
        found = await report_body(connection, programme_id, period, partner_id=partner, revision=revision)
    except UnknownReport as error:
        raise _unknown(error) from None
    return Response(found.body, media_type="application/json")


@router.get(f"{_REPORT}/export", responses=_ERRORS, summary="A period's report as a file")
async def get_export(
    principal: CurrentPrincipal,
    connection: Connection,
    programme_id: ProgrammePath,
    period: PeriodPath,
    format: Annotated[str, Query(pattern=r"^[a-z]{2,8}$", description="json, csv, xlsx, html, ...")] = "json",
) -> Response:
    """The report (as `GET .../reports/{period}` returns it) in a funder's format."""
    if format not in FORMATS:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown format {format!r}; one of: {', '.join(FORMATS)}"
        )
    _, partner = await _reader(connection, programme_id, principal)
    try:
        found = await report_body(connection, programme_id, period, partner_id=partner)
        series = await report_series(connection, programme_id, period, partner_id=partner)
    except UnknownReport as error:
        raise _unknown(error) from None
    chosen = FORMATS[format]
    try:
        body = found.body if format == "json" else export(format, orjson.loads(found.body), series)
    except FontMissing as error:  # a PDF without its font on this server: say what to install
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, str(error)) from None
    name = f"{programme_id}-period-{period}{'-' + partner if partner else ''}.{chosen.suffix}"
    return Response(
        body, media_type=chosen.media_type, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get(f"{_REPORT}/restatements", responses=_ERRORS, summary="What changed since a report was frozen")
async def get_restatements(
    principal: CurrentPrincipal, connection: Connection, programme_id: ProgrammePath, period: PeriodPath
) -> Response:
    """For each figure of the newest frozen revision that today's events give differently: the
    frozen figure, today's, and the events applied since that changed it (a partner: its own)."""
    _, partner = await _reader(connection, programme_id, principal)
    try:
        found = await report_restatements(connection, programme_id, period, partner_id=partner)
    except UnknownReport as error:
        raise _unknown(error) from None
    return json_response(found)


@router.post(f"{_REPORT}/freeze", status_code=201, responses=_STEP_ERRORS, summary="Freeze and submit a report")
async def post_freeze(
    principal: CurrentPrincipal, connection: Connection, db: Database, programme_id: ProgrammePath, period: PeriodPath
) -> Response:
    """Compute the period's report, store it frozen as its next revision and submit it."""
    await _steward(connection, programme_id, period, principal)
    await connection.rollback()  # nothing held open while the freeze takes its own snapshot
    try:
        frozen = await ReportStore(db).freeze(programme_id, period, _by(principal))
    except UnknownReport as error:
        raise _unknown(error) from None
    except ReportRefused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return Response(
        frozen.document,
        status_code=201,
        media_type="application/json",
        headers={"Location": _REPORT.format(programme_id=programme_id, period=period) + f"?revision={frozen.revision}"},
    )


@router.post(f"{_REPORT}/reopen", responses=_STEP_ERRORS, summary="Re-open a submitted report")
async def post_reopen(
    principal: CurrentPrincipal,
    connection: Connection,
    db: Database,
    programme_id: ProgrammePath,
    period: PeriodPath,
    request: ReopenRequest | None = None,
) -> Response:
    """The report is a draft again (its frozen revisions stay) until the next freeze."""
    await _steward(connection, programme_id, period, principal)
    await connection.rollback()
    store = ReportStore(db)
    try:
        await store.reopen(programme_id, period, _by(principal), request.note if request else None)
    except UnknownReport as error:
        raise _unknown(error) from None
    except ReportRefused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return json_response(lifecycle_json(programme_id, period, await store.lifecycle(programme_id, period)))

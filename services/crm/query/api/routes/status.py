"""`GET /v1/status`: how current the read models are, as far as the caller may see (any valid token)."""

from fastapi import APIRouter, Request, Response
from fastapi import status as http_status

from crm.http_problems import problem_response
from crm.observability.readiness import Readiness, not_ready
from crm.query.api.models import Status
from crm.query.deps import CurrentPrincipal, freshness_partner
from crm.query.freshness import FreshnessProbe
from crm.query.rendering import json_response

router = APIRouter(tags=["operations"])


@router.get("/v1/status", response_model=Status, summary="Freshness of the read models")
async def get_status(request: Request, principal: CurrentPrincipal) -> Response:
    """The newest applied event (event time), when the projector last applied one, and its lag.

    An analyst's figures are the programme's; a partner's are about its own events, without lag."""
    probe: FreshnessProbe = request.app.state.freshness
    freshness = await probe.current(freshness_partner(principal))
    return json_response({"status": "ok", **freshness.as_dict()}, headers=freshness.headers())


@router.get("/health", summary="The process is up")
async def health() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/ready",
    summary="PostgreSQL answers and the schema is current",
    responses={503: {"description": "PostgreSQL does not answer (`database`: `unreachable`) or the schema is behind"}},
)
async def ready(request: Request) -> Response:
    readiness: Readiness = request.app.state.readiness
    is_ready, parts = await readiness.check()
    if is_ready:
        return json_response({"status": "ready", **parts})
    retry_after = request.app.state.settings.query_retry_after
    return problem_response(
        request,
        http_status.HTTP_503_SERVICE_UNAVAILABLE,
        not_ready(parts),
        {"Retry-After": str(retry_after)},
        **parts,
    )

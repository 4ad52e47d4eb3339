"""`GET /v1/status`: how current the read models are, as far as the caller may see (any valid token)."""

from fastapi import APIRouter, Request, Response

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

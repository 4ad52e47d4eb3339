"""`GET /v1/me`: who the token belongs to (the dashboard decides what to show from it)."""

from fastapi import APIRouter, Response

from crm.query.api.models import Me
from crm.query.deps import CurrentPrincipal
from crm.query.rendering import json_response

router = APIRouter(tags=["operations"])


@router.get("/v1/me", response_model=Me, summary="The caller's role and partner")
async def get_me(principal: CurrentPrincipal) -> Response:
    return json_response({"token_id": principal.token_id, "role": principal.role, "partner_id": principal.partner_id})

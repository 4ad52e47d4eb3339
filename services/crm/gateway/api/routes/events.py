"""`POST /v1/events`: one envelope or an array; 202 once Kafka has every event."""

import logging
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, Request, Response, status

from crm.gateway.api.models import Accepted
from crm.gateway.deps import gateway_state, writing_principal
from crm.gateway.ingestion import ingest
from crm.http_bodies import read_limited, require_json
from crm.observability.metrics import EVENTS_ACCEPTED
from crm.observability.request_ids import bind_to_request

log = structlog.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)
router = APIRouter(tags=["ingestion"])

# The body is validated by crm.contract.decoding straight from the raw bytes (no double parse), so
# its schema is declared here for the OpenAPI document; crm.gateway.app fills in the components.
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Event"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Event"}, "minItems": 0},
                    ]
                }
            }
        },
    }
}


@router.post(
    "/v1/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Send one event or an array of events",
    responses={
        202: {
            "description": "Every event is stored in Kafka. An event of an older contract version adds Deprecation "
            "and, when its sunset is set, Sunset headers (docs/contract.md, Versions)",
            "headers": {
                "Deprecation": {
                    "description": "RFC 9745: the request held events of a deprecated version, deprecated since "
                    "this instant (`@` Unix seconds)",
                    "schema": {"type": "string", "example": "@1764720000"},
                },
                "Sunset": {
                    "description": "RFC 8594: from this instant that version is refused with a 422",
                    "schema": {"type": "string", "example": "Wed, 30 Jun 2027 00:00:00 GMT"},
                },
            },
        },
        400: {"description": "The database refused the event ids as data; re-sending fails alike"},
        401: {"description": "No token, or an unknown or revoked one"},
        403: {
            "description": "An analyst token, an event of another partner, or an event of a defined programme "
            "the token's partner is not a partner of (`type` not-a-programme-partner, the programmes named)",
        },
        408: {"description": "The body did not arrive within CRM_HTTP_BODY_TIMEOUT"},
        413: {"description": "Body too large, or too many events in one request"},
        415: {"description": "Not application/json"},
        409: {"description": "An event_id already accepted with other content"},
        422: {
            "description": "Invalid events, every problem located (also an older version past its sunset); "
            "an event naming an unknown programme (`type` unknown-programme, the programmes named)",
        },
        503: {
            "description": "Kafka or PostgreSQL unavailable (the programmes never read); retry the same events",
        },
    },
    openapi_extra=REQUEST_BODY,
)
async def post_events(request: Request) -> Response:
    """Accept the events once Kafka has acknowledged all of them; any invalid event refuses the request."""
    # The hot path calls deps directly instead of declaring them: FastAPI's dependency resolution
    # measured at about a third of the gateway's CPU per single-event request (docs/benchmarks.md).
    principal = await writing_principal(request)
    bind_to_request(partner_id=principal.partner_id)  # in this request's lines, its refusals included
    gateway = gateway_state(request)
    require_json(request)
    body = await read_limited(request, gateway.limits.max_body_bytes, gateway.limits.body_timeout)
    events = await ingest(body, principal, gateway.limits, gateway.claims, gateway.sink, gateway.programmes)
    EVENTS_ACCEPTED.inc(len(events))
    if _stdlib_log.isEnabledFor(logging.DEBUG):  # structlog would build the entry before the level check
        log.debug("events.accepted", partner_id=principal.partner_id, event_ids=[str(e.event_id) for e in events])
    headers = gateway.limits.versions.headers({event.written_in for event in events})
    return Response(
        orjson.dumps({"accepted": len(events)}),
        status.HTTP_202_ACCEPTED,
        headers=headers or None,
        media_type="application/json",
    )

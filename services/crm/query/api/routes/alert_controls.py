"""A partner's answers to its alerts: snooze a pilot until an instant, acknowledge an alert.

The same writes as `crm alerts snooze` and `crm alerts ack` (`crm/alerts/controls.py`); the
alerts service reads them at its next evaluation. A partner token changes its own partner only;
an analyst token changes nothing (403), as docs/contract.md's roles say.
"""

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Path, Request, status

from crm.alerts.controls import TooManySnoozes, UnknownPilot, acknowledge_alert, snooze_pilot
from crm.contract.fields import IDENTIFIER_PATTERN
from crm.http_bodies import LimitedBodyRoute
from crm.query.api.models import Acknowledgement, Problem, Snooze, SnoozeRequest
from crm.query.deps import CurrentPrincipal, Database, WritablePartner
from crm.settings import Settings

# The bodies are read within CRM_HTTP_BODY_TIMEOUT and at most QUERY_MAX_BODY_BYTES (408, 413).
router = APIRouter(tags=["alerts"], route_class=LimitedBodyRoute)

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "An analyst token, or another partner's token"},
    408: {"model": Problem, "description": "The body did not arrive within CRM_HTTP_BODY_TIMEOUT"},
    413: {"model": Problem, "description": "A body larger than 16 KiB"},
    422: {"model": Problem, "description": "A bad parameter or body"},
}
_PREFIX = "/v1/partners/{partner_id}"
PilotId = Annotated[
    str,
    Path(pattern=IDENTIFIER_PATTERN, max_length=128, description="The pilot id the partner chose (as in its events)"),
]


@router.put(
    f"{_PREFIX}/pilots/{{pilot_id}}/snooze",
    response_model=Snooze,
    responses={
        **_ERRORS,
        404: {"model": Problem, "description": "No such pilot of this partner (its PilotOpened not applied)"},
        409: {"model": Problem, "description": "The partner holds CRM_ALERTS_MAX_SNOOZES_PER_PARTNER snoozes already"},
    },
    summary="Snooze a pilot",
)
async def put_snooze(
    partner_id: WritablePartner,
    pilot_id: PilotId,
    request: SnoozeRequest,
    principal: CurrentPrincipal,
    db: Database,
    http: Request,
) -> Snooze:
    """No alert nor reminder for the pilot before `until`; a later snooze replaces it (and does not
    count twice). Only a pilot the partner opened; at most `CRM_ALERTS_MAX_SNOOZES_PER_PARTNER`
    snoozes of a partner that have not ended."""
    settings: Settings = http.app.state.settings
    by = f"token:{principal.token_id}"
    try:
        async with db.begin() as connection:
            await snooze_pilot(
                connection, partner_id, pilot_id, request.until, by, max_snoozes=settings.alerts_max_snoozes_per_partner
            )
    except UnknownPilot as unknown:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(unknown)) from None
    except TooManySnoozes as full:
        raise HTTPException(status.HTTP_409_CONFLICT, str(full)) from None
    return Snooze(partner_id=partner_id, pilot_id=pilot_id, snoozed_until=request.until)


@router.post(
    f"{_PREFIX}/alerts/{{alert_id}}/acknowledge",
    response_model=Acknowledgement,
    responses={**_ERRORS, 404: {"model": Problem, "description": "No such alert of this partner"}},
    summary="Acknowledge an alert",
)
async def post_acknowledgement(
    partner_id: WritablePartner, alert_id: UUID, principal: CurrentPrincipal, db: Database
) -> Acknowledgement:
    """No more reminders for that stall (it still resolves on activity or closing)."""
    at = datetime.now(UTC)
    by = f"token:{principal.token_id}"
    async with db.begin() as connection:
        found = await acknowledge_alert(connection, alert_id, at, by=by, partner_id=partner_id)
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id} of partner {partner_id}")
    return Acknowledgement(alert_id=alert_id, partner_id=partner_id, acknowledged_at=at)

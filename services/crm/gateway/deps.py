"""FastAPI dependencies of the gateway, as `Annotated` aliases for the handlers.

Kept few and `async`: FastAPI runs a plain `def` dependency in a thread pool, which on the hot
path costs more than everything else the gateway does for a single event.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from crm.auth.bearer import authenticate
from crm.auth.principals import Principal
from crm.gateway.claims import PostgresEventClaims
from crm.gateway.ingestion import Limits
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import RefreshedMemberships


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What handlers need from the composition root; set on `app.state.gateway`."""

    limits: Limits
    sink: KafkaEventSink
    claims: PostgresEventClaims
    programmes: RefreshedMemberships
    retry_after: int  # seconds, the Retry-After of a 503


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def _gateway(request: Request) -> GatewayState:
    return gateway_state(request)


async def writing_principal(request: Request) -> Principal:
    """A partner principal, else 401 (no valid token) or 403 (an analyst)."""
    principal = await authenticate(request)
    if principal.role != "partner":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "analyst tokens cannot send events")
    return principal


Gateway = Annotated[GatewayState, Depends(_gateway)]
Writer = Annotated[Principal, Depends(writing_principal)]
"""A partner principal: only partners write (their own events, checked per event)."""

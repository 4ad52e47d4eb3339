"""FastAPI dependencies of the gateway, as `Annotated` aliases for the handlers.

Kept few and `async`: FastAPI runs a plain `def` dependency in a thread pool, which on the hot
path costs more than everything else the gateway does for a single event.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBearer

from crm.auth.principals import Principal
from crm.auth.tokens import TokenStore
from crm.gateway.claims import PostgresEventClaims
from crm.gateway.ingestion import Limits
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import RefreshedMemberships

_CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Declares the scheme in the OpenAPI document; the header itself is read in `_writer`.
bearer_scheme = HTTPBearer(auto_error=False, description="A partner token from `crm tokens create --partner ID`.")


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What handlers need from the composition root; set on `app.state.gateway`."""

    limits: Limits
    sink: KafkaEventSink
    tokens: TokenStore
    claims: PostgresEventClaims
    programmes: RefreshedMemberships


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


async def _gateway(request: Request) -> GatewayState:
    return gateway_state(request)


async def authenticate(request: Request) -> Principal:
    """The principal of the request's bearer token; 401 when absent, unknown or revoked."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers=_CHALLENGE)
    tokens: TokenStore = request.app.state.gateway.tokens
    principal = await tokens.verify(token.strip())
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers=_CHALLENGE)
    return principal


async def writing_principal(request: Request) -> Principal:
    """A partner principal, else 401 (no valid token) or 403 (an analyst)."""
    principal = await authenticate(request)
    if principal.role != "partner":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "analyst tokens cannot send events")
    return principal


Gateway = Annotated[GatewayState, Depends(_gateway)]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
Writer = Annotated[Principal, Depends(writing_principal)]
"""A partner principal: only partners write (their own events, checked per event)."""

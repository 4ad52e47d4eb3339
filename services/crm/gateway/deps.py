"""FastAPI dependencies of the gateway, as `Annotated` aliases for the handlers."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm.auth.principals import Principal
from crm.auth.tokens import TokenStore
from crm.gateway.ingestion import Limits
from crm.gateway.kafka import KafkaEventSink

_bearer = HTTPBearer(auto_error=False, description="A partner token from `crm tokens create --partner ID`.")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _limits(request: Request) -> Limits:
    limits: Limits = request.app.state.limits
    return limits


def _sink(request: Request) -> KafkaEventSink:
    sink: KafkaEventSink = request.app.state.sink
    return sink


def _tokens(request: Request) -> TokenStore:
    tokens: TokenStore = request.app.state.tokens
    return tokens


Tokens = Annotated[TokenStore, Depends(_tokens)]


async def _principal(
    tokens: Tokens, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers=_CHALLENGE)
    principal = await tokens.verify(credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers=_CHALLENGE)
    return principal


async def _writer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    if principal.role != "partner":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "analyst tokens cannot send events")
    return principal


GatewayLimits = Annotated[Limits, Depends(_limits)]
Sink = Annotated[KafkaEventSink, Depends(_sink)]
CurrentPrincipal = Annotated[Principal, Depends(_principal)]
Writer = Annotated[Principal, Depends(_writer)]
"""A partner principal: only partners write (their own events, checked per event)."""

"""The bearer-token check of every HTTP service: one 401 challenge, one 503 when the tokens
cannot be read. The app keeps its `TokenStore` on `app.state.tokens`.

`authenticate` is a plain function as well as a dependency (`Authenticated`): the gateway's hot
path calls it directly, since FastAPI's dependency resolution costs more there than the check.
"""

from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request, Security, status
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm.auth.principals import Principal
from crm.auth.tokens import TokenStore, TokenStoreUnavailable
from crm.http_problems import problem_response

log = structlog.get_logger(__name__)

CHALLENGE = {"WWW-Authenticate": "Bearer"}
# Declares the scheme in the OpenAPI documents (as `bearer`); the header is read by `authenticate`.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from `crm tokens create`: `--partner ID` (a partner's) or `--analyst`.",
)


async def authenticate(request: Request) -> Principal:
    """The principal of the request's bearer token, kept as `request.state.principal`; 401 when
    absent, unknown or revoked; `TokenStoreUnavailable` (a 503) when the tokens cannot be read."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required", headers=CHALLENGE)
    tokens: TokenStore = request.app.state.tokens
    principal = await tokens.verify(token.strip())
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown or revoked token", headers=CHALLENGE)
    # Kept in the ASGI scope (request.state's store) for the query API's freshness middleware,
    # written there directly: through `request.state` it cost the gateway ~1 us a request.
    request.scope.setdefault("state", {})["principal"] = principal
    return principal


def verified_principal(scope: dict[str, Any] | Any) -> Principal | None:
    """The caller `authenticate` verified for this request (ASGI scope), None before or without one."""
    state = scope.get("state") or {}
    found = state.get("principal")
    return found if isinstance(found, Principal) else None


def add_token_store_handler(app: FastAPI, retry_after: int) -> None:
    """The 503 (with `Retry-After`) of a token that could not be checked: worth a retry, unlike a 401."""

    @app.exception_handler(TokenStoreUnavailable)
    async def tokens_unavailable(request: Request, error: TokenStoreUnavailable) -> Response:
        log.warning("http.tokens_unavailable", error=str(error))
        return problem_response(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the token could not be checked (database unavailable); retry later",
            {"Retry-After": str(retry_after)},
        )


async def _declared(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)]
) -> Principal:
    return await authenticate(request)


Authenticated = Annotated[Principal, Depends(_declared)]
"""The verified caller, declared in the OpenAPI document as needing the `bearer` scheme."""

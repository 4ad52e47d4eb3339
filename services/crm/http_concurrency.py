"""The concurrency limit of an HTTP service (`CRM_HTTP_MAX_CONNECTIONS`), answered in JSON.

Past the limit uvicorn's own `limit_concurrency` answers a plain-text "Service Unavailable"
without a `Retry-After`, and it cannot be told otherwise without patching its internals. So the
service counts for itself: the HTTP protocol (`crm/http_deadlines.py`) counts open connections,
`ConcurrencyLimit`, the outermost ASGI layer, the requests in flight, and a request that finds
more than `limit` connections open or `limit` requests in flight gets a problem+json 503 with
`Retry-After`, and its connection is closed (as uvicorn's does) so that an overloaded service
sheds connections. It never reaches the app, and costs no more than uvicorn's answer.

uvicorn's limit stays set, a little higher (`uvicorn_backstop`), as a net should these counts
ever be wrong: in normal running it is never reached first.
"""

from dataclasses import dataclass

import orjson
import structlog
from fastapi import status
from starlette.types import ASGIApp, Receive, Scope, Send

from crm.http_problems import PROBLEM_JSON, instance_of, problem

log = structlog.get_logger(__name__)


@dataclass
class Load:
    """What one server process holds now: open connections (the protocol counts them) and
    requests in flight (`ConcurrencyLimit` counts them). One event loop: no lock needed."""

    connections: int = 0
    requests: int = 0


def uvicorn_backstop(limit: int) -> int:
    """uvicorn's `limit_concurrency` for a service limited to `limit`: just above it (uvicorn
    refuses at `limit_concurrency` connections, counting the request's own)."""
    return limit + max(10, limit // 10)


class ConcurrencyLimit:
    """ASGI middleware: a 503 problem+json with `Retry-After` past `limit` (see the module)."""

    def __init__(self, app: ASGIApp, load: Load, limit: int, retry_after: int) -> None:
        self._app = app
        self._load = load
        self._limit = limit
        self._detail = f"the service is at its limit of {limit} concurrent connections or requests; retry later"
        self._retry_after = str(retry_after).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # the lifespan
            await self._app(scope, receive, send)
            return
        load = self._load
        if load.connections > self._limit or load.requests >= self._limit:
            log.warning("http.over_limit", connections=load.connections, requests=load.requests, limit=self._limit)
            body = orjson.dumps(problem(status.HTTP_503_SERVICE_UNAVAILABLE, self._detail, instance_of(scope)))
            headers = [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", self._retry_after),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 503, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        load.requests += 1
        try:
            await self._app(scope, receive, send)
        finally:
            load.requests -= 1

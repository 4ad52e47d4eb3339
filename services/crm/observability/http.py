"""ASGI pieces of the HTTP services' observability: request metrics, request ids, `/metrics`.

Pure ASGI middleware (no BaseHTTPMiddleware): a few microseconds per request on the gateway's
hot path. Routes are counted by their template (`/v1/partners/{partner_id}/smes`), so labels stay
bounded whatever paths clients try; a path no route matches counts as `unmatched`.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.observability import metrics
from crm.observability.request_ids import HEADER, accepted_or_new, handling_request

METRICS_PATH = "/metrics"
_REQUEST_ID_HEADER = HEADER.lower().encode()


class RequestMetrics:
    """Counts every answered request by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._counted: dict[tuple[str, str, int], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        answered = 500  # if the app raises before it answers, the server answers 500

        async def noting_status(message: Message) -> None:
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, noting_status)
        finally:
            self._observe(route_template(scope), scope["method"], answered, time.perf_counter() - started)

    def _observe(self, route: str, method: str, status: int, seconds: float) -> None:
        counted = self._counted.get((route, method, status))
        if counted is None:
            counted = self._counted[route, method, status] = metrics.HTTP_REQUESTS.labels(route, method, str(status))
        timed = self._timed.get((route, method))
        if timed is None:
            timed = self._timed[route, method] = metrics.HTTP_DURATION.labels(route, method)
        counted.inc()
        timed.observe(seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template (set in the scope by the router), else `unmatched`."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestIds:
    """Gives every request an id (`X-Request-ID`: the client's if sane, else a new one), current
    while the request is handled (log lines, Kafka record headers) and returned in the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        sent = next((value for name, value in scope["headers"] if name == _REQUEST_ID_HEADER), None)
        request_id = accepted_or_new(None if sent is None else sent.decode("latin-1"))
        header = (_REQUEST_ID_HEADER, request_id.encode())

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":  # (no handler sets the header itself)
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        with handling_request(request_id):
            await self._app(scope, receive, stamped)


def metrics_endpoint(before: Callable[[], Awaitable[object]] | None = None) -> Callable[[Request], Awaitable[Response]]:
    """`GET /metrics`: the registry in the Prometheus text format; `before` refreshes gauges first
    (the readiness gauge)."""

    async def metrics_text(request: Request) -> Response:
        if before is not None:
            await before()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    return metrics_text

"""The query service's FastAPI app. `create_app` only wires; no I/O until the lifespan starts."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request, status
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm.auth.bearer import add_token_store_handler, verified_principal
from crm.auth.tokens import TokenStore
from crm.db.failures import DATABASE_ERRORS, connection_lost, unstorable_reason
from crm.http_docs import add_offline_docs
from crm.http_openapi import finish_openapi, operation_ids
from crm.http_problems import add_problem_handlers, problem_response
from crm.observability.http import METRICS_PATH, RequestMetrics, metrics_endpoint
from crm.observability.readiness import Readiness
from crm.query.api.routes import alert_controls, dashboard, me, partners, programme, programmes, reports
from crm.query.api.routes import status as status_routes
from crm.query.deps import freshness_partner
from crm.query.figures_cache import FiguresCache
from crm.query.freshness import FreshnessProbe
from crm.query.pagination import BadCursor
from crm.reports.exports import FORMATS
from crm.settings import Settings

log = structlog.get_logger(__name__)

DESCRIPTION = """\
Read access to the read models for analysts and partners (docs/contract.md "Queries").

* **Roles**: an analyst token reads everything; a partner token reads its own partner only
  (`403` elsewhere, including the programme-wide KPIs); no token, `401`.
* **CSV**: `Accept: text/csv` or `?format=csv` (the Accept header's q-values count; `406` when
  nothing it accepts is offered; answers carry `Vary: Accept`); cells that a spreadsheet would
  evaluate are prefixed with `'`. Pages of CSV carry `X-CRM-Next-Cursor` and `X-CRM-Total`.
* **Whole lists**: `all=true` with `format=csv` (`bom=true` for Excel) or `format=xlsx` streams
  the whole list, with the page's filters and rights (docs/exports.md).
* **Caching**: figures (KPIs, funnels, indicators) carry a weak `ETag`; `If-None-Match` with it
  answers `304` while they are unchanged.
* **Pages**: `limit` (1-1000, default 100) and `cursor` (the `next` of the previous page);
  every list has a stable order. One SME carries the first 50 events of its timeline and
  `timeline_next`, the `cursor` of `.../smes/{sme_id}/timeline` for the rest.
* **as_of**: KPIs and funnels as of an instant in *event time* (`2020-12-31` = the end of that
  day, UTC), so a report for a period can be reproduced later.
* **Freshness**: every answered request of a valid token has `X-CRM-Newest-Event-At` and
  `X-CRM-Last-Applied-At` (an analyst's, the programme's, with `X-CRM-Projector-Lag`; a
  partner's, its own events only, without lag); JSON bodies a `freshness` object (`scope`
  `programme` or `partner`); `GET /v1/status` the same, fresh. Nothing on a 401 or 403.
* **Errors**: every error is an RFC 9457 problem (`application/problem+json`: `type`, `title`,
  `status`, `detail`, `instance`); a `422` locates each problem in `errors` (`index`, `field`,
  `message`).
"""

# The OpenAPI document's operationIds, by handler (crm.http_openapi.operation_ids); a handler
# not named here keeps its own name.
OPERATION_IDS = {
    "get_smes": "list_smes",
    "get_timeline": "list_timeline",
    "get_pilots": "list_pilots",
    "get_agreements": "list_agreements",
    "get_alerts": "list_alerts",
    "get_reports": "list_reports",
    "get_export": "export_report",
    "post_freeze": "freeze_report",
    "post_reopen": "reopen_report",
    "put_snooze": "snooze_pilot",
    "post_acknowledgement": "acknowledge_alert",
    "health": "check_health",
    "ready": "check_readiness",
}
_TEXT = {"schema": {"type": "string"}}
# Declared on the answers to a valid token (FreshnessHeaders) and on CSV pages (crm.query.rendering).
ANSWERED_HEADERS = {
    "X-CRM-Newest-Event-At": {
        "description": "Event time of the newest applied event the caller may see (`none` before any)",
        **_TEXT,
    },
    "X-CRM-Last-Applied-At": {
        "description": "When the projector last applied such an event (`none` before any)",
        **_TEXT,
    },
    "X-CRM-Projector-Lag": {
        "description": "Events not yet applied (`unknown` when Kafka is away); analysts only",
        **_TEXT,
    },
}
PAGE_HEADERS = {
    "X-CRM-Next-Cursor": {
        "description": "CSV pages: the `cursor` of the next page (empty on the last)",
        **_TEXT,
    },
    "X-CRM-Total": {"description": "CSV pages: the number of items of every page", "schema": {"type": "integer"}},
}


class FreshnessHeaders:
    """Stamps each response to a verified caller with how current the read models are, as far as
    that caller may see (an analyst the programme, a partner its own partner); nothing on a 401,
    a 403 or a route without a token (`/health`, the dashboard's files). Cached; never blocks once warm.
    """

    def __init__(self, app: ASGIApp, probe: FreshnessProbe) -> None:
        self._app = app
        self._probe = probe

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            principal = verified_principal(scope)
            refused = message.get("status") in (status.HTTP_401_UNAUTHORIZED, status.HTTP_403_FORBIDDEN)
            if message["type"] == "http.response.start" and principal is not None and not refused:
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                try:
                    freshness = await self._probe.latest(freshness_partner(principal))
                except Exception as error:  # the database is away: the response says so by its status
                    log.warning("query.freshness_unavailable", error=repr(error))
                else:
                    for name, value in freshness.headers().items():
                        if name.lower().encode() not in names:
                            headers.append((name.lower().encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self._app(scope, receive, stamped)


def create_app(settings: Settings, engine: AsyncEngine, token_store: TokenStore, freshness: FreshnessProbe) -> FastAPI:
    """The app; its lifespan closes the engine, the token store and the freshness probe."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await freshness.close()
            await token_store.close()
            await engine.dispose()

    app = FastAPI(
        title="SmartGrowth CRM query API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # crm.http_docs serves /docs without a CDN
        redoc_url=None,
        generate_unique_id_function=operation_ids(OPERATION_IDS),
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.tokens = token_store
    app.state.freshness = freshness
    app.state.figures = FiguresCache(default_programme=settings.default_programme)
    # Without Kafka the query API still answers (the projector's lag is `unknown`): not checked.
    app.state.readiness = readiness = Readiness(engine=engine)
    for router in (
        programme.router,
        programmes.router,
        reports.router,
        partners.router,
        alert_controls.router,
        me.router,
        status_routes.router,
        dashboard.router,
    ):
        app.include_router(router)
    app.add_api_route(METRICS_PATH, metrics_endpoint(readiness.check), include_in_schema=False)
    add_offline_docs(app)
    _add_error_handlers(app, settings.query_retry_after)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(FreshnessHeaders, probe=freshness)
    app.add_middleware(RequestMetrics)
    return app


def database_failure_answer(request: Request, error: Exception, retry_after: int) -> Response:
    """A failure of PostgreSQL or of the way to it, classified by `crm/db/failures.py`: data it
    refuses is 400 (retrying cannot help); anything else, the database unreachable or the
    connection dropped above all, 503 with Retry-After."""
    if unstorable_reason(error) is not None:
        # A value PostgreSQL refuses as data (out of range, malformed): no 503. The parameters
        # are validated before this; this is the net under them.
        log.warning("query.data_refused", error=repr(error))
        return problem_response(
            request, status.HTTP_400_BAD_REQUEST, "a parameter is out of range or malformed for the database"
        )
    # PostgreSQL away is not a bug of the request: say so, and when to come back.
    log.warning("query.database_unavailable", error=repr(error), connection_lost=connection_lost(error))
    return problem_response(
        request,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "the read models are unavailable (database unreachable); retry later",
        {"Retry-After": str(retry_after)},
    )


def _add_error_handlers(app: FastAPI, retry_after: int) -> None:
    add_problem_handlers(app)
    add_token_store_handler(app, retry_after)

    async def database_failed(request: Request, error: Exception) -> Response:
        return database_failure_answer(request, error, retry_after)

    for failure in DATABASE_ERRORS:  # SQLAlchemy's, asyncpg's, OSError
        app.add_exception_handler(failure, database_failed)

    @app.exception_handler(BadCursor)
    async def bad_cursor(request: Request, error: BadCursor) -> Response:
        return problem_response(request, status.HTTP_400_BAD_REQUEST, str(error))


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        app.openapi_schema = finish_openapi(
            schema,
            answered_headers=ANSWERED_HEADERS,
            page_headers=PAGE_HEADERS,
            file_types={"export_report": [f.media_type.split(";")[0] for f in FORMATS.values()]},
        )
    return app.openapi_schema

"""The gateway's FastAPI app. `create_app` only wires; no I/O until the lifespan starts."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Request, status
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from pydantic import Field, TypeAdapter
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.auth.bearer import add_token_store_handler, bearer_scheme
from crm.auth.tokens import TokenStore
from crm.contract.decoding import InvalidEvents, TooManyEvents
from crm.contract.events import DomainEvent
from crm.gateway.api.routes import events, health
from crm.gateway.claims import ClaimsUnavailable, ConflictingEvents, PostgresEventClaims, UnclaimableEvents
from crm.gateway.deps import GatewayState
from crm.gateway.ingestion import ForeignEvents, ForeignProgrammes, Limits, UnknownProgrammes
from crm.gateway.kafka import KafkaEventSink
from crm.gateway.programmes import ProgrammesUnavailable, RefreshedMemberships
from crm.http_docs import add_offline_docs
from crm.http_openapi import finish_openapi, operation_ids
from crm.http_problems import add_problem_handlers, located, problem_response
from crm.messaging.publisher import PublishFailed
from crm.observability.http import METRICS_PATH, RequestIds, RequestMetrics, metrics_endpoint
from crm.observability.metrics import REFUSALS
from crm.observability.readiness import Readiness
from crm.settings import Settings

log = structlog.get_logger(__name__)

# Problem types of the gateway's own refusals (RFC 9457 `type`; tag URIs, RFC 4151: names, not
# pages to fetch). docs/contract.md "HTTP" lists them.
UNKNOWN_PROGRAMME = "tag:smartgrowth-crm,2026:problems/unknown-programme"
NOT_A_PROGRAMME_PARTNER = "tag:smartgrowth-crm,2026:problems/not-a-programme-partner"
# The OpenAPI document's operationIds, by handler (crm.http_openapi.operation_ids).
OPERATION_IDS = {"post_events": "send_events", "health": "check_health", "ready": "check_readiness"}

DESCRIPTION = """\
Partner systems send the events of docs/contract.md here. `202 {"accepted": n}` means every event of the
request is durably stored in Kafka (acks from all in-sync replicas). A request with any problem
publishes nothing. `503` (with `Retry-After`) means Kafka did not acknowledge in time: some events
may or may not be stored, so retry **the same events with the same `event_id`s**; the pipeline
counts each `event_id` once.

Every error is an RFC 9457 problem (`application/problem+json`: `type`, `title`, `status`,
`detail`, `instance`); a `422` locates each problem in `errors` (`index`, `field`, `message`).
"""


def create_app(
    settings: Settings,
    publisher: KafkaEventSink,
    token_store: TokenStore,
    claims: PostgresEventClaims,
    programmes: RefreshedMemberships,
    database: AsyncEngine | None = None,
) -> FastAPI:
    """The app; its lifespan starts the Kafka publisher and the programmes' refreshes, and closes
    the token store. `/ready` checks Kafka, and PostgreSQL through `database` when given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        await programmes.start()
        try:
            yield
        finally:
            await programmes.stop()
            await publisher.stop()
            await token_store.close()

    app = FastAPI(
        title="SmartGrowth CRM ingestion gateway",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # No OpenTelemetry export here; switching it off saves its per-request check.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        docs_url=None,  # crm.http_docs serves /docs without a CDN
        redoc_url=None,
        generate_unique_id_function=operation_ids(OPERATION_IDS),
    )
    app.state.gateway = GatewayState(
        Limits.from_settings(settings), publisher, claims, programmes, settings.gateway_retry_after
    )
    app.state.tokens = token_store
    app.state.readiness = readiness = Readiness(kafka=publisher.reachable, engine=database)
    app.include_router(events.router)
    app.include_router(health.router)
    app.add_api_route(METRICS_PATH, metrics_endpoint(readiness.check), include_in_schema=False)
    add_offline_docs(app)
    _add_error_handlers(app, retry_after=settings.gateway_retry_after)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIds)  # outermost: the metrics' and the handlers' log lines carry the id
    return app


def _add_error_handlers(app: FastAPI, *, retry_after: int) -> None:
    add_problem_handlers(app)
    add_token_store_handler(app, retry_after)
    later = {"Retry-After": str(retry_after)}

    @app.exception_handler(TooManyEvents)
    async def too_many(request: Request, error: TooManyEvents) -> Response:
        REFUSALS.labels("too_large").inc()
        return problem_response(request, status.HTTP_413_CONTENT_TOO_LARGE, error.problems[0].message)

    @app.exception_handler(InvalidEvents)
    async def invalid(request: Request, error: InvalidEvents) -> Response:
        REFUSALS.labels("invalid").inc()
        log.info("events.refused", status=422, problems=len(error.problems))
        problems = [p.as_dict() for p in error.problems]
        return problem_response(
            request,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"{len(problems)} problem(s) in the events, nothing was published: {located(problems)}",
            errors=problems,
        )

    @app.exception_handler(UnknownProgrammes)
    async def unknown_programmes(request: Request, error: UnknownProgrammes) -> Response:
        REFUSALS.labels("unknown_programme").inc()
        log.info("events.refused", status=422, problems=len(error.problems), programmes=error.programmes)
        return problem_response(
            request,
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"unknown programme {', '.join(error.programmes)}: no programme of that id is defined; nothing was "
            "published",
            type=UNKNOWN_PROGRAMME,
            title="Unknown programme",
            programmes=error.programmes,
            errors=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(ForeignProgrammes)
    async def foreign_programmes(request: Request, error: ForeignProgrammes) -> Response:
        REFUSALS.labels("foreign_programme").inc()
        log.info("events.refused", status=403, problems=len(error.problems), programmes=error.programmes)
        return problem_response(
            request,
            status.HTTP_403_FORBIDDEN,
            f"this token's partner is not a partner of programme {', '.join(error.programmes)}; nothing was published",
            type=NOT_A_PROGRAMME_PARTNER,
            title="Not a partner of the programme",
            programmes=error.programmes,
            errors=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(ProgrammesUnavailable)
    async def programmes_unavailable(request: Request, error: ProgrammesUnavailable) -> Response:
        REFUSALS.labels("programmes_unavailable").inc()
        return problem_response(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the programmes could not be read (database unavailable); retry the same events later",
            later,
        )

    @app.exception_handler(ForeignEvents)
    async def foreign(request: Request, error: ForeignEvents) -> Response:
        REFUSALS.labels("foreign_partner").inc()
        log.info("events.refused", status=403, problems=len(error.problems))
        return problem_response(
            request,
            status.HTTP_403_FORBIDDEN,
            "this token may only send events of its own partner",
            errors=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(ConflictingEvents)
    async def conflicting(request: Request, error: ConflictingEvents) -> Response:
        REFUSALS.labels("conflict").inc()
        log.info("events.refused", status=409, problems=len(error.problems))
        ids = sorted({p.message.split()[1] for p in error.problems})
        return problem_response(
            request,
            status.HTTP_409_CONFLICT,
            f"event_id {', '.join(ids)} was already accepted with other content; nothing was published. "
            "Re-send an event with the same content, or give a new event a new event_id",
            errors=[p.as_dict() for p in error.problems],
        )

    @app.exception_handler(ClaimsUnavailable)
    async def claims_unavailable(request: Request, error: ClaimsUnavailable) -> Response:
        REFUSALS.labels("claims_unavailable").inc()
        log.warning("gateway.claims_unavailable", error=str(error))
        return problem_response(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the event ids could not be checked (database unavailable); retry the same events later",
            later,
        )

    @app.exception_handler(UnclaimableEvents)
    async def unclaimable(request: Request, error: UnclaimableEvents) -> Response:
        REFUSALS.labels("unclaimable").inc()
        # Not "retry later": the same events would be refused the same way. Nothing was published.
        log.warning("events.refused", status=400, reason=str(error))
        return problem_response(
            request,
            status.HTTP_400_BAD_REQUEST,
            f"the event ids could not be recorded: {error}; nothing was published, and re-sending the same "
            "events fails the same way",
        )

    @app.exception_handler(PublishFailed)
    async def unavailable(request: Request, error: PublishFailed) -> Response:
        REFUSALS.labels("kafka_unavailable").inc()
        return problem_response(
            request,
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "Kafka did not acknowledge the events in time; retry the same events later",
            later,
        )


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
            "type": "http",
            "scheme": "bearer",
            "description": bearer_scheme.model.description,
        }
        schema["paths"]["/v1/events"]["post"]["security"] = [{"bearer": []}]
        event: TypeAdapter[Any] = TypeAdapter(Annotated[DomainEvent, Field(discriminator="event_type")])
        event_schema = event.json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(event_schema.pop("$defs", {}))
        components["Event"] = event_schema
        app.openapi_schema = finish_openapi(schema)
    return app.openapi_schema

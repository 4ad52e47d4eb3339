"""Liveness and readiness probes."""

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from crm.gateway.api.models import Health
from crm.gateway.deps import Gateway
from crm.http_problems import problem_response
from crm.observability.readiness import Readiness, not_ready

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, response_model_exclude_none=True, summary="The process is up")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Health,
    responses={
        503: {
            "description": "Kafka or PostgreSQL does not answer, or the schema is behind (`kafka`: `unreachable`, "
            "`database`: `unreachable`, `schema`: `behind`)"
        }
    },
    summary="Kafka and PostgreSQL answer, the schema is current",
)
async def ready(request: Request, gateway: Gateway) -> Response:
    readiness: Readiness = request.app.state.readiness
    is_ready, parts = await readiness.check()
    if is_ready:
        return JSONResponse({"status": "ready", **parts})
    return problem_response(
        request,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        not_ready(parts),
        {"Retry-After": str(gateway.retry_after)},
        **parts,
    )

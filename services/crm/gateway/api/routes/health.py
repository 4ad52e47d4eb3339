"""Liveness and readiness probes."""

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from crm.gateway.api.models import Health
from crm.gateway.deps import Gateway
from crm.http_problems import problem_response

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, response_model_exclude_none=True, summary="The process is up")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Health,
    responses={503: {"description": "Kafka does not answer (`kafka`: `unreachable`)"}},
    summary="Kafka answers",
)
async def ready(request: Request, gateway: Gateway) -> Response:
    if await gateway.sink.reachable():
        return JSONResponse({"status": "ready", "kafka": "reachable"})
    return problem_response(
        request,
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "Kafka does not answer; not ready",
        {"Retry-After": str(gateway.retry_after)},
        kafka="unreachable",
    )

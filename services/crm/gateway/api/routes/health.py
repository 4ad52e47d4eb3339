"""Liveness and readiness probes."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crm.gateway.api.models import Health
from crm.gateway.deps import Gateway

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, response_model_exclude_none=True, summary="The process is up")
async def health() -> Health:
    return Health(status="ok")


@router.get("/ready", response_model=Health, responses={503: {"model": Health}}, summary="Kafka answers")
async def ready(gateway: Gateway) -> JSONResponse:
    if await gateway.sink.reachable():
        return JSONResponse({"status": "ready", "kafka": "reachable"})
    return JSONResponse({"status": "not ready", "kafka": "unreachable"}, status_code=503)

"""The operations pieces without a server: the listener's answers, and the HTTP request metrics
(route templates, not raw paths; /metrics not counted)."""

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY

from crm.errors import InfrastructureError
from crm.observability.http import METRICS_PATH, RequestIds, RequestMetrics, metrics_endpoint
from crm.observability.listener import OperationsListener
from crm.observability.readiness import Readiness, not_ready


def listener(table: str) -> OperationsListener:
    return OperationsListener("127.0.0.1", 0, Readiness(states={"table": lambda: table}), service="test")


async def test_the_listener_answers_health_ready_and_metrics() -> None:
    recovered, recovering = listener("recovered"), listener("recovering")
    assert await recovered.respond(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") == (
        "200 OK",
        "application/json",
        b'{"status":"ok"}',
    )
    assert (await recovered.respond(b"GET /ready HTTP/1.1\r\n\r\n"))[::2] == (
        "200 OK",
        b'{"status":"ready","table":"recovered"}',
    )
    assert (await recovering.respond(b"GET /ready?x=1 HTTP/1.1\r\n\r\n"))[::2] == (
        "503 Service Unavailable",
        b'{"status":"not ready","table":"recovering"}',
    )
    status, content_type, body = await recovered.respond(b"GET /metrics HTTP/1.1\r\n\r\n")
    assert status == "200 OK" and content_type.startswith("text/plain; version=")
    assert b"\ncrm_ready 1.0\n" in body and b"crm_projector_batches_total" in body
    assert (await recovered.respond(b"GET /nope HTTP/1.1\r\n\r\n"))[0] == "404 Not Found"
    assert (await recovered.respond(b"POST /ready HTTP/1.1\r\n\r\n"))[0] == "405 Method Not Allowed"
    assert (await recovered.respond(b"garbage\r\n\r\n"))[0] == "400 Bad Request"


def test_not_ready_names_what_is_wrong() -> None:
    parts = {"kafka": "reachable", "database": "reachable", "schema": "behind"}
    assert not_ready(parts) == "not ready: schema behind"


def counted(route: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value("crm_http_requests_total", {"route": route, "method": method, "status": status})
    return value or 0.0


async def test_requests_are_counted_by_route_template_and_status_and_carry_a_request_id() -> None:
    app = FastAPI()

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing": thing_id}

    app.add_api_route(METRICS_PATH, metrics_endpoint(), include_in_schema=False)
    app.add_middleware(RequestMetrics)
    app.add_middleware(RequestIds)
    before = {
        "thing": counted("/things/{thing_id}", "GET", "200"),
        "unmatched": counted("unmatched", "GET", "404"),
        "metrics": counted(METRICS_PATH, "GET", "200"),
    }
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = await client.get("/things/a")
        second = await client.get("/things/b", headers={"X-Request-ID": "mine-1"})
        third = await client.get("/things/c", headers={"X-Request-ID": "not mine!"})
        await client.get("/elsewhere/x")
        scraped = await client.get(METRICS_PATH)
    assert counted("/things/{thing_id}", "GET", "200") == before["thing"] + 3
    assert counted("unmatched", "GET", "404") == before["unmatched"] + 1
    assert counted(METRICS_PATH, "GET", "200") == before["metrics"]  # a scrape is not a request counted
    assert (
        REGISTRY.get_sample_value("crm_http_requests_total", {"route": "/things/a", "method": "GET", "status": "200"})
        is None
    )
    assert scraped.status_code == 200 and "crm_http_request_duration_seconds_bucket" in scraped.text
    assert len(first.headers["x-request-id"]) == 32
    assert second.headers["x-request-id"] == "mine-1"
    assert third.headers["x-request-id"] not in ("not mine!", first.headers["x-request-id"])


async def test_a_port_in_use_is_an_infrastructure_error_naming_it() -> None:
    first = listener("recovered")
    await first.start()
    try:
        taken = OperationsListener("127.0.0.1", first.port, Readiness(), service="projector")
        with pytest.raises(
            InfrastructureError, match=f"projector's operations listener cannot listen on 127.0.0.1:{first.port}"
        ):
            await taken.start()
    finally:
        await first.stop()

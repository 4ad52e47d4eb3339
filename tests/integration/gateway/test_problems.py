"""Every refusal of the gateway is an RFC 9457 problem (crm.http_problems), with the headers it
always had; `/docs` loads with nothing from outside. The real app, Kafka and PostgreSQL."""

import json
from collections.abc import AsyncIterator

import pytest

from crm.gateway.bootstrap import build_gateway
from crm.local.processes import free_port
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope
from tests.support.gateway import Gateway, create_token, running_gateway
from tests.support.in_process import in_process_client
from tests.support.offline_docs import assert_docs_offline
from tests.support.problems import assert_problem

pytestmark = pytest.mark.infra


@pytest.fixture
async def gateway(isolated: Settings) -> AsyncIterator[Gateway]:
    async with running_gateway(isolated.model_copy(update={"gateway_max_body_bytes": 4096})) as live:
        yield live


async def test_every_refusal_is_a_problem_with_its_headers(gateway: Gateway) -> None:
    client, event = gateway.client, envelope("SMEWithdrawn")
    missing = assert_problem(await client.post("/v1/events", json=event), 401, {"www-authenticate": "Bearer"})
    assert missing["detail"] == "a bearer token is required" and missing["instance"] == "/v1/events"
    forged = await gateway.post(event, token="crm_0123456789abcdef_forged")
    assert assert_problem(forged, 401, {"www-authenticate": "Bearer"})["detail"] == "unknown or revoked token"
    assert "analyst" in assert_problem(await gateway.post(event, token=gateway.analyst_token), 403)["detail"]
    foreign = assert_problem(await gateway.post(envelope("SMEWithdrawn", partner_id="sisp")), 403)
    assert foreign["errors"] == [
        {"index": 0, "field": "partner_id", "message": "this token may not send events of partner 'sisp'"}
    ]
    assert "4096 bytes" in assert_problem(await gateway.post([event] * 40), 413)["detail"]
    text = await client.post(
        "/v1/events", content=json.dumps(event), headers={**gateway.auth(), "Content-Type": "text/plain"}
    )
    assert "application/json" in assert_problem(text, 415)["detail"]

    unknown = assert_problem(await client.get("/v2/events"), 404)
    assert (unknown["title"], unknown["instance"]) == ("Not Found", "/v2/events")
    wrong = assert_problem(await client.get("/v1/events"), 405, {"allow": "POST"})
    assert "GET" in wrong["detail"] and "POST" in wrong["detail"]


async def test_a_422_keeps_its_located_problems_and_says_them_in_detail(gateway: Gateway) -> None:
    bad = envelope("PilotOpened", {**EXAMPLES["PilotOpened"], "market": "China"})
    refused = assert_problem(await gateway.post([envelope("SMEWithdrawn"), bad]), 422)
    assert [(e["index"], e["field"]) for e in refused["errors"]] == [(1, "payload.market")]
    assert refused["type"] == "about:blank" and refused["title"] == "Unprocessable Content"
    assert "[1] payload.market" in refused["detail"] and "nothing was published" in refused["detail"]
    malformed = await gateway.client.post(
        "/v1/events", content=b"{not json", headers={**gateway.auth(), "Content-Type": "application/json"}
    )
    assert assert_problem(malformed, 422)["errors"][0]["index"] == 0


async def test_a_token_store_that_cannot_be_read_is_a_503_with_retry_after(isolated: Settings) -> None:
    _, token = await create_token(isolated, "tehnopol")
    away = isolated.model_copy(update={"database_url": f"postgresql+asyncpg://crm@127.0.0.1:{free_port()}/crm"})
    async with in_process_client(build_gateway(away), "http://gateway") as client:
        response = await client.post(
            "/v1/events", json=envelope("SMEWithdrawn"), headers={"Authorization": f"Bearer {token}"}
        )
    retry = {"retry-after": str(isolated.gateway_retry_after)}
    assert "the token could not be checked" in assert_problem(response, 503, retry)["detail"]


async def test_docs_load_from_the_gateway_itself(gateway: Gateway) -> None:
    assert "/openapi.json" in await assert_docs_offline(gateway.client)
    assert (await gateway.client.get("/redoc")).status_code == 404  # ReDoc would load from a CDN


async def test_the_openapi_document_names_operations_and_declares_problems(gateway: Gateway) -> None:
    spec = (await gateway.client.get("/openapi.json")).json()
    send = spec["paths"]["/v1/events"]["post"]
    assert send["operationId"] == "send_events"
    assert {"401", "403", "413", "415", "422", "503"} <= set(send["responses"])
    for code, response in send["responses"].items():
        if int(code) >= 400:
            assert set(response["content"]) == {"application/problem+json"}, code
    assert send["responses"]["503"]["headers"]["Retry-After"]["required"] is True
    assert "WWW-Authenticate" in send["responses"]["401"]["headers"]
    assert send["responses"]["422"]["content"]["application/problem+json"]["schema"]["$ref"].endswith(
        "/ValidationProblem"
    )
    assert {"Problem", "ValidationProblem", "LocatedProblem"} <= set(spec["components"]["schemas"])
    assert "HTTPValidationError" not in spec["components"]["schemas"]

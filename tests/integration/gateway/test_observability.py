"""The gateway's request ids (answer, Kafka record headers), /metrics and /ready, on the real
Kafka and PostgreSQL."""

from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY

from crm.settings import Settings
from tests.support.events import envelope
from tests.support.gateway import Gateway, published, running_gateway

pytestmark = pytest.mark.infra


@pytest.fixture
async def gateway(isolated: Settings) -> AsyncIterator[Gateway]:
    async with running_gateway(isolated) as live:
        yield live


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_the_request_id_is_returned_and_in_the_headers_of_every_record_published(gateway: Gateway) -> None:
    one = envelope("SMEWithdrawn", {}, sme_id="sme-one")
    many = [envelope("SMEWithdrawn", {}, sme_id=f"sme-{i}") for i in range(10)]  # sent as record batches

    kept = await gateway.client.post("/v1/events", json=one, headers={**gateway.auth(), "X-Request-ID": "it-1"})
    made = await gateway.client.post("/v1/events", json=many, headers={**gateway.auth(), "X-Request-ID": "a b"})

    assert (kept.status_code, kept.headers["x-request-id"]) == (202, "it-1")
    assert made.status_code == 202 and made.headers["x-request-id"] not in ("a b", "it-1")
    records = await published(gateway.settings, at_least=11)
    by_sme = {record.key.decode().split("/")[1]: dict(record.headers) for record in records}
    assert by_sme["sme-one"] == {"request_id": b"it-1"}
    assert {by_sme[f"sme-{i}"]["request_id"] for i in range(10)} == {made.headers["x-request-id"].encode()}


async def test_a_refusal_also_answers_with_a_request_id(gateway: Gateway) -> None:
    refused = await gateway.post({"event_type": "Nothing"})
    assert refused.status_code == 422 and len(refused.headers["x-request-id"]) == 32


async def test_metrics_count_requests_by_route_accepted_events_and_refusals(gateway: Gateway) -> None:
    accepted = sample("crm_http_requests_total", route="/v1/events", method="POST", status="202")
    events = sample("crm_gateway_events_accepted_total")
    invalid = sample("crm_gateway_refused_requests_total", reason="invalid")
    publishes = sample("crm_kafka_publish_duration_seconds_count", outcome="acknowledged")

    assert (await gateway.post([envelope("SMEWithdrawn", {}, sme_id=f"m-{i}") for i in range(3)])).status_code == 202
    assert (await gateway.post({"event_type": "Nothing"})).status_code == 422
    scraped = await gateway.client.get("/metrics")

    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    assert 'crm_http_requests_total{method="POST",route="/v1/events",status="202"}' in scraped.text
    assert "crm_ready 1.0" in scraped.text
    assert sample("crm_http_requests_total", route="/v1/events", method="POST", status="202") == accepted + 1
    assert sample("crm_gateway_events_accepted_total") == events + 3
    assert sample("crm_gateway_refused_requests_total", reason="invalid") == invalid + 1
    assert sample("crm_kafka_publish_duration_seconds_count", outcome="acknowledged") == publishes + 1


async def test_ready_names_kafka_the_database_and_the_schema(gateway: Gateway) -> None:
    ready = await gateway.client.get("/ready")
    assert (ready.status_code, ready.json()) == (
        200,
        {"status": "ready", "kafka": "reachable", "database": "reachable", "schema": "current"},
    )

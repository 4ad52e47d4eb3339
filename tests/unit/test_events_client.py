"""The partner client's retry rules, against a scripted HTTP server (no Kafka involved here;
the real gateway is exercised through this client in tests/e2e/test_gateway_end_to_end.py)."""

import json

import httpx
import pytest

from crm.gateway.client import EventsClient, EventsRejected, new_event


def scripted(*statuses: int) -> tuple[httpx.MockTransport, list[bytes]]:
    bodies: list[bytes] = []
    answers = list(statuses)

    def handle(request: httpx.Request) -> httpx.Response:
        bodies.append(request.content)
        status = answers.pop(0)
        if status == 202:
            return httpx.Response(202, json={"accepted": len(json.loads(request.content) or [1])})
        if status == 503:
            return httpx.Response(503, json={"detail": "retry"}, headers={"Retry-After": "0"})
        return httpx.Response(status, json={"errors": [{"index": 0, "field": "payload", "message": "bad"}]})

    return httpx.MockTransport(handle), bodies


def test_a_503_is_retried_with_the_very_same_event_ids() -> None:
    transport, bodies = scripted(503, 503, 202)
    events = [new_event("SMEWithdrawn", "tehnopol", f"sme-{i}", "2021-01-01T00:00:00Z", {}) for i in range(3)]
    with EventsClient("http://gateway", "crm_x", transport=transport) as client:
        assert client.send_many(events) == 3
    assert len(bodies) == 3 and len(set(bodies)) == 1
    assert [e["event_id"] for e in json.loads(bodies[0])] == [e["event_id"] for e in events]


def test_a_422_is_not_retried() -> None:
    transport, bodies = scripted(422)
    with EventsClient("http://gateway", "crm_x", transport=transport) as client, pytest.raises(EventsRejected) as err:
        client.send(new_event("SMEWithdrawn", "tehnopol", "s", "2021-01-01T00:00:00Z", {}))
    assert err.value.status_code == 422 and len(bodies) == 1


def test_it_gives_up_after_max_attempts() -> None:
    transport, bodies = scripted(503, 503)
    client = EventsClient("http://gateway", "crm_x", transport=transport, max_attempts=2)
    with client, pytest.raises(EventsRejected) as err:
        client.send(new_event("SMEWithdrawn", "tehnopol", "s", "2021-01-01T00:00:00Z", {}))
    assert err.value.status_code == 503 and len(bodies) == 2

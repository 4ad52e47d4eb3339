"""POST /v1/events against the real app, Kafka and PostgreSQL: every status code of the contract."""

import json
import uuid
from collections.abc import AsyncIterator

import pytest

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope
from tests.support.gateway import Gateway, published, running_gateway

pytestmark = pytest.mark.infra


@pytest.fixture
async def gateway(isolated: Settings) -> AsyncIterator[Gateway]:
    limits = {"gateway_max_body_bytes": 64 * 1024, "gateway_max_events": 50, "token_cache_seconds": 0.0}
    async with running_gateway(isolated.model_copy(update=limits)) as live:
        yield live


async def test_one_envelope_and_an_array_are_accepted_and_land_in_kafka_keyed_by_sme(gateway: Gateway) -> None:
    one = envelope("PilotOpened")
    many = [envelope(t, sme_id=f"sme-{i}") for i, t in enumerate(sorted(EXAMPLES))]

    first = await gateway.post(one)
    second = await gateway.post(many)

    assert (first.status_code, first.json()) == (202, {"accepted": 1})
    assert (second.status_code, second.json()) == (202, {"accepted": len(many)})
    records = await published(gateway.settings, at_least=1 + len(many))
    by_id = {json.loads(r.value)["event_id"]: r for r in records}
    assert set(by_id) == {one["event_id"], *(e["event_id"] for e in many)}
    assert by_id[one["event_id"]].key == b"tehnopol/ee-smartlight"
    assert json.loads(by_id[one["event_id"]].value)["payload"] == EXAMPLES["PilotOpened"]


async def test_an_empty_array_is_accepted_as_nothing(gateway: Gateway) -> None:
    response = await gateway.post([])
    assert (response.status_code, response.json()) == (202, {"accepted": 0})


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic dXNlcjpwdw=="}])
async def test_no_or_a_bad_token_is_401(gateway: Gateway, headers: dict[str, str]) -> None:
    response = await gateway.client.post("/v1/events", json=envelope("SMEWithdrawn"), headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"]


async def test_a_forged_token_with_a_real_id_is_401(gateway: Gateway) -> None:
    forged = gateway.partner_token[:-4] + "AAAA"
    assert (await gateway.post(envelope("SMEWithdrawn"), token=forged)).status_code == 401


async def test_a_revoked_token_fails(gateway: Gateway) -> None:
    store = TokenStore(create_engine(gateway.settings.database_url, pool_size=1))
    try:
        token_id, token = await store.create("partner", "tehnopol")
        assert (await gateway.post(envelope("SMEWithdrawn"), token=token)).status_code == 202
        assert await store.revoke(token_id)
    finally:
        await store.close()
    response = await gateway.post(envelope("SMEWithdrawn"), token=token)
    assert response.status_code == 401


async def test_a_partner_cannot_write_for_another_and_nothing_of_the_request_is_published(gateway: Gateway) -> None:
    mine = envelope("SMEWithdrawn")
    theirs = envelope("SMEWithdrawn", partner_id="sisp")

    response = await gateway.post([mine, theirs])

    assert response.status_code == 403
    assert response.json()["errors"] == [
        {"index": 1, "field": "partner_id", "message": "this token may not send events of partner 'sisp'"}
    ]
    assert (await gateway.post([theirs], token=gateway.other_partner_token)).status_code == 202
    records = await published(gateway.settings, at_least=1)
    assert [json.loads(r.value)["event_id"] for r in records] == [theirs["event_id"]]


async def test_an_analyst_token_cannot_write(gateway: Gateway) -> None:
    response = await gateway.post(envelope("SMEWithdrawn"), token=gateway.analyst_token)
    assert response.status_code == 403
    assert "analyst" in response.json()["detail"]


async def test_422_locates_every_problem_and_publishes_nothing(gateway: Gateway) -> None:
    good = envelope("SMEWithdrawn")
    bad_market = envelope("PilotOpened", {**EXAMPLES["PilotOpened"], "market": "XX"})
    naive = envelope("SMEWithdrawn", occurred_at="2020-10-05T09:00:00")
    unknown = {**envelope("SMEWithdrawn"), "event_type": "PilotTeleported"}
    long_name = envelope("SMESelected", {**EXAMPLES["SMESelected"], "name": "x" * 201})

    response = await gateway.post([good, bad_market, naive, unknown, long_name])

    assert response.status_code == 422
    located = {(e["index"], e["field"]) for e in response.json()["errors"]}
    assert located == {(1, "payload.market"), (2, "occurred_at"), (3, "event_type"), (4, "payload.name")}
    assert all(e["message"] for e in response.json()["errors"])
    assert await published(gateway.settings, wait=1.0) == []


async def test_a_single_invalid_envelope_is_index_0(gateway: Gateway) -> None:
    response = await gateway.post(envelope("PilotOpened", {**EXAMPLES["PilotOpened"], "market": "cn"}))
    assert response.status_code == 422
    assert [(e["index"], e["field"]) for e in response.json()["errors"]] == [(0, "payload.market")]


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"null", b"42", b'"text"', b"[" * 10_000 + b"]" * 10_000, b'{"a":' * 3000 + b"1" + b"}" * 3000],
    ids=["malformed", "empty", "null", "number", "string", "deep-array", "deep-object"],
)
async def test_junk_is_a_located_422_never_a_500(gateway: Gateway, body: bytes) -> None:
    response = await gateway.client.post(
        "/v1/events", content=body, headers={**gateway.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"]


async def test_free_text_longer_than_the_configured_limit_is_422(isolated: Settings) -> None:
    settings = isolated.model_copy(update={"gateway_max_text_length": 10})
    async with running_gateway(settings) as gateway:
        response = await gateway.post(envelope("PilotUpdated", {"pilot_id": "p-1", "note": "x" * 11}))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"index": 0, "field": "payload.note", "message": "at most 10 characters are accepted"}
    ]


async def test_a_body_over_the_limit_is_413(gateway: Gateway) -> None:
    body = envelope("PilotUpdated", {"pilot_id": "p-1", "note": "x" * 70_000})
    response = await gateway.post(body)
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_413(gateway: Gateway) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            yield b" " * 1024

    response = await gateway.client.post(
        "/v1/events", content=chunks(), headers={**gateway.auth(), "Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_too_many_events_is_413(gateway: Gateway) -> None:
    response = await gateway.post([envelope("SMEWithdrawn", {}) for _ in range(51)])
    assert response.status_code == 413
    assert "at most 50" in response.json()["detail"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_is_415(gateway: Gateway, content_type: str | None) -> None:
    headers = gateway.auth() | ({"Content-Type": content_type} if content_type else {})
    response = await gateway.client.post("/v1/events", content=json.dumps(envelope("SMEWithdrawn")), headers=headers)
    assert response.status_code == 415
    assert "application/json" in response.json()["detail"]


async def test_health_ready_and_docs(gateway: Gateway) -> None:
    assert (await gateway.client.get("/health")).json() == {"status": "ok"}
    ready = await gateway.client.get("/ready")
    assert (ready.status_code, ready.json()["kafka"]) == (200, "reachable")
    assert (await gateway.client.get("/docs")).status_code == 200
    spec = (await gateway.client.get("/openapi.json")).json()
    assert "Event" in spec["components"]["schemas"]
    assert set(spec["paths"]["/v1/events"]["post"]["responses"]) >= {"202", "401", "403", "413", "415", "422", "503"}


async def test_a_retried_request_with_the_same_event_ids_is_accepted_again(gateway: Gateway) -> None:
    events = [envelope("SMEWithdrawn", {}, event_id=str(uuid.uuid4())) for _ in range(3)]
    assert (await gateway.post(events)).status_code == 202
    assert (await gateway.post(events)).status_code == 202  # downstream dedupes: see tests/e2e


async def test_a_known_id_with_other_content_is_409_and_an_identical_resend_202(gateway: Gateway) -> None:
    # Finding 3: the same id with different content was accepted; which copy won depended on batching.
    first = envelope("SMESelected", sme_id="sme-a")
    assert (await gateway.post(first)).status_code == 202
    assert (await gateway.post(first)).status_code == 202  # a retry of the same event stays harmless
    other = envelope("SMESelected", sme_id="sme-b", event_id=first["event_id"])
    fresh = envelope("SMEWithdrawn", sme_id="sme-c")
    refused = await gateway.post([fresh, other])
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert first["event_id"] in refused.json()["detail"]
    assert refused.json()["errors"] == [
        {
            "index": 1,
            "field": "event_id",
            "message": f"event_id {first['event_id']} was already accepted with other content",
        }
    ]
    # Nothing of the refused request was claimed: its other event can still be sent with other content.
    assert (
        await gateway.post(envelope("SMEWithdrawn", {"reason": "x"}, sme_id="sme-c", event_id=fresh["event_id"]))
    ).status_code == 202
    twice = envelope("SMEWithdrawn", sme_id="sme-d")
    assert (await gateway.post([twice, {**twice, "sme_id": "sme-e"}])).status_code == 409
    records = await published(gateway.settings, at_least=3)
    assert sorted(json.loads(r.value)["sme_id"] for r in records) == ["sme-a", "sme-a", "sme-c"]


async def test_another_partners_use_of_an_id_does_not_refuse_ours(gateway: Gateway) -> None:
    # Finding 2: ids were global, so B's event could claim A's id.
    theirs = envelope("SMEWithdrawn", partner_id="sisp", sme_id="theirs")
    assert (await gateway.post(theirs, token=gateway.other_partner_token)).status_code == 202
    ours = envelope("SMEWithdrawn", sme_id="ours", event_id=theirs["event_id"])
    assert (await gateway.post(ours)).status_code == 202

"""Every refusal of the query API is an RFC 9457 problem (crm.http_problems), with the headers it
always had, through the token check the gateway shares (crm.auth.bearer); `/docs` loads with
nothing from outside; the OpenAPI document names its operations and declares the problems."""

import pytest

from crm.http_bodies import QUERY_MAX_BODY_BYTES
from crm.settings import Settings
from tests.support.offline_docs import assert_docs_offline
from tests.support.problems import assert_problem
from tests.support.query import running_query_api

pytestmark = pytest.mark.infra

SNOOZE = "/v1/partners/tehnopol/pilots/p-1/snooze"


async def test_every_refusal_is_a_problem_with_its_headers(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        client, partner = api.client, api.auth(api.partner_token)
        challenge = {"www-authenticate": "Bearer"}
        missing = assert_problem(await client.get("/v1/me"), 401, challenge)
        assert (missing["detail"], missing["instance"]) == ("a bearer token is required", "/v1/me")
        forged = await api.get("/v1/me", "crm_0123456789abcdef_forged")
        assert assert_problem(forged, 401, challenge)["detail"] == "unknown or revoked token"
        kpis = assert_problem(await api.get("/v1/programme/kpis", api.partner_token), 403)
        assert kpis == {
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
            "detail": "programme-wide figures are for analyst tokens",
            "instance": "/v1/programme/kpis",
        }
        unknown = assert_problem(await api.get("/v2/anything"), 404)
        assert "/v2/anything" in unknown["detail"]
        assert "no-such" in assert_problem(await api.get("/v1/partners/tehnopol/smes/no-such"), 404)["detail"]
        assert_problem(await api.get("/docs/assets/nothing.js"), 404)
        assert_problem(await client.delete("/v1/me", headers=partner), 405, {"allow": "GET"})
        assert_problem(await api.get("/v1/partners/tehnopol/pilots", params={"cursor": "not-ours"}), 400)

        padded = b'{"until": "2030-03-01T00:00:00Z", "pad": "' + b"x" * QUERY_MAX_BODY_BYTES + b'"}'
        large = await client.put(SNOOZE, content=padded, headers={**partner, "Content-Type": "application/json"})
        assert str(QUERY_MAX_BODY_BYTES) in assert_problem(large, 413)["detail"]
        body = b'{"until": "2030-03-01T00:00:00Z"}'
        text = await client.put(SNOOZE, content=body, headers={**partner, "Content-Type": "text/plain"})
        assert "application/json" in assert_problem(text, 415)["detail"]
        # FastAPI refused a body of no declared media type too, but as a 422 on its shape.
        assert_problem(await client.put(SNOOZE, content=body, headers=partner), 415)
        json_body = await client.put(SNOOZE, content=body, headers={**partner, "Content-Type": "application/json"})
        assert "p-1" in assert_problem(json_body, 404)["detail"]  # past the body's checks to the route's


async def test_a_422_locates_each_problem_in_errors(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        bad = assert_problem(
            await api.get("/v1/partners/tehnopol/pilots", params={"limit": "ten", "market": "cn"}), 422
        )
        assert {(e["index"], e["field"]) for e in bad["errors"]} == {(0, "query.limit"), (0, "query.market")}
        assert "query.limit" in bad["detail"] and "query.market" in bad["detail"]
        as_of = assert_problem(await api.get("/v1/programme/kpis", params={"as_of": "yesterday"}), 422)
        assert [e["field"] for e in as_of["errors"]] == ["query.as_of"]
        snooze = await api.client.put(SNOOZE, json={"until": "soon"}, headers=api.auth(api.partner_token))
        assert [e["field"] for e in assert_problem(snooze, 422)["errors"]] == ["body.until"]


async def test_docs_load_from_the_query_api_itself(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        assert "/openapi.json" in await assert_docs_offline(api.client)


async def test_the_openapi_document_names_operations_and_declares_problems(isolated: Settings) -> None:
    async with running_query_api(isolated) as api:
        spec = (await api.client.get("/openapi.json")).json()
    operations = {(method, path): op for path, item in spec["paths"].items() for method, op in item.items()}
    ids = [op["operationId"] for op in operations.values()]
    assert len(ids) == len(set(ids)) and all("_v1_" not in i and "__" not in i for i in ids), ids
    pilots = operations["get", "/v1/partners/{partner_id}/pilots"]
    assert pilots["operationId"] == "list_pilots"
    answer = pilots["responses"]["200"]
    assert {"application/json", "text/csv"} <= set(answer["content"])
    assert {"X-CRM-Newest-Event-At", "X-CRM-Last-Applied-At", "X-CRM-Next-Cursor", "X-CRM-Total"} <= set(
        answer["headers"]
    )
    assert {"401", "403", "422", "503"} <= set(pilots["responses"])
    snooze = operations["put", "/v1/partners/{partner_id}/pilots/{pilot_id}/snooze"]
    assert snooze["operationId"] == "snooze_pilot"
    assert {"413", "415"} <= set(snooze["responses"])
    for (method, path), op in operations.items():
        for code, response in op["responses"].items():
            if int(code) >= 400:
                assert set(response["content"]) == {"application/problem+json"}, (method, path, code)
            if code == "503":
                assert response["headers"]["Retry-After"]["required"], (method, path)
        if "security" in op:
            assert {"401", "503"} <= set(op["responses"]), (method, path)
    assert spec["components"]["securitySchemes"] == {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": spec["components"]["securitySchemes"]["bearer"]["description"],
        }
    }

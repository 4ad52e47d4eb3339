"""crm.http_problems' handlers on a bare app (no I/O): FastAPI's and Starlette's own refusals
and an unexpected exception answer problems, with the headers they carried."""

from typing import Annotated

import httpx
from fastapi import FastAPI, HTTPException, Query

from crm.http_problems import add_problem_handlers, invalid
from tests.support.problems import assert_problem


def app() -> FastAPI:
    served = FastAPI()
    add_problem_handlers(served)

    @served.get("/items")
    async def items(limit: Annotated[int, Query(ge=1)] = 1, when: str | None = None) -> dict[str, int]:
        if when == "bad":
            raise invalid(("query", "when"), "not an instant")
        if limit == 7:
            raise HTTPException(409, "seven is taken", headers={"X-Why": "taken"})
        if limit == 8:
            raise HTTPException(422, "eight cannot be located")
        if limit == 9:
            raise RuntimeError("a bug")
        return {"limit": limit}

    return served


async def call(method: str, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.request(method, path)


async def test_starlette_and_fastapi_refusals_are_problems() -> None:
    assert "/nowhere" in assert_problem(await call("GET", "/nowhere"), 404)["detail"]
    assert "POST" in assert_problem(await call("POST", "/items"), 405, {"allow": "GET"})["detail"]
    bad = assert_problem(await call("GET", "/items?limit=0"), 422)
    assert [(e["index"], e["field"]) for e in bad["errors"]] == [(0, "query.limit")]
    assert bad["detail"].startswith("query.limit: ")
    assert assert_problem(await call("GET", "/items?when=bad"), 422)["errors"] == [
        {"index": 0, "field": "query.when", "message": "not an instant"}
    ]


async def test_a_route_s_refusals_keep_their_headers_and_every_422_has_errors() -> None:
    assert assert_problem(await call("GET", "/items?limit=7"), 409, {"x-why": "taken"})["detail"] == "seven is taken"
    assert assert_problem(await call("GET", "/items?limit=8"), 422)["errors"] == []


async def test_an_unexpected_exception_is_a_500_problem_that_says_nothing_of_it() -> None:
    failed = assert_problem(await call("GET", "/items?limit=9"), 500)
    assert failed["detail"] == "internal error" and "bug" not in str(failed)

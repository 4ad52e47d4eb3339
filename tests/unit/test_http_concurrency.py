"""The concurrency limit's own answer (crm/http_concurrency.py): past the limit of connections or
requests in flight a problem+json 503 with Retry-After, and the connection closed; under it the
app, whose requests are counted while they run. The real servers: tests/e2e/test_slow_clients.py."""

import asyncio
import json

import pytest
from starlette.types import Message, Receive, Scope, Send

from crm.http_concurrency import ConcurrencyLimit, Load, uvicorn_backstop


class HeldApp:
    """Answers 200 once `release` is set; counts the requests it saw."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.seen = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen += 1
        if scope["type"] == "http":
            await self.release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


async def call(app: ConcurrencyLimit, scope_type: str = "http") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app({"type": scope_type, "path": "/v1/events"}, receive, send)
    return sent


def refused(sent: list[Message]) -> dict[str, object]:
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 503
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"retry-after"] == b"7"
    assert headers[b"connection"] == b"close"
    assert int(headers[b"content-length"]) == len(body["body"])
    problem: dict[str, object] = json.loads(body["body"])
    return problem


async def test_requests_past_the_limit_in_flight_get_a_json_503_until_one_ends() -> None:
    held, load = HeldApp(), Load(connections=1)
    app = ConcurrencyLimit(held, load, limit=2, retry_after=7)
    running = [asyncio.create_task(call(app)) for _ in range(2)]
    await asyncio.sleep(0)
    assert load.requests == 2

    problem = refused(await call(app))
    assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
    assert problem["instance"] == "/v1/events"
    assert "limit of 2" in str(problem["detail"]) and "retry later" in str(problem["detail"])
    assert held.seen == 2  # the third never reached the app

    held.release.set()
    assert [sent[0]["status"] for sent in await asyncio.gather(*running)] == [200, 200]
    assert load.requests == 0
    assert (await call(app))[0]["status"] == 200


async def test_more_open_connections_than_the_limit_get_a_json_503() -> None:
    held, load = HeldApp(), Load(connections=3)
    held.release.set()
    app = ConcurrencyLimit(held, load, limit=2, retry_after=7)
    refused(await call(app))
    load.connections = 2  # this request's own connection among them: still within the limit
    assert (await call(app))[0]["status"] == 200


async def test_a_failing_request_is_uncounted_and_the_lifespan_passes() -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("boom")

    load = Load()
    app = ConcurrencyLimit(failing, load, limit=1, retry_after=7)
    for _ in range(3):
        with pytest.raises(RuntimeError):
            await call(app)
    assert load.requests == 0

    held = HeldApp()
    load.requests = 5  # the lifespan is not an HTTP request: never refused
    await call(ConcurrencyLimit(held, load, limit=1, retry_after=7), "lifespan")
    assert held.seen == 1


def test_uvicorns_own_limit_is_a_net_above_ours() -> None:
    for limit in (1, 2, 100, 1000, 50_000):
        # uvicorn refuses at backstop connections (the request's own counted), ours past `limit`
        assert uvicorn_backstop(limit) > limit + 1

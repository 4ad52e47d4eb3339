"""Reading a request body: JSON only, with a size limit and a deadline, for every HTTP service.

A body larger than the limit is refused (413) as soon as that is known, before it is all read; a
body trickled in (a byte now and then) is cut after the deadline (408, connection closed), since
it holds a connection and its memory for as long as the client likes. A body in another media
type than JSON is refused (415). The gateway reads its body with `require_json` and
`read_limited` itself; the query API's writes do it through `LimitedBodyRoute`.
"""

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute
from starlette.types import Message, Receive

# The query API's bodies are small JSON objects (a snooze's `until`); nothing legitimate comes near.
QUERY_MAX_BODY_BYTES = 16 * 1024
_JSON = "application/json"


def require_json(request: Request) -> None:
    """415 unless the body is declared `application/json` (or `application/*+json`)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the body as {_JSON} (got {media_type or 'no content type'!r})",
        )


async def read_limited(request: Request, max_bytes: int, timeout: float) -> bytes:
    """The whole body, or 413 as soon as it is known to be larger than `max_bytes`, or 408 when
    it has not all arrived within `timeout` seconds (a body trickled in holds a connection)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                chunks.append(chunk)
    except TimeoutError:
        raise HTTPException(
            status.HTTP_408_REQUEST_TIMEOUT,
            f"the body did not arrive within {timeout:g} s; send it at once",
            headers={"Connection": "close"},
        ) from None
    return b"".join(chunks)


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is larger than {max_bytes} bytes")


class LimitedBodyRoute(APIRoute):
    """A route whose request body, whatever the method, is read with `read_limited` before FastAPI
    parses it: at most `QUERY_MAX_BODY_BYTES`, within the app's `settings.http_body_timeout`, and
    declared JSON (FastAPI refuses any other body too, but as a 422 about the body's shape).
    FastAPI's own read has none of these checks. (FastAPI reads a body before it resolves
    dependencies, so this is no earlier than without it.)"""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def limited(request: Request) -> Response:
            timeout: float = request.app.state.settings.http_body_timeout
            body = await read_limited(request, QUERY_MAX_BODY_BYTES, timeout)
            if body:
                require_json(request)
            return await handle(Request(request.scope, _replay(body, request.receive)))

        return limited


def _replay(body: bytes, then: Receive) -> Receive:
    """An ASGI `receive` that gives `body` whole, then what the server sends next (a disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await then()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive

"""Reading a request body with a size limit and a deadline, for every HTTP service.

A body larger than the limit is refused (413) as soon as that is known, before it is all read; a
body trickled in (a byte now and then) is cut after the deadline (408, connection closed), since
it holds a connection and its memory for as long as the client likes.
"""

import asyncio

from fastapi import HTTPException, Request, status


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

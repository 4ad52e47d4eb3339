"""Reading a request body safely: JSON only, and never more than the configured number of bytes."""

from fastapi import HTTPException, Request, status

_JSON = "application/json"


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the events as {_JSON} (got {media_type or 'no content type'!r})",
        )


async def read_limited(request: Request, max_bytes: int) -> bytes:
    """The whole body, or 413 as soon as it is known to be larger than `max_bytes`."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(max_bytes: int) -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"the body is larger than {max_bytes} bytes")

"""The gateway's request body: JSON only (its size limit and deadline: `crm.http_bodies`)."""

from fastapi import HTTPException, Request, status

_JSON = "application/json"


def require_json(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != _JSON and not (media_type.startswith("application/") and media_type.endswith("+json")):
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"send the events as {_JSON} (got {media_type or 'no content type'!r})",
        )

"""Every error answer of every HTTP service as an RFC 9457 problem (`application/problem+json`).

A problem has `type` (`about:blank` unless it is one of ours, a `tag:` URI), `title`, `status`
(the HTTP status), `detail` (a sentence for people) and `instance` (the request's path), plus
members of its own: a 422 (and the gateway's 403 and 409) locate each problem in `errors`
(`index`, the position in the request, 0 for a single item; `field`, a dotted path; `message`).
`add_problem_handlers` turns FastAPI's and Starlette's own refusals (404, 405, a bad parameter)
into problems; each service adds the handlers of its own errors with `problem_response`.
"""

from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import orjson
import structlog
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
# RFC 9110's names where Python's `HTTPStatus` (before 3.13) still has RFC 7231's.
_TITLES = {413: "Content Too Large", 416: "Range Not Satisfiable", 422: "Unprocessable Content"}
# At most this many located problems are spelled out in `detail`; `errors` has every one.
_DETAILED = 3


class LocatedProblem(BaseModel):
    index: int = Field(description="Position of the item in the request's array; 0 for a single item or a parameter")
    field: str = Field(description="Dotted path of the field, e.g. `payload.market` or `query.limit`")
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details; any other member is an extension of that problem type."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="`about:blank`, or a `tag:` URI naming one of our problem types")
    title: str = Field(description="The status's phrase, or the title of the problem type")
    status: int = Field(description="The HTTP status of the answer")
    detail: str = Field(description="What went wrong and what to do, for people")
    instance: str = Field(description="The path of the request")
    errors: list[LocatedProblem] = Field(
        default_factory=list, description="Every located problem (422 always; the gateway's 403 and 409)"
    )


def problem(status_code: int, detail: str, instance: str, **members: Any) -> dict[str, Any]:
    """The problem document of a request for `instance` (its path); `members` may override `type`
    and `title` or add extensions."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status_code) or HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "instance": instance,
    }
    return body | members


def problem_response(
    request: Request,
    status_code: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    **members: Any,
) -> Response:
    body = problem(status_code, detail, instance_of(request.scope), **members)
    return Response(orjson.dumps(body), status_code, dict(headers or {}), PROBLEM_JSON)


def instance_of(scope: Mapping[str, Any]) -> str:
    """The request's path as a URI reference (RFC 9457 `instance`): the server decoded it once,
    so it is encoded again; `/v1/events` stays as it is."""
    return quote(scope.get("path", ""), safe="/!$&'()*+,;=:@-._~")


def located(problems: Iterable[Mapping[str, Any]], *, indexed: bool = True) -> str:
    """A `detail` naming the first few located problems: `[2] payload.market: ...; and 3 more`
    (without the `[2]` unless `indexed`)."""
    listed = list(problems)
    shown = "; ".join(_where(p, indexed) + f"{p['field']}: {p['message']}" for p in listed[:_DETAILED])
    more = len(listed) - _DETAILED
    return shown + (f"; and {more} more" if more > 0 else "")


def _where(problem: Mapping[str, Any], indexed: bool) -> str:
    return f"[{problem['index']}] " if indexed else ""


def validation_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """FastAPI's validation errors as located problems (`query.limit`, `body.until`)."""
    return [{"index": 0, "field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in errors]


def invalid(location: tuple[str, ...], message: str) -> RequestValidationError:
    """A 422 located like FastAPI's own (`("query", "as_of")` is `query.as_of`), for a check of
    a parameter that FastAPI's validation cannot express."""
    return RequestValidationError([{"loc": location, "msg": message, "type": "value_error"}])


def _http_detail(request: Request, error: HTTPException) -> str:
    if isinstance(error.detail, str) and error.detail != HTTPStatus(error.status_code).phrase:
        return error.detail
    # Starlette's own 404 and 405 say only their phrase; say what was asked.
    if error.status_code == status.HTTP_404_NOT_FOUND:
        return f"nothing here: {request.url.path} (see /docs)"
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = (error.headers or {}).get("Allow", "")
        return f"{request.method} is not allowed on {request.url.path}" + (f"; allowed: {allowed}" if allowed else "")
    return str(error.detail)


def add_problem_handlers(app: FastAPI) -> None:
    """Starlette's HTTP errors (FastAPI's, unknown paths, wrong methods), FastAPI's validation
    errors and any other exception (a 500, logged with its traceback) as problems. Each service
    adds the handlers of its own errors."""

    @app.exception_handler(HTTPException)
    async def refused(request: Request, error: HTTPException) -> Response:
        # Every 422 has `errors`, even one a handler could not locate.
        members: dict[str, Any] = {"errors": []} if error.status_code == status.HTTP_422_UNPROCESSABLE_CONTENT else {}
        return problem_response(request, error.status_code, _http_detail(request, error), error.headers, **members)

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, error: RequestValidationError) -> Response:
        problems = validation_problems(error.errors())
        detail = located(problems, indexed=False)
        return problem_response(request, status.HTTP_422_UNPROCESSABLE_CONTENT, detail, errors=problems)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> Response:
        log.exception("http.failed", path=request.url.path, error=repr(error))
        return problem_response(request, status.HTTP_500_INTERNAL_SERVER_ERROR, "internal error")

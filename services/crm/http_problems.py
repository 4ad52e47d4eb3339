"""Error answers as RFC 9457 problem details (`application/problem+json`): `type`, `title`,
`status` and a `detail` for people, plus any members of the answer's own."""

from http import HTTPStatus
from typing import Any

import orjson
from fastapi.responses import Response

PROBLEM_JSON = "application/problem+json"


def problem(status_code: int, detail: str, **members: Any) -> dict[str, Any]:
    return {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        **members,
    }


def problem_response(status_code: int, detail: str, headers: dict[str, str] | None = None, **members: Any) -> Response:
    return Response(orjson.dumps(problem(status_code, detail, **members)), status_code, headers, PROBLEM_JSON)

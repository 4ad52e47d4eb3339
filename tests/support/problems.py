"""What every error answer of both HTTP services must be: an RFC 9457 problem (crm.http_problems).

`problem_faults` says what is wrong with one answer (nothing when it is right, or not an error);
`assert_problem` is it for the targeted tests, `problem_json` for schemathesis, as a check
(with schemathesis's own in `FUZZ_CHECKS`)."""

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

PROBLEM_JSON = "application/problem+json"
_TEXTS = ("type", "title", "detail", "instance")
_LOCATED = {"index": int, "field": str, "message": str}
_URI_REFERENCE = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")


def problem_faults(status: int, content_type: str | None, body: bytes, path: str) -> list[str]:
    """Every way the answer `status`, `content_type`, `body` to a request for `path` is not a
    valid problem; [] for a valid one and for any answer below 400."""
    if status < 400:
        return []
    if (content_type or "").split(";")[0].strip().lower() != PROBLEM_JSON:
        return [f"content type {content_type!r}, not {PROBLEM_JSON}"]
    try:
        problem = json.loads(body)
    except ValueError:
        return [f"not JSON: {body[:100]!r}"]
    if not isinstance(problem, dict):
        return [f"not a JSON object: {problem!r:.100}"]
    faults = [f"`{name}` missing or not a non-empty string" for name in _TEXTS if not _text(problem.get(name))]
    if problem.get("status") != status or isinstance(problem.get("status"), bool):
        faults.append(f"`status` {problem.get('status')!r} is not the HTTP status {status}")
    if _text(problem.get("instance")):
        instance = problem["instance"]
        if not _URI_REFERENCE.fullmatch(instance):
            faults.append(f"`instance` {instance!r:.200} is not a URI reference (RFC 3986 characters only)")
        elif unquote(instance) != unquote(path):
            faults.append(f"`instance` {instance!r:.200} is not the request's path {path!r:.200}")
    if status == 422 and "errors" not in problem:
        faults.append("a 422 without `errors`")
    if "errors" in problem:
        faults += _located_faults(problem["errors"])
    return faults


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def _located_faults(errors: Any) -> list[str]:
    if not isinstance(errors, list):
        return [f"`errors` is not an array: {errors!r:.100}"]
    faults = []
    for item in errors:
        if not isinstance(item, dict) or set(item) != set(_LOCATED):
            faults.append(f"`errors` item {item!r:.100} is not exactly {{index, field, message}}")
        elif not all(
            isinstance(item[name], kind) and not isinstance(item[name], bool) for name, kind in _LOCATED.items()
        ):
            faults.append(f"`errors` item {item!r:.100}: index an integer, field and message strings")
    return faults


def assert_problem(response: Any, status: int, headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`response` (httpx or requests) is a valid problem of `status` with `headers`; its body."""
    path = urlsplit(str(response.request.url)).path
    faults = problem_faults(response.status_code, response.headers.get("content-type"), response.content, path)
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert faults == [], (faults, response.text[:500])
    for name, value in (headers or {}).items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    body: dict[str, Any] = response.json()
    return body


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schemathesis check (`(ctx, response, case)`): an error answer is a valid problem."""
    path = urlsplit(response.request.url).path
    content_type = (response.headers.get("content-type") or [None])[0]
    faults = problem_faults(response.status_code, content_type, response.content, path)
    if faults:
        raise AssertionError(f"{response.status_code} is not a valid problem: {'; '.join(faults)}")
    return None


# What a fuzzed answer is held to: no 5xx, a status, media type, headers and body that the
# service's OpenAPI document declares for it, and for an error a valid problem.
FUZZ_CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    problem_json,
]

"""What the OpenAPI documents of both HTTP services say alike, added once over the generated
document instead of on each route: readable `operationId`s, every error answer as a problem
(`crm.http_problems`) with its headers, the 401 and 503 of a token check, the 413 and 415 of a
body, and the media types of the files a `format` parameter chooses.
"""

from collections.abc import Callable, Iterator, Mapping
from copy import deepcopy
from typing import Any

from fastapi.routing import APIRoute

from crm.http_problems import PROBLEM_JSON, ProblemDetails

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a `format` parameter's value answers in (the JSON answer is FastAPI's own).
FORMAT_MEDIA_TYPES = {"csv": "text/csv", "excel": "text/csv", "xlsx": XLSX}
_METHODS = ("get", "put", "post", "delete", "patch")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}
_VALIDATION_PROBLEM = {"$ref": "#/components/schemas/ValidationProblem"}

RETRY_AFTER = {
    "description": "Seconds to wait before retrying the same request",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}
WWW_AUTHENTICATE = {"description": "`Bearer`", "required": True, "schema": {"type": "string", "example": "Bearer"}}

# Refusals every operation of that kind can answer; a route declares its own (403, 404, 409).
_TOKEN_ERRORS = {
    "401": "No token, or an unknown or revoked one",
    "503": "A store it needs (PostgreSQL, Kafka) is unreachable; retry after `Retry-After` seconds",
}
_BODY_ERRORS = {
    "400": "A body that cannot be parsed at all (FastAPI's, for bytes that are not text)",
    "413": "A body larger than the service's limit",
    "415": "A body in another media type than application/json",
    "422": "A body or parameter that is not valid, every problem located in `errors`",
}
_PARAMETER_ERRORS = {"422": "A parameter that is not valid, every problem located in `errors`"}


def operation_ids(names: Mapping[str, str]) -> Callable[[APIRoute], str]:
    """FastAPI's `generate_unique_id_function`: the operationId of a route is its entry in
    `names` (by handler name), else the handler's name: `list_pilots`, not FastAPI's
    `get_pilots_v1_partners__partner_id__pilots_get`."""

    def operation_id(route: APIRoute) -> str:
        return names.get(route.name, route.name)

    return operation_id


def finish_openapi(
    schema: dict[str, Any],
    *,
    answered_headers: Mapping[str, Any] | None = None,
    page_headers: Mapping[str, Any] | None = None,
    file_types: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """`schema` (FastAPI's document) with the declarations of the module docstring.

    `answered_headers` are declared on the 2xx answers of operations that need a token,
    `page_headers` on those of operations with a `cursor` parameter, and `file_types` names, by
    operationId, the media types an operation's `format` chooses beyond FORMAT_MEDIA_TYPES.
    """
    document = deepcopy(schema)
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    schemas["ValidationProblem"] = {
        "description": "A 422: the problem, with every located problem in `errors`",
        "allOf": [_PROBLEM, {"type": "object", "required": ["errors"]}],
    }
    for operation in _operations(document):
        responses = operation.setdefault("responses", {})
        parameters = {p["name"]: p for p in operation.get("parameters", [])}
        if "security" in operation:
            _default(responses, _TOKEN_ERRORS)
            _headers(_successes(responses), answered_headers or {})
        if "requestBody" in operation:
            _default(responses, _BODY_ERRORS)
        elif parameters:
            _default(responses, _PARAMETER_ERRORS)
        if "cursor" in parameters:
            _headers(_successes(responses), page_headers or {})
        if "format" in parameters:
            chosen = [FORMAT_MEDIA_TYPES[v] for v in _values(parameters["format"]) if v in FORMAT_MEDIA_TYPES]
            _files(_successes(responses), [*chosen, *(file_types or {}).get(operation.get("operationId", ""), [])])
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400:
                _as_problem(code, response)
        operation["responses"] = dict(sorted(responses.items()))
    _prune(document)
    return document


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in document.get("paths", {}).values():
        for method in _METHODS:
            if method in item:
                yield item[method]


def _default(responses: dict[str, Any], descriptions: Mapping[str, str]) -> None:
    for code, description in descriptions.items():
        responses.setdefault(code, {"description": description})


def _successes(responses: dict[str, Any]) -> list[dict[str, Any]]:
    return [response for code, response in responses.items() if code.startswith("2")]


def _headers(responses: list[dict[str, Any]], headers: Mapping[str, Any]) -> None:
    for response in responses:
        for name, header in headers.items():
            response.setdefault("headers", {}).setdefault(name, header)


def _values(parameter: dict[str, Any]) -> list[str]:
    """The enum values of a parameter's schema, through `anyOf` (an optional one)."""
    found: list[str] = []
    pending = [parameter.get("schema", {})]
    while pending:
        node = pending.pop()
        found += node.get("enum", [])
        pending += node.get("anyOf", [])
    return found


def _files(responses: list[dict[str, Any]], media_types: list[str]) -> None:
    for response in responses:
        content = response.setdefault("content", {})
        for media_type in media_types:
            binary = not media_type.startswith("text/") and not media_type.endswith("json")
            content.setdefault(media_type, {"schema": {"type": "string", **({"format": "binary"} if binary else {})}})


def _as_problem(code: str, response: dict[str, Any]) -> None:
    response["content"] = {PROBLEM_JSON: {"schema": _VALIDATION_PROBLEM if code == "422" else _PROBLEM}}
    headers = response.setdefault("headers", {})
    if code == "401":
        headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    if code == "503":
        headers.setdefault("Retry-After", RETRY_AFTER)
    if not headers:
        del response["headers"]


def _prune(document: dict[str, Any]) -> None:
    """Drops the component schemas nothing refers to any more (FastAPI's HTTPValidationError,
    the models the routes named for their errors)."""
    schemas: dict[str, Any] = document["components"]["schemas"]
    reachable: set[str] = set()
    pending: list[Any] = [document.get("paths", {}), document.get("webhooks", {})]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
                name = ref.rsplit("/", 1)[1]
                if name not in reachable and name in schemas:
                    reachable.add(name)
                    pending.append(schemas[name])
            pending += node.values()
        elif isinstance(node, list):
            pending += node
    for name in list(schemas):
        if name not in reachable:
            del schemas[name]

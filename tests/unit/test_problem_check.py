"""The check that fuzzing and the targeted tests hold every error answer to (tests/support/problems.py):
it passes a valid problem and names what is wrong with anything else."""

from urllib.parse import quote, unquote

import orjson
import pytest

from crm.http_problems import instance_of, problem
from tests.support.problems import PROBLEM_JSON, problem_faults

PATH = "/v1/partners/tehnopol/pilots"
LOCATED = [{"index": 0, "field": "query.limit", "message": "Input should be a valid integer"}]


def body(**members: object) -> bytes:
    return orjson.dumps(problem(422, "query.limit: Input should be a valid integer", PATH, errors=LOCATED) | members)


def test_a_valid_problem_and_a_success_pass() -> None:
    assert problem_faults(422, PROBLEM_JSON, body(), PATH) == []
    assert problem_faults(403, f"{PROBLEM_JSON}; charset=utf-8", orjson.dumps(problem(403, "no", PATH)), PATH) == []
    assert problem_faults(200, "text/csv", b"a,b\r\n", PATH) == []
    encoded = "/v1/programmes/%C3%A1%23/reports"  # the path as sent, and the instance encoded again
    assert (
        problem_faults(404, PROBLEM_JSON, orjson.dumps(problem(404, "no", "/v1/programmes/%C3%A1%23/reports")), encoded)
        == []
    )


@pytest.mark.parametrize(
    ("status", "content_type", "sent", "fault"),
    [
        (422, "application/json", body(), "content type"),
        (404, PROBLEM_JSON, b"<html>", "not JSON"),
        (404, PROBLEM_JSON, b"[1]", "not a JSON object"),
        (401, PROBLEM_JSON, orjson.dumps({"detail": "a bearer token is required"}), "`type` missing"),
        (422, PROBLEM_JSON, body(status=400), "`status` 400"),
        (422, PROBLEM_JSON, body(status=True), "`status` True"),
        (422, PROBLEM_JSON, body(detail=""), "`detail` missing"),
        (422, PROBLEM_JSON, body(instance="/elsewhere"), "not the request's path"),
        (422, PROBLEM_JSON, body(instance="/v1/partners/tehnopol/pilots\x1d"), "not a URI reference"),
        (422, PROBLEM_JSON, orjson.dumps(problem(422, "bad", PATH)), "without `errors`"),
        (422, PROBLEM_JSON, body(errors={"field": "x"}), "not an array"),
        (422, PROBLEM_JSON, body(errors=[{"field": "x", "message": "y"}]), "not exactly"),
        (422, PROBLEM_JSON, body(errors=[{"index": "0", "field": "x", "message": "y"}]), "index an integer"),
    ],
)
def test_anything_else_is_named(status: int, content_type: str, sent: bytes, fault: str) -> None:
    faults = problem_faults(status, content_type, sent, PATH)
    assert any(fault in f for f in faults), faults


def test_the_instance_is_the_decoded_path_encoded_again() -> None:
    decoded = "/v1/programmes/\x1dá#?%/reports"  # as the server hands it over, decoded once
    instance = instance_of({"path": decoded})
    assert unquote(instance) == decoded
    assert problem_faults(404, PROBLEM_JSON, orjson.dumps(problem(404, "no", instance)), quote(decoded)) == []
    assert instance_of({"path": "/v1/events"}) == "/v1/events"

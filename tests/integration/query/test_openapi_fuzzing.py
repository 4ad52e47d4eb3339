"""schemathesis drives the query API's own OpenAPI document against a real `crm query run` on the
4SmartGrowth data, with every kind of token: never a 5xx, every answer as the document declares
it, every refusal a valid problem (tests/support/problems.py). A short run here; the fault suite
runs thousands of requests (tests/faults/test_hostile_input.py)."""

from pathlib import Path

import pytest

from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.query import load_4smartgrowth
from tests.support.query_fuzzing import fuzz_query_api, query_service

pytestmark = pytest.mark.infra

EXAMPLES = 300


async def test_generated_queries_get_declared_answers_and_errors_are_problems(
    isolated: Settings, tmp_path: Path
) -> None:
    await load_4smartgrowth(isolated)
    tokens = [(await create_token(isolated, partner))[1] for partner in ("tehnopol", "sisp", None)]
    with query_service(isolated, tmp_path / "query.log") as (url, _):
        seen = fuzz_query_api(url, [*tokens, None, "crm_0123456789abcdef_forged"], EXAMPLES)
    assert sum(n for status, n in seen.items() if status > 0) >= EXAMPLES
    assert {200, 401, 403, 422} <= set(seen), seen  # the fuzzing reached answers and refusals

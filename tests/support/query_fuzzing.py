"""schemathesis over the query API's own OpenAPI document, against a real `crm query run`.

Shared by the quick run in `make test` (tests/integration/query) and the long one in the fault
suite (tests/faults): every generated request must get an answer below 500, as the document
declares it (status, media type, headers, body), and every refusal a valid problem that says why
(tests/support/problems.py)."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from crm.local.processes import free_port, log_tail, wait_until
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.problems import FUZZ_CHECKS

PARTNERS_WITH_DATA = ["tehnopol", "sisp", "business-tampere", "turku-science-park", "vasteras-science-park"]


@contextmanager
def query_service(settings: Settings, log: Path, **env: str) -> Iterator[tuple[str, ServiceProcess]]:
    """`crm query run` on a free loopback port, ready; on exit, checks it never logged a traceback."""
    port = free_port()
    environment = service_environment(settings, CRM_QUERY_PORT=str(port), **env)
    with ServiceProcess("query", ["query", "run"], environment, log) as service:
        url = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/health", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        assert wait_until(ready, 90, interval=0.3) and service.alive(), log_tail(log)
        yield url, service
        assert service.alive(), log_tail(log)
    assert "Traceback" not in log.read_text(errors="replace"), log_tail(log)


def _partner_with_data(case: Any, partner: str) -> Any:
    """Generated partner ids are random slugs; steer some to a partner with data, to reach the queries."""
    if case.path_parameters and "partner_id" in case.path_parameters:
        case.path_parameters["partner_id"] = partner
    return case


def fuzz_query_api(url: str, tokens: list[str | None], examples: int) -> dict[int, int]:
    """`examples` generated requests over every operation; returns how many got each status."""
    schema = schemathesis.openapi.from_dict(httpx.get(f"{url}/openapi.json").json())
    cases = st.one_of(
        st.tuples(schema.as_strategy(GenerationMode.POSITIVE), st.sampled_from(PARTNERS_WITH_DATA)).map(
            lambda pair: _partner_with_data(*pair)
        ),
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
    )
    seen: dict[int, int] = {}
    client = requests.Session()  # schemathesis calls through requests; one keep-alive connection

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=cases, token=st.sampled_from(tokens))
    def one_request(case: Any, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = case.call(base_url=url, headers=headers, session=client)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=FUZZ_CHECKS, headers=headers)

    started = time.monotonic()
    try:
        one_request()
    finally:
        client.close()
    seen[-1] = int(time.monotonic() - started)  # seconds, for the report only
    return seen

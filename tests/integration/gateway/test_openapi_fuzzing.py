"""schemathesis drives the gateway's own OpenAPI document against a real `crm gateway run`:
valid and invalid bodies, headers and content; never a 5xx, every answer as the document declares
it, every error a valid problem (tests/support/problems.py)."""

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.isolation import isolated_settings
from tests.support.problems import FUZZ_CHECKS

pytestmark = pytest.mark.infra

EXAMPLES_PER_MODE = 150


@pytest.fixture(scope="module")
def gateway_url(infrastructure: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    isolated = asyncio.run(isolated_settings(infrastructure))
    _, token = asyncio.run(create_token(isolated, "tehnopol"))
    port = free_port()
    env = service_environment(isolated, CRM_GATEWAY_PORT=str(port), CRM_GATEWAY_MAX_BODY_BYTES="65536")
    log = Path(tmp_path_factory.mktemp("gateway")) / "gateway.log"
    with ServiceProcess("gateway", ["gateway", "run"], env, log) as service:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and service.alive():
            try:
                if httpx.get(f"{url}/ready").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url, token
        assert service.alive(), log.read_text()[-3000:]
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]


def own_partner(case: Any) -> Any:
    """Valid generated events name random partners; make most of them ours so 202 is exercised too."""
    events = case.body if isinstance(case.body, list) else [case.body]
    for event in events:
        if isinstance(event, dict) and isinstance(event.get("partner_id"), str):
            event["partner_id"] = "tehnopol"
    return case


def test_every_generated_request_gets_a_declared_answer_and_errors_are_problems(gateway_url: tuple[str, str]) -> None:
    url, token = gateway_url
    schema = schemathesis.openapi.from_dict(httpx.get(f"{url}/openapi.json").json())
    events = schema["/v1/events"]["POST"]
    cases = st.one_of(
        events.as_strategy(GenerationMode.POSITIVE).map(own_partner),
        events.as_strategy(GenerationMode.POSITIVE),
        events.as_strategy(GenerationMode.NEGATIVE),
    )
    seen: dict[int, int] = {}

    @settings(
        max_examples=EXAMPLES_PER_MODE * 3,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=cases, authorised=st.booleans() | st.just(True))
    def check(case: Any, authorised: bool) -> None:
        headers = {"Authorization": f"Bearer {token}"} if authorised else {}
        response = case.call(base_url=url, headers=headers)
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        case.validate_response(response, checks=FUZZ_CHECKS, headers=headers)

    check()
    for path in ("/health", "/ready"):
        assert httpx.get(f"{url}{path}").status_code == 200
    assert {202, 401, 422} <= set(seen), seen  # the fuzzing reached both the accepting and the refusing paths

"""Through the whole pipeline: events → Kafka → projector process → PostgreSQL → `crm query run` over HTTP."""

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import pytest

from crm.contract.decoding import decode_event
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.publisher import EventPublisher
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.gateway import create_token

pytestmark = pytest.mark.infra


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for(client: httpx.AsyncClient, path: str, token: str, done: object, timeout: float = 90) -> dict:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
            last = response.json() if response.status_code == 200 else response.text
            if response.status_code == 200 and done(last):  # type: ignore[operator]
                return last  # type: ignore[return-value]
        except httpx.TransportError as error:
            last = repr(error)
        await asyncio.sleep(0.5)
    raise AssertionError(f"{path} never got there; last answer: {last}")


async def test_events_through_kafka_and_the_projector_are_served_by_crm_query_run(
    isolated: Settings, tmp_path: Path
) -> None:
    settings = isolated.model_copy(update={"query_port": free_port(), "query_freshness_seconds": 0.5})
    _, partner_token = await create_token(settings, "tehnopol")
    _, analyst_token = await create_token(settings, None)
    history = [
        envelope("SMESelected", occurred_at="2020-01-10T09:00:00Z"),
        envelope("MeetingHeld", occurred_at="2020-02-10T09:00:00Z"),
        envelope("PilotOpened", occurred_at="2020-03-10T09:00:00Z"),
        envelope("AgreementSigned", occurred_at="2020-04-10T09:00:00Z"),
        envelope("SMESelected", partner_id="sisp", sme_id="si-one", occurred_at="2020-01-12T09:00:00Z"),
    ]
    events = [decode_event(json.dumps(body)) for body in history]
    env = service_environment(settings)
    with (
        ServiceProcess("projector", ["projector", "run"], env, tmp_path / "projector.log") as projector,
        ServiceProcess("query", ["query", "run"], env, tmp_path / "query.log") as query,
    ):
        async with EventPublisher(settings.kafka, settings.events_topic) as publisher:
            await publisher.publish(events)
        base = f"http://{settings.bind_host}:{settings.query_port}"
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            status = await wait_for(
                client,
                "/v1/status",
                analyst_token,
                lambda s: s["newest_event_at"] == "2020-04-10T09:00:00Z" and s["projector_lag"] == 0,
            )
            assert status["last_applied_at"] is not None
            own = (await client.get("/v1/status", headers=_auth(partner_token))).json()
            assert own["scope"] == "partner" and own["newest_event_at"] == "2020-04-10T09:00:00Z"
            assert own["projector_lag"] is None  # a topic partition's lag is not one partner's
            funnel = await wait_for(
                client, "/v1/partners/tehnopol/funnel", partner_token, lambda f: f["stages"]["agreement"] == 1
            )
            assert funnel["stages"] == {"selected": 1, "trained": 1, "met": 1, "piloting": 1, "agreement": 1}
            assert funnel["by_market"] == {"CN": {"met": 1, "piloting": 1, "agreement": 1}}
            pilots = (await client.get("/v1/partners/tehnopol/pilots?status=open", headers=_auth(partner_token))).json()
            assert [p["pilot_id"] for p in pilots["items"]] == ["p-17"]
            other = await client.get("/v1/partners/sisp/smes", headers=_auth(partner_token))
            assert other.status_code == 403
            kpis = await client.get("/v1/programme/kpis?format=csv", headers=_auth(analyst_token))
            assert kpis.status_code == 200 and kpis.headers["x-crm-projector-lag"] == "0"
            assert kpis.text.splitlines()[1].startswith("(programme),2,0,1,CN")
            assert (await client.get("/")).status_code == 200
        assert projector.alive() and query.alive(), (tmp_path / "query.log").read_text()[-3000:]

    # `crm sql grant` prints a connection URL once; that login sees tehnopol's rows only. It needs
    # the administrator's URL, which the services are never given.
    assert "CRM_DATABASE_ADMIN_URL" not in env
    admin_env = {**env, "CRM_DATABASE_ADMIN_URL": settings.database_admin_url or ""}
    role = f"crm_e2e_{int(time.time() * 1000) % 10**9}"
    granted = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crm.cli", "sql", "grant", "--partner", "tehnopol", "--role", role],
        env=admin_env,
        capture_output=True,
        text=True,
        check=True,
    )
    dsn = granted.stdout.strip()
    connection = await asyncpg.connect(dsn)
    try:
        assert await connection.fetchval("SELECT array_agg(DISTINCT partner_id) FROM reporting.smes") == ["tehnopol"]
    finally:
        await connection.close()
    revoked = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "crm.cli", "sql", "revoke", "--role", role],
        env=admin_env,
        capture_output=True,
        text=True,
    )
    assert revoked.returncode == 0, revoked.stderr


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

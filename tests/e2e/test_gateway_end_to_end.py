"""Through a real `crm gateway run` (uvicorn) and a projector: tokens from the CLI, a retried
request counted once downstream, a revoked token refused."""

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.gateway.client import EventsClient
from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.events import envelope

pytestmark = pytest.mark.infra


def crm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crm.cli", *args], env=env, capture_output=True, text=True, check=True)


async def wait_healthy(url: str, service: ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline and service.alive():
            try:
                if (await client.get(f"{url}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise AssertionError(f"gateway not ready: {service.log_path.read_text()[-3000:]}")


async def applied_count(settings: Settings, expected: int, timeout: float = 60) -> int:
    engine = create_engine(settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with engine.connect() as connection:
                count = int((await connection.execute(select(func.count()).select_from(applied_events))).scalar_one())
            if count >= expected or time.monotonic() > deadline:
                return count
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


async def test_gateway_process_tokens_cli_retries_and_revocation(isolated: Settings, tmp_path: Path) -> None:
    port = free_port()
    env = service_environment(isolated, CRM_GATEWAY_PORT=str(port), CRM_TOKEN_CACHE_SECONDS="0")
    created = crm(env, "tokens", "create", "--partner", "tehnopol", "--label", "e2e")
    token = created.stdout.strip()
    assert created.stdout == token + "\n" and token.startswith("crm_")
    listing = crm(env, "tokens", "list").stdout
    token_id = token.split("_")[1]
    assert token_id in listing and "tehnopol" in listing and token not in listing

    url = f"http://127.0.0.1:{port}"
    events = [envelope("SMEWithdrawn", {}, sme_id=f"sme-{i}") for i in range(3)]
    with (
        ServiceProcess("gateway", ["gateway", "run"], env, tmp_path / "gateway.log") as gateway,
        ServiceProcess("projector", ["projector", "run"], env, tmp_path / "projector.log"),
    ):
        await wait_healthy(url, gateway)
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
            first = await client.post("/v1/events", json=events)
            retried = await client.post("/v1/events", json=events)  # the partner did not see the first 202
            assert (first.status_code, retried.status_code) == (202, 202)
            assert await applied_count(isolated, 3) == 3
            await asyncio.sleep(1.0)  # room for the duplicates to (not) land
            assert await applied_count(isolated, 3) == 3

            with EventsClient(url, token) as partner:  # the copyable client, same event ids again
                assert await asyncio.to_thread(partner.send_many, events) == 3
                assert await asyncio.to_thread(partner.send, events[0]) == 1
            assert await applied_count(isolated, 3) == 3

            crm(env, "tokens", "revoke", token_id)
            assert (await client.post("/v1/events", json=events[:1])).status_code == 401
    log = (tmp_path / "gateway.log").read_text()
    assert token not in log
    (line,) = [line for line in crm(env, "tokens", "list").stdout.splitlines() if line.startswith(token_id)]
    assert "\tactive\t" not in line

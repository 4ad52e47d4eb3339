"""Every service as a process answers /metrics, /health and /ready, and one request id is followed
from the gateway's answer to the gateway's log line and the projector's line for its batch."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.alerts import alerts_service
from tests.support.events import envelope
from tests.support.gateway import create_token

pytestmark = pytest.mark.infra


def log_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text(errors="replace").splitlines() if path.exists() else []:
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue  # a line of a library that writes past the logging set-up
    return lines


async def until_logged(path: Path, wanted: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in await asyncio.to_thread(log_lines, path) if wanted(line)]
        if found:
            return found[0]
        await asyncio.sleep(0.2)
    tail = (await asyncio.to_thread(path.read_text))[-3000:]
    raise AssertionError(f"{path.name}: no such line; last lines:\n{tail}")


async def until_ready(client: httpx.AsyncClient, url: str, service: ServiceProcess, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.alive():
        try:
            if (await client.get(f"{url}/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    tail = (await asyncio.to_thread(service.log_path.read_text))[-3000:]
    raise AssertionError(f"{service.name} not ready: {tail}")


async def test_every_service_answers_the_probes_and_a_request_id_reaches_the_projectors_log(
    isolated: Settings, tmp_path: Path
) -> None:
    gateway_port, projector_port, alerts_port = free_port(), free_port(), free_port()
    _, token = await create_token(isolated, "tehnopol")
    gateway_env = service_environment(isolated, CRM_GATEWAY_PORT=str(gateway_port), CRM_LOG_LEVEL="debug")
    projector_env = service_environment(isolated, CRM_PROJECTOR_OPERATIONS_PORT=str(projector_port))
    gateway_url, projector_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{projector_port}"
    alerts_url = f"http://127.0.0.1:{alerts_port}"
    with (
        ServiceProcess("gateway", ["gateway", "run"], gateway_env, tmp_path / "gateway.log") as gateway,
        ServiceProcess("projector", ["projector", "run"], projector_env, tmp_path / "projector.log") as projector,
        alerts_service(isolated, tmp_path, CRM_ALERTS_OPERATIONS_PORT=str(alerts_port)) as alerts,
    ):
        async with httpx.AsyncClient(timeout=10) as client:
            await until_ready(client, gateway_url, gateway)
            await until_ready(client, projector_url, projector)
            sent = await client.post(
                f"{gateway_url}/v1/events",
                json=envelope("SMEWithdrawn", {}, sme_id="sme-traced"),
                headers={"Authorization": f"Bearer {token}"},
            )
            assert sent.status_code == 202
            request_id = sent.headers["x-request-id"]

            batch = await until_logged(
                projector.log_path,
                lambda line: line.get("event") == "projector.batch_applied" and request_id in line["request_ids"],
            )
            assert batch["applied"] == 1 and batch["level"] == "info"
            accepted = await until_logged(
                gateway.log_path, lambda line: line.get("event") == "events.accepted" and line.get("request_id")
            )
            assert (accepted["request_id"], accepted["partner_id"]) == (request_id, "tehnopol")

            for url in (gateway_url, projector_url):
                assert (await client.get(f"{url}/health")).json() == {"status": "ok"}
            projector_ready = await client.get(f"{projector_url}/ready")
            assert projector_ready.json() == {
                "status": "ready",
                "kafka": "reachable",
                "database": "reachable",
                "schema": "current",
            }
            scraped = (await client.get(f"{projector_url}/metrics")).text
            assert "crm_projector_events_applied_total 1.0" in scraped
            assert "crm_projector_batches_total" in scraped and "crm_projector_partition_lag{partition=" in scraped
            assert (
                'crm_http_requests_total{method="POST",route="/v1/events",status="202"} 1.0'
                in (await client.get(f"{gateway_url}/metrics")).text
            )

            await until_ready(client, alerts_url, alerts)
            assert (await client.get(f"{alerts_url}/health")).json() == {"status": "ok"}
            assert (await client.get(f"{alerts_url}/ready")).json()["table"] == "recovered"
            scraped = (await client.get(f"{alerts_url}/metrics")).text
            assert "crm_alerts_open 0.0" in scraped and "crm_alerts_webhook_backlog 0.0" in scraped

"""The services as users run them (`crm gateway run`, `crm query run`, `crm projector run`,
`crm alerts run`): they listen on loopback only, and no token reaches any log, at debug level,
through accepted requests and every refusal (401, 403, 404, 413, 422, 503).

The fault suite checks the logs of its own load for the tokens too (kills, outages: more 503s)."""

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from crm.local.processes import free_port, wait_until
from crm.local.services import ServiceProcess, service_environment
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.security import is_loopback, listening_sockets, secrets_in_files, token_secrets

pytestmark = pytest.mark.infra


def crm(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crm.cli", *args], env=env, capture_output=True, text=True, check=True)


def wait_ready(url: str, service: ServiceProcess) -> None:
    def ready() -> bool:
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    assert wait_until(ready, 90, interval=0.3) and service.alive(), service.log_path.read_text()[-3000:]


def test_the_checker_sees_a_socket_that_listens_beyond_loopback() -> None:
    """So that the loopback checks below can fail: a socket of this process on every interface."""
    probe = socket.socket()
    try:
        probe.bind(("0.0.0.0", 0))  # never accepts; closed at once
        probe.listen(0)
        port = probe.getsockname()[1]
        mine = [address for address, _ in listening_sockets(None) if address.endswith(f":{port}")]
        assert mine == [f"0.0.0.0:{port}"] and not is_loopback(mine[0])
    finally:
        probe.close()


def test_services_listen_on_loopback_only_and_never_log_a_token(isolated: Settings, tmp_path: Path) -> None:
    gateway_port, query_port = free_port(), free_port()
    env = service_environment(
        isolated,
        CRM_GATEWAY_PORT=str(gateway_port),
        CRM_QUERY_PORT=str(query_port),
        CRM_GATEWAY_MAX_BODY_BYTES="65536",
        CRM_TOKEN_CACHE_SECONDS="0",  # every request looks its token up
        CRM_LOG_LEVEL="debug",
        CRM_LOG_FORMAT="json",
    )
    env.pop("CRM_BIND_HOST", None)  # the default, as a user gets it
    created = {name: crm(env, "tokens", "create", *args) for name, args in [
        ("tehnopol", ["--partner", "tehnopol"]),
        ("sisp", ["--partner", "sisp"]),
        ("analyst", ["--analyst"]),
        ("revoked", ["--partner", "tehnopol"]),
    ]}  # fmt: skip
    tokens = {name: result.stdout.strip() for name, result in created.items()}
    for result in created.values():
        assert result.stderr.count(result.stdout.strip()) == 0, "the token is shown on stdout only"
    crm(env, "tokens", "revoke", tokens["revoked"].split("_")[1])
    own, other, analyst = tokens["tehnopol"], tokens["sisp"], tokens["analyst"]
    token_id, secret = own.split("_")[1], own.split("_", 2)[2]
    wrong_secret = f"crm_{token_id}_{secret[::-1]}"
    logs = tmp_path / "logs"
    dead_kafka = service_environment(
        isolated, CRM_GATEWAY_PORT=str(free_port()), CRM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        CRM_GATEWAY_PUBLISH_TIMEOUT="1", CRM_TOKEN_CACHE_SECONDS="0", CRM_LOG_LEVEL="debug", CRM_LOG_FORMAT="json",
    )  # fmt: skip
    dead_kafka.pop("CRM_BIND_HOST", None)
    with (
        ServiceProcess("gateway", ["gateway", "run"], env, logs / "gateway.log") as gateway,
        ServiceProcess("query", ["query", "run"], env, logs / "query.log") as query,
        ServiceProcess("projector", ["projector", "run"], env, logs / "projector.log") as projector,
        ServiceProcess("alerts", ["alerts", "run"], env, logs / "alerts.log") as alerts,
        ServiceProcess("gateway-no-kafka", ["gateway", "run"], dead_kafka, logs / "gateway-no-kafka.log") as orphan,
    ):
        gateway_url, query_url = f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{query_port}"
        wait_ready(f"{gateway_url}/ready", gateway)
        wait_ready(f"{query_url}/health", query)
        orphan_url = f"http://127.0.0.1:{dead_kafka['CRM_GATEWAY_PORT']}"
        wait_ready(f"{orphan_url}/health", orphan)

        statuses: dict[str, set[int]] = {"gateway": set(), "query": set()}
        good = [envelope("SMESelected", sme_id=f"sme-{n}") for n in range(3)]

        def post(token: str | None, body: object, *, url: str = gateway_url, **headers: str) -> None:
            if token is not None:
                headers.setdefault("Authorization", f"Bearer {token}")
            response = httpx.post(f"{url}/v1/events", json=body, headers=headers, timeout=10)
            statuses["gateway"].add(response.status_code)

        post(own, good)  # 202
        post(own, good)  # 202 again, same ids
        post(own, [envelope("SMESelected", partner_id="sisp")])  # 403
        post(analyst, good)  # 403
        post(own, [{**envelope("MeetingHeld"), "payload": {"market": own}}])  # 422, the token as a field value
        post(own, [envelope("SMESelected", sme_id=f"s{n}") for n in range(2000)])  # 413
        for bad in (wrong_secret, tokens["revoked"], own.upper(), own + "x", f"{own} {own}"):
            post(bad, good)  # 401
        post(None, good, Authorization=f"Basic {base64.b64encode(f'{own}:'.encode()).decode()}")  # 401
        post(None, good, Authorization=own)  # 401: no scheme
        httpx.post(f"{gateway_url}/v1/events?token={own}", json=good, timeout=10)  # 401, token in the URL
        post(own, good, url=orphan_url)  # 503: Kafka away
        for token in (own, other, analyst, wrong_secret, tokens["revoked"]):
            for path in (
                "/v1/partners/tehnopol/smes",
                "/v1/partners/tehnopol/smes/no-such-sme",
                "/v1/partners/sisp/pilots?format=csv",
                "/v1/programme/kpis",
                "/v1/partners/tehnopol/pilots?limit=0",
                f"/v1/partners/tehnopol/smes?cursor={own}",
                "/v1/me",
            ):
                response = httpx.get(f"{query_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
                statuses["query"].add(response.status_code)
        assert statuses["gateway"] >= {202, 401, 403, 413, 422, 503}, statuses
        assert statuses["query"] >= {200, 400, 401, 403, 404, 422}, statuses

        # Listening sockets, while everything runs: the HTTP services have theirs, all on loopback.
        for service in (gateway, query, projector, alerts, orphan):
            assert service.pid is not None and service.alive(), service.log_path.read_text()[-3000:]
            addresses = [address for address, _ in listening_sockets(service.pid)]
            assert all(is_loopback(address) for address in addresses), (service.name, addresses)
            if service.name.startswith("gateway") or service.name == "query":
                assert addresses, f"{service.name}: no listening socket found (the check would be vacuous)"
        everything = [address for address, _ in listening_sockets(None)]
        for server in (isolated.kafka_bootstrap or "", urlsplit(isolated.database_url or "").netloc.split("@")[-1]):
            port = server.rsplit(":", 1)[1]
            mine = [address for address in everything if address.endswith(f":{port}")]
            assert mine and all(is_loopback(address) for address in mine), (server, mine)
    paths = sorted(logs.glob("*.log"))
    assert len(paths) == 5 and all(path.stat().st_size > 0 for path in paths)
    assert any(json.loads(line).get("status") == 422 for line in (logs / "gateway.log").read_text().splitlines()
               if line.startswith("{"))  # fmt: skip
    secrets = [s for token in tokens.values() for s in token_secrets(token)] + [wrong_secret]
    assert secrets_in_files(paths, secrets) == []

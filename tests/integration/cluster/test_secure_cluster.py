"""The pipeline on a three-broker cluster that only speaks SASL_SSL (SCRAM-SHA-512): topics with
three replicas and `min.insync.replicas` 2, the gateway's events through the projector to the
query API, each service reaching Kafka with the security settings alone."""

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaConnectionError, KafkaError

from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import KafkaConnection, client_options
from crm.messaging.topic_admin import contract_topics
from crm.settings import Settings
from tests.support.alerts import AlertReader, alerts_service, count, day, describe, pilot_event, publish
from tests.support.events import envelope
from tests.support.gateway import create_token
from tests.support.kafka_cluster import SecureCluster
from tests.support.pipeline import wait_until_applied

pytestmark = pytest.mark.infra


async def test_the_contract_topics_get_three_replicas_and_min_insync_2(on_cluster: Settings) -> None:
    admin = AIOKafkaAdminClient(**client_options(on_cluster.kafka))
    await admin.start()
    try:
        names = [t.name for t in contract_topics(on_cluster)]
        described = await admin.describe_topics(names)
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    finally:
        await admin.close()
    assert {len(p["replicas"]) for t in described for p in t["partitions"]} == {3}
    min_insync = {
        resource[3]: entry[1]
        for response in responses
        for resource in response.resources
        for entry in resource[4]
        if entry[0] == "min.insync.replicas"
    }
    assert min_insync == dict.fromkeys(names, "2")


async def test_a_client_without_the_credentials_is_not_let_in(secure_cluster: SecureCluster) -> None:
    plaintext = AIOKafkaAdminClient(
        **client_options(KafkaConnection(secure_cluster.cluster.bootstrap)), request_timeout_ms=3000
    )
    with pytest.raises((KafkaConnectionError, KafkaError, OSError)):
        await plaintext.start()
    await plaintext.close()


async def test_events_through_the_gateway_and_the_projector_are_served_by_the_query_api(
    on_cluster: Settings, tmp_path: Path
) -> None:
    settings = on_cluster.model_copy(update={"gateway_port": free_port(), "query_port": free_port()})
    _, partner = await create_token(settings, "tehnopol")
    _, analyst = await create_token(settings, None)
    env = service_environment(settings)
    assert settings.kafka_sasl_password is None and "CRM_KAFKA_SASL_PASSWORD_FILE" in env  # the file, no secret
    history = [
        envelope("SMESelected", occurred_at="2020-01-10T09:00:00Z"),
        envelope("MeetingHeld", occurred_at="2020-02-10T09:00:00Z"),
        envelope("PilotOpened", occurred_at="2020-03-10T09:00:00Z"),
    ]
    gateway_url = f"http://{settings.bind_host}:{settings.gateway_port}"
    query_url = f"http://{settings.bind_host}:{settings.query_port}"
    with (
        ServiceProcess("projector", ["projector", "run"], env, tmp_path / "projector.log") as projector,
        ServiceProcess("gateway", ["gateway", "run"], env, tmp_path / "gateway.log") as gateway,
        ServiceProcess("query", ["query", "run"], env, tmp_path / "query.log") as query,
    ):
        async with httpx.AsyncClient(timeout=10) as client:
            await _until_ready(client, f"{gateway_url}/ready", gateway)
            accepted = await client.post(
                f"{gateway_url}/v1/events", json=history, headers={"Authorization": f"Bearer {partner}"}
            )
            assert accepted.status_code == 202, accepted.text
            assert await wait_until_applied(settings, len(history)) == len(history)
            await _until_ready(client, f"{query_url}/v1/status", query, token=analyst)
            funnel = (
                await client.get(
                    f"{query_url}/v1/partners/tehnopol/funnel", headers={"Authorization": f"Bearer {partner}"}
                )
            ).json()
            assert funnel["stages"]["piloting"] == 1
            # The query API's lag probe reaches the cluster too: the lag is known, and comes to 0.
            assert await _projector_lag_once_settled(client, f"{query_url}/v1/status", analyst) == 0
        assert projector.alive() and gateway.alive() and query.alive()


async def _until_ready(
    client: httpx.AsyncClient, url: str, service: ServiceProcess, *, token: str | None = None, timeout: float = 90
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and service.alive():
        try:
            if (await client.get(url, headers=headers)).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.3)
    raise AssertionError(f"{service.name} not ready: {service.log_path.read_text()[-3000:]}")


async def _projector_lag_once_settled(client: httpx.AsyncClient, url: str, token: str, timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while True:
        lag = (await client.get(url, headers={"Authorization": f"Bearer {token}"})).json()["projector_lag"]
        if lag == 0 or time.monotonic() > deadline:
            return lag
        await asyncio.sleep(0.3)


async def test_the_alerts_service_and_its_faust_app_work_over_sasl_ssl(on_cluster: Settings, tmp_path: Path) -> None:
    """Faust (the pilot table and its changelog) gets the credentials through `broker_credentials`:
    a pilot idle since 2020 is alerted on the wall clock, the alert published by Faust's producer."""
    with alerts_service(on_cluster, tmp_path) as service:
        async with AlertReader(on_cluster) as reader:
            await publish(on_cluster, pilot_event("PilotOpened", day(0), "p-idle"))
            seen = await reader.until(lambda alerts: count(alerts, "PilotStalled", "p-idle") == 1)
        assert describe(seen) == [("PilotStalled", "tehnopol", "p-idle")]
        assert service.alive(), service.log_path.read_text()[-3000:]
    admin = AIOKafkaAdminClient(**client_options(on_cluster.kafka))
    await admin.start()
    try:
        [changelog] = await admin.describe_topics([f"{on_cluster.alerts_group}-pilots-changelog"])
    finally:
        await admin.close()
    assert {len(p["replicas"]) for p in changelog["partitions"]} == {3}

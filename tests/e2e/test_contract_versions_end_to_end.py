"""Versions 1 and 2 through the real gateway, Kafka and projector (issue 14): the same facts sent
mixed, in both versions (in one request too), give the same read models as sent in version 2
only; the log keeps each event as it was written. (`crm dlq replay` of a version-1 message:
`test_projector_operations.py::test_dead_letters_are_listed_and_replayed_once`.)"""

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from crm.contract.decoding import decode_event, encode_event
from crm.contract.events import DomainEvent
from crm.local.processes import free_port
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import client_options
from crm.settings import Settings
from tests.e2e.test_gateway_end_to_end import wait_healthy
from tests.support.gateway import create_token
from tests.support.histories import PARTNERS, history
from tests.support.isolation import isolated_settings
from tests.support.pipeline import read_models, wait_until_applied
from tests.support.reference import reference_models

pytestmark = pytest.mark.infra

PROGRAMME = "4smartgrowth"


def _as_version(event: DomainEvent, version: int) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(encode_event(event))  # the history is written in version 1
    assert body["schema_version"] == 1
    if version == 2:
        body = {**body, "schema_version": 2, "programme_id": PROGRAMME}
    return body


async def _send(settings: Settings, tmp_path: Path, bodies: list[dict[str, Any]]) -> None:
    """Every body through a real gateway process, per partner in requests of 25."""
    port = free_port()
    env = service_environment(settings, CRM_GATEWAY_PORT=str(port), CRM_DEFAULT_PROGRAMME=PROGRAMME)
    tokens = {partner: (await create_token(settings, partner))[1] for partner in PARTNERS}
    url = f"http://127.0.0.1:{port}"
    with (
        ServiceProcess("gateway", ["gateway", "run"], env, tmp_path / "gateway.log") as gateway,
        ServiceProcess("projector", ["projector", "run"], env, tmp_path / "projector.log") as projector,
    ):
        await wait_healthy(url, gateway)
        async with httpx.AsyncClient(base_url=url) as client:
            for partner in PARTNERS:
                mine = [body for body in bodies if body["partner_id"] == partner]
                for start in range(0, len(mine), 25):
                    response = await client.post(
                        "/v1/events",
                        json=mine[start : start + 25],
                        headers={"Authorization": f"Bearer {tokens[partner]}"},
                    )
                    assert response.status_code == 202, response.text
        distinct = len({(body["partner_id"], body["event_id"]) for body in bodies})
        assert await wait_until_applied(settings, distinct) == distinct
        assert projector.alive() and gateway.alive()


async def _versions_on_the_log(settings: Settings) -> dict[int, int]:
    consumer = AIOKafkaConsumer(settings.events_topic, **client_options(settings.kafka), auto_offset_reset="earliest")
    await consumer.start()
    counts: dict[int, int] = {}
    try:
        while batch := await consumer.getmany(timeout_ms=2000):
            for records in batch.values():
                for record in records:
                    version = json.loads(record.value or b"")["schema_version"]
                    counts[version] = counts.get(version, 0) + 1
    finally:
        await consumer.stop()
    return counts


async def test_mixed_version_1_and_2_traffic_gives_the_figures_of_version_2_alone(
    infrastructure: Settings, tmp_path: Path
) -> None:
    events = history(seed=14, smes=24)
    mixed = [_as_version(event, 1 + n % 2) for n, event in enumerate(events)]
    only_v2 = [_as_version(event, 2) for event in events]
    mixed_settings = await isolated_settings(infrastructure)
    v2_settings = await isolated_settings(infrastructure)  # one after the other: Alembic's context is global
    await _send(mixed_settings, tmp_path / "mixed", mixed)
    await _send(v2_settings, tmp_path / "v2", only_v2)

    # Version-1 events are in the deployment's default programme (CRM_DEFAULT_PROGRAMME), the one
    # the version-2 copies name: every SME is in it, whichever version its events came in.
    expected = reference_models([decode_event(json.dumps(body)) for body in only_v2])
    assert {row["programme_id"] for row in expected["smes"].values()} == {PROGRAMME}
    assert await read_models(mixed_settings) == await read_models(v2_settings) == expected
    ones = sum(1 for body in mixed if body["schema_version"] == 1)
    assert 0 < ones < len(mixed)
    # Each event on the log as it was written: version 1 as version 1, nothing rewritten.
    assert await _versions_on_the_log(mixed_settings) == {1: ones, 2: len(mixed) - ones}
    assert await _versions_on_the_log(v2_settings) == {2: len(only_v2)}

"""Kafka stopped: 503 with Retry-After in bounded time, nothing claimed as accepted; restarted: 202 again."""

import asyncio
import json
import time
from pathlib import Path

import pytest

from crm.local.kafka_broker import KafkaBroker
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.gateway import Gateway, published, running_gateway

pytestmark = pytest.mark.infra


async def post_until_accepted(gateway: Gateway, body: object, deadline_seconds: float = 90.0) -> int:
    """The partner's retry loop: the same events until a 202 (or give up after the deadline)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        response = await gateway.post(body)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response.status_code
        await asyncio.sleep(0.5)


async def test_kafka_stopped_gives_503_and_restarted_gives_202_again(isolated: Settings, tmp_path: Path) -> None:
    # Started and stopped from this (the main) thread: see crm.local.processes.spawn_server.
    broker = KafkaBroker(tmp_path / "kafka", heap="256m").start()
    try:
        settings = isolated.model_copy(update={"kafka_bootstrap": broker.bootstrap, "gateway_publish_timeout": 2.0})
        await ensure_topics(settings.kafka, contract_topics(settings))
        async with running_gateway(settings) as gateway:
            before = envelope("SMEWithdrawn", {}, sme_id="before")
            assert (await gateway.post(before)).status_code == 202

            broker.stop()
            during = envelope("SMEWithdrawn", {}, sme_id="during")
            refused = await gateway.post(during)
            assert refused.status_code == 503
            assert int(refused.headers["retry-after"]) > 0
            assert "retry" in refused.json()["detail"]
            assert (await gateway.client.get("/ready")).status_code == 503
            async with running_gateway(settings) as cold:  # a gateway started while Kafka is away
                assert (await cold.post(during)).status_code == 503

            broker.start()  # same port, same data directory
            assert await post_until_accepted(gateway, during) == 202
            after = envelope("SMEWithdrawn", {}, sme_id="after")
            assert (await gateway.post(after)).status_code == 202
            assert (await gateway.client.get("/ready")).status_code == 200

        records = await published(settings, at_least=3)
        ids = [json.loads(r.value)["event_id"] for r in records]
        # `during` may be stored twice (the timed-out attempt can land late); consumers dedupe on event_id.
        assert set(ids) == {before["event_id"], during["event_id"], after["event_id"]}
    finally:
        broker.stop()

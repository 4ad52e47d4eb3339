"""`ensure_topics` against the real broker: what it creates, and the existing topics it refuses."""

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from crm.errors import InfrastructureError
from crm.messaging.connection import client_options
from crm.messaging.topic_admin import KEEP_FOREVER, TopicSpec, ensure_topics
from crm.settings import Settings


async def _configs(settings: Settings, topic: str) -> tuple[int, dict[str, str]]:
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        entries = {entry[0]: entry[1] for resource in response.resources for entry in resource[4]}
        return len(described["partitions"][0]["replicas"]), entries
    finally:
        await admin.close()


async def _create_as_someone_else(settings: Settings, topic: str, config: dict[str, str]) -> None:
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1, topic_configs=config)])
    finally:
        await admin.close()


async def test_a_created_topic_keeps_forever_with_the_safe_replication_of_one_broker(infrastructure: Settings) -> None:
    name = f"guarantees-{uuid.uuid4().hex[:8]}"
    await ensure_topics(infrastructure.kafka, [TopicSpec(name, 2, KEEP_FOREVER)])
    replicas, config = await _configs(infrastructure, name)
    assert replicas == 1 and config["min.insync.replicas"] == "1"
    assert (config["retention.ms"], config["retention.bytes"], config["cleanup.policy"]) == ("-1", "-1", "delete")
    await ensure_topics(infrastructure.kafka, [TopicSpec(name, 2, KEEP_FOREVER)])  # as it should be: accepted


async def test_an_existing_log_of_record_with_a_finite_retention_stops_the_start(infrastructure: Settings) -> None:
    name = f"guarantees-{uuid.uuid4().hex[:8]}"
    await _create_as_someone_else(infrastructure, name, {"retention.ms": "604800000"})
    with pytest.raises(InfrastructureError) as refused:
        await ensure_topics(infrastructure.kafka, [TopicSpec(name, 2, KEEP_FOREVER)])
    message = str(refused.value)
    assert f"topic {name} has retention.ms=604800000" in message
    assert "CRM_KAFKA_ACCEPT_TOPIC_CONFIG=true" in message


async def test_the_override_starts_anyway_and_changes_nothing(infrastructure: Settings) -> None:
    name = f"guarantees-{uuid.uuid4().hex[:8]}"
    await _create_as_someone_else(infrastructure, name, {"retention.bytes": "1073741824"})
    await ensure_topics(infrastructure.kafka, [TopicSpec(name, 2, KEEP_FOREVER)], accept_config=True)
    assert (await _configs(infrastructure, name))[1]["retention.bytes"] == "1073741824"


async def test_more_replicas_than_the_cluster_has_brokers_is_refused_before_anything_is_created(
    infrastructure: Settings,
) -> None:
    name = f"guarantees-{uuid.uuid4().hex[:8]}"
    with pytest.raises(InfrastructureError, match="CRM_KAFKA_REPLICATION_FACTOR=3"):
        await ensure_topics(infrastructure.kafka, [TopicSpec(name, 2, KEEP_FOREVER, replication_factor=3)])
    admin = AIOKafkaAdminClient(**client_options(infrastructure.kafka))
    await admin.start()
    try:
        assert name not in await admin.list_topics()
    finally:
        await admin.close()

"""Create the contract's topics with the right settings (idempotent)."""

from contextlib import suppress
from dataclasses import dataclass
from typing import Protocol

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = structlog.get_logger(__name__)

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]


class TopicNames(Protocol):
    """The topic settings (`crm.settings.Topics`): `Settings`, or a service's view of them."""

    @property
    def events_topic(self) -> str: ...
    @property
    def alerts_topic(self) -> str: ...
    @property
    def dlq_topic(self) -> str: ...
    @property
    def topic_partitions(self) -> int: ...


def contract_topics(settings: TopicNames) -> list[TopicSpec]:
    return [
        # The log of record: never deleted by retention, so projections can always be rebuilt.
        TopicSpec(settings.events_topic, settings.topic_partitions, KEEP_FOREVER),
        TopicSpec(settings.alerts_topic, settings.topic_partitions, KEEP_FOREVER),
        TopicSpec(settings.dlq_topic, 1, KEEP_FOREVER),
    ]


async def ensure_topics(bootstrap: str, topics: list[TopicSpec]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if not missing:
            return
        with suppress(TopicAlreadyExistsError):  # created concurrently by another service
            await admin.create_topics([NewTopic(t.name, t.partitions, 1, topic_configs=t.config) for t in missing])
        log.info("kafka.topics_created", topics=[t.name for t in missing])
    finally:
        await admin.close()

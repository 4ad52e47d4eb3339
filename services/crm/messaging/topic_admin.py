"""Create the contract's topics with the right settings (idempotent), and refuse topics that exist
with weaker guarantees than ours.

The decisions are pure (`choose_replication`, `contradictions`); `ensure_topics` asks the cluster
and applies them.
"""

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from crm.errors import InfrastructureError
from crm.messaging.connection import KafkaConnection, client_options
from crm.settings import TopicOverride

log = structlog.get_logger(__name__)

KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

GUARDED_CONFIGS = ("retention.ms", "retention.bytes", "cleanup.policy")
"""The configurations of ours an existing topic must have: the others are the operator's to tune."""


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str]
    # None: the safe choice for the cluster found (`choose_replication`).
    replication_factor: int | None = None
    min_insync_replicas: int | None = None


class TopicNames(Protocol):
    """The topic settings (`crm.settings.Topics`, `KafkaTopicGuarantees`): `Settings`, or a service's view."""

    @property
    def events_topic(self) -> str: ...
    @property
    def alerts_topic(self) -> str: ...
    @property
    def dlq_topic(self) -> str: ...
    @property
    def topic_partitions(self) -> int: ...
    @property
    def kafka_replication_factor(self) -> int | None: ...
    @property
    def kafka_min_insync_replicas(self) -> int | None: ...
    @property
    def kafka_topic_overrides(self) -> Mapping[str, TopicOverride]: ...


def contract_topics(settings: TopicNames) -> list[TopicSpec]:
    """The project's topics, each with its settings: `CRM_TOPIC_PARTITIONS` (the dead letters: 1)
    and the replication settings, unless `CRM_KAFKA_TOPIC_OVERRIDES` names the topic."""
    defaults = [
        (settings.events_topic, settings.topic_partitions),
        (settings.alerts_topic, settings.topic_partitions),
        (settings.dlq_topic, 1),
    ]
    unknown = sorted(set(settings.kafka_topic_overrides) - {name for name, _ in defaults})
    if unknown:
        raise InfrastructureError(
            f"CRM_KAFKA_TOPIC_OVERRIDES names {', '.join(unknown)}, not one of the project's topics "
            f"({', '.join(name for name, _ in defaults)})."
        )
    topics = []
    for name, partitions in defaults:
        override = settings.kafka_topic_overrides.get(name, TopicOverride())
        topics.append(
            TopicSpec(
                name,
                override.partitions or partitions,
                KEEP_FOREVER,  # the log of record is never deleted by retention: projections can be rebuilt
                replication_factor=override.replication_factor or settings.kafka_replication_factor,
                min_insync_replicas=override.min_insync_replicas or settings.kafka_min_insync_replicas,
            )
        )
    return topics


@dataclass(frozen=True)
class Replication:
    factor: int
    min_insync: int


def choose_replication(brokers: int, spec: TopicSpec) -> Replication:
    """The replication of `spec` on a cluster of `brokers`: what it asks, else replication factor
    min(3, brokers) and `min.insync.replicas` 2 from three replicas (one broker may be down and
    every acknowledged event is still on two), else 1."""
    factor = spec.replication_factor if spec.replication_factor is not None else min(3, brokers)
    if factor > brokers:
        raise InfrastructureError(
            f"Topic {spec.name}: CRM_KAFKA_REPLICATION_FACTOR={factor}, but the Kafka cluster has {brokers} "
            f"broker{'s' if brokers != 1 else ''}: lower it or add brokers."
        )
    min_insync = spec.min_insync_replicas if spec.min_insync_replicas is not None else (2 if factor >= 3 else 1)
    if min_insync > factor:
        raise InfrastructureError(
            f"Topic {spec.name}: CRM_KAFKA_MIN_INSYNC_REPLICAS={min_insync} exceeds its replication factor {factor}: "
            "no event could ever be acknowledged."
        )
    return Replication(factor, min_insync)


@dataclass(frozen=True)
class ExistingTopic:
    """What the cluster says of a topic: its smallest replica count over its partitions and its
    effective configuration."""

    name: str
    replication_factor: int
    config: Mapping[str, str] = field(default_factory=dict)


def contradictions(spec: TopicSpec, wanted: Replication, topic: ExistingTopic) -> list[str]:
    """How an existing topic falls short of `spec` and `wanted`, each with how to fix it (empty: fine)."""
    found = []
    for name in GUARDED_CONFIGS:
        ours = spec.config.get(name)
        theirs = topic.config.get(name)
        if ours is not None and theirs is not None and theirs != ours:
            found.append(
                f"topic {topic.name} has {name}={theirs}, where the project needs {name}={ours} "
                f"(kafka-configs.sh --alter --entity-type topics --entity-name {topic.name} --add-config {name}={ours})"
            )
    if topic.replication_factor < wanted.factor:
        found.append(
            f"topic {topic.name} has replication factor {topic.replication_factor}, fewer than the {wanted.factor} "
            "asked (CRM_KAFKA_REPLICATION_FACTOR, or the cluster's default): add replicas with "
            "kafka-reassign-partitions.sh, or set CRM_KAFKA_REPLICATION_FACTOR lower"
        )
    theirs_min = topic.config.get("min.insync.replicas")
    if theirs_min is not None and theirs_min.isdigit() and int(theirs_min) < wanted.min_insync:
        found.append(
            f"topic {topic.name} has min.insync.replicas={theirs_min}, where {wanted.min_insync} are asked: an "
            f"acknowledged event may live on one broker only (kafka-configs.sh --alter --entity-type topics "
            f"--entity-name {topic.name} --add-config min.insync.replicas={wanted.min_insync})"
        )
    return found


def refusal(found: list[str]) -> InfrastructureError:
    listed = "; ".join(found)
    return InfrastructureError(
        f"Kafka topics contradict the project's guarantees: {listed}. Fix them, or start anyway with "
        "CRM_KAFKA_ACCEPT_TOPIC_CONFIG=true."
    )


async def ensure_topics(kafka: KafkaConnection, topics: list[TopicSpec], *, accept_config: bool = False) -> None:
    """Create the missing topics; check the existing ones. Raises `InfrastructureError` naming every
    contradiction unless `accept_config` (then they are logged)."""
    admin = AIOKafkaAdminClient(**client_options(kafka), request_timeout_ms=15_000)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        wanted = {t.name: choose_replication(brokers, t) for t in topics}
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t.name not in existing]
        if missing:
            new = [
                NewTopic(
                    t.name,
                    t.partitions,
                    wanted[t.name].factor,
                    topic_configs={**t.config, "min.insync.replicas": str(wanted[t.name].min_insync)},
                )
                for t in missing
            ]
            with suppress(TopicAlreadyExistsError):  # created concurrently by another service
                await admin.create_topics(new)
            log.info(
                "kafka.topics_created",
                topics=[t.name for t in missing],
                replication_factor=sorted({wanted[t.name].factor for t in missing}),
            )
        checked = [t for t in topics if t.name in existing]
        if not checked:
            return
        found = []
        for topic in await _describe(admin, [t.name for t in checked]):
            spec = next(t for t in checked if t.name == topic.name)
            found.extend(contradictions(spec, wanted[spec.name], topic))
        if found and not accept_config:
            raise refusal(found)
        for problem in found:
            log.warning("kafka.topic_config_accepted", problem=problem)
    finally:
        await admin.close()


async def _describe(admin: AIOKafkaAdminClient, names: list[str]) -> list[ExistingTopic]:
    replicas = {
        topic["topic"]: min((len(p["replicas"]) for p in topic["partitions"]), default=0)
        for topic in await admin.describe_topics(names)
    }
    configs: dict[str, dict[str, str]] = {}
    responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name) for name in names])
    for response in responses:
        for resource in response.resources:
            configs[resource[3]] = _config_entries(resource[4])
    return [ExistingTopic(name, replicas.get(name, 0), configs.get(name, {})) for name in names]


def _config_entries(entries: Any) -> dict[str, str]:
    # (name, value, read_only, source or is_default, is_sensitive[, synonyms]) per protocol version
    return {entry[0]: entry[1] for entry in entries if entry[1] is not None}

"""The replication chosen for the cluster found, and what of an existing topic contradicts it."""

import pytest

from crm.errors import InfrastructureError
from crm.messaging.topic_admin import (
    KEEP_FOREVER,
    ExistingTopic,
    Replication,
    TopicSpec,
    choose_replication,
    contract_topics,
    contradictions,
    refusal,
)
from crm.settings import Settings

EVENTS = TopicSpec("crm.events", 4, KEEP_FOREVER)
GOOD = {**KEEP_FOREVER, "min.insync.replicas": "2"}


@pytest.mark.parametrize(("brokers", "factor", "min_insync"), [(1, 1, 1), (2, 2, 1), (3, 3, 2), (5, 3, 2)])
def test_unset_the_safe_choice_for_the_cluster(brokers: int, factor: int, min_insync: int) -> None:
    assert choose_replication(brokers, EVENTS) == Replication(factor, min_insync)


def test_what_the_settings_ask_wins() -> None:
    topics = contract_topics(Settings(kafka_replication_factor=2, kafka_min_insync_replicas=2))
    assert {choose_replication(5, t) for t in topics} == {Replication(2, 2)}


def test_a_topic_override_wins_for_its_topic_only() -> None:
    settings = Settings(
        topic_partitions=4,
        kafka_replication_factor=2,
        kafka_topic_overrides={"crm.alerts": {"partitions": 8, "replication_factor": 3, "min_insync_replicas": 2}},
    )
    topics = {t.name: t for t in contract_topics(settings)}
    assert (topics["crm.alerts"].partitions, choose_replication(5, topics["crm.alerts"])) == (8, Replication(3, 2))
    assert (topics["crm.events"].partitions, choose_replication(5, topics["crm.events"])) == (4, Replication(2, 1))
    assert topics["crm.events.dlq"].partitions == 1


def test_an_override_of_a_topic_the_project_does_not_have_is_refused() -> None:
    with pytest.raises(InfrastructureError, match=r"CRM_KAFKA_TOPIC_OVERRIDES names crm\.event\b"):
        contract_topics(Settings(kafka_topic_overrides={"crm.event": {"partitions": 2}}))


def test_an_override_with_an_unknown_key_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="replicas"):
        Settings(kafka_topic_overrides={"crm.alerts": {"replicas": 3}})


def test_more_replicas_than_brokers_is_refused_naming_the_setting() -> None:
    with pytest.raises(InfrastructureError, match=r"CRM_KAFKA_REPLICATION_FACTOR=3.*1 broker:"):
        choose_replication(1, TopicSpec("crm.events", 4, KEEP_FOREVER, replication_factor=3))


def test_min_insync_above_the_replicas_is_refused() -> None:
    with pytest.raises(InfrastructureError, match="CRM_KAFKA_MIN_INSYNC_REPLICAS=3"):
        choose_replication(3, TopicSpec("crm.events", 4, KEEP_FOREVER, replication_factor=2, min_insync_replicas=3))


def test_a_topic_as_we_create_it_contradicts_nothing() -> None:
    assert contradictions(EVENTS, Replication(3, 2), ExistingTopic("crm.events", 3, GOOD)) == []


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"retention.ms": "604800000"}, "retention.ms=604800000"),
        ({"retention.bytes": "1073741824"}, "retention.bytes=1073741824"),
        ({"cleanup.policy": "compact"}, "cleanup.policy=compact"),
        ({"min.insync.replicas": "1"}, "min.insync.replicas=1"),
    ],
)
def test_a_weaker_configuration_is_named_with_its_fix(config: dict[str, str], named: str) -> None:
    found = contradictions(EVENTS, Replication(3, 2), ExistingTopic("crm.events", 3, {**GOOD, **config}))
    assert len(found) == 1
    assert found[0].startswith(f"topic crm.events has {named}") and "kafka-configs.sh --alter" in found[0]


def test_fewer_replicas_than_asked_is_a_contradiction() -> None:
    found = contradictions(EVENTS, Replication(3, 2), ExistingTopic("crm.events", 1, GOOD))
    assert found and "replication factor 1, fewer than the 3" in found[0]


def test_on_one_broker_min_insync_1_is_what_is_asked() -> None:
    single = {**KEEP_FOREVER, "min.insync.replicas": "1"}
    assert contradictions(EVENTS, choose_replication(1, EVENTS), ExistingTopic("crm.events", 1, single)) == []


def test_the_operators_other_configs_are_theirs() -> None:
    tuned = {**GOOD, "segment.bytes": "1048576", "max.message.bytes": "2097152"}
    assert contradictions(EVENTS, Replication(3, 2), ExistingTopic("crm.events", 3, tuned)) == []


def test_the_refusal_names_the_override() -> None:
    message = str(refusal(["topic crm.events has retention.ms=1"]))
    assert "topic crm.events has retention.ms=1" in message and "CRM_KAFKA_ACCEPT_TOPIC_CONFIG=true" in message

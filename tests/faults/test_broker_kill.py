"""The broker leading a partition of `crm.events` SIGKILLed under load on the three-broker SASL_SSL
cluster, then restarted: with three replicas and `min.insync.replicas` 2 the gateway keeps
answering (202, or 503 that the load retries with the same ids), nothing accepted is lost and
nothing is counted twice."""

import asyncio
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from crm.messaging.connection import client_options
from crm.settings import Settings
from tests.support.faults import FaultStack, SteadyLoad, deployment, record_figures, settle_and_verify, wait_for
from tests.support.histories import history
from tests.support.kafka_cluster import running_secure_cluster


async def _leader(settings: Settings, topic: str, partition: int) -> int:
    admin = AIOKafkaAdminClient(**client_options(settings.kafka))
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
        return int(next(p["leader"] for p in described["partitions"] if p["partition"] == partition))
    finally:
        await admin.close()


def _leader_now(settings: Settings) -> int | None:
    """The leader of the events topic's partition 0; None while the client asked the dead broker."""
    try:
        return asyncio.run(_leader(settings, settings.events_topic, 0))
    except KafkaError:
        return None


def test_the_leader_of_an_events_partition_sigkilled_under_load(stack: FaultStack, tmp_path: Path) -> None:
    events = history(seed=98, smes=150)
    with (
        running_secure_cluster(stack.base, tmp_path / "kafka", classpath_dir=stack.broker.work_dir) as secure,
        deployment(secure, tmp_path) as (running, tokens),
    ):
        with SteadyLoad(running.gateway_url, tokens, events) as load:
            load.wait_for_acknowledged(len(events) // 3)
            running.wait_until_projecting()
            leader = _leader_now(running.settings)
            assert leader is not None
            secure.cluster.kill(leader)
            wait_for(lambda: _leader_now(running.settings) not in (leader, None), 60, "another broker leading it")
            load.wait_for_acknowledged(len(events) // 2)  # accepted while the broker is away
            running.wait_until_projecting()
            secure.cluster.restart(leader)
            load.finish()
        figures = settle_and_verify(running, load)
    record_figures("Kafka broker leading an events partition SIGKILLed (3 brokers)", {**figures, "killed": leader})

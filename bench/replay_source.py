"""The replayed topic, and what every replay figure is compared with, measured once per run.

- `replay_topic`: the synthetic programme history (bench/workload.py) published to a fresh topic;
  publishing it is the Kafka *produce* ceiling (raw aiokafka, acks=all, large batches).
- `consume_ceiling`: a plain aiokafka consumer reading that topic and decoding every message.
- `naive_baseline`: the same store and rules, one event per transaction, on a prefix of the topic.
"""

import asyncio
import time
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bench.harness import BenchContext
from bench.workload import programme_history
from crm.contract.decoding import InvalidEvents, decode_event
from crm.db.engine import create_engine
from crm.messaging.connection import client_options
from crm.messaging.reading import records_until, topic_partitions
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.projector.ports import ConsumedEvent
from crm.projector.store import PostgresReadModels
from crm.settings import Settings


@dataclass(frozen=True)
class Timed:
    items: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ReplayTopic:
    settings: Settings
    """The run's settings with the replayed topic as `events_topic`."""
    events: int
    produce: Timed


async def replay_topic(context: BenchContext) -> ReplayTopic:
    async def make() -> ReplayTopic:
        settings = context.isolated("replay")
        messages = programme_history(context.scale(20_000, 200_000))
        produce = await publish(settings, messages)
        context.details["kafka_ceilings"] = {"events": len(messages), "produce_seconds": round(produce.seconds, 3)}
        return ReplayTopic(settings, len(messages), produce)

    return await context.shared("replay_topic", make)


async def publish(settings: Settings, messages: list[tuple[bytes, bytes]]) -> Timed:
    """Create the topics, then time a raw acks=all producer sending every message."""
    assert settings.kafka_bootstrap
    await ensure_topics(settings.kafka, contract_topics(settings))
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all", linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        await _leaders_known(producer, settings.events_topic)
        started = time.perf_counter()
        for start in range(0, len(messages), 5000):
            deliveries = [
                await producer.send(settings.events_topic, value=value, key=key)
                for key, value in messages[start : start + 5000]
            ]
            await asyncio.gather(*deliveries)
        return Timed(len(messages), time.perf_counter() - started)
    finally:
        await producer.stop()


async def _leaders_known(producer: AIOKafkaProducer, topic: str, timeout: float = 30.0) -> None:
    """A new topic's leaders, before the clock starts: not-leader retries are not throughput."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        partitions = await producer.partitions_for(topic)
        cluster = producer.client.cluster
        if partitions and all(
            cluster.leader_for_partition(TopicPartition(topic, p)) not in (None, -1) for p in partitions
        ):
            return
        await producer.client.force_metadata_update()
        await asyncio.sleep(0.1)


def replay_consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        **client_options(settings.kafka),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


async def consume_ceiling(context: BenchContext) -> Timed:
    async def make() -> Timed:
        topic = await replay_topic(context)
        consumer = replay_consumer(topic.settings)
        await consumer.start()
        try:
            partitions = await topic_partitions(consumer, topic.settings.events_topic)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            started, count = time.perf_counter(), 0
            async for records in records_until(consumer, ends, max_records=5000):
                for record in records:
                    decode_event(record.value)
                count += len(records)
            return Timed(count, time.perf_counter() - started)
        finally:
            await consumer.stop()

    return await context.shared("consume_ceiling", make)


async def naive_baseline(context: BenchContext) -> Timed:
    async def make() -> Timed:
        topic = await replay_topic(context)
        sample = context.scale(1_000, 5_000)
        return await apply_in_process(topic.settings, await context.fresh_database(), batch=1, limit=sample)

    return await context.shared("naive_baseline", make)


async def apply_in_process(settings: Settings, database_url: str, *, batch: int, limit: int | None = None) -> Timed:
    """Read the topic with a plain consumer and apply it through the store, `batch` events per transaction."""
    engine = create_engine(database_url)
    store = PostgresReadModels(engine)
    consumer = replay_consumer(settings)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.events_topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        if limit is not None:  # the same share of every partition
            share = limit / max(1, sum(ends.values()))
            ends = {tp: int(end * share) for tp, end in ends.items()}
        started, count = time.perf_counter(), 0
        async for records in records_until(consumer, ends, max_records=max(batch, 500)):
            decoded = []
            for record in records:
                try:
                    decoded.append(ConsumedEvent(decode_event(record.value), record.partition, record.offset))
                except InvalidEvents:
                    continue
            for start in range(0, len(decoded), batch):
                await store.apply(decoded[start : start + batch])
            count += len(records)
        return Timed(count, time.perf_counter() - started)
    finally:
        await consumer.stop()
        await engine.dispose()

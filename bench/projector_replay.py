"""Projector throughput replaying crm.events, beside a raw consume-and-decode (ceiling) and a
naive projector that commits one transaction per event (baseline).

- ceiling: plain aiokafka consumer + `decode_event`, nothing written;
- subject: the real projector, `crm projector run` (its own process, default batch settings
  unless CRM_PROJECTOR_BATCH_SIZE is set), from its first applied event to the last;
- other: the rebuild path (aiokafka + the same store, the projector's batch size, in-process);
- baseline: the same store and rules, one event per transaction (on a prefix of the topic: at a
  few hundred events/s the full topic would take far too long; its rate is what is compared).
"""

import asyncio
import os
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import func, select

from bench.harness import BenchContext, BenchResult, Measurement, benchmark
from bench.workload import programme_history
from crm.contract.decoding import InvalidEvents, decode_event
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.infra.services import ServiceProcess, service_environment
from crm.messaging.reading import records_until, topic_partitions
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.projector.ports import DecodedEvent
from crm.projector.store import PostgresReadModels
from crm.settings import Settings


@benchmark("projector_replay")
async def projector_replay(context: BenchContext) -> BenchResult:
    total = 20_000 if context.quick else 200_000
    naive_sample = 1_000 if context.quick else 5_000
    suffix = os.urandom(4).hex()
    settings = context.settings.model_copy(
        update={
            "events_topic": f"bench-{suffix}.events",
            "alerts_topic": f"bench-{suffix}.alerts",
            "dlq_topic": f"bench-{suffix}.events.dlq",
            "projector_group": f"bench-{suffix}-projector",
        }
    )
    assert settings.kafka_bootstrap
    await ensure_topics(settings.kafka_bootstrap, contract_topics(settings))
    messages = programme_history(total)
    await _publish(settings, messages)
    count = len(messages)

    ceiling = await _raw_consume(settings)
    subject = await _projector_process(settings, await context.fresh_database(), count)
    batch = settings.projector_batch_size
    rebuild = await _replay_in_process(settings, await context.fresh_database(), batch=batch)
    baseline = await _replay_in_process(settings, await context.fresh_database(), batch=1, limit=naive_sample)
    return BenchResult(
        "projector_replay",
        [
            Measurement("raw aiokafka consume + decode", "ceiling", ceiling[0], ceiling[1]),
            Measurement(
                "projector (crm projector run)",
                "subject",
                subject[0],
                subject[1],
                note=f"batch {settings.projector_batch_size}",
            ),
            Measurement("rebuild path (aiokafka + store)", "other", rebuild[0], rebuild[1], note=f"batch {batch}"),
            Measurement(
                "naive, 1 transaction/event",
                "baseline",
                baseline[0],
                baseline[1],
                note=f"first {naive_sample:,} events",
            ),
        ],
        targets={"rate": 20_000, "vs_baseline": 20},
        parameters={"events": count, "partitions": settings.topic_partitions, "cpus": os.cpu_count()},
    )


async def _publish(settings: Settings, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    try:
        for start in range(0, len(messages), 5000):
            deliveries = [
                await producer.send(settings.events_topic, value=value, key=key)
                for key, value in messages[start : start + 5000]
            ]
            await asyncio.gather(*deliveries)
    finally:
        await producer.stop()


def _consumer(settings: Settings) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )


async def _raw_consume(settings: Settings) -> tuple[int, float]:
    consumer = _consumer(settings)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.events_topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        started, count = time.perf_counter(), 0
        async for records in records_until(consumer, ends, max_records=5000):
            for record in records:
                decode_event(record.value)
            count += len(records)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()


async def _replay_in_process(
    settings: Settings, database_url: str, *, batch: int, limit: int | None = None
) -> tuple[int, float]:
    engine = create_engine(database_url)
    store = PostgresReadModels(engine)
    consumer = _consumer(settings)
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
                    decoded.append(DecodedEvent(decode_event(record.value), record.partition, record.offset))
                except InvalidEvents:
                    continue
            for start in range(0, len(decoded), batch):
                await store.apply(decoded[start : start + batch])
            count += len(records)
        return count, time.perf_counter() - started
    finally:
        await consumer.stop()
        await engine.dispose()


async def _projector_process(settings: Settings, database_url: str, count: int) -> tuple[int, float]:
    projector_settings = settings.model_copy(update={"database_url": database_url})
    engine = create_engine(database_url, pool_size=1)
    log_path = settings.state_dir / "logs" / "bench-projector.log"
    service = ServiceProcess(
        "projector", ["projector", "run"], service_environment(projector_settings, CRM_LOG_LEVEL="warning"), log_path
    )

    async def applied() -> int:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(applied_events)) or 0)

    try:
        service.start()
        first = 0
        while first == 0:  # start-up (imports, migrations check, the group join) is not throughput
            await asyncio.sleep(0.02)
            first = await applied()
            _check_alive(service, log_path)
        started = time.perf_counter()
        done = first
        while done < count:
            await asyncio.sleep(0.05)
            done = await applied()
            _check_alive(service, log_path)
        return count - first, time.perf_counter() - started
    finally:
        service.stop()
        await engine.dispose()


def _check_alive(service: ServiceProcess, log_path: Path) -> None:
    if not service.alive():
        raise RuntimeError(f"the projector died; see {log_path}")

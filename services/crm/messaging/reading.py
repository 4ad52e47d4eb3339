"""Read a topic from the start (or a group's position) up to the end offsets seen when starting."""

from collections.abc import AsyncIterator, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition


async def topic_partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:  # no metadata for it yet; aiokafka has no public call to fetch it for one topic
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(partitions)]


async def records_until(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], *, max_records: int = 2000
) -> AsyncIterator[Sequence[ConsumerRecord[bytes, bytes]]]:
    """Batches of records of the assigned partitions until each reaches its offset in `ends`."""
    while True:
        pending = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
        if not pending:
            return
        fetched = await consumer.getmany(*pending, timeout_ms=1000, max_records=max_records)
        batch = [r for tp, records in fetched.items() for r in records if r.offset < ends[tp]]
        if batch:
            yield batch


async def remaining(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> int:
    left = 0
    for tp, end in ends.items():
        left += max(0, end - await consumer.position(tp))
    return left

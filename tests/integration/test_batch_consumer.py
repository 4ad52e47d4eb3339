"""BatchConsumer's guarantees on the real Kafka: an offset is committed only once its batch was
handled, a failing handler stops the member and its records go to the next one, a revocation
lets the batch in hand finish and commit first, and a restarted member resumes where it left."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm.messaging.batch_consumer import BatchConsumer, HandlerFailed
from crm.messaging.connection import KafkaConnection
from crm.messaging.messages import ReceivedMessage
from crm.messaging.topic_admin import TopicSpec, ensure_topics
from crm.settings import Settings

pytestmark = pytest.mark.infra

PARTITIONS = 4
Offset = tuple[int, int]  # (partition, offset)
Handler = Callable[[Sequence[ReceivedMessage]], Awaitable[object]]


class Topic:
    """A fresh topic and group on the session's broker, with helpers to fill and inspect them."""

    def __init__(self, bootstrap: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.bootstrap = bootstrap
        self.name = f"test-{suffix}.consumer"
        self.group = f"test-{suffix}-group"
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)

    async def publish(self, per_partition: int, start: int = 0) -> set[Offset]:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            sent = [
                await producer.send(self.name, value=f"{p}/{n}".encode(), key=b"k", partition=p)
                for p in range(PARTITIONS)
                for n in range(start, start + per_partition)
            ]
            return {(meta.partition, meta.offset) for meta in await asyncio.gather(*sent)}
        finally:
            await producer.stop()

    async def committed(self) -> dict[int, int]:
        partitions = [TopicPartition(self.name, p) for p in range(PARTITIONS)]
        offsets = await self.admin.list_consumer_group_offsets(self.group, partitions=partitions)
        return {tp.partition: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def group_state(self) -> str:
        (response,) = await self.admin.describe_consumer_groups([self.group])
        return str(response.groups[0][2])  # (error_code, group_id, state, ...)

    def consumer(
        self, handle_batch: Handler, batch_size: int = 25, batch_seconds: float = 0.05, client_id: str | None = None
    ) -> BatchConsumer:
        return BatchConsumer(
            KafkaConnection(self.bootstrap),
            self.name,
            self.group,
            handle_batch,
            batch_size=batch_size,
            batch_seconds=batch_seconds,
            session_timeout=6.0,
            client_id=client_id,
        )


@pytest.fixture
async def topic(infrastructure: Settings) -> AsyncIterator[Topic]:
    assert infrastructure.kafka_bootstrap
    created = Topic(infrastructure.kafka_bootstrap)
    await ensure_topics(KafkaConnection(created.bootstrap), [TopicSpec(created.name, PARTITIONS, {})])
    await created.admin.start()
    yield created
    await created.admin.close()


class Recorder:
    """A handler that records what it was handed; `hold_first` makes it wait on its first batch."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.batches: list[list[Offset]] = []
        self.first_started = asyncio.Event()
        self.release = asyncio.Event()
        if not hold_first:
            self.release.set()
        self.changed = asyncio.Event()

    async def __call__(self, messages: Sequence[ReceivedMessage]) -> None:
        self.first_started.set()
        if not self.batches:
            await self.release.wait()
        self.batches.append([(m.partition, m.offset) for m in messages])
        self.changed.set()

    @property
    def handled(self) -> set[Offset]:
        return {offset for batch in self.batches for offset in batch}


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 60) -> None:
    """Wait for a condition (a deadline for failing, not a measure of speed)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await condition():
            return
        assert asyncio.get_running_loop().time() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.05)


def ends(offsets: set[Offset]) -> dict[int, int]:
    """The commit that covers these records: last offset + 1 per partition."""
    last: dict[int, int] = {}
    for partition, offset in offsets:
        last[partition] = max(last.get(partition, -1), offset + 1)
    return last


async def test_offsets_are_committed_only_after_the_handler_returned(topic: Topic) -> None:
    published = await topic.publish(per_partition=30)
    handler = Recorder(hold_first=True)
    consumer = topic.consumer(handler, batch_size=1000)
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(handler.first_started.wait(), 60)
        assert await topic.committed() == {}, "nothing may be committed while the batch is in the handler"
        handler.release.set()

        async def all_committed() -> bool:
            return await topic.committed() == ends(published)

        await until(all_committed, "every handled record committed")
        assert handler.handled == published
    finally:
        handler.release.set()  # a failed assertion must not leave the member waiting in its handler
        consumer.stop()
        await running


async def test_a_failing_handler_stops_the_member_and_its_records_go_to_the_next_one(topic: Topic) -> None:
    published = await topic.publish(per_partition=20)
    handed: list[Offset] = []

    async def fail(messages: Sequence[ReceivedMessage]) -> None:
        handed.extend((m.partition, m.offset) for m in messages)
        raise RuntimeError("the read model refused the batch")

    with pytest.raises(HandlerFailed, match="refused the batch"):
        await asyncio.wait_for(topic.consumer(fail).run(), 60)  # returns: it does not idle on
    assert handed, "the failing handler was called"
    assert await topic.committed() == {}

    handler = Recorder()
    successor = topic.consumer(handler)
    running = asyncio.create_task(successor.run())
    try:

        async def all_handled() -> bool:
            return handler.handled == published

        await until(all_handled, "the next member gets every record, the failed batch's included")
        assert set(handed) <= handler.handled
    finally:
        successor.stop()
        await running


async def test_a_revocation_waits_for_the_batch_in_hand_which_is_committed_first(
    topic: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="crm.messaging.batch_consumer")
    published = await topic.publish(per_partition=50)
    first = Recorder(hold_first=True)
    second = Recorder()
    # Member one's first batch is the whole topic (it waits up to 30 s to fill it), so whichever
    # partitions the joiner gets, it would re-read records of that batch were it not committed first.
    member_one = topic.consumer(first, batch_size=len(published), batch_seconds=30, client_id="member-one")
    member_two = topic.consumer(second)
    one = asyncio.create_task(member_one.run())
    await asyncio.wait_for(first.first_started.wait(), 60)
    two = asyncio.create_task(member_two.run())  # joins: the group must take partitions from member one
    try:

        async def revoking() -> bool:
            return any(
                "batch_consumer.revoking" in r.getMessage() and "member-one" in r.getMessage() for r in caplog.records
            )

        await until(revoking, "the joiner makes member one give up its partitions while it holds its batch")
        assert await topic.group_state() == "PreparingRebalance"
        assert not second.batches, "no partition changes hands while a batch is in the handler"
        first.release.set()

        async def stable() -> bool:
            return await topic.group_state() == "Stable"

        await until(stable, "the rebalance completes once member one has handed its batch in")
        later = await topic.publish(per_partition=50, start=50)

        async def all_handled() -> bool:
            return first.handled | second.handled == published | later

        await until(all_handled, "every record handled by one of the two members")
        assert set(first.batches[0]) == published, "member one's first batch held the whole topic"
        assert second.handled, "the joiner got partitions"
        assert published.isdisjoint(second.handled), "the batch in hand was committed before its partitions moved"

        async def all_committed() -> bool:
            return await topic.committed() == ends(published | later)

        await until(all_committed, "both members committed what they handled")
    finally:
        first.release.set()
        member_one.stop()
        member_two.stop()
        await asyncio.gather(one, two)


async def test_a_stopped_member_finishes_its_batch_and_a_restart_resumes_after_it(topic: Topic) -> None:
    published = await topic.publish(per_partition=40)
    first = Recorder(hold_first=True)
    member = topic.consumer(first, batch_size=30)
    running = asyncio.create_task(member.run())
    await asyncio.wait_for(first.first_started.wait(), 60)
    member.stop()  # SIGTERM mid-batch
    first.release.set()
    await asyncio.wait_for(running, 60)
    (in_hand,) = first.batches  # the batch in hand was finished, nothing more was taken
    assert await topic.committed() == ends(set(in_hand))

    later = await topic.publish(per_partition=5, start=40)
    restarted = Recorder()
    member = topic.consumer(restarted)
    running = asyncio.create_task(member.run())
    try:

        async def rest_handled() -> bool:
            return restarted.handled == (published | later) - set(in_hand)

        await until(rest_handled, "the restarted member reads everything after the commit, and only that")
    finally:
        member.stop()
        await running


async def test_lag_counts_from_the_batch_in_hand_to_the_high_watermark(topic: Topic) -> None:
    await topic.publish(per_partition=30)
    handler = Recorder(hold_first=True)
    consumer = topic.consumer(handler, batch_size=10)
    assert consumer.lag() == {}  # not running
    running = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(handler.first_started.wait(), 60)
        held = consumer.lag()
        assert held and set(held.values()) == {30}, held  # the first batch starts at offset 0 of each
        handler.release.set()

        async def caught_up() -> bool:
            return consumer.lag() == dict.fromkeys(range(PARTITIONS), 0)

        await until(caught_up, "no lag once every record is handled")
    finally:
        handler.release.set()
        consumer.stop()
        await running

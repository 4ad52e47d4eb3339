"""A consumer-group member that hands one topic's records to a handler in batches (plain aiokafka).

The guarantees, each relied on by a service's read model:

- A record's offset is committed only after `handle_batch` returned for the batch that held it
  (offsets are committed by hand, last offset + 1 per partition; auto-commit is off).
- On a rebalance the batch being handled is finished and committed before the partitions are given
  up; records gathered but not yet handed over are dropped, and the next owner re-reads them from
  the committed offset.
- Anything `handle_batch` raises stops the consumer without committing that batch: `run` leaves
  the group (the next member gets the records again) and raises `HandlerFailed`. The service
  process is expected to exit non-zero on it, rather than stay alive and idle.
- `stop` (SIGTERM, SIGINT) finishes and commits the batch being handled, then leaves the group.
  A handler that cannot finish (its store keeps failing) watches `stopping` and raises
  `BatchAbandoned`: the batch is not committed and `run` returns as after any stop.

So a record can be handed over twice (after a crash or a lost commit) but never skipped: handlers
must be idempotent, which ours are (tracking records).
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from crm.messaging.connection import KafkaConnection, client_options
from crm.messaging.messages import ReceivedMessage

log = structlog.get_logger(__name__)

BatchHandler = Callable[[Sequence[ReceivedMessage]], Awaitable[object]]
Record = Any  # aiokafka's ConsumerRecord[bytes, bytes] (aiokafka ships no type information)


class HandlerFailed(RuntimeError):
    """`handle_batch` raised; its batch was not committed and the consumer has left the group."""


class BatchAbandoned(Exception):
    """Raised by a handler asked to stop before it could finish its batch (left uncommitted)."""


class BatchConsumer:
    """Reads `topic` as a member of `group_id` and awaits `handle_batch` for each batch.

    A batch is up to `batch_size` records, or what arrived within `batch_seconds` of its first
    record. `session_timeout` (seconds) is how long a silent (crashed) member keeps its partitions.
    """

    def __init__(
        self,
        kafka: KafkaConnection,
        topic: str,
        group_id: str,
        handle_batch: BatchHandler,
        *,
        batch_size: int,
        batch_seconds: float,
        session_timeout: float = 10.0,
        client_id: str | None = None,
    ) -> None:
        self.topic = topic
        self.group_id = group_id
        self._kafka = kafka
        self._handle_batch = handle_batch
        self._batch_size = batch_size
        self._batch_seconds = batch_seconds
        self._session_timeout = session_timeout
        self.client_id = client_id or group_id
        self._stopping = asyncio.Event()
        # Held while a batch is handled and committed; a revocation waits for it.
        self._handling = asyncio.Lock()
        # Bumped on each revocation: records gathered under an older assignment are never handled.
        self._assignment = 0
        # For `lag()`: the running client, and the next offset to handle per partition of this assignment.
        self._consumer: AIOKafkaConsumer | None = None
        self._next_offsets: dict[int, int] = {}

    @property
    def stopping(self) -> asyncio.Event:
        """Set once `stop()` was called: a handler waiting on something may give up its batch."""
        return self._stopping

    def lag(self) -> dict[int, int]:
        """Per assigned partition, records behind: the high watermark of the last fetch minus the
        next offset to handle (the first of the batch in hand, else after the last committed one).
        Partitions not fetched or not handled since the assignment are left out. No I/O."""
        consumer = self._consumer
        if consumer is None:
            return {}
        lags: dict[int, int] = {}
        for tp in consumer.assignment():
            highwater, position = consumer.highwater(tp), self._next_offsets.get(tp.partition)
            if highwater is not None and position is not None:
                lags[tp.partition] = max(0, highwater - position)
        return lags

    def stop(self) -> None:
        """Finish (and commit) the batch being handled, then leave the group. Safe from a signal handler."""
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`. Raises `HandlerFailed` if the handler raises."""
        consumer = AIOKafkaConsumer(
            **client_options(self._kafka),
            group_id=self.group_id,
            client_id=self.client_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_uncommitted",  # as the projector read before: the gateway does not use transactions
            session_timeout_ms=int(self._session_timeout * 1000),
            heartbeat_interval_ms=int(min(3.0, self._session_timeout / 3) * 1000),
            max_poll_records=self._batch_size,
            # Room for one batch per partition per fetch at our event sizes; fetches run in the
            # background while a batch is handled.
            max_partition_fetch_bytes=4 * 1024 * 1024,
        )
        consumer.subscribe([self.topic], listener=_FinishBatchBeforeRevoke(self))
        self._consumer = consumer
        log.info("batch_consumer.joining", topic=self.topic, group=self.group_id, client_id=self.client_id)
        await consumer.start()
        try:
            while not self._stopping.is_set():
                records, assignment = await self._gather(consumer)
                if records:
                    await self._handle(consumer, records, assignment)
        finally:
            await consumer.stop()  # leaves the group: its partitions move on at once
            self._consumer = None
            log.info("batch_consumer.stopped", topic=self.topic, group=self.group_id)

    async def _gather(self, consumer: AIOKafkaConsumer) -> tuple[list[Record], int]:
        """The next batch and the assignment it was read under ([] when stopping)."""
        records, assignment = await self._poll(consumer, None, self._batch_size)
        if not records:
            return [], assignment
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._batch_seconds
        while len(records) < self._batch_size and not self._stopping.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            more, now = await self._poll(consumer, remaining, self._batch_size - len(records))
            if now != assignment:  # a rebalance in between: what came before is not ours to handle
                records, assignment = [], now
            if not more:
                break
            records.extend(more)
        return records, assignment

    async def _poll(self, consumer: AIOKafkaConsumer, timeout: float | None, limit: int) -> tuple[list[Record], int]:
        """Records within `timeout` seconds (None: until some arrive or `stop()`), with their assignment."""

        async def fetch() -> tuple[list[Record], int]:
            wait = 1.0 if timeout is None else timeout
            fetched = await consumer.getmany(timeout_ms=int(1000 * wait), max_records=limit)
            # Read in the same step as aiokafka drained them, so no revocation can come in between.
            return [record for batch in fetched.values() for record in batch], self._assignment

        while True:
            if self._stopping.is_set():
                return [], self._assignment
            fetching = asyncio.ensure_future(fetch())
            stopping = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait((fetching, stopping), return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not fetching.done():
                fetching.cancel()  # stopping: records not handed over yet stay uncommitted
                await asyncio.gather(fetching, return_exceptions=True)
                return [], self._assignment
            records, assignment = fetching.result()
            if records or timeout is not None:
                return records, assignment

    async def _handle(self, consumer: AIOKafkaConsumer, records: list[Record], assignment: int) -> None:
        async with self._handling:
            if assignment != self._assignment:
                log.info("batch_consumer.dropped_after_revoke", records=len(records))
                return
            messages = [_received(record) for record in records]
            for record in records:
                self._next_offsets.setdefault(record.partition, record.offset)
            try:
                await self._handle_batch(messages)
            except BatchAbandoned as abandoned:
                log.warning(
                    "batch_consumer.batch_abandoned", topic=self.topic, batch=len(messages), reason=str(abandoned)
                )
                return
            except Exception as error:
                log.error(
                    "batch_consumer.handler_failed",
                    topic=self.topic,
                    group=self.group_id,
                    batch=len(messages),
                    first_offsets=_first_offsets(records),
                    error=repr(error),
                    exc_info=True,
                )
                raise HandlerFailed(f"handling a batch of {self.topic} failed: {error!r}") from error
            await self._commit(consumer, records)

    async def _commit(self, consumer: AIOKafkaConsumer, records: list[Record]) -> None:
        offsets: dict[TopicPartition, int] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets[tp] = max(offsets.get(tp, 0), record.offset + 1)
        for tp, offset in offsets.items():
            self._next_offsets[tp.partition] = offset
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError) as error:
            # The group moved on without us (a session or poll timeout): the new owner re-reads
            # from the last commit, and handling a batch twice is harmless.
            log.warning("batch_consumer.commit_failed", error=repr(error), offsets=_by_partition(offsets))

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        if revoked:  # (the first join revokes nothing)
            log.info("batch_consumer.revoking", client_id=self.client_id, partitions=_numbers(revoked))
        async with self._handling:  # the batch being handled is finished and committed first
            self._assignment += 1
            self._next_offsets.clear()
        if revoked:
            log.info("batch_consumer.partitions_revoked", client_id=self.client_id, partitions=_numbers(revoked))


class _FinishBatchBeforeRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: BatchConsumer) -> None:
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._consumer._revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info(
            "batch_consumer.partitions_assigned",
            client_id=self._consumer.client_id,
            topic=self._consumer.topic,
            group=self._consumer.group_id,
            partitions=_numbers(assigned),
        )


def _received(record: Record) -> ReceivedMessage:
    return ReceivedMessage(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        headers=tuple(record.headers),
    )


def _numbers(partitions: set[TopicPartition]) -> list[int]:
    return sorted(tp.partition for tp in partitions)


def _first_offsets(records: list[Record]) -> dict[int, int]:
    first: dict[int, int] = {}
    for record in records:
        first.setdefault(record.partition, record.offset)
    return first


def _by_partition(offsets: dict[TopicPartition, int]) -> dict[int, int]:
    return {tp.partition: offset for tp, offset in offsets.items()}

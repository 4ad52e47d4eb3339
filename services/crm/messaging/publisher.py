"""Publish contract events to `crm.events`: acks from all replicas, idempotent producer."""

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from crm.contract.decoding import encode_event
from crm.contract.events import DomainEvent
from crm.messaging.connection import KafkaConnection, client_options
from crm.observability.metrics import PUBLISH_DURATION
from crm.observability.request_ids import record_headers


class PublishFailed(RuntimeError):
    """Kafka did not acknowledge every event in time. Some may still land: re-send the same events."""


BATCHING_THRESHOLD = 8
"""From this many events, a request is handed to Kafka as one record batch per partition (far less
per-event work); fewer are sent one by one, so concurrent small requests share produce batches."""


class EventPublisher:
    """Sends events keyed `partner_id/sme_id`; `publish` returns once Kafka has stored them all."""

    def __init__(self, kafka: KafkaConnection, topic: str, *, request_timeout_ms: int = 10_000) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            **client_options(kafka),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=request_timeout_ms,
            compression_type=None,
            max_batch_size=256 * 1024,
        )
        # The producer's default: murmur2 of the key, as the Java client, so a key keeps its partition.
        self._partitioner = DefaultPartitioner()
        # aiokafka takes one queued batch per partition and lets concurrent `send_batch` callers race
        # for the slot, charging each lost race against their timeout; queue them fairly instead.
        self._partition_turns: dict[int, asyncio.Lock] = {}
        # murmur2 is pure Python in aiokafka (~10 µs); an SME's key recurs for each of its events.
        self._partition_of: dict[tuple[bytes, int], int] = {}

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def _send_batches(
        self, events: Sequence[DomainEvent], deliveries: list[asyncio.Future[object]], headers: list[tuple[str, bytes]]
    ) -> None:
        partitions = sorted(await self._producer.partitions_for(self.topic))
        batches: dict[int, Any] = {}
        for event in events:
            key = event.kafka_key
            partition = self._partition_of.get((key, len(partitions)))
            if partition is None:
                if len(self._partition_of) > 100_000:
                    self._partition_of.clear()
                partition = self._partition_of[key, len(partitions)] = self._partitioner(key, partitions, partitions)
            batch = batches.get(partition)
            if batch is None:
                batch = batches[partition] = self._producer.create_batch()
            value = encode_event(event)
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:  # full: send, start another
                deliveries.append(await self._submit(batch, partition))
                batch = batches[partition] = self._producer.create_batch()
                batch.append(key=key, value=value, timestamp=None, headers=headers)
        for partition, batch in batches.items():
            deliveries.append(await self._submit(batch, partition))

    async def _submit(self, batch: Any, partition: int) -> "asyncio.Future[object]":
        turn = self._partition_turns.setdefault(partition, asyncio.Lock())
        async with turn:
            delivery: asyncio.Future[object] = await self._producer.send_batch(batch, self.topic, partition=partition)
            return delivery

    async def reachable(self, timeout: float = 1.0) -> bool:
        """Whether a broker answers now: a fresh metadata request within `timeout` seconds."""
        try:
            async with asyncio.timeout(timeout):
                return bool(await self._producer.client.fetch_all_metadata())
        except (TimeoutError, KafkaError, OSError):
            return False

    async def __aenter__(self) -> "EventPublisher":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, events: Sequence[DomainEvent], *, timeout: float | None = None) -> None:
        """Return when Kafka has acknowledged every event; raise PublishFailed otherwise.

        With `timeout`, give up after that many seconds. Deliveries already handed to the producer
        are not withdrawn (Kafka cannot take them back), which is why senders retry with the same
        event ids and every consumer deduplicates on `event_id`.

        Each record carries the current request's id (`crm.observability.request_ids`) in its headers.
        """
        if not events:
            return
        started = time.perf_counter()
        outcome = "failed"
        try:
            await self._publish(events, timeout, record_headers())
            outcome = "acknowledged"
        finally:
            PUBLISH_DURATION.labels(outcome).observe(time.perf_counter() - started)

    async def _publish(
        self, events: Sequence[DomainEvent], timeout: float | None, headers: list[tuple[str, bytes]]
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        deliveries: list[asyncio.Future[object]] = []
        try:
            async with asyncio.timeout_at(deadline):
                if len(events) >= BATCHING_THRESHOLD:
                    await self._send_batches(events, deliveries, headers)
                else:
                    for event in events:
                        deliveries.append(
                            await self._producer.send(
                                self.topic, value=encode_event(event), key=event.kafka_key, headers=headers or None
                            )
                        )
        except TimeoutError:
            _forget(deliveries)
            raise PublishFailed(f"Kafka did not take the events within {timeout}s") from None
        except KafkaError as error:
            _forget(deliveries)
            raise PublishFailed(f"Kafka refused the events: {error}") from error
        remaining = None if deadline is None else max(0.0, deadline - loop.time())
        # asyncio.wait, not wait_for: a timeout must not cancel the producer's own futures.
        done, pending = await asyncio.wait(deliveries, timeout=remaining)
        if pending:
            _forget(deliveries)
            raise PublishFailed(f"Kafka did not acknowledge the events within {timeout}s")
        for delivery in done:
            refusal = delivery.exception()
            if refusal is not None:
                raise PublishFailed(f"Kafka refused an event: {refusal}") from refusal


def _forget(deliveries: Sequence[asyncio.Future[object]]) -> None:
    """Retrieve late outcomes so abandoned deliveries do not log 'exception never retrieved'."""
    for delivery in deliveries:
        delivery.add_done_callback(lambda future: future.cancelled() or future.exception())

"""Publish contract events to `crm.events`: acks from all replicas, idempotent producer."""

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from crm.contract.decoding import encode_event
from crm.contract.events import DomainEvent


class EventPublisher:
    """Sends events keyed `partner_id/sme_id`; `publish` returns once Kafka has stored them all."""

    def __init__(self, bootstrap: str, topic: str, *, request_timeout_ms: int = 10_000) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            request_timeout_ms=request_timeout_ms,
            compression_type=None,
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> "EventPublisher":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        deliveries = [
            await self._producer.send(self.topic, value=encode_event(event), key=event.kafka_key) for event in events
        ]
        await asyncio.gather(*deliveries)

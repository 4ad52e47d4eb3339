"""The gateway's Kafka side: a publisher that (re)connects by itself and never waits unbounded."""

import asyncio
import contextlib
from collections.abc import Sequence

import structlog
from aiokafka.errors import KafkaError

from crm.contract.events import DomainEvent
from crm.messaging.connection import KafkaConnection
from crm.messaging.publisher import EventPublisher, PublishFailed

log = structlog.get_logger(__name__)

PRODUCER_TIMEOUT_MS = 30_000


class KafkaEventSink:
    """Publishes with a deadline of `publish_timeout` seconds, else raises PublishFailed.

    If Kafka is unreachable at start-up the gateway still starts (and answers 503); a background
    task keeps connecting. Once connected, aiokafka reconnects by itself after a broker restart.
    """

    def __init__(self, kafka: KafkaConnection, topic: str, *, publish_timeout: float) -> None:
        self._kafka = kafka
        self._topic = topic
        self._timeout = publish_timeout
        self._publisher: EventPublisher | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect(), name="kafka-connect")
        # Give a reachable Kafka the chance to be ready before the first request.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connecting), self._timeout)

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self._publisher is not None:
            await self._publisher.stop()
            self._publisher = None

    @property
    def connected(self) -> bool:
        return self._publisher is not None

    async def reachable(self) -> bool:
        """Whether Kafka answers now (for the readiness probe)."""
        return self._publisher is not None and await self._publisher.reachable(timeout=min(1.0, self._timeout))

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        if self._publisher is None:
            raise PublishFailed("not connected to Kafka yet")
        try:
            await self._publisher.publish(events, timeout=self._timeout)
        except PublishFailed as error:
            log.warning("kafka.publish_failed", reason=str(error), events=len(events))
            raise

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            # The producer's own timeout is longer than the gateway's deadline on purpose: the
            # deadline is enforced around `publish` (-> 503), while aiokafka counts this timeout
            # loosely when many requests queue for the same partition and would refuse too early.
            publisher = EventPublisher(self._kafka, self._topic, request_timeout_ms=PRODUCER_TIMEOUT_MS)
            try:
                await publisher.start()
            except (KafkaError, OSError) as error:
                with contextlib.suppress(Exception):
                    await publisher.stop()
                log.warning("kafka.unreachable", bootstrap=self._kafka.bootstrap, reason=str(error), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            self._publisher = publisher
            log.info("kafka.connected", bootstrap=self._kafka.bootstrap, topic=self._topic)
            return

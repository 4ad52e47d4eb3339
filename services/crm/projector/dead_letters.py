"""Parking undecodable messages on the dead-letter topic, with the reason in headers."""

from datetime import UTC, datetime
from typing import Any, Protocol

from crm.messaging.messages import ReceivedMessage


class Producer(Protocol):
    """The slice of aiokafka's AIOKafkaProducer we use."""

    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        *,
        headers: Any = None,
    ) -> Any: ...


# aiokafka's producer refuses requests over 1 MiB by default, but a message on the events topic
# may be as large as the broker allows (the embedded one: 2 MiB): parking such a message on the
# DLQ must not be refused on our side. The broker's own limit still applies (see below).
PRODUCER_MAX_REQUEST_BYTES = 4 * 1024 * 1024


# Kept of a message too large to be parked whole: enough to see what it was.
TRUNCATED_BYTES = 64 * 1024


def _too_large(error: BaseException) -> bool:
    # aiokafka's MessageSizeTooLargeError, raised by the client or returned by the broker; matched
    # by name, which survives any wrapping on the way.
    return "MessageSizeTooLarge" in f"{type(error).__name__} {error!r}"


class KafkaDeadLetters:
    """Sends the original bytes and key to the DLQ topic and waits for the broker's ack.

    A message too large to be parked whole (its bytes plus our headers over a producer or broker
    limit) is parked truncated, flagged with `dlq.truncated` (its original size): an unparkable
    message must not stop the consumer, and every event behind it, for good.

    Nothing here dedupes: a message handed over twice (its batch re-read after a crash, a failed
    batch or a lost commit) is parked twice, both copies naming the same `dlq.source.*` partition
    and offset.
    """

    def __init__(self, producer: Producer, topic: str, consumer_name: str) -> None:
        self._producer = producer
        self._topic = topic
        self._consumer_name = consumer_name

    async def park(self, message: ReceivedMessage, reason: str) -> None:
        headers = [
            ("dlq.reason", reason.encode()[:8000]),
            ("dlq.source.topic", message.topic.encode()),
            ("dlq.source.partition", str(message.partition).encode()),
            ("dlq.source.offset", str(message.offset).encode()),
            ("dlq.consumer", self._consumer_name.encode()),
            ("dlq.parked_at", datetime.now(UTC).isoformat().replace("+00:00", "Z").encode()),
        ]
        try:
            await self._producer.send_and_wait(self._topic, message.value, message.key, headers=headers)
        except Exception as error:
            if not _too_large(error) or message.value is None:
                raise
            truncated = [
                *headers,
                ("dlq.truncated", str(len(message.value)).encode()),
            ]
            value = message.value[:TRUNCATED_BYTES]
            await self._producer.send_and_wait(self._topic, value, message.key, headers=truncated)

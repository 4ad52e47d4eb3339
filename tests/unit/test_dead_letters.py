"""Parking on the DLQ: a message too large to park whole is parked truncated, never left blocking."""

from typing import Any

import pytest

from crm.messaging.messages import ReceivedMessage
from crm.projector.dead_letters import TRUNCATED_BYTES, KafkaDeadLetters


class MessageSizeTooLargeError(Exception):
    """Stands for aiokafka's error of that name (matched by name, as it reaches us wrapped)."""


class ProducerWithALimit:
    """A fake of aiokafka's producer (the slice we use) refusing values over `limit` bytes, as a broker would."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sent: list[tuple[str, bytes | None, bytes | None, dict[str, bytes]]] = []

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> None:
        if value is not None and len(value) > self.limit:
            raise RuntimeError(f"Error while sending: {MessageSizeTooLargeError('too large')!r}")
        self.sent.append((topic, key, value, dict(headers)))


def message(value: bytes | None) -> ReceivedMessage:
    return ReceivedMessage(topic="crm.events", partition=1, offset=7, key=b"tehnopol/a", value=value, headers=())


async def test_a_message_within_the_limit_is_parked_whole_with_its_reason() -> None:
    producer = ProducerWithALimit(limit=1000)
    await KafkaDeadLetters(producer, "dlq", "crm-projector").park(message(b"{not json"), "Invalid JSON")
    ((topic, key, value, headers),) = producer.sent
    assert (topic, key, value) == ("dlq", b"tehnopol/a", b"{not json")
    assert headers["dlq.reason"] == b"Invalid JSON" and "dlq.truncated" not in headers


async def test_a_message_too_large_to_park_whole_is_parked_truncated_and_flagged() -> None:
    producer = ProducerWithALimit(limit=TRUNCATED_BYTES)
    huge = b"x" * (3 * TRUNCATED_BYTES)
    await KafkaDeadLetters(producer, "dlq", "crm-projector").park(message(huge), "Invalid JSON")
    ((_, key, value, headers),) = producer.sent
    assert key == b"tehnopol/a" and value == huge[:TRUNCATED_BYTES]
    assert headers["dlq.truncated"] == str(len(huge)).encode() and headers["dlq.reason"] == b"Invalid JSON"


async def test_other_producer_errors_are_not_swallowed() -> None:
    class Down(ProducerWithALimit):
        async def send_and_wait(self, *args: Any, **kwargs: Any) -> None:
            raise ConnectionError("broker away")

    with pytest.raises(ConnectionError):
        await KafkaDeadLetters(Down(limit=0), "dlq", "crm-projector").park(message(b"x"), "reason")

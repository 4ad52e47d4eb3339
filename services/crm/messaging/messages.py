"""What a consumer receives from Kafka, free of any Kafka library type."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One Kafka record as read: the raw bytes, and where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

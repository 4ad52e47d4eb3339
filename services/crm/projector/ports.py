"""What the projector's batch handling needs from the outside world."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from crm.contract.events import DomainEvent
from crm.messaging.messages import ReceivedMessage


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    event: DomainEvent
    partition: int
    offset: int


class ReadModelStore(Protocol):
    async def apply(self, events: Sequence[DecodedEvent]) -> int:
        """Apply events and record them as applied, atomically. Returns how many were new."""
        ...


class DeadLetters(Protocol):
    async def park(self, message: ReceivedMessage, reason: str) -> None:
        """Put a message no one can decode aside, with the reason. Must not lose it."""
        ...

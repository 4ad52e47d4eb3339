"""What the projector's batch handling needs from the outside world."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from crm.contract.events import DomainEvent
from crm.messaging.messages import ReceivedMessage


@dataclass(frozen=True, slots=True)
class ConsumedEvent:
    """An event as consumed from `crm.events`, with where it was on the topic."""

    event: DomainEvent
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class Refused:
    """An event the store will never apply, and why (to be parked, not retried)."""

    item: ConsumedEvent
    reason: str


@dataclass(frozen=True, slots=True)
class Applied:
    """What one `apply` did: how many events were new, and which it refused as conflicts."""

    applied: int
    conflicts: list[Refused] = field(default_factory=list)


class UnstorableEvents(Exception):
    """The store can never apply these events as they are (a data error, not an outage).

    Raised for the whole batch: the caller finds the offending event by splitting the batch.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class ReadModelStore(Protocol):
    async def apply(self, events: Sequence[ConsumedEvent]) -> Applied:
        """Apply events and record them as applied, atomically; nothing is applied on a raise.

        An event whose (partner_id, event_id) is already applied with the same content is a
        duplicate (skipped); with other content it is a conflict (refused: the first applied
        stays). Raises `UnstorableEvents` when the batch can never be applied as it is; any
        other exception may pass on a retry (the database is unreachable, a deadlock).
        """
        ...


class DeadLetters(Protocol):
    async def park(self, message: ReceivedMessage, reason: str) -> None:
        """Put a message no one can decode aside, with the reason. Must not lose it."""
        ...

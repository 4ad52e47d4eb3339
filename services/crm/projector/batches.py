"""Handling one batch from Kafka: decode, park what is invalid, apply the rest atomically."""

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import structlog

from crm.contract.decoding import InvalidEvents, decode_event
from crm.messaging.messages import ReceivedMessage
from crm.projector.ports import DeadLetters, DecodedEvent, ReadModelStore

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    received: int
    applied: int
    duplicates: int
    parked: int


async def project_batch(
    messages: Sequence[ReceivedMessage],
    store: ReadModelStore,
    dead_letters: DeadLetters,
    *,
    retry_delay: float = 1.0,
    max_retry_delay: float = 30.0,
) -> BatchOutcome:
    """Project a batch. Returns only once every message is applied or parked.

    A failing store (PostgreSQL down) is retried with backoff rather than raised: the caller
    acknowledges the batch to Kafka when this returns, so returning early would lose events.
    """
    decoded: list[DecodedEvent] = []
    parked = 0
    for message in messages:
        try:
            if message.value is None:
                raise InvalidEvents([])
            event = decode_event(message.value)
        except InvalidEvents as invalid:
            reason = invalid.reason or "empty message (no value)"
            await dead_letters.park(message, reason)
            log.warning("projector.parked", partition=message.partition, offset=message.offset, reason=reason)
            parked += 1
            continue
        decoded.append(DecodedEvent(event, message.partition, message.offset))

    delay = retry_delay
    while True:
        try:
            applied = await store.apply(decoded) if decoded else 0
            break
        except Exception as exc:
            log.error("projector.store_failed", error=repr(exc), retry_in=delay, batch=len(decoded))
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_retry_delay)
    outcome = BatchOutcome(len(messages), applied, len(decoded) - applied, parked)
    log.debug("projector.batch", **asdict(outcome))
    return outcome

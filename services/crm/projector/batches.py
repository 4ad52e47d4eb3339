"""Handling one batch from Kafka: decode, park what is invalid, apply the rest atomically.

Nothing one event holds can stop the events behind it. What can never be applied is parked on
the dead-letter topic with its reason, and the batch goes on without it:
- a message that does not decode under the contract;
- an event the store refuses as data (`UnstorableEvents`: a value PostgreSQL cannot hold); the
  offending event is found by splitting the batch in halves, each half its own transaction;
- a conflict: an event id the partner already used for other content (the first copy stays).
Any other store failure (PostgreSQL down, a deadlock) may pass later and is retried with backoff
until it does, or until the service is asked to stop (`BatchAbandoned`: nothing is committed,
the next owner of the partition reads the batch again).
"""

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from crm.contract.decoding import DEFAULT_CONTEXT, InvalidEvents, decode_event
from crm.contract.upcasting import UpcastContext
from crm.messaging.batch_consumer import BatchAbandoned
from crm.messaging.messages import ReceivedMessage
from crm.observability import metrics
from crm.observability.request_ids import batch_request_ids
from crm.projector.ports import Applied, ConsumedEvent, DeadLetters, ReadModelStore, Refused, UnstorableEvents

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    received: int
    applied: int
    duplicates: int
    parked: int


@dataclass(frozen=True, slots=True)
class Retry:
    """Backoff for store failures that may pass; `stopping` set ends the waiting."""

    delay: float = 1.0
    max_delay: float = 30.0
    stopping: asyncio.Event | None = None


async def project_batch(
    messages: Sequence[ReceivedMessage],
    store: ReadModelStore,
    dead_letters: DeadLetters,
    *,
    retry: Retry | None = None,
    upcasting: UpcastContext = DEFAULT_CONTEXT,
) -> BatchOutcome:
    """Project a batch. Returns only once every message is applied or parked.

    The caller acknowledges the batch to Kafka when this returns, so it never returns early:
    it raises `BatchAbandoned` when asked to stop while the store keeps failing.

    A batch that applied events is logged at `info` (`projector.batch_applied`) with the gateway
    request ids its records carry (docs/operations.md), one that applied none at `debug`.
    """
    started = time.perf_counter()
    decoded: list[ConsumedEvent] = []
    parked = 0
    by_position = {(message.partition, message.offset): message for message in messages}
    for message in messages:
        try:
            if message.value is None:
                raise InvalidEvents([])
            event = decode_event(message.value, upcasting)
        except InvalidEvents as invalid:
            await _park(dead_letters, message, invalid.reason or "empty message (no value)")
            parked += 1
            continue
        decoded.append(ConsumedEvent(event, message.partition, message.offset))

    applied, refused = await apply_isolating(store, decoded, retry or Retry())
    for refusal in refused:
        await _park(dead_letters, by_position[refusal.item.partition, refusal.item.offset], refusal.reason)
    parked += len(refused)
    outcome = BatchOutcome(len(messages), applied, len(decoded) - applied - len(refused), parked)
    _count(outcome, time.perf_counter() - started)
    if outcome.applied:
        request_ids, more = batch_request_ids([message.headers for message in messages])
        log.info("projector.batch_applied", **asdict(outcome), request_ids=request_ids, more_request_ids=more)
    else:
        log.debug("projector.batch", **asdict(outcome))
    return outcome


def _count(outcome: BatchOutcome, seconds: float) -> None:
    metrics.BATCHES.inc()
    metrics.EVENTS_APPLIED.inc(outcome.applied)
    metrics.EVENTS_DUPLICATE.inc(outcome.duplicates)
    metrics.BATCH_DURATION.observe(seconds)


async def apply_isolating(
    store: ReadModelStore, events: Sequence[ConsumedEvent], retry: Retry
) -> tuple[int, list[Refused]]:
    """Apply `events`; returns how many were new and those refused (unstorable or conflicting).

    Used alike by the live projector and the rebuild, so both apply and refuse the same events.
    """
    if not events:
        return 0, []
    try:
        result = await _apply_retrying(store, events, retry)
    except UnstorableEvents as unstorable:
        if len(events) == 1:
            return 0, [Refused(events[0], f"unstorable: {unstorable.reason}")]
        middle = len(events) // 2
        first_applied, first_refused = await apply_isolating(store, events[:middle], retry)
        second_applied, second_refused = await apply_isolating(store, events[middle:], retry)
        return first_applied + second_applied, first_refused + second_refused
    return result.applied, result.conflicts


async def _apply_retrying(store: ReadModelStore, events: Sequence[ConsumedEvent], retry: Retry) -> Applied:
    delay = retry.delay
    failures = 0
    while True:
        try:
            if failures and retry.stopping is not None:
                return await _unless_stopping(store.apply(events), retry.stopping)
            return await store.apply(events)
        except (UnstorableEvents, BatchAbandoned):
            raise
        except Exception as exc:
            failures += 1
            log.error("projector.store_failed", error=repr(exc), retry_in=delay, batch=len(events), attempt=failures)
        if retry.stopping is not None:
            try:
                await asyncio.wait_for(retry.stopping.wait(), delay)
            except TimeoutError:
                pass
            else:
                raise BatchAbandoned(f"asked to stop while the store kept failing ({failures} attempts)")
        else:
            await asyncio.sleep(delay)
        delay = min(delay * 2, retry.max_delay)


async def _unless_stopping(attempt: Coroutine[Any, Any, Applied], stopping: asyncio.Event) -> Applied:
    """A retry attempt, given up (its transaction rolled back) if the service is asked to stop."""
    task = asyncio.ensure_future(attempt)
    waiting = asyncio.ensure_future(stopping.wait())
    await asyncio.wait((task, waiting), return_when=asyncio.FIRST_COMPLETED)
    waiting.cancel()
    if task.done():
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    raise BatchAbandoned("asked to stop during a retry of the store")


async def _park(dead_letters: DeadLetters, message: ReceivedMessage, reason: str) -> None:
    await dead_letters.park(message, reason)
    metrics.DEAD_LETTERS.labels("projector").inc()
    log.warning("projector.parked", partition=message.partition, offset=message.offset, reason=reason)

"""The projector's agent: `project_events` reads `crm.events` in batches."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import faust
from faust.types import EventT

from crm.messaging.messages import ReceivedMessage

BatchHandler = Callable[[Sequence[ReceivedMessage]], Awaitable[object]]


def received(event: EventT[bytes]) -> ReceivedMessage:  # type: ignore[type-arg]
    message = event.message
    headers: Any = message.headers or []
    pairs: list[tuple[str, Any]] = list(headers.items() if isinstance(headers, dict) else headers)
    return ReceivedMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple((str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs),
    )


def register_project_events(
    app: faust.App,
    topic: faust.TopicT,
    handle_batch: BatchHandler,
    *,
    batch_size: int,
    batch_seconds: float,
) -> None:
    """Each batch is acknowledged to Kafka only after `handle_batch` has returned."""

    @app.agent(topic, name="project_events")
    async def project_events(stream: faust.StreamT[bytes]) -> None:
        batches = stream.take_events(batch_size, within=batch_seconds)  # type: ignore[attr-defined]
        await apply_batches(batches, handle_batch)


async def apply_batches(batches: AsyncIterator[Sequence[Any]], handle_batch: BatchHandler) -> None:
    """Hand each batch over, and return to the stream (which acks it) only once it is applied."""
    async for events in batches:
        applying = asyncio.ensure_future(handle_batch([received(event) for event in events]))
        try:
            await asyncio.shield(applying)
        except asyncio.CancelledError:
            # faust-streaming 0.15.3's take_events acks the batch in a `finally`, also when the
            # agent is cancelled (SIGTERM, a stopping worker), and acked offsets get committed:
            # a batch cancelled mid-way would be skipped by the next owner. So finish applying
            # first; an acked event is then always an applied one.
            await applying
            raise

"""The agent acknowledges a batch only after it is applied, even when cancelled mid-batch."""

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from types import SimpleNamespace
from typing import Any

from crm.messaging.messages import ReceivedMessage
from crm.projector.agents import apply_batches


def fake_event(offset: int) -> Any:
    message = SimpleNamespace(topic="crm.events", partition=0, offset=offset, key=b"k", value=b"{}", headers=[])
    return SimpleNamespace(message=message)


async def test_a_batch_cancelled_mid_way_is_applied_before_the_stream_acks_it() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    applied: list[int] = []
    acked_after: list[list[int]] = []

    async def take_events() -> AsyncGenerator[Sequence[Any], None]:
        """Like faust-streaming 0.15.3's take_events: acks in `finally`, also on cancellation."""
        try:
            yield [fake_event(0), fake_event(1)]
        finally:
            acked_after.append(list(applied))

    async def handle_batch(messages: Sequence[ReceivedMessage]) -> None:
        started.set()
        await release.wait()
        applied.extend(m.offset for m in messages)

    stream = take_events()
    agent = asyncio.create_task(apply_batches(stream, handle_batch))
    await started.wait()
    agent.cancel()  # a stopping worker
    await asyncio.sleep(0)
    release.set()
    with contextlib.suppress(asyncio.CancelledError):
        await agent
    await stream.aclose()  # what Faust does with the agent's stream when it stops: runs the `finally`
    assert acked_after == [[0, 1]]  # acked only once applied

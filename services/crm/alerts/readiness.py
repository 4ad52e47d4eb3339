"""When the detector may touch the pilot table: only while Faust has it recovered.

The table is restored from its changelog when the worker starts and again on every rebalance of
the Faust group (Faust re-reads the changelog into the table). A pilot written meanwhile could be
overwritten by an older changelog record, or judged on a half-restored table. So every detector
step (an event, a timer pass) runs through `step()`: it waits until recovery has completed and
no rebalance is in progress, and a rebalance waits, in `on_partitions_revoked`, for the step in
progress and for Kafka to acknowledge every changelog write made so far.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import structlog

log = structlog.get_logger(__name__)
T = TypeVar("T")

POLL_SECONDS = 0.05  # how often a waiting step looks again; Faust has no "rebalance ended" event


class Changelog(Protocol):
    async def written(self) -> None: ...


class TableReadiness:
    def __init__(self, ready: Callable[[], bool], changelog: Changelog) -> None:
        self._ready = ready
        self._changelog = changelog
        self._step = asyncio.Lock()

    def is_ready(self) -> bool:
        return self._ready()

    async def step(self, action: Callable[[], Awaitable[T]]) -> T:
        """Run `action` once the table is ready, never while a rebalance restores it."""
        while True:
            while not self._ready():  # noqa: ASYNC110 - a condition on Faust's state, not an event
                await asyncio.sleep(POLL_SECONDS)
            async with self._step:
                if self._ready():  # a rebalance may have begun while this waited for the lock
                    return await action()

    async def on_partitions_revoked(self, *_: object, **__: object) -> None:
        """Faust signal handler: let the step in progress finish and its changelog writes land."""
        async with self._step:
            try:
                await self._changelog.written()
            except Exception as error:  # sticky: the events consumer fails on it and the worker exits
                log.error("alerts.changelog_write_lost", error=repr(error))

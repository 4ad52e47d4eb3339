"""`crm projections rebuild`: replay crm.events from offset 0 into shadow tables, then swap them in.

1. Create a shadow schema holding empty copies of the projector's tables.
2. Replay the topic with a plain aiokafka consumer (no group: the live projector's offsets are
   untouched) through the same store and rules as the live projector, into the shadow tables.
3. Lock the live tables against writes (readers go on reading), replay what arrived meanwhile,
   replace the live rows (all, or one partner's) by the shadow rows, commit. Readers see the old
   model until that commit and the new one after it, never a mix.

The live projector keeps running; during step 3 its next transaction waits for the lock, and
whatever it applied before is in Kafka below the end offsets read under the lock, so the new
tables contain it too.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.contract.decoding import InvalidEvents, decode_event
from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.db.tables import READ_MODEL_TABLES
from crm.messaging.connection import client_options
from crm.messaging.reading import records_until, remaining, topic_partitions
from crm.projector.batches import Retry, apply_isolating
from crm.projector.ports import ConsumedEvent
from crm.projector.store import PostgresReadModels
from crm.settings import ProjectorSettings, Settings

log = structlog.get_logger(__name__)

Progress = Callable[[int, int], None]
"""Called with (events read so far, events known to remain)."""

# Below this many events left, take the lock and finish; above it, catch up without the lock first.
FINAL_CATCH_UP = 5_000


@dataclass(frozen=True, slots=True)
class RebuildOutcome:
    read: int
    applied: int
    invalid: int
    refused: int
    seconds: float
    partner_id: str | None


async def rebuild_projections(
    settings: Settings,
    *,
    partner_id: str | None = None,
    batch_size: int = 5000,
    on_progress: Progress | None = None,
) -> RebuildOutcome:
    projector = ProjectorSettings.of(settings, "Rebuilding")
    engine = create_engine(projector.database_url)
    shadow = f"crm_rebuild_{uuid.uuid4().hex[:10]}"
    consumer = AIOKafkaConsumer(
        **client_options(projector.kafka),
        enable_auto_commit=False,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    started = time.monotonic()
    upcasting = UpcastContext(projector.default_programme)
    replay = _Replay(PostgresReadModels(engine, schema=shadow), partner_id, on_progress, upcasting)
    try:
        await _create_shadow(engine, shadow)
        await consumer.start()
        partitions = await topic_partitions(consumer, projector.events_topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        replay.total = sum(ends.values())
        while True:
            await replay.run(consumer, ends, batch_size)
            ends = await consumer.end_offsets(partitions)
            if await remaining(consumer, ends) <= FINAL_CATCH_UP:
                break
        await _swap_in(engine, shadow, partner_id, lambda: _final_catch_up(consumer, partitions, replay, batch_size))
    finally:
        await consumer.stop()
        async with engine.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{shadow}" CASCADE'))
        await engine.dispose()
    outcome = RebuildOutcome(
        replay.read, replay.applied, replay.invalid, replay.refused, time.monotonic() - started, partner_id
    )
    log.info("projections.rebuilt", **{k: getattr(outcome, k) for k in outcome.__slots__})
    return outcome


class _Replay:
    def __init__(
        self, store: PostgresReadModels, partner_id: str | None, on_progress: Progress | None, upcasting: UpcastContext
    ) -> None:
        self.store, self.partner_id, self.on_progress, self.upcasting = store, partner_id, on_progress, upcasting
        self.read = self.applied = self.invalid = self.refused = self.total = 0

    async def run(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], batch_size: int) -> None:
        self.total = self.read + await remaining(consumer, ends)
        async for records in records_until(consumer, ends, max_records=batch_size):
            decoded = []
            for record in records:
                try:
                    event = decode_event(record.value or b"", self.upcasting)
                except InvalidEvents:
                    self.invalid += 1  # already parked on the DLQ by the live projector
                    continue
                if self.partner_id is None or event.partner_id == self.partner_id:
                    decoded.append(ConsumedEvent(event, record.partition, record.offset))
            # The live projector's own rules: the same events refused (unstorable, or an id already
            # used for other content: the first by topic order stays), already parked by it.
            applied, refused = await apply_isolating(self.store, decoded, Retry())
            self.applied += applied
            self.refused += len(refused)
            self.read += len(records)
            if self.on_progress:
                self.on_progress(self.read, self.total)


async def _final_catch_up(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], replay: _Replay, batch_size: int
) -> None:
    await replay.run(consumer, await consumer.end_offsets(partitions), batch_size)


async def _create_shadow(engine: AsyncEngine, shadow: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{shadow}"'))
        for table in READ_MODEL_TABLES:
            await connection.execute(
                text(f'CREATE TABLE "{shadow}".{table.name} (LIKE public.{table.name} INCLUDING ALL)')
            )


async def _swap_in(
    engine: AsyncEngine,
    shadow: str,
    partner_id: str | None,
    catch_up: Callable[[], Awaitable[None]],
    attempts: int = 5,
) -> None:
    """Lock the live tables against writers, finish the replay, replace the rows: one transaction."""
    names = ", ".join(f"public.{t.name}" for t in READ_MODEL_TABLES)
    for attempt in range(1, attempts + 1):
        try:
            async with engine.begin() as connection:
                # EXCLUSIVE blocks writers (the live projector) but not readers.
                await connection.execute(text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
                await catch_up()
                for table in READ_MODEL_TABLES:
                    columns = ", ".join(c.name for c in table.columns)
                    where = " WHERE partner_id = :partner_id" if partner_id else ""
                    params = {"partner_id": partner_id} if partner_id else {}
                    await connection.execute(text(f"DELETE FROM public.{table.name}{where}"), params)
                    await connection.execute(
                        text(
                            f"INSERT INTO public.{table.name} ({columns}) "
                            f'SELECT {columns} FROM "{shadow}".{table.name}{where}'
                        ),
                        params,
                    )
            return
        except Exception as exc:  # a deadlock with the live projector: it or we retry
            if attempt == attempts or "deadlock" not in str(exc):
                raise
            log.warning("projections.swap_retry", attempt=attempt, error=repr(exc))
            await asyncio.sleep(0.5 * attempt)

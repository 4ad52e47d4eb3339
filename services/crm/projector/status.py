"""How far behind the projector is: consumer-group lag per partition and the newest applied event.

`crm status` shows it (`crm.status_metrics` in the Prometheus format)."""

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.engine import create_engine
from crm.errors import InfrastructureError
from crm.figures.applied import applied_events
from crm.messaging.connection import client_options
from crm.messaging.reading import topic_partitions
from crm.settings import ProjectorSettings, Settings


@dataclass(frozen=True, slots=True)
class PartitionLag:
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


@dataclass(frozen=True, slots=True)
class ProjectorStatus:
    group: str
    topic: str
    partitions: list[PartitionLag]
    applied_events: int
    newest_occurred_at: datetime | None
    last_applied_at: datetime | None

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)


async def projector_status(settings: Settings, engine: AsyncEngine | None = None) -> ProjectorStatus:
    """The projector group's lag and newest applied event; on `engine` if given (else its own)."""
    projector = ProjectorSettings.of(settings, "`crm status`")
    admin = AIOKafkaAdminClient(**client_options(projector.kafka))
    consumer = AIOKafkaConsumer(**client_options(projector.kafka), enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, projector.events_topic)
        ends = await consumer.end_offsets(partitions)
        committed = await _committed_offsets(admin, projector.projector_group, partitions)
    finally:
        await consumer.stop()
        await admin.close()
    lags = [
        PartitionLag(
            tp.partition, committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None, ends[tp]
        )
        for tp in partitions
    ]
    database = engine or create_engine(projector.database_url, pool_size=1)
    try:
        async with database.connect() as connection:
            applied = (await applied_events(connection)).overall
    finally:
        if engine is None:
            await database.dispose()
    return ProjectorStatus(
        projector.projector_group,
        projector.events_topic,
        lags,
        applied.events,
        applied.newest_event_at,
        applied.last_applied_at,
    )


async def _committed_offsets(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition], *, wait: float = 15.0
) -> dict[TopicPartition, OffsetAndMetadata]:
    """The group's committed offsets. On a cluster where no group has committed yet, Kafka creates
    its offsets topic on the first request and answers "coordinator not available" meanwhile: ask
    again for up to `wait` seconds."""
    deadline = time.monotonic() + wait
    while True:
        try:
            offsets: dict[TopicPartition, OffsetAndMetadata] = await admin.list_consumer_group_offsets(
                group, partitions=partitions
            )
            return offsets
        except GroupCoordinatorNotAvailableError as error:
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"Kafka has no coordinator for consumer group {group} after {wait:.0f}s; is the cluster healthy?"
                ) from error
            await asyncio.sleep(0.5)

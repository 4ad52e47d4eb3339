"""How far behind the projector is: consumer-group lag per partition and the newest applied event."""

from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import text

from crm.db.engine import create_engine
from crm.infra.errors import InfrastructureError
from crm.messaging.reading import topic_partitions
from crm.settings import Settings


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


async def projector_status(settings: Settings) -> ProjectorStatus:
    if not settings.kafka_bootstrap or not settings.database_url:
        raise InfrastructureError("`crm status` needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL.")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.events_topic)
        ends = await consumer.end_offsets(partitions)
        committed = await admin.list_consumer_group_offsets(settings.projector_group, partitions=partitions)
    finally:
        await consumer.stop()
        await admin.close()
    lags = [
        PartitionLag(
            tp.partition, committed[tp].offset if tp in committed and committed[tp].offset >= 0 else None, ends[tp]
        )
        for tp in partitions
    ]
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(text("SELECT count(*), max(occurred_at), max(applied_at) FROM applied_events"))
            ).one()
    finally:
        await engine.dispose()
    return ProjectorStatus(settings.projector_group, settings.events_topic, lags, row[0], row[1], row[2])


def prometheus_text(status: ProjectorStatus) -> str:
    """The status in the Prometheus text exposition format (for a node-exporter textfile or a scrape)."""
    group = f'group="{status.group}",topic="{status.topic}"'
    lines = [
        "# HELP crm_projector_consumer_lag Events in crm.events not yet committed by the projector group.",
        "# TYPE crm_projector_consumer_lag gauge",
        *(f'crm_projector_consumer_lag{{{group},partition="{p.partition}"}} {p.lag}' for p in status.partitions),
        "# HELP crm_projector_applied_events_total Events recorded as applied in the read models.",
        "# TYPE crm_projector_applied_events_total counter",
        f"crm_projector_applied_events_total {status.applied_events}",
        "# HELP crm_projector_newest_event_timestamp_seconds occurred_at of the newest applied event.",
        "# TYPE crm_projector_newest_event_timestamp_seconds gauge",
        f"crm_projector_newest_event_timestamp_seconds {_seconds(status.newest_occurred_at)}",
        "# HELP crm_projector_last_applied_timestamp_seconds When the projector last applied an event.",
        "# TYPE crm_projector_last_applied_timestamp_seconds gauge",
        f"crm_projector_last_applied_timestamp_seconds {_seconds(status.last_applied_at)}",
    ]
    return "\n".join(lines) + "\n"


def _seconds(at: datetime | None) -> str:
    return "NaN" if at is None else f"{at.timestamp():.3f}"

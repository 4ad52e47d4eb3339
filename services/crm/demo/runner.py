"""`crm demo`: start the pipeline, send one event of each type, show what landed, stop."""

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import structlog
from rich.console import Console
from rich.table import Table
from sqlalchemy import Row, select

from crm.contract.events import DomainEvent, rfc3339
from crm.db.engine import create_engine
from crm.db.tables import sme_timeline
from crm.demo.catalogue import one_of_each
from crm.infra.services import ServiceProcess
from crm.logs import configure_logging
from crm.messaging.publisher import EventPublisher
from crm.pipeline import running_pipeline
from crm.settings import Settings

log = structlog.get_logger(__name__)


def run_demo(settings: Settings, *, timeout: float = 120.0) -> int:
    """Returns the exit code: 0 when every event sent is visible in the read models."""
    configure_logging("warning" if settings.log_level == "info" else settings.log_level, "console")
    console = Console()
    events = one_of_each()
    with console.status("Starting Kafka, PostgreSQL and the projector..."):
        pipeline_context = running_pipeline(settings)
        pipeline = pipeline_context.__enter__()
    try:
        live = pipeline.settings
        console.print(f"Kafka {live.kafka_bootstrap}, PostgreSQL {live.database_url}")
        with console.status(f"Publishing {len(events)} events to {live.events_topic}..."):
            asyncio.run(_publish(live, events))
        with console.status("Waiting for the projector..."):
            rows = asyncio.run(_wait_for_timeline(live, events, timeout, pipeline.services["projector"]))
    finally:
        with console.status("Stopping everything..."):
            pipeline_context.__exit__(None, None, None)

    table = Table(title="What landed in PostgreSQL (sme_timeline)")
    for column in ("occurred_at", "partner", "sme", "event_type", "payload"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        payload = json.dumps(row.payload, ensure_ascii=False, separators=(",", ":"))
        table.add_row(
            rfc3339(row.occurred_at),
            row.partner_id,
            row.sme_id,
            row.event_type,
            payload[:60] + ("…" if len(payload) > 60 else ""),
        )
    console.print(table)
    missing = {e.event_id for e in events} - {row.event_id for row in rows}
    if missing:
        console.print(f"[red]{len(missing)} of {len(events)} events did not land within {timeout:.0f}s[/red]")
        return 1
    console.print(f"[green]All {len(events)} events went through Kafka and the projector into PostgreSQL.[/green]")
    return 0


async def _publish(settings: Settings, events: Sequence[DomainEvent]) -> None:
    assert settings.kafka_bootstrap
    async with EventPublisher(settings.kafka_bootstrap, settings.events_topic) as publisher:
        await publisher.publish(events)


async def _wait_for_timeline(
    settings: Settings, events: Sequence[DomainEvent], timeout: float, projector: ServiceProcess
) -> list[Row[Any]]:
    engine = create_engine(settings.database_url)
    wanted = [e.event_id for e in events]
    query = select(sme_timeline).where(sme_timeline.c.event_id.in_(wanted)).order_by(sme_timeline.c.occurred_at)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with engine.connect() as connection:
                rows = list((await connection.execute(query)).all())
            if len(rows) == len(wanted) or time.monotonic() > deadline:
                return rows
            if not projector.alive():
                log.error("demo.projector_died", log=str(projector.log_path))
                return rows
            await asyncio.sleep(0.25)
    finally:
        await engine.dispose()

"""Helpers for tests that run projector processes against the real Kafka and PostgreSQL."""

import asyncio
import random
import time
from pathlib import Path

from sqlalchemy import func, select

from crm.contract.events import DomainEvent
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.publisher import EventPublisher
from crm.settings import Settings
from tests.support.read_models import Models, models_in_database


def projector(settings: Settings, log_path: Path, **env: str) -> ServiceProcess:
    return ServiceProcess("projector", ["projector", "run"], service_environment(settings, **env), log_path)


async def publish(settings: Settings, events: list[DomainEvent]) -> None:
    async with EventPublisher(settings.kafka, settings.events_topic) as publisher:
        for start in range(0, len(events), 500):
            await publisher.publish(events[start : start + 500])


def arrival_order(events: list[DomainEvent], seed: int = 0) -> list[DomainEvent]:
    """The events shuffled, with one in five sent twice: late, out of order, redelivered."""
    rng = random.Random(seed)
    arrival = events + rng.sample(events, len(events) // 5)
    rng.shuffle(arrival)
    return arrival


async def applied_count(settings: Settings) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(applied_events)) or 0)
    finally:
        await engine.dispose()


async def wait_until_applied(settings: Settings, count: int, *, at_least: bool = False, timeout: float = 120) -> int:
    """Poll until `count` events are recorded as applied (a deadline for failing, not a speed test)."""
    deadline = time.monotonic() + timeout
    while True:
        applied = await applied_count(settings)
        if applied == count or (at_least and applied >= count) or time.monotonic() > deadline:
            return applied
        await asyncio.sleep(0.1)


async def read_models(settings: Settings, partner_id: str | None = None) -> Models:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await models_in_database(connection, partner_id)
    finally:
        await engine.dispose()

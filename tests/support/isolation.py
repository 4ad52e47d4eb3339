"""Give each test its own topics, consumer group and database on the shared servers."""

import asyncio
import uuid

import asyncpg
from sqlalchemy.engine import make_url

from crm.db.migrate import upgrade_database
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.settings import Settings


def plain_dsn(database_url: str) -> str:
    """An asyncpg DSN from a SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(database_url: str, name: str) -> str:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(database_url).set(database=name).render_as_string(hide_password=False)


async def isolated_settings(base: Settings) -> Settings:
    assert base.kafka_bootstrap and base.database_url
    suffix = uuid.uuid4().hex[:10]
    name = f"crm_test_{suffix}"
    database_url = await create_database(base.database_url, name)
    admin_url = base.database_admin_url and make_url(base.database_admin_url).set(database=name)
    settings = base.model_copy(
        update={
            "database_url": database_url,
            "database_admin_url": admin_url and admin_url.render_as_string(hide_password=False),
            "events_topic": f"test-{suffix}.events",
            "alerts_topic": f"test-{suffix}.alerts",
            "dlq_topic": f"test-{suffix}.events.dlq",
            "projector_group": f"test-{suffix}-projector",
            "alerts_group": f"test-{suffix}-alerts",
            "topic_partitions": 2,
        }
    )
    await ensure_topics(base.kafka, contract_topics(settings))
    await asyncio.to_thread(upgrade_database, database_url)
    return settings

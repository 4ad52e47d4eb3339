"""Alembic environment: async engine, URL from the Alembic config or CRM_DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

from crm.db.tables import metadata
from crm.settings import Settings

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    url = Settings().database_url
    if not url:
        raise SystemExit("Set CRM_DATABASE_URL to the database to migrate.")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


# Services migrate on start-up; the lock makes concurrent starts take turns.
MIGRATION_LOCK_KEY = 0x43524D  # "CRM"


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


async def _run_async() -> None:
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())

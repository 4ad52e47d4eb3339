"""Alembic environment: async engine, URL from the Alembic config or CRM_DATABASE_URL."""

import asyncio

from alembic import context
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crm.db.engine import asyncpg_connect_args
from crm.db.migrate import MIGRATION_LOCK_KEY
from crm.db.roles import grant_service_rights
from crm.db.tables import metadata
from crm.settings import Settings

config = context.config
if not config.get_main_option("sqlalchemy.url"):
    url = Settings().database_url
    if not url:
        raise SystemExit("Set CRM_DATABASE_URL to the database to migrate.")
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        # Two `crm db upgrade` (or services with CRM_MIGRATE_ON_START) at once take turns: the
        # second reads the version table only once the first has committed, and finds nothing to do.
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()
        # The services' group roles (crm/db/roles.py) get their rights on the tables as they now are.
        grant_service_rights(connection)


async def _run_async() -> None:
    # Through `asyncpg_connect_args`, so the URL's TLS arguments (sslmode, sslrootcert) apply here too.
    url, connect_args = asyncpg_connect_args(config.get_main_option("sqlalchemy.url") or "")
    engine = create_async_engine(url, poolclass=pool.NullPool, connect_args=connect_args)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())

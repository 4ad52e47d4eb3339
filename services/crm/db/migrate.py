"""Alembic migrations from code: `crm db upgrade` (the one-shot step of a deployment), the local
stack and the tests apply them; a service only checks the schema is current when it starts
(`prepare_schema`), unless `CRM_MIGRATE_ON_START` asks it to migrate."""

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.engine import create_engine
from crm.errors import InfrastructureError

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = 0x43524D  # "CRM": the advisory lock every upgrade holds while it runs (env.py)


class SchemaNotCurrent(InfrastructureError):
    """The database's schema is older than this release's migrations: run `crm db upgrade`."""


@dataclass(frozen=True)
class SchemaRevision:
    applied: frozenset[str]
    """The revisions in the database's `alembic_version` (none: never migrated)."""
    heads: frozenset[str]
    """This release's newest revisions."""
    known: frozenset[str]
    """Every revision this release has."""

    @property
    def current(self) -> bool:
        return self.applied == self.heads

    @property
    def ahead(self) -> bool:
        """Migrated by a newer release (revisions this one does not have)."""
        return bool(self.applied - self.known)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade_database(database_url: str, revision: str = "heads") -> None:
    """Bring the schema to `revision` under the migration lock: safe to run repeatedly, and from
    several processes at once. Blocks, so call off the event loop."""
    command.upgrade(alembic_config(database_url), revision)


async def upgrade_database_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade_database, database_url)


@functools.cache
def release_revisions() -> tuple[frozenset[str], frozenset[str]]:
    """This release's migrations: its heads, and every revision it has."""
    scripts = ScriptDirectory(str(MIGRATIONS))
    return frozenset(scripts.get_heads()), frozenset(script.revision for script in scripts.walk_revisions())


async def read_schema_revision(connection: AsyncConnection) -> SchemaRevision:
    """Where the schema on `connection` stands against this release's migrations (reads only;
    directly, not through Alembic's MigrationContext, which would log its setup every time)."""
    table = await connection.scalar(text("SELECT to_regclass('alembic_version')"))
    applied = (await connection.scalars(text("SELECT version_num FROM alembic_version"))).all() if table else []
    heads, known = release_revisions()
    return SchemaRevision(frozenset(applied), heads, known)


async def schema_revision(database_url: str) -> SchemaRevision:
    """`read_schema_revision` on a connection of its own."""
    engine = create_engine(database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await read_schema_revision(connection)
    finally:
        await engine.dispose()


def check_schema(revision: SchemaRevision, needed_by: str) -> None:
    """Raise `SchemaNotCurrent` when the schema is behind this release; a schema a newer release
    migrated is accepted with a warning (its migrations only add, docs/operations.md "Upgrading")."""
    if revision.current:
        return
    if revision.ahead:
        log.warning("schema.newer_than_release", applied=sorted(revision.applied), release_heads=sorted(revision.heads))
        return
    where = f"at revision {', '.join(sorted(revision.applied))}" if revision.applied else "not migrated"
    raise SchemaNotCurrent(
        f"{needed_by} refuses to start: the database schema is {where}, this release needs "
        f"{', '.join(sorted(revision.heads))}. Run `crm db upgrade` (as the migration role) first, "
        "or set CRM_MIGRATE_ON_START=true."
    )


def prepare_schema(database_url: str, *, migrate: bool, needed_by: str) -> None:
    """A service's start: migrate (with `CRM_MIGRATE_ON_START`), else check the schema is current."""
    if migrate:
        upgrade_database(database_url)
        return
    check_schema(asyncio.run(schema_revision(database_url)), needed_by)

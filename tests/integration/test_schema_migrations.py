"""`crm db upgrade` is the one-shot migration step, and a service only checks the schema at start
(docs/operations.md "PostgreSQL as a service"): against the real PostgreSQL."""

import asyncio
import subprocess
import sys
import uuid

import asyncpg
import pytest

from crm.db.migrate import prepare_schema, schema_revision, upgrade_database
from crm.local.services import service_environment
from crm.settings import Settings
from tests.support.cli import run_crm
from tests.support.isolation import create_database, plain_dsn

SERVICES = {
    "gateway": "The gateway",
    "query": "The query service",
    "projector": "The projector",
    "alerts": "The alerts service",
}


async def fresh_database(settings: Settings) -> Settings:
    """An empty database (never migrated) on the session's server."""
    assert settings.database_url
    url = await create_database(settings.database_url, f"crm_schema_{uuid.uuid4().hex[:10]}")
    return settings.model_copy(update={"database_url": url, "database_admin_url": None})


async def version_rows(database_url: str) -> list[str]:
    connection = await asyncpg.connect(plain_dsn(database_url))
    try:
        return [row["version_num"] for row in await connection.fetch("SELECT version_num FROM alembic_version")]
    finally:
        await connection.close()


def upgrades_at_once(environment: dict[str, str], count: int) -> list[tuple[int, str, str]]:
    """`crm db upgrade` in `count` processes started together: (exit code, stdout, stderr) of each."""
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "crm.cli", "db", "upgrade"],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    return [(run.wait(timeout=300), *run.communicate()) for run in runs]


async def test_two_concurrent_upgrades_end_with_one_migrated_schema(infrastructure: Settings) -> None:
    fresh = await fresh_database(infrastructure)
    outcomes = await asyncio.to_thread(upgrades_at_once, service_environment(fresh), 2)

    assert [code for code, _, _ in outcomes] == [0, 0], outcomes
    assert all("database schema is up to date" in out for _, out, _ in outcomes), outcomes
    assert fresh.database_url
    revision = await schema_revision(fresh.database_url)
    assert revision.current
    assert sorted(await version_rows(fresh.database_url)) == sorted(revision.heads)


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_refuses_an_unmigrated_database_naming_crm_db_upgrade(
    infrastructure: Settings, service: str
) -> None:
    fresh = await fresh_database(infrastructure)

    result = await asyncio.to_thread(run_crm, fresh, service, "run")

    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert result.stderr.startswith(f"error: {SERVICES[service]} refuses to start"), result.stderr
    assert "not migrated" in result.stderr and "`crm db upgrade`" in result.stderr, result.stderr
    assert fresh.database_url
    assert await version_rows_or_none(fresh.database_url) is None, "the service migrated the database"


async def version_rows_or_none(database_url: str) -> list[str] | None:
    try:
        return await version_rows(database_url)
    except asyncpg.UndefinedTableError:
        return None


async def test_a_schema_behind_the_release_is_refused_with_its_revision(infrastructure: Settings) -> None:
    fresh = await fresh_database(infrastructure)
    assert fresh.database_url
    await asyncio.to_thread(upgrade_database, fresh.database_url, "0010")

    result = await asyncio.to_thread(run_crm, fresh, "query", "run")

    assert result.returncode == 3, (result.returncode, result.stdout, result.stderr)
    assert "at revision 0010" in result.stderr and "`crm db upgrade`" in result.stderr, result.stderr


async def test_migrate_on_start_brings_the_schema_up_to_date(infrastructure: Settings) -> None:
    fresh = await fresh_database(infrastructure)
    assert fresh.database_url

    await asyncio.to_thread(prepare_schema, fresh.database_url, migrate=True, needed_by="A service")

    assert (await schema_revision(fresh.database_url)).current
    # ... and then a service that only checks starts on it.
    await asyncio.to_thread(prepare_schema, fresh.database_url, migrate=False, needed_by="A service")

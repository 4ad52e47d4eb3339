"""The least-privilege layout (crm/db/roles.py) on the real PostgreSQL: a login in each service's
group role does that service's job through the service's own adapters, and is refused what the
service must not do. The migration role here is `crm_app`, the owner of the test database."""

import asyncio
import json
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.alerts.controls import acknowledge_alert, load_controls
from crm.auth.tokens import TokenStore
from crm.contract.decoding import decode_event
from crm.db.engine import create_engine
from crm.db.migrate import schema_revision, upgrade_database
from crm.db.roles import SERVICE_ROLES, create_service_roles
from crm.figures.kpis import programme_kpis
from crm.gateway.claims import PostgresEventClaims
from crm.local.services import service_environment
from crm.projector.ports import ConsumedEvent
from crm.projector.store import PostgresReadModels
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope
from tests.support.isolation import create_database, plain_dsn


@dataclass(frozen=True)
class Layout:
    owner_url: str
    logins: dict[str, str]
    """Service (gateway, ...) -> URL of a LOGIN member of its group role."""
    token: str
    """An analyst's token, created by the owner."""


async def _admin(settings: Settings, sql: str) -> None:
    assert settings.database_admin_url
    connection = await asyncpg.connect(plain_dsn(settings.database_admin_url))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def layout(infrastructure: Settings) -> Iterator[Layout]:
    assert infrastructure.database_url and infrastructure.database_admin_url, "roles need the administrator"
    owner_url = asyncio.run(create_database(infrastructure.database_url, f"crm_roles_{uuid.uuid4().hex[:10]}"))
    asyncio.run(create_service_roles(infrastructure.database_admin_url))
    suffix, password = uuid.uuid4().hex[:8], secrets.token_urlsafe(16)
    logins = {role.name.removeprefix("crm_"): f"{role.name}_{suffix}" for role in SERVICE_ROLES}
    for role in SERVICE_ROLES:
        login = logins[role.name.removeprefix("crm_")]
        asyncio.run(_admin(infrastructure, f"CREATE ROLE {login} LOGIN PASSWORD '{password}' IN ROLE {role.name}"))
    upgrade_database(owner_url)  # grants the group roles their rights
    token = asyncio.run(_create_token(owner_url))
    base = make_url(owner_url)
    urls = {
        service: base.set(username=login, password=password).render_as_string(hide_password=False)
        for service, login in logins.items()
    }
    try:
        yield Layout(owner_url, urls, token)
    finally:
        for login in logins.values():
            asyncio.run(_admin(infrastructure, f"DROP ROLE {login}"))


async def _create_token(owner_url: str) -> str:
    store = TokenStore(create_engine(owner_url, pool_size=1))
    try:
        _, token = await store.create("analyst", label="roles test")
    finally:
        await store.close()
    return token


@pytest.fixture
async def engines(layout: Layout) -> AsyncIterator[dict[str, AsyncEngine]]:
    made = {service: create_engine(url, pool_size=1) for service, url in layout.logins.items()}
    yield made
    for engine in made.values():
        await engine.dispose()


def example_events() -> list[ConsumedEvent]:
    return [ConsumedEvent(decode_event(json.dumps(envelope(t))), 0, i) for i, t in enumerate(sorted(EXAMPLES))]


async def refused(engine: AsyncEngine, sql: str) -> bool:
    """Whether PostgreSQL refuses `sql` to this engine's role for want of a privilege."""
    try:
        async with engine.begin() as connection:
            await connection.execute(text(sql))
    except Exception as error:
        if isinstance(getattr(error, "orig", None), Exception) and "permission denied" in str(error):
            return True
        raise
    return False


async def test_every_service_role_can_check_the_schema(layout: Layout) -> None:
    for url in layout.logins.values():
        assert (await schema_revision(url)).current


async def test_the_gateway_role_verifies_tokens_and_claims_events_but_reads_no_read_model(
    layout: Layout, engines: dict[str, AsyncEngine]
) -> None:
    gateway = engines["gateway"]

    assert await TokenStore(gateway).verify(layout.token) is not None
    await PostgresEventClaims(gateway).claim([consumed.event for consumed in example_events()])

    assert await refused(gateway, "SELECT count(*) FROM smes")
    assert await refused(gateway, "SELECT count(*) FROM applied_events")
    assert await refused(gateway, "DELETE FROM accepted_events")
    assert await refused(gateway, "UPDATE api_tokens SET revoked_at = now()")


async def test_the_projector_role_applies_events_but_reads_no_token(engines: dict[str, AsyncEngine]) -> None:
    projector = engines["projector"]

    assert (await PostgresReadModels(projector).apply(example_events())).applied == len(EXAMPLES)

    assert await refused(projector, "SELECT count(*) FROM api_tokens")
    assert await refused(projector, "SELECT count(*) FROM accepted_events")
    assert await refused(projector, "UPDATE alerts SET acknowledged_at = now()")
    assert await refused(projector, "CREATE TABLE public.intruder (id int)")


async def test_the_query_role_reads_every_row_and_acknowledges_but_applies_nothing(
    engines: dict[str, AsyncEngine],
) -> None:
    await PostgresReadModels(engines["projector"]).apply(example_events())  # already applied: no-op
    query = engines["query"]

    async with query.connect() as connection:
        kpis = await programme_kpis(connection)
        smes = await connection.scalar(text("SELECT count(*) FROM smes"))  # row-level security: its policy
        known = await acknowledge_alert(connection, uuid.uuid4(), datetime.now(UTC))
        # Freezing a report (crm/reports/store.py) adds rows, never rewrites one: checked as privileges.
        freezes = await connection.scalar(
            text("SELECT has_table_privilege('reports', 'INSERT') AND has_table_privilege('report_steps', 'INSERT')")
        )
        rewrites = await connection.scalar(text("SELECT has_table_privilege('reports', 'UPDATE')"))
    assert smes and smes > 0 and kpis
    assert known is False
    assert freezes and not rewrites

    assert await refused(query, "INSERT INTO applied_events (partner_id, event_id) VALUES ('p', gen_random_uuid())")
    assert await refused(query, "UPDATE smes SET name = 'x'")
    assert await refused(query, "SELECT count(*) FROM accepted_events")


async def test_the_alerts_role_reads_its_controls_but_writes_no_read_model(engines: dict[str, AsyncEngine]) -> None:
    alerts = engines["alerts"]

    async with alerts.connect() as connection:
        await load_controls(connection)
        await connection.scalar(text("SELECT count(*) FROM pilots"))
        await connection.scalar(text("SELECT count(*) FROM alert_outbox"))

    assert await refused(alerts, "UPDATE pilots SET title = 'x'")
    assert await refused(alerts, "SELECT count(*) FROM api_tokens")
    assert await refused(alerts, "INSERT INTO pilot_snoozes (partner_id, pilot_id) VALUES ('p', 'q')")


def crm_db_roles_apply(settings: Settings, database_url: str, admin_url: str) -> subprocess.CompletedProcess[str]:
    environment = service_environment(
        settings.model_copy(update={"database_url": database_url}), CRM_DATABASE_ADMIN_URL=admin_url
    )
    return subprocess.run(
        [sys.executable, "-m", "crm.cli", "db", "roles", "--apply"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_crm_db_roles_apply_creates_the_roles_and_grants_their_rights(
    infrastructure: Settings, layout: Layout
) -> None:
    assert infrastructure.database_url and infrastructure.database_admin_url
    owner_url = await create_database(infrastructure.database_url, f"crm_roles_{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(upgrade_database, owner_url)  # the group roles exist (`layout`): granted here too
    admin_url = make_url(infrastructure.database_admin_url).set(database=make_url(owner_url).database)
    owner = await asyncpg.connect(plain_dsn(owner_url))
    try:
        await owner.execute("REVOKE ALL ON api_tokens FROM crm_gateway")  # as if granted before this table
        result = await asyncio.to_thread(
            crm_db_roles_apply, infrastructure, owner_url, admin_url.render_as_string(hide_password=False)
        )
        regranted = await owner.fetchval("SELECT has_table_privilege('crm_gateway', 'api_tokens', 'SELECT')")
    finally:
        await owner.close()

    assert result.returncode == 0, result.stderr
    assert result.stdout == "service roles ready: crm_gateway, crm_projector, crm_query, crm_alerts\n"
    assert regranted

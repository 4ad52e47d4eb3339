"""Row-level security from a real PostgreSQL login of a partner's analyst (`crm sql grant`)."""

import uuid

import asyncpg
import pytest

from crm.db.engine import create_engine
from crm.query.sql_access import grant_partner_login, revoke_partner_login
from crm.settings import Settings
from tests.support.isolation import plain_dsn
from tests.support.query import load_4smartgrowth

pytestmark = pytest.mark.infra

VIEWS = ("smes", "sme_markets", "pilots", "agreements", "alerts", "sme_timeline")


async def test_a_partner_login_sees_only_its_partner_rows_and_no_other_table(isolated: Settings) -> None:
    await load_4smartgrowth(isolated)
    engine = create_engine(isolated.database_url, pool_size=1)
    role = f"crm_test_{uuid.uuid4().hex[:10]}"  # roles are cluster-wide; tests share the server
    login = await grant_partner_login(engine, "tehnopol", role)
    owner = await asyncpg.connect(plain_dsn(isolated.database_url or ""))
    partner = await asyncpg.connect(login.dsn(plain_dsn(isolated.database_url or "")))
    try:
        assert await partner.fetchval("SELECT current_user") == role
        for view in VIEWS:
            seen = await partner.fetch(f"SELECT DISTINCT partner_id FROM reporting.{view}")
            assert [r["partner_id"] for r in seen] == ["tehnopol"], view
            mine = await partner.fetchval(f"SELECT count(*) FROM reporting.{view}")
            theirs = await owner.fetchval(f"SELECT count(*) FROM reporting.{view} WHERE partner_id = 'tehnopol'")
            assert mine == theirs > 0, view
        # The base tables behind the views are filtered the same way (psql users find them too).
        assert await partner.fetchval("SELECT count(DISTINCT partner_id) FROM public.smes") == 1
        assert await partner.fetchval("SELECT count(*) FROM smes WHERE partner_id = 'sisp'") == 0
        stalled = await partner.fetchval("SELECT count(*) FROM reporting.pilots WHERE stalled AND status = 'open'")
        assert stalled == 1  # the scenario's figure for tehnopol
        for table in ("api_tokens", "applied_events", "partner_webhooks", "alert_outbox", "reporting.partner_roles"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await partner.fetch(f"SELECT * FROM {table} LIMIT 1")
        for statement in (
            "DELETE FROM smes",
            "UPDATE pilots SET status = 'closed'",
            "INSERT INTO reporting.partner_roles VALUES (current_user, 'sisp')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await partner.execute(statement)
        # Nor can it step around the policy: other roles, row security off, its own objects.
        owner_role = await owner.fetchval("SELECT current_user")
        for statement in (
            f'SET ROLE "{owner_role}"',
            "ALTER TABLE smes DISABLE ROW LEVEL SECURITY",
            "DROP POLICY partner_rows ON smes",
            "CREATE TABLE public.mine (x int)",
            "CREATE VIEW reporting.everything AS SELECT * FROM smes",
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(asyncpg.PostgresError) as refused:
                await partner.execute(statement)
            assert not isinstance(refused.value, asyncpg.PostgresSyntaxError), (statement, refused.value)
        await partner.execute("SET ROLE crm_partner_reader")  # its group: allowed, and sees less, not more
        assert await partner.fetchval("SELECT count(*) FROM reporting.smes") == 0
        await partner.execute("RESET ROLE")
        await partner.execute("SET row_security = off")  # then a query RLS would filter is an error
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await partner.fetch("SELECT * FROM smes")
        await partner.execute("RESET row_security")
        assert await partner.fetchval("SELECT count(DISTINCT partner_id) FROM reporting.smes") == 1
        # The services connect as the owner and still see every partner.
        assert await owner.fetchval("SELECT count(DISTINCT partner_id) FROM smes") == 5
        documented = await owner.fetchval("SELECT obj_description('reporting.pilots'::regclass)")
        assert "stalled" in documented
    finally:
        await partner.close()
        await owner.close()
        assert await revoke_partner_login(engine, role)
        await engine.dispose()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(login.dsn(plain_dsn(isolated.database_url or "")))

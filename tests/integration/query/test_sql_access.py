"""A real PostgreSQL login of a partner's analyst (`crm sql grant`): its partner's rows only, by
every way PostgreSQL offers to look (the views, the base tables, the planner, the catalogue)."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

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
    engine = create_engine(isolated.database_admin_url or isolated.database_url, pool_size=1)
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
            theirs = await owner.fetchval(f"SELECT count(*) FROM {view} WHERE partner_id = 'tehnopol'")
            assert mine == theirs > 0, view
        stalled = await partner.fetchval("SELECT count(*) FROM reporting.pilots WHERE stalled AND status = 'open'")
        assert stalled == 1  # the scenario's figure for tehnopol
        # No base table, nor the unfiltered views behind the reporting ones, nor any other table.
        hidden = [f"public.{view}" for view in VIEWS] + [f"reporting_private.{view}" for view in VIEWS]
        hidden += ["api_tokens", "applied_events", "partner_webhooks", "alert_outbox", "reporting.partner_roles"]
        for table in hidden:
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await partner.fetch(f"SELECT * FROM {table} LIMIT 1")
        assert await partner.fetchval("SELECT reporting.my_partner()") == "tehnopol"
        for statement in (
            "DELETE FROM smes",
            "UPDATE pilots SET status = 'closed'",
            "INSERT INTO reporting.partner_roles VALUES (current_user, 'sisp')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await partner.execute(statement)
        # Nor can it step around the functions: other roles, changing them, its own objects.
        owner_role = await owner.fetchval("SELECT current_user")
        for statement in (
            f'SET ROLE "{owner_role}"',
            "ALTER FUNCTION reporting.smes_rows() SECURITY INVOKER",
            "CREATE OR REPLACE FUNCTION reporting.my_partner() RETURNS varchar LANGUAGE sql AS $$ SELECT 'sisp' $$",
            "CREATE OR REPLACE VIEW reporting.smes AS SELECT * FROM reporting_private.smes",
            "CREATE SCHEMA mine",
            "CREATE TABLE public.mine (x int)",
            "CREATE VIEW reporting.everything AS SELECT * FROM smes",
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        ):
            with pytest.raises(asyncpg.PostgresError) as refused:
                await partner.execute(statement)
            assert not isinstance(refused.value, asyncpg.PostgresSyntaxError), (statement, refused.value)
        await partner.execute("SET ROLE crm_partner_reader")  # its group: allowed, and sees no more
        assert await partner.fetch("SELECT DISTINCT partner_id FROM reporting.smes") == [("tehnopol",)]
        await partner.execute("RESET ROLE")
        # The services connect as the owner and still see every partner.
        assert await owner.fetchval("SELECT count(DISTINCT partner_id) FROM smes") == 5
        documented = await partner.fetchval("SELECT obj_description('reporting.pilots'::regclass)")
        assert "stalled" in documented
    finally:
        await partner.close()
        await owner.close()
        assert await revoke_partner_login(engine, role)
        await engine.dispose()
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(login.dsn(plain_dsn(isolated.database_url or "")))


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


async def test_the_planner_and_the_catalogue_show_a_partner_login_nothing_of_other_partners_rows(
    isolated: Settings,
) -> None:
    await load_4smartgrowth(isolated)
    engine = create_engine(isolated.database_admin_url or isolated.database_url, pool_size=1)
    login = await grant_partner_login(engine, "tehnopol", f"crm_test_{uuid.uuid4().hex[:10]}")
    owner = await asyncpg.connect(plain_dsn(isolated.database_url or ""))
    partner = await asyncpg.connect(login.dsn(plain_dsn(isolated.database_url or "")))
    try:
        await owner.execute("ANALYZE")  # statistics exist, for whoever may read them
        await partner.execute("SET enable_seqscan = off")  # as the review did: index scans, filters
        for view in VIEWS:
            own = await owner.fetchval(f"SELECT count(*) FROM {view} WHERE partner_id = 'tehnopol'")
            everyone = await owner.fetchval(f"SELECT count(*) FROM {view}")
            assert everyone > own > 0, view  # there are other partners' rows to leak
            for condition in ("partner_id >= ''", "partner_id = 'sisp'", "true"):
                explained = await partner.fetchval(
                    f"EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT * FROM reporting.{view} WHERE {condition}"
                )
                nodes = list(_plan_nodes(json.loads(explained)[0]["Plan"]))
                # Nothing of what lies under the function: no table, no index, no filter of theirs.
                assert {node.get("Relation Name") for node in nodes} == {None}, (view, nodes)
                assert {node.get("Index Name") for node in nodes} == {None}, (view, nodes)
                for node in nodes:
                    counted = node["Actual Rows"] * node["Actual Loops"] + node.get("Rows Removed by Filter", 0)
                    assert counted <= own, (view, condition, node)
        # The catalogue's row counts and sizes (of every partner's rows) are withheld.
        for query in (
            "SELECT reltuples FROM pg_class WHERE relname = 'smes'",
            "SELECT relpages FROM pg_class WHERE relname = 'sme_timeline'",
            "SELECT n_live_tup FROM pg_stat_user_tables WHERE relname = 'smes'",
            "SELECT pg_stat_get_live_tuples('public.smes'::regclass)",
            "SELECT tup_inserted FROM pg_stat_database WHERE datname = current_database()",
            "SELECT pg_relation_size('public.smes')",
            "SELECT pg_total_relation_size('public.sme_timeline')",
            "SELECT pg_database_size(current_database())",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await partner.fetch(query)
        assert await owner.fetch("SELECT attname FROM pg_stats WHERE tablename = 'smes'")  # the owner's, yes
        assert await partner.fetch("SELECT attname FROM pg_stats WHERE tablename = 'smes'") == []
        # What a SQL tool needs to list the views still works.
        listed = await partner.fetch(
            "SELECT c.relname, c.relkind FROM pg_class c WHERE c.relnamespace = 'reporting'::regnamespace"
            " AND c.relkind = 'v' ORDER BY 1"
        )
        assert [row["relname"] for row in listed] == sorted(VIEWS)
    finally:
        await partner.close()
        await owner.close()
        assert await revoke_partner_login(engine, login.role)
        await engine.dispose()

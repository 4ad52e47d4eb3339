"""Migration 0009 on a database holding SMEs: they are filled with the deployment's default
programme, `reporting.smes` shows it, and the way down gives back 0008's schema."""

import asyncio
import uuid
from argparse import Namespace

import asyncpg
import pytest
from alembic import command

from crm.db.migrate import alembic_config
from crm.settings import Settings
from tests.support.isolation import create_database, plain_dsn

pytestmark = pytest.mark.infra

_SME = """
INSERT INTO smes (partner_id, sme_id, first_activity_at, last_activity_at)
VALUES ('tehnopol', $1, now(), now())
"""


async def _migrate(url: str, direction: str, revision: str, *x: str) -> None:
    config = alembic_config(url)
    config.cmd_opts = Namespace(x=list(x))
    await asyncio.to_thread(getattr(command, direction), config, revision)


async def test_existing_smes_get_the_default_programme_of_the_deployment_and_the_way_down_drops_it(
    infrastructure: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert infrastructure.database_url
    url = await create_database(infrastructure.database_url, f"crm_test_{uuid.uuid4().hex[:10]}")
    await _migrate(url, "upgrade", "0008")
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute(_SME, "ee-old")
        monkeypatch.setenv("CRM_DEFAULT_PROGRAMME", "prog-x")  # what the services' settings say
        await _migrate(url, "upgrade", "0009")
        assert await connection.fetch("SELECT sme_id, programme_id FROM smes") == [("ee-old", "prog-x")]
        assert await connection.fetchval(_NULLABLE) == "NO"
        columns = [r["attname"] for r in await connection.fetch(_VIEW_COLUMNS, "reporting.smes")]
        assert columns[:3] == ["partner_id", "sme_id", "programme_id"] and "in_matchmaking" in columns
        assert await connection.fetchval(_DEFINER, "reporting.smes_rows") is True
        assert await connection.fetchval(_GRANTS) == (False, True, True)
        assert await connection.fetchval("SELECT to_regclass('ix_smes_programme_partner')::text") is not None

        await _migrate(url, "downgrade", "0008")
        assert "programme_id" not in [r["attname"] for r in await connection.fetch(_VIEW_COLUMNS, "reporting.smes")]
        assert "programme_id" not in [r["attname"] for r in await connection.fetch(_VIEW_COLUMNS, "public.smes")]
        assert await connection.fetchval(_DEFINER, "reporting.smes_rows") is True

        await connection.execute(_SME, "ee-older")
        await _migrate(url, "upgrade", "0009", "default_programme=prog-y")  # `alembic -x` wins
        assert set(await connection.fetch("SELECT programme_id FROM smes")) == {("prog-y",)}
        await _migrate(url, "downgrade", "0008")
        with pytest.raises(Exception, match="pattern"):  # not a programme id: nothing migrated
            await _migrate(url, "upgrade", "0009", "default_programme=Not A Slug")
        assert await connection.fetchval("SELECT version_num FROM alembic_version") == "0008"
    finally:
        await connection.close()


_VIEW_COLUMNS = "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 ORDER BY attnum"
_NULLABLE = (
    "SELECT is_nullable FROM information_schema.columns WHERE table_name = 'smes' AND column_name = 'programme_id'"
)
# PUBLIC may not call the function, the partners' group may, and may read the view.
_GRANTS = """SELECT (has_function_privilege('public', 'reporting.smes_rows()', 'EXECUTE'),
                     has_function_privilege('crm_partner_reader', 'reporting.smes_rows()', 'EXECUTE'),
                     has_table_privilege('crm_partner_reader', 'reporting.smes', 'SELECT'))"""
_DEFINER = "SELECT prosecdef FROM pg_proc WHERE oid = $1::regproc"

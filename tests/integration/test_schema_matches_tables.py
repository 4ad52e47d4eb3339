"""The table definitions the code uses and the schema Alembic builds do not drift apart."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

import crm.db.alert_tables  # noqa: F401 - registers the alerts tables on the shared metadata
from crm.db.engine import create_engine
from crm.db.tables import metadata
from crm.settings import Settings

pytestmark = pytest.mark.infra


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    known = set(metadata.tables)
    # Only the tables the code defines: views, the reporting schema and alembic_version are the
    # migrations' own business.
    return [
        diff
        for diff in compare_metadata(context, metadata)
        if not (isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name not in known)
        and not (isinstance(diff, tuple) and diff[0] in ("remove_index", "add_index"))
    ]


async def test_migrated_schema_has_every_table_and_column_the_code_defines(isolated: Settings) -> None:
    engine = create_engine(isolated.database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []

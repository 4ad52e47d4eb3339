"""PostgreSQL's ceiling for the projector's writes: COPY of the very rows the projector wrote.

The rows of every read-model table are read out of a database the projector filled (not timed)
and COPYed (asyncpg `copy_records_to_table`) into the same, freshly migrated tables of another
database, with their keys and indexes, in one transaction: rows/s.
"""

import time
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench.replay_source import Timed
from crm.db.tables import READ_MODEL_TABLES


def _dsn(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


async def read_model_rows(database_url: str) -> dict[str, tuple[list[str], list[Any]]]:
    """Every row of every read-model table: (columns, records) per table."""
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        out = {}
        for table in READ_MODEL_TABLES:
            columns = [c.name for c in table.columns]
            records = await connection.fetch(f"SELECT {', '.join(columns)} FROM public.{table.name}")
            out[table.name] = (columns, records)
        return out
    finally:
        await connection.close()


async def copy_rows(database_url: str, rows: dict[str, tuple[list[str], list[Any]]]) -> Timed:
    connection = await asyncpg.connect(_dsn(database_url))
    try:
        count = sum(len(records) for _, records in rows.values())
        started = time.perf_counter()
        async with connection.transaction():
            for name, (columns, records) in rows.items():
                await connection.copy_records_to_table(name, records=records, columns=columns, schema_name="public")
        return Timed(count, time.perf_counter() - started)
    finally:
        await connection.close()

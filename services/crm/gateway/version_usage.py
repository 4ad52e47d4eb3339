"""Who still sends older contract versions: what the gateway counted per partner (migration 0008).

`claim_accepted_events` counts every newly accepted event of a version older than the current one
in `contract_version_usage`; this reads it back for `crm status`, with each version's sunset.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.engine import create_engine
from crm.errors import InfrastructureError
from crm.settings import Settings

_USAGE = text(
    "SELECT partner_id, schema_version, events, first_at, last_at FROM contract_version_usage "
    "ORDER BY schema_version, partner_id"
)


@dataclass(frozen=True, slots=True)
class VersionUsage:
    partner_id: str
    schema_version: int
    events: int
    first_at: datetime
    last_at: datetime
    sunset: date | None


async def version_usage(connection: AsyncConnection, sunsets: Mapping[int, date]) -> list[VersionUsage]:
    """Per partner and older version: distinct events accepted in it, first and last when."""
    rows = (await connection.execute(_USAGE)).all()
    return [
        VersionUsage(
            row.partner_id, row.schema_version, row.events, row.first_at, row.last_at, sunsets.get(row.schema_version)
        )
        for row in rows
    ]


async def read_version_usage(settings: Settings) -> list[VersionUsage]:
    """`version_usage` on the deployment's database (`crm status`)."""
    if not settings.database_url:
        raise InfrastructureError("`crm status` needs CRM_DATABASE_URL.")
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            return await version_usage(connection, settings.contract_sunsets)
    finally:
        await engine.dispose()

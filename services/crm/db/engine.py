"""The async engine. Created by a composition root, never at import time."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from crm.errors import InfrastructureError


def create_engine(database_url: str | None, *, pool_size: int = 5) -> AsyncEngine:
    if not database_url:
        raise InfrastructureError("No database URL: set CRM_DATABASE_URL or start the embedded PostgreSQL.")
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


async def driver_connection(connection: AsyncConnection) -> Any:
    """The asyncpg connection under `connection` (same transaction): for reads whose rows go
    straight into our own objects, without SQLAlchemy's row processing."""
    raw = await connection.get_raw_connection()
    return raw.driver_connection

"""The async engine. Created by a composition root, never at import time."""

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm.infra.errors import InfrastructureError


def create_engine(database_url: str | None, *, pool_size: int = 5) -> AsyncEngine:
    if not database_url:
        raise InfrastructureError("No database URL: set CRM_DATABASE_URL or start the embedded PostgreSQL.")
    return create_async_engine(
        database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )

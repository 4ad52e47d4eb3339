"""The database a `crm` sub-command works on: one small engine for the command's lifetime."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from crm.infra.errors import InfrastructureError
from crm.settings import Settings

T = TypeVar("T")


def with_engine(action: Callable[[AsyncEngine], Awaitable[T]], *, holding: str = "the read models") -> T:
    """Run `action` on an engine of CRM_DATABASE_URL and dispose of it after; a clear error when unset."""
    from crm.db.engine import create_engine

    settings = Settings()
    if not settings.database_url:
        raise InfrastructureError(f"Set CRM_DATABASE_URL to the database holding {holding}.")

    async def run() -> T:
        engine = create_engine(settings.database_url, pool_size=1)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())

"""The database a `crm` sub-command works on: one small engine for the command's lifetime."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from crm.cli.settings import cli_settings, require_database
from crm.settings import Settings

T = TypeVar("T")


def with_engine(
    action: Callable[[AsyncEngine], Awaitable[T]],
    *,
    holding: str = "the read models",
    settings: Settings | None = None,
    url: str | None = None,
) -> T:
    """Run `action` on an engine of the database (CRM_DATABASE_URL, else the running stack's, or
    `url`) and dispose of it after; one clear line when there is none."""
    from crm.db.engine import create_engine

    database_url = url or require_database(settings or cli_settings(), holding)

    async def run() -> T:
        engine = create_engine(database_url, pool_size=1)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())

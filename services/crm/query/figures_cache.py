"""KPIs and funnels are folds over every row; computing them for each request does not scale.

A result is kept under the key (query, as_of, programme, the database snapshot it was computed after;
the KPIs' targets come from `programme_versions`, read in the same snapshot).
PostgreSQL's `pg_current_snapshot()` (xmin:xmax:in-progress xids) changes whenever any write
transaction starts or commits, and two reads with the same snapshot see the same data: a hit is
never stale. Writes elsewhere in the cluster only cause extra misses. Checking costs one tiny
query instead of scanning 100,000 SMEs.
"""

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from copy import deepcopy
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.contract.upcasting import IMPLICIT_PROGRAMME
from crm.figures.kpis import partner_funnel, programme_kpis

_SNAPSHOT = text("SELECT pg_current_snapshot()::text")


class FiguresCache:
    """`default_programme`: whose targets the KPIs asked for no programme are set against."""

    def __init__(self, size: int = 256, *, default_programme: str = IMPLICIT_PROGRAMME) -> None:
        self._size = size
        self._default_programme = default_programme
        self._entries: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()

    async def programme_kpis(
        self, connection: AsyncConnection, as_of: datetime | None, programme_id: str | None = None
    ) -> dict[str, Any]:
        key = ("kpis", as_of, programme_id)
        return await self._cached(
            connection,
            key,
            lambda: programme_kpis(
                connection, as_of, programme_id=programme_id, default_programme=self._default_programme
            ),
        )

    async def partner_funnel(
        self, connection: AsyncConnection, partner_id: str, as_of: datetime | None, programme_id: str | None = None
    ) -> dict[str, Any]:
        key = ("funnel", partner_id, as_of, programme_id)
        return await self._cached(
            connection, key, lambda: partner_funnel(connection, partner_id, as_of, programme_id=programme_id)
        )

    async def _cached(
        self, connection: AsyncConnection, key: tuple[Any, ...], compute: Callable[[], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        # Taken before computing: a write committing meanwhile can only make the result newer than its key.
        snapshot = await connection.scalar(_SNAPSHOT)
        full_key = (*key, snapshot)
        found = self._entries.get(full_key)
        if found is not None:
            self._entries.move_to_end(full_key)
            return deepcopy(found)
        result = await compute()
        self._entries[full_key] = deepcopy(result)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return result

"""The PostgreSQL read-model store: rows and their tracking records in one transaction."""

from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.tables import applied_events, sme_timeline
from crm.projector.ports import DecodedEvent
from crm.projector.rules import timeline_entry


class PostgresReadModels:
    """Applies a batch in one transaction; events already recorded as applied are skipped."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def apply(self, events: Sequence[DecodedEvent]) -> int:
        unique = {item.event.event_id: item for item in events}  # duplicates inside one batch
        async with self._engine.begin() as connection:
            claimed = await connection.execute(
                insert(applied_events)
                .values(
                    [
                        {
                            "event_id": item.event.event_id,
                            "partner_id": item.event.partner_id,
                            "event_type": item.event.event_type,
                            "occurred_at": item.event.occurred_at,
                            "kafka_partition": item.partition,
                            "kafka_offset": item.offset,
                        }
                        for item in unique.values()
                    ]
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(applied_events.c.event_id)
            )
            new_ids = set(claimed.scalars())
            new_events = [item.event for item in unique.values() if item.event.event_id in new_ids]
            if new_events:
                await connection.execute(
                    insert(sme_timeline),
                    [vars_of(timeline_entry(event)) for event in new_events],
                )
        return len(new_events)


def vars_of(row: object) -> dict[str, object]:
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]

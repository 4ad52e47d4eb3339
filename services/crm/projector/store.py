"""The PostgreSQL read-model store: rows and their tracking records in one transaction.

One batch is one transaction: lock the SMEs it touches, claim the event ids (a duplicate means
"already applied"), append the new events to the timeline, load the touched SMEs' rows, fold the
new events into them (crm/projector/rules.py) and upsert the result. One statement per table per
batch, whatever the batch size.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.db.tables import agreements, applied_events, pilots, sme_markets, sme_timeline, smes
from crm.projector.ports import DecodedEvent
from crm.projector.rules import (
    AgreementRow,
    MarketRow,
    PilotRow,
    SmeRow,
    SmeState,
    fold_sme,
    group_by_sme,
    timeline_entry,
)

SmeKey = tuple[str, str]

# Two workers may briefly hold the same partition during a rebalance; without a lock both could
# read an SME's rows before either commits and one fold would overwrite the other. Locks are
# taken in one order (sorted by hash) so concurrent batches cannot deadlock on them.
_LOCK_SMES = text(
    "SELECT count(pg_advisory_xact_lock(h)) FROM "
    "(SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(CAST(:keys AS text[])) AS k ORDER BY h) AS s"
)


class PostgresReadModels:
    """Applies a batch in one transaction; events already recorded as applied are skipped.

    `schema` redirects every table to another schema (the rebuild's shadow tables).
    """

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None) -> None:
        self._engine = engine.execution_options(schema_translate_map={None: schema}) if schema else engine
        self._lock_prefix = f"{schema or 'public'}:"

    async def apply(self, events: Sequence[DecodedEvent]) -> int:
        unique = {item.event.event_id: item for item in events}  # duplicates inside one batch
        if not unique:
            return 0
        async with self._engine.begin() as connection:
            touched = sorted({(item.event.partner_id, item.event.sme_id) for item in unique.values()})
            await connection.execute(_LOCK_SMES, {"keys": [f"{self._lock_prefix}{p}/{s}" for p, s in touched]})
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
            if not new_events:
                return 0
            await connection.execute(insert(sme_timeline), [as_row(timeline_entry(event)) for event in new_events])
            by_sme = group_by_sme(new_events)
            current = await load_states(connection, list(by_sme))
            folded = [fold_sme(current.get(key), batch) for key, batch in by_sme.items()]
            await write_states(connection, folded)
        return len(new_events)


async def load_states(connection: AsyncConnection, keys: Sequence[SmeKey]) -> dict[SmeKey, SmeState]:
    """The stored rows of these SMEs, one query per table."""
    if not keys:
        return {}
    states: dict[SmeKey, SmeState] = {}
    for row in await _rows_of(connection, smes, keys):
        states[(row["partner_id"], row["sme_id"])] = SmeState(SmeRow(**row))
    for row in await _rows_of(connection, sme_markets, keys):
        states[(row["partner_id"], row["sme_id"])].markets[row["market"]] = MarketRow(**row)
    for row in await _rows_of(connection, pilots, keys):
        states[(row["partner_id"], row["sme_id"])].pilots[row["pilot_id"]] = PilotRow(**row)
    for row in await _rows_of(connection, agreements, keys):
        if isinstance(row["value_eur"], Decimal):
            row["value_eur"] = float(row["value_eur"])
        states[(row["partner_id"], row["sme_id"])].agreements[row["agreement_id"]] = AgreementRow(**row)
    return states


async def _rows_of(connection: AsyncConnection, table: Table, keys: Sequence[SmeKey]) -> list[dict[str, Any]]:
    result = await connection.execute(select(table).where(tuple_(table.c.partner_id, table.c.sme_id).in_(keys)))
    return [dict(row) for row in result.mappings()]


async def write_states(connection: AsyncConnection, states: Iterable[SmeState]) -> None:
    """Upsert every row of these SMEs (rows only ever appear, never disappear)."""
    rows: dict[Table, list[dict[str, Any]]] = {smes: [], sme_markets: [], pilots: [], agreements: []}
    for state in states:
        rows[smes].append(as_row(state.sme))
        rows[sme_markets].extend(as_row(row) for row in state.markets.values())
        rows[pilots].extend(as_row(row) for row in state.pilots.values())
        rows[agreements].extend(as_row(row) for row in state.agreements.values())
    for table, values in rows.items():
        if values:
            await connection.execute(_upsert(table), values)


def _upsert(table: Table) -> Any:
    statement = insert(table)
    keys = [column.name for column in table.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={column.name: statement.excluded[column.name] for column in table.columns if column.name not in keys},
    )


def as_row(row: object) -> dict[str, Any]:
    """A rules dataclass as a column mapping (shallow; `dataclasses.asdict` deep-copies, slowly)."""
    return {name: getattr(row, name) for name in row.__slots__}  # type: ignore[attr-defined]

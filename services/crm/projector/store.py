"""The PostgreSQL read-model store: rows and their tracking records in one transaction.

One batch is one transaction: lock the SMEs it touches, claim the event ids (a duplicate means
"already applied"), append the new events to the timeline, load the touched SMEs' rows, fold the
new events into them (crm/projector/rules.py) and upsert the result.

This is the hot path, so it talks to asyncpg directly: one statement per table per batch, the rows
sent as one JSON array (orjson serialises the rules' dataclasses) and spread by PostgreSQL's
`json_populate_recordset`. SQLAlchemy compiling a 2,000-row multi-VALUES statement cost more than
PostgreSQL running it, and asyncpg's per-element array encoding came next.
"""

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

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
Connection = Any  # asyncpg.Connection (asyncpg ships no type information)

# Two workers may briefly hold the same partition during a rebalance; without a lock both could
# read an SME's rows before either commits and one fold would overwrite the other. Locks are
# taken in one order (sorted by hash) so concurrent batches cannot deadlock on them.
_LOCK_SMES = (
    "SELECT count(pg_advisory_xact_lock(h)) FROM "
    "(SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS s"
)


class PostgresReadModels:
    """Applies a batch in one transaction; events already recorded as applied are skipped.

    `schema` redirects every table to another schema (the rebuild's shadow tables).
    """

    def __init__(self, engine: AsyncEngine, *, schema: str | None = None) -> None:
        self._engine = engine
        self._sql = _Statements(schema or "public")

    async def apply(self, events: Sequence[DecodedEvent]) -> int:
        unique = {item.event.event_id: item for item in events}  # duplicates inside one batch
        if not unique:
            return 0
        async with self._engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver: Connection = raw.driver_connection
            async with driver.transaction():
                return await self._apply(driver, list(unique.values()))

    async def _apply(self, db: Connection, items: list[DecodedEvent]) -> int:
        sql = self._sql
        touched = sorted({(item.event.partner_id, item.event.sme_id) for item in items})
        await db.fetchval(_LOCK_SMES, [f"{sql.schema}:{p}/{s}" for p, s in touched])
        claims = [
            {
                "event_id": item.event.event_id,
                "partner_id": item.event.partner_id,
                "event_type": item.event.event_type,
                "occurred_at": item.event.occurred_at,
                "kafka_partition": item.partition,
                "kafka_offset": item.offset,
            }
            for item in items
        ]
        new_ids = {row[0] for row in await db.fetch(sql.claim, _json(claims))}
        new_events = [item.event for item in items if item.event.event_id in new_ids]
        if not new_events:
            return 0
        await db.execute(sql.timeline, _json([timeline_entry(event) for event in new_events]))
        by_sme = group_by_sme(new_events)
        current = await load_states(db, sql, list(by_sme))
        folded = {key: fold_sme(current.get(key), batch) for key, batch in by_sme.items()}
        await write_states(db, sql, folded, current)
        return len(new_events)


def _json(rows: Sequence[object]) -> str:
    """Rows (dicts or the rules' dataclasses) as one JSON array; PostgreSQL spreads it into rows."""
    return orjson.dumps(rows, default=str).decode()  # default: asyncpg's own UUID type, as loaded


class _Statements:
    """The SQL of one schema's tables (public, or a rebuild's shadow schema)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        claim_columns = ["event_id", "partner_id", "event_type", "occurred_at", "kafka_partition", "kafka_offset"]
        self.claim = (
            _insert(schema, applied_events, claim_columns) + " ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
        )
        self.timeline = _insert(schema, sme_timeline, [c.name for c in sme_timeline.columns])
        self.load = {table: _load(schema, table) for table in (smes, sme_markets, pilots, agreements)}
        self.upsert = {table: _upsert(schema, table) for table in (smes, sme_markets, pilots, agreements)}


def _insert(schema: str, table: Table, columns: list[str]) -> str:
    listed = ", ".join(columns)
    return (
        f'INSERT INTO "{schema}".{table.name} ({listed}) '
        f'SELECT {listed} FROM json_populate_recordset(NULL::"{schema}".{table.name}, $1::text::json)'
    )


def _upsert(schema: str, table: Table) -> str:
    keys = [c.name for c in table.primary_key.columns]
    columns = [c.name for c in table.columns]
    updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns if name not in keys)
    return f"{_insert(schema, table, columns)} ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"


def _load(schema: str, table: Table) -> str:
    return (
        f'SELECT t.* FROM "{schema}".{table.name} AS t '
        "JOIN unnest($1::text[], $2::text[]) AS k(partner_id, sme_id) "
        "ON t.partner_id = k.partner_id AND t.sme_id = k.sme_id"
    )


async def load_states(db: Connection, sql: _Statements, keys: Sequence[SmeKey]) -> dict[SmeKey, SmeState]:
    """The stored rows of these SMEs, one query per table."""
    partner_ids, sme_ids = [k[0] for k in keys], [k[1] for k in keys]
    states: dict[SmeKey, SmeState] = {}
    for row in await db.fetch(sql.load[smes], partner_ids, sme_ids):
        states[(row["partner_id"], row["sme_id"])] = SmeState(SmeRow(**row))
    for row in await db.fetch(sql.load[sme_markets], partner_ids, sme_ids):
        states[(row["partner_id"], row["sme_id"])].markets[row["market"]] = MarketRow(**row)
    for row in await db.fetch(sql.load[pilots], partner_ids, sme_ids):
        states[(row["partner_id"], row["sme_id"])].pilots[row["pilot_id"]] = PilotRow(**row)
    for row in await db.fetch(sql.load[agreements], partner_ids, sme_ids):
        fields = dict(row)
        if isinstance(fields["value_eur"], Decimal):
            fields["value_eur"] = float(fields["value_eur"])
        states[(row["partner_id"], row["sme_id"])].agreements[row["agreement_id"]] = AgreementRow(**fields)
    return states


async def write_states(
    db: Connection, sql: _Statements, states: dict[SmeKey, SmeState], before: dict[SmeKey, SmeState]
) -> None:
    """Upsert the rows that differ from `before` (rows only ever appear, never disappear)."""
    rows: dict[Table, list[object]] = {smes: [], sme_markets: [], pilots: [], agreements: []}
    for key, state in states.items():
        old = before.get(key)
        if old is None or state.sme != old.sme:
            rows[smes].append(state.sme)
        rows[sme_markets].extend(_changed(state.markets, old.markets if old else {}))
        rows[pilots].extend(_changed(state.pilots, old.pilots if old else {}))
        rows[agreements].extend(_changed(state.agreements, old.agreements if old else {}))
    for table, values in rows.items():
        if values:
            await db.execute(sql.upsert[table], _json(values))


def _changed(rows: dict[str, Any], old: dict[str, Any]) -> list[object]:
    return [row for name, row in rows.items() if old.get(name) != row]

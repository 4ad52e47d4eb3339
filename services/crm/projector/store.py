"""The PostgreSQL read-model store: rows and their tracking records in one transaction.

One batch is one transaction: lock the SMEs it touches, claim the (partner_id, event_id) pairs (a
known pair with the same content hash means "already applied", with another hash "a conflict":
refused, the first applied stays), append the new events to the timeline, load the touched SMEs' rows, fold the
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

from crm.contract.identity import EventKey, content_hash, event_key
from crm.db.failures import unstorable_reason
from crm.db.tables import agreements, applied_events, pilots, sme_markets, sme_timeline, smes
from crm.projector.ports import Applied, ConsumedEvent, Refused, UnstorableEvents
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

    async def apply(self, events: Sequence[ConsumedEvent]) -> Applied:
        if not events:
            return Applied(0)
        copies: dict[EventKey, list[_Claim]] = {}
        for item in events:  # topic order: the first copy of an id is the one claimed
            claim = _Claim(item)
            copies.setdefault(claim.key, []).append(claim)
        try:
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Connection = raw.driver_connection
                async with driver.transaction():
                    return await self._apply(driver, copies)
        except Exception as error:
            reason = unstorable_reason(error)
            if reason is None:
                raise
            raise UnstorableEvents(reason) from error

    async def _apply(self, db: Connection, copies: dict[EventKey, list["_Claim"]]) -> Applied:
        sql = self._sql
        firsts = [claims[0] for claims in copies.values()]
        touched = sorted({(claim.item.event.partner_id, claim.item.event.sme_id) for claim in firsts})
        await db.fetchval(_LOCK_SMES, [f"{sql.schema}:{p}/{s}" for p, s in touched])
        rows = [
            {
                "event_id": claim.item.event.event_id,
                "partner_id": claim.item.event.partner_id,
                "event_type": claim.item.event.event_type,
                "occurred_at": claim.item.event.occurred_at,
                "kafka_partition": claim.item.partition,
                "kafka_offset": claim.item.offset,
                "content_hash": "\\x" + claim.digest.hex(),
            }
            for claim in firsts
        ]
        new_keys = {(row[0], str(row[1])) for row in await db.fetch(sql.claim, _json(rows))}
        conflicts = [
            Refused(claim.item, _conflict_reason(key, claims[0].item.partition, claims[0].item.offset))
            for key, claims in copies.items()
            if key in new_keys
            for claim in claims[1:]
            if claim.digest != claims[0].digest
        ]
        known = [claim for key, claims in copies.items() if key not in new_keys for claim in claims]
        conflicts += await _conflicts_with_applied(db, sql, known)
        new_events = [claim.item.event for claim in firsts if claim.key in new_keys]
        if new_events:
            await db.execute(sql.timeline, _json([timeline_entry(event) for event in new_events]))
            by_sme = group_by_sme(new_events)
            current = await load_states(db, sql, list(by_sme))
            folded = {key: fold_sme(current.get(key), batch) for key, batch in by_sme.items()}
            await write_states(db, sql, folded, current)
        conflicts.sort(key=lambda refused: (refused.item.partition, refused.item.offset))
        return Applied(len(new_events), conflicts)


class _Claim:
    __slots__ = ("digest", "item", "key")

    def __init__(self, item: ConsumedEvent) -> None:
        self.item = item
        self.key: EventKey = event_key(item.event)
        self.digest = content_hash(item.event)


async def _conflicts_with_applied(db: Connection, sql: "_Statements", known: list[_Claim]) -> list[Refused]:
    """Of the copies of events already applied, those whose content differs from the stored hash
    (rows from before content hashes were recorded have none: a copy of those is a duplicate)."""
    if not known:
        return []
    keys = sorted({claim.key for claim in known})
    stored = {
        (row["partner_id"], str(row["event_id"])): row
        for row in await db.fetch(sql.applied, [k[0] for k in keys], [k[1] for k in keys])
    }
    conflicts = []
    for claim in known:
        row = stored.get(claim.key)
        if row is not None and row["content_hash"] is not None and bytes(row["content_hash"]) != claim.digest:
            conflicts.append(
                Refused(claim.item, _conflict_reason(claim.key, row["kafka_partition"], row["kafka_offset"]))
            )
    return conflicts


def _conflict_reason(key: EventKey, partition: int | None, offset: int | None) -> str:
    where = f" (partition {partition}, offset {offset})" if partition is not None else ""
    return (
        f"conflict: event_id {key[1]} of partner {key[0]} was already applied with other content{where}; "
        "the first copy stays applied"
    )


def _json(rows: Sequence[object]) -> str:
    """Rows (dicts or the rules' dataclasses) as one JSON array; PostgreSQL spreads it into rows."""
    return orjson.dumps(rows, default=str).decode()  # default: asyncpg's own UUID type, as loaded


class _Statements:
    """The SQL of one schema's tables (public, or a rebuild's shadow schema)."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        claim_columns = [
            "event_id",
            "partner_id",
            "event_type",
            "occurred_at",
            "kafka_partition",
            "kafka_offset",
            "content_hash",
        ]
        self.claim = (
            _insert(schema, applied_events, claim_columns)
            + " ON CONFLICT (partner_id, event_id) DO NOTHING RETURNING partner_id, event_id"
        )
        self.applied = (
            f'SELECT a.partner_id, a.event_id, a.content_hash, a.kafka_partition, a.kafka_offset FROM "{schema}".'
            f"{applied_events.name} AS a JOIN unnest($1::text[], $2::uuid[]) AS k(partner_id, event_id) "
            "ON a.partner_id = k.partner_id AND a.event_id = k.event_id"
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

"""Validate a whole export file with the gateway's rules, then send it in batches through `ingest`.

The rules include the programmes': each row's programme (a version-1 row's is the deployment's
default) must be defined, or be the default, and have the importing partner among its partners,
judged by the `Memberships` read once before the file is checked.
"""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import structlog

from crm.auth.principals import Principal
from crm.contract.decoding import InvalidEvents, decode_events
from crm.gateway.ingestion import (
    EventClaims,
    EventSink,
    FixedMemberships,
    Limits,
    ingest,
    oversized_texts,
    programme_problems,
)
from crm.importer.rows import Row, RowProblem
from crm.messaging.publisher import PublishFailed
from crm.programmes.membership import Memberships

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    sent: int


def check_rows(rows: Sequence[Row], limits: Limits, memberships: Memberships | None) -> list[RowProblem]:
    """Every contract problem of every row, located by line number; once there are none, every
    row naming an unknown programme or one the partner is not in (not checked without
    `memberships`)."""
    body = orjson.dumps([row.envelope for row in rows])
    try:
        events = decode_events(body, context=limits.upcasting)
    except InvalidEvents as invalid:
        return [RowProblem(rows[p.index].line, p.field, p.message) for p in invalid.problems]
    problems = oversized_texts(events, limits.max_text_length)
    if memberships is not None:
        unknown, foreign = programme_problems(events, memberships)
        problems += unknown + foreign
    return [RowProblem(rows[p.index].line, p.field, p.message) for p in problems]


async def send_rows(
    rows: Sequence[Row],
    partner_id: str,
    claims: EventClaims,
    sink: EventSink,
    limits: Limits,
    memberships: Memberships,
    *,
    batch_size: int,
    attempts: int = 5,
    on_batch: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Send already-checked rows in batches; a batch Kafka does not acknowledge is retried as is.
    Each batch goes through `ingest`, programmes judged by the `memberships` the rows were checked with."""
    principal = Principal(token_id="import", role="partner", partner_id=partner_id)
    programmes = FixedMemberships(memberships)
    sent = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        body = orjson.dumps([row.envelope for row in batch])
        for attempt in range(1, attempts + 1):
            try:
                await ingest(body, principal, limits, claims, sink, programmes)
                break
            except PublishFailed:
                if attempt == attempts:
                    raise
                log.warning("import.retrying_batch", first_line=batch[0].line, attempt=attempt)
                await asyncio.sleep(min(2.0**attempt, 10.0))
        sent += len(batch)
        on_batch(len(batch))
    return ImportReport(rows=len(rows), sent=sent)

"""Validate a whole export file with the gateway's rules, then send it in batches through `ingest`."""

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import structlog

from crm.auth.principals import Principal
from crm.contract.decoding import InvalidEvents, decode_events
from crm.gateway.ingestion import EventClaims, EventSink, KafkaUnavailable, Limits, ingest, oversized_texts
from crm.importer.rows import Row, RowProblem

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    sent: int


def check_rows(rows: Sequence[Row], limits: Limits) -> list[RowProblem]:
    """Every contract problem of every row, located by line number."""
    body = orjson.dumps([row.envelope for row in rows])
    try:
        events = decode_events(body, context=limits.upcasting)
    except InvalidEvents as invalid:
        return [RowProblem(rows[p.index].line, p.field, p.message) for p in invalid.problems]
    return [RowProblem(rows[p.index].line, p.field, p.message) for p in oversized_texts(events, limits.max_text_length)]


async def send_rows(
    rows: Sequence[Row],
    partner_id: str,
    claims: EventClaims,
    sink: EventSink,
    limits: Limits,
    *,
    batch_size: int,
    attempts: int = 5,
    on_batch: Callable[[int], None] = lambda _: None,
) -> ImportReport:
    """Send already-checked rows in batches; a batch Kafka does not acknowledge is retried as is."""
    principal = Principal(token_id="import", role="partner", partner_id=partner_id)
    sent = 0
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        body = orjson.dumps([row.envelope for row in batch])
        for attempt in range(1, attempts + 1):
            try:
                await ingest(body, principal, limits, claims, sink)
                break
            except KafkaUnavailable:
                if attempt == attempts:
                    raise
                log.warning("import.retrying_batch", first_line=batch[0].line, attempt=attempt)
                await asyncio.sleep(min(2.0**attempt, 10.0))
        sent += len(batch)
        on_batch(len(batch))
    return ImportReport(rows=len(rows), sent=sent)

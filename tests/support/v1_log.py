"""The frozen version-1 log (tests/fixtures/v1_log/): its records, writing them to a topic, and the
read models in the fixture's serialised form.

Nothing here encodes or decodes events: the records are bytes, written as they are, so this module
serves the generator (today's release) and the replay test (every later release) alike.
"""

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text

from crm.db.engine import create_engine
from crm.db.migrate import upgrade_database
from crm.local.services import service_environment
from crm.messaging.connection import client_options
from crm.messaging.reading import records_until, topic_partitions
from crm.settings import Settings
from tests.support.isolation import create_database
from tests.support.read_models import Models, models_in_database

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "v1_log"
EVENTS_FILE = FIXTURE_DIR / "events.jsonl"
READ_MODELS_FILE = FIXTURE_DIR / "read_models.json"

# Columns of the read-model tables that are not part of the model: when and where (topic
# coordinates) an event was applied, and the content hash, compared on its own.
NOT_MODEL_COLUMNS = {"applied_at", "kafka_partition", "kafka_offset", "content_hash"}
# applied_events repeats what sme_timeline holds (partner, id, type, instant): only its hashes are kept.
COMPARED_TABLES = ("sme_timeline", "smes", "sme_markets", "pilots", "agreements")


def load_records(path: Path = EVENTS_FILE) -> list[tuple[bytes, bytes]]:
    """(key, value) of every record, in the order they were written to the topic."""
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        records.append((record["key"].encode(), record["value"].encode()))
    return records


def record_line(key: bytes, value: bytes) -> str:
    return json.dumps({"key": key.decode(), "value": value.decode()}, ensure_ascii=False)


async def write_records(settings: Settings, records: Sequence[tuple[bytes, bytes]]) -> None:
    """Each record as it is, in order, keyed (the default partitioner, as the gateway's publisher)."""
    producer = AIOKafkaProducer(**client_options(settings.kafka), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    try:
        deliveries = [await producer.send(settings.events_topic, value=value, key=key) for key, value in records]
        for delivery in deliveries:
            await delivery
    finally:
        await producer.stop()


async def read_topic(settings: Settings, topic: str | None = None) -> dict[int, list[tuple[bytes, bytes]]]:
    """Every record of the topic (default: the events topic) as (key, value), per partition in offset order."""
    consumer = AIOKafkaConsumer(**client_options(settings.kafka), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, topic or settings.events_topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        found: dict[int, list[tuple[bytes, bytes]]] = {tp.partition: [] for tp in partitions}
        async for batch in records_until(consumer, ends):
            for record in sorted(batch, key=lambda r: (r.partition, r.offset)):
                found[record.partition].append((record.key or b"", record.value or b""))
        return found
    finally:
        await consumer.stop()


async def fresh_database(settings: Settings) -> Settings:
    """The same topics, a new migrated database (nothing left from an earlier run)."""
    assert settings.database_url
    url = await create_database(settings.database_url, f"crm_test_{uuid.uuid4().hex[:10]}")
    await asyncio.to_thread(upgrade_database, url)
    return settings.model_copy(update={"database_url": url, "database_admin_url": None})


def rebuild_with_cli(settings: Settings) -> subprocess.CompletedProcess[str]:
    """`crm projections rebuild` in a child process, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "crm.cli", "projections", "rebuild"],
        env=service_environment(settings),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def plain(value: Any) -> Any:
    """A read-model value in JSON form: instants in UTC ISO 8601, sets sorted, exact decimals."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def plain_models(models: Models) -> dict[str, Any]:
    """tests/support/read_models.py's shape, keys joined by `/` (reserved in every identifier)."""
    return {table: {"/".join(key): plain(row) for key, row in sorted(rows.items())} for table, rows in models.items()}


async def snapshot(settings: Settings, columns: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The read models: the normalised `models`, every row of `columns` (table -> column names)
    ordered by those columns, and the content hash recorded for each applied event."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            models = plain_models(await models_in_database(connection))
            tables: dict[str, list[dict[str, Any]]] = {}
            for table, names in columns.items():
                listed = ", ".join(f'"{name}"' for name in names)
                rows = (await connection.execute(text(f"SELECT {listed} FROM {table}"))).mappings()
                tables[table] = sorted(
                    (plain(dict(row)) for row in rows), key=lambda row: json.dumps(row, sort_keys=True)
                )
            hashes = (
                await connection.execute(text("SELECT partner_id, event_id, content_hash FROM applied_events"))
            ).all()
    finally:
        await engine.dispose()
    return {
        "models": models,
        "tables": tables,
        "content_hashes": {f"{p}/{e}": plain(h) for p, e, h in sorted(hashes, key=lambda r: (r[0], str(r[1])))},
    }


def dumps(document: Any, depth: int = 0, rows_at: int = 3) -> str:
    """Sorted keys; containers indented down to `rows_at` levels, each row below on one line."""
    if depth >= rows_at or not isinstance(document, dict | list) or not document:
        return json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    pad = "\n" + " " * (depth + 1)
    if isinstance(document, dict):
        items = [
            f"{json.dumps(k, ensure_ascii=False)}: {dumps(v, depth + 1, rows_at)}" for k, v in sorted(document.items())
        ]
        body, (start, end) = items, "{}"
    else:
        body, (start, end) = [dumps(v, depth + 1, rows_at) for v in document], "[]"
    text = start + pad + ("," + pad).join(body) + "\n" + " " * depth + end
    return text + "\n" if depth == 0 else text

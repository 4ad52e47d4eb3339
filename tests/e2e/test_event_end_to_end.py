"""Through the real parts: aiokafka → crm.events → projector process → PostgreSQL."""

import asyncio
import json
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import select

from crm.contract.decoding import decode_event
from crm.db.engine import create_engine
from crm.db.tables import sme_timeline
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.publisher import EventPublisher
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope

pytestmark = pytest.mark.infra


async def timeline_rows(settings: Settings, count: int, timeout: float = 60) -> list[dict[str, object]]:
    engine = create_engine(settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            async with engine.connect() as connection:
                rows = [dict(r._mapping) for r in await connection.execute(select(sme_timeline))]
            if len(rows) >= count or time.monotonic() > deadline:
                return rows
            await asyncio.sleep(0.2)
    finally:
        await engine.dispose()


def projector(settings: Settings, tmp_path: Path) -> ServiceProcess:
    return ServiceProcess("projector", ["projector", "run"], service_environment(settings), tmp_path / "projector.log")


async def test_one_event_of_each_type_lands_in_postgres(isolated: Settings, tmp_path: Path) -> None:
    events = [decode_event(json.dumps(envelope(t, sme_id=f"sme-{t.lower()}"))) for t in sorted(EXAMPLES)]
    with projector(isolated, tmp_path) as service:
        async with EventPublisher(isolated.kafka, isolated.events_topic) as publisher:
            await publisher.publish(events)
            await publisher.publish(events[:3])  # a partner system retrying: nothing counts twice
        rows = await timeline_rows(isolated, len(events))
        await asyncio.sleep(1.0)  # room for the duplicates to (not) land
        rows = await timeline_rows(isolated, len(events))
        assert service.alive(), (tmp_path / "projector.log").read_text()[-3000:]
    assert sorted(str(r["event_id"]) for r in rows) == sorted(str(e.event_id) for e in events)
    by_type = {r["event_type"]: r for r in rows}
    assert by_type["PilotOpened"]["payload"] == EXAMPLES["PilotOpened"]
    assert by_type["PilotOpened"]["sme_id"] == "sme-pilotopened"


async def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_projector_keeps_going(
    isolated: Settings, tmp_path: Path
) -> None:
    bootstrap = isolated.kafka_bootstrap or ""
    good = json.dumps(envelope("SMEWithdrawn", {})).encode()
    naive = json.dumps(envelope("SMEWithdrawn", {}, occurred_at="2020-10-05T09:00:00")).encode()
    with projector(isolated, tmp_path):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        try:
            await producer.send_and_wait(isolated.events_topic, b"\x00garbage", key=b"tehnopol/x")
            await producer.send_and_wait(isolated.events_topic, naive, key=b"tehnopol/x")
            await producer.send_and_wait(isolated.events_topic, good, key=b"tehnopol/x")
        finally:
            await producer.stop()
        rows = await timeline_rows(isolated, 1)
        assert [str(r["event_id"]) for r in rows] == [json.loads(good)["event_id"]]

    consumer = AIOKafkaConsumer(isolated.dlq_topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        parked = [await asyncio.wait_for(consumer.getone(), timeout=30) for _ in range(2)]
    finally:
        await consumer.stop()
    assert [record.value for record in parked] == [b"\x00garbage", naive]
    reasons = [dict(record.headers)["dlq.reason"].decode() for record in parked]
    assert "Invalid JSON" in reasons[0]
    assert "occurred_at" in reasons[1]
    assert all(dict(r.headers)["dlq.source.topic"] == isolated.events_topic.encode() for r in parked)

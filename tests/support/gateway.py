"""The gateway app wired to the real Kafka and PostgreSQL, and helpers to read what it published."""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import ConsumerRecord

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.gateway.bootstrap import build_gateway
from crm.messaging.connection import client_options
from crm.settings import Settings
from tests.support.in_process import in_process_client


@dataclass
class Gateway:
    client: httpx.AsyncClient
    settings: Settings
    partner_token: str
    other_partner_token: str
    analyst_token: str

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.partner_token}"}

    async def post(self, body: object, token: str | None = None) -> httpx.Response:
        return await self.client.post("/v1/events", json=body, headers=self.auth(token))


async def create_token(settings: Settings, partner_id: str | None) -> tuple[str, str]:
    store = TokenStore(create_engine(settings.database_url, pool_size=1))
    try:
        return await store.create("partner" if partner_id else "analyst", partner_id)
    finally:
        await store.close()


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The real app (lifespan included) behind an in-process httpx client."""
    _, partner = await create_token(settings, "tehnopol")
    _, other = await create_token(settings, "sisp")
    _, analyst = await create_token(settings, None)
    app = build_gateway(settings)
    async with in_process_client(app, "http://gateway") as client:
        yield Gateway(client, settings, partner, other, analyst)


async def published(settings: Settings, *, at_least: int = 0, wait: float = 20.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of the events topic; waits up to `wait` seconds for `at_least` of them."""
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        **client_options(settings.kafka),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + wait
        while True:
            batch = await consumer.getmany(timeout_ms=300)
            for partition_records in batch.values():
                records.extend(partition_records)
            if (len(records) >= at_least and not batch) or time.monotonic() > deadline:
                return records
            await asyncio.sleep(0)
    finally:
        await consumer.stop()

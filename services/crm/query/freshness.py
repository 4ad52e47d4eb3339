"""How current the read models are: the newest applied event and the projector's consumer lag.

Programme-wide figures are for analysts only: when the newest event of the programme arrived
tells a partner when the other partners are active. A partner sees its own partner's newest
event and last application, and no lag: Kafka's lag is per topic partition, a partition carries
several partners' events, so no figure of it is the partner's own (nor harmless to show it).

One query per `ttl` seconds reads the newest event of every partner at once
(`crm.figures.applied`, one scan for the partners' and the programme's), refreshed in the background, so
stamping every response costs nothing on the request path. Kafka being away makes the lag
unknown (None), never an error: the read models can still be served.
"""

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.contract.events import rfc3339
from crm.figures.applied import AppliedEvents, applied_events
from crm.messaging.connection import KafkaConnection, client_options

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Freshness:
    newest_event_at: datetime | None  # event time of the newest event the read models contain
    last_applied_at: datetime | None  # wall time the projector last applied an event
    projector_lag: int | None  # events in the log not yet applied; None when Kafka did not answer
    checked_at: datetime
    partner_id: str | None = None  # whose events these figures are about; None: the whole programme

    def as_dict(self) -> dict[str, Any]:
        return {
            "scope": "programme" if self.partner_id is None else "partner",
            "newest_event_at": rfc3339(self.newest_event_at) if self.newest_event_at else None,
            "last_applied_at": rfc3339(self.last_applied_at) if self.last_applied_at else None,
            "projector_lag": self.projector_lag,
            "checked_at": rfc3339(self.checked_at),
        }

    def headers(self) -> dict[str, str]:
        body = self.as_dict()
        headers = {
            "X-CRM-Newest-Event-At": body["newest_event_at"] or "none",
            "X-CRM-Last-Applied-At": body["last_applied_at"] or "none",
        }
        if self.partner_id is None:  # a partner's figures have no lag of their own (module docstring)
            headers["X-CRM-Projector-Lag"] = "unknown" if self.projector_lag is None else str(self.projector_lag)
        return headers


@dataclass(frozen=True, slots=True)
class FreshnessSnapshot:
    """One reading: the programme's figures and each partner's own (partners with no event absent)."""

    programme: Freshness
    partners: Mapping[str, Freshness]

    def for_partner(self, partner_id: str | None) -> Freshness:
        """The figures `partner_id` may see; None: the programme-wide ones (for analysts)."""
        if partner_id is None:
            return self.programme
        found = self.partners.get(partner_id)
        if found is not None:
            return found
        return Freshness(None, None, None, self.programme.checked_at, partner_id)


def snapshot_of(applied: AppliedEvents, lag: int | None, checked_at: datetime) -> FreshnessSnapshot:
    """The programme's figures (with the lag) and each partner's (without), from one reading."""
    partners = {
        partner_id: Freshness(a.newest_event_at, a.last_applied_at, None, checked_at, partner_id)
        for partner_id, a in applied.partners.items()
    }
    overall = applied.overall
    return FreshnessSnapshot(Freshness(overall.newest_event_at, overall.last_applied_at, lag, checked_at), partners)


class LagSource(Protocol):
    async def lag(self) -> int | None: ...
    async def close(self) -> None: ...


class KafkaConsumerLag:
    """End offsets minus the committed offsets of a consumer group on one topic, summed."""

    def __init__(self, kafka: KafkaConnection, topic: str, group: str, *, timeout: float = 3.0) -> None:
        self._kafka = kafka
        self._topic = topic
        self._group = group
        self._timeout = timeout
        self._admin: Any = None
        self._consumer: Any = None

    async def _clients(self) -> tuple[Any, Any]:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        if self._admin is None:
            admin = AIOKafkaAdminClient(**client_options(self._kafka), request_timeout_ms=int(self._timeout * 1000))
            await admin.start()
            self._admin = admin
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **client_options(self._kafka),
                enable_auto_commit=False,
                request_timeout_ms=int(self._timeout * 1000),
            )
            await consumer.start()
            self._consumer = consumer
        return self._admin, self._consumer

    async def lag(self) -> int | None:
        try:
            return await asyncio.wait_for(self._measure(), self._timeout)
        except Exception as error:  # Kafka away or slow: unknown, not fatal
            log.info("query.lag_unknown", error=repr(error))
            await self.close()
            return None

    async def _measure(self) -> int:
        from aiokafka.structs import TopicPartition

        admin, consumer = await self._clients()
        await consumer.topics()  # refreshes metadata
        partitions = consumer.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        if not tps:
            return 0
        ends = await consumer.end_offsets(tps)
        starts = await consumer.beginning_offsets(tps)
        committed = await admin.list_consumer_group_offsets(self._group, partitions=tps)
        total = 0
        for tp in tps:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            total += max(0, ends[tp] - position)
        return total

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        for client in (consumer, admin):
            if client is not None:
                try:
                    await client.close() if client is admin else await client.stop()
                except Exception as error:
                    log.debug("query.kafka_close_failed", error=repr(error))


class FreshnessProbe:
    """Cached freshness; `current()` waits for a fresh value, `latest()` never waits once warm.

    Both take the partner whose figures the caller may see (None: the programme's, for analysts).
    """

    def __init__(self, engine: AsyncEngine, lag_source: LagSource | None, *, ttl: float = 5.0) -> None:
        self._engine = engine
        self._lag_source = lag_source
        self._ttl = ttl
        self._value: FreshnessSnapshot | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self._refreshing: asyncio.Task[FreshnessSnapshot] | None = None

    async def current(self, partner_id: str | None = None) -> Freshness:
        if self._value is not None and time.monotonic() < self._expires:
            return self._value.for_partner(partner_id)
        return (await self.refresh()).for_partner(partner_id)

    async def latest(self, partner_id: str | None = None) -> Freshness:
        """The cached value (refreshed in the background when stale); waits only on the first call."""
        if self._value is None:
            return (await self.refresh()).for_partner(partner_id)
        if time.monotonic() >= self._expires and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self.refresh())
        return self._value.for_partner(partner_id)

    async def refresh(self) -> FreshnessSnapshot:
        async with self._lock:
            if self._value is not None and time.monotonic() < self._expires:
                return self._value
            async with self._engine.connect() as connection:
                applied = await applied_events(connection)
            lag = await self._lag_source.lag() if self._lag_source is not None else None
            self._value = snapshot_of(applied, lag, datetime.now().astimezone())
            self._expires = time.monotonic() + self._ttl
            return self._value

    async def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()
        if self._lag_source is not None:
            await self._lag_source.close()

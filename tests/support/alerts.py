"""Driving the alerts service in tests: a controlled clock, events in, alerts out."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from crm.alerts.rules import alert_id
from crm.contract.decoding import decode_alert, decode_event
from crm.contract.events import AlertEvent, DomainEvent
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import client_options
from crm.messaging.messages import ReceivedMessage
from crm.messaging.publisher import EventPublisher
from crm.settings import Settings
from tests.support.events import envelope

T = TypeVar("T")
DAY0 = datetime(2020, 1, 1, tzinfo=UTC)


def day(number: float) -> datetime:
    return DAY0 + timedelta(days=number)


def rfc(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


class ControlledClock:
    """The file the service's FileClock reads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def set(self, instant: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(rfc(instant))
        tmp.replace(self.path)  # atomic: the service never reads half a timestamp


def alerts_service(settings: Settings, tmp_path: Path, name: str = "alerts", **env: str) -> ServiceProcess:
    overrides = {
        "CRM_ALERTS_EVALUATE_SECONDS": "0.2",
        "CRM_ALERTS_WEBHOOK_POLL_SECONDS": "0.2",
        "CRM_ALERTS_WEBHOOK_RETRY_SECONDS": "0.2",
        "CRM_ALERTS_WEBHOOK_MAX_RETRY_SECONDS": "1",
        "CRM_ALERTS_WEBHOOK_TIMEOUT_SECONDS": "2",
        "CRM_ALERTS_BATCH_SECONDS": "0.05",
        "CRM_ALERTS_SESSION_TIMEOUT_SECONDS": "6",
        **env,
    }
    return ServiceProcess(name, ["alerts", "run"], service_environment(settings, **overrides), tmp_path / f"{name}.log")


def pilot_event(
    event_type: str, when: datetime, pilot: str, *, partner: str = "tehnopol", **payload: Any
) -> DomainEvent:
    base: dict[str, dict[str, Any]] = {
        "PilotOpened": {"pilot_id": pilot, "market": "CN", "counterpart": "Huangpu"},
        "PilotUpdated": {"pilot_id": pilot, "note": "call"},
        "PilotClosed": {"pilot_id": pilot, "outcome": "lost"},
        "MeetingHeld": {"market": "CN", "counterpart": "Huangpu", "format": "digital", "pilot_id": pilot},
        "TrainingCompleted": {"training": "Export"},
    }
    body = envelope(
        event_type, {**base[event_type], **payload}, occurred_at=rfc(when), partner_id=partner, sme_id=f"sme-{pilot}"
    )
    return decode_event(json.dumps(body))


async def publish(settings: Settings, *events: DomainEvent) -> None:
    async with EventPublisher(settings.kafka, settings.events_topic) as publisher:
        await publisher.publish(list(events))


class AlertReader:
    """Reads `crm.alerts` from the beginning; remembers everything read."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.seen: list[AlertEvent] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> "AlertReader":
        self._consumer = AIOKafkaConsumer(**client_options(self._settings.kafka), enable_auto_commit=False)
        await self._consumer.start()
        tps = [TopicPartition(self._settings.alerts_topic, p) for p in range(self._settings.topic_partitions)]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def until(self, done: Callable[[list[AlertEvent]], bool], timeout: float = 90) -> list[AlertEvent]:
        assert self._consumer is not None
        deadline = time.monotonic() + timeout
        while not done(self.seen):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; alerts so far: {describe(self.seen)}")
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                self.seen.extend(decode_alert(record.value) for record in records)
        return self.seen


def describe(alerts: list[AlertEvent]) -> list[tuple[str, str, str]]:
    return [(a.event_type, a.partner_id, a.payload.pilot_id) for a in alerts]


def count(alerts: list[AlertEvent], event_type: str, pilot: str, partner: str = "tehnopol") -> int:
    return sum(1 for a in alerts if (a.event_type, a.partner_id, a.payload.pilot_id) == (event_type, partner, pilot))


async def eventually(probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


def stalled_alert(offset: int, pilot: str, *, idle_days: int = 60, topic: str = "crm.alerts") -> ReceivedMessage:
    """A `PilotStalled` of tehnopol's `pilot` (idle since DAY0) as the alerts read model reads it
    from `topic`, with the id the detector gives such a stall."""
    body = {
        "event_id": str(alert_id("tehnopol", pilot, DAY0, "stalled")),
        "event_type": "PilotStalled",
        "schema_version": 1,
        "occurred_at": "2020-03-01T00:00:00Z",
        "partner_id": "tehnopol",
        "sme_id": "ee-one",
        "payload": {"pilot_id": pilot, "last_activity_at": rfc(DAY0), "idle_days": idle_days, "threshold_days": 30},
    }
    return ReceivedMessage(topic, 0, offset, f"tehnopol/{pilot}".encode(), json.dumps(body).encode())

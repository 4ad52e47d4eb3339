"""The alerts service's agents and timers.

- `follow_pilots` reads `crm.events` (its own consumer group) into the detector.
- `project_alerts` reads `crm.alerts` into the PostgreSQL read model and the webhook outbox.
- `evaluate_pilots` (timer) runs the detector over every pilot.
- `deliver_webhooks` (timer) posts due alerts to partners' webhooks.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import faust
import structlog

from crm.alerts.detector import Detector
from crm.alerts.store import PostgresAlertViews, ReceivedAlert
from crm.alerts.tables import PilotTable
from crm.contract.decoding import InvalidEvents, decode_alert, decode_event

log = structlog.get_logger(__name__)


def register_follow_pilots(app: faust.App, topic: faust.TopicT, detector: Detector) -> None:
    @app.agent(topic, name="follow_pilots")
    async def follow_pilots(stream: faust.StreamT[bytes]) -> None:
        async for value in stream:
            try:
                event = decode_event(value)
            except InvalidEvents as invalid:  # the projector parks it on the DLQ; here it is skipped
                log.warning("alerts.undecodable_event", reason=invalid.reason)
                continue
            await detector.on_event(event)


def register_project_alerts(
    app: faust.App,
    topic: faust.TopicT,
    views: PostgresAlertViews,
    *,
    batch_size: int,
    batch_seconds: float,
    max_retry_delay: float = 30.0,
) -> None:
    @app.agent(topic, name="project_alerts")
    async def project_alerts(stream: faust.StreamT[bytes]) -> None:
        async for events in stream.take_events(batch_size, within=batch_seconds):  # type: ignore[attr-defined]
            received = _decoded([(e.message.value, e.message.partition, e.message.offset) for e in events])
            delay = 1.0
            while True:  # acknowledged to Kafka only once applied: PostgreSQL down means wait
                try:
                    await views.apply(received)
                    break
                except Exception as exc:
                    log.error("alerts.read_model_failed", error=repr(exc), retry_in=delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, max_retry_delay)


def _decoded(messages: Sequence[tuple[bytes | None, int, int]]) -> list[ReceivedAlert]:
    received = []
    for value, partition, offset in messages:
        try:
            if value is None:
                raise InvalidEvents([])
            received.append(ReceivedAlert(decode_alert(value), value, partition, offset))
        except InvalidEvents as invalid:
            log.error("alerts.undecodable_alert", partition=partition, offset=offset, reason=invalid.reason)
    return received


def register_timers(
    app: faust.App,
    detector: Detector,
    pilots: PilotTable,
    deliver: Callable[[], Awaitable[int]],
    *,
    evaluate_seconds: float,
    deliver_seconds: float,
) -> None:
    recovery = app.tables.recovery  # type: ignore[attr-defined]

    @app.timer(evaluate_seconds, name="evaluate_pilots")  # type: ignore[untyped-decorator]
    async def evaluate_pilots() -> None:
        # Judging a half-recovered table could re-fire alerts it has not read back yet.
        if not recovery.completed.is_set() or app.rebalancing:
            return
        if not pilots.loaded:
            await pilots.reload()
        try:
            await detector.tick()
        except Exception as exc:  # Kafka unavailable: nothing was recorded, the next pass retries
            log.error("alerts.evaluation_failed", error=repr(exc))

    @app.timer(deliver_seconds, name="deliver_webhooks")  # type: ignore[untyped-decorator]
    async def deliver_webhooks() -> None:
        try:
            await deliver()
        except Exception as exc:  # PostgreSQL down: the outbox waits, detection goes on
            log.error("alerts.delivery_failed", error=repr(exc))

"""Composition root of the alerts service: settings in, a runnable Faust worker out."""

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import faust
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.alerts.agents import register_consumer, register_timers
from crm.alerts.alert_projection import AlertProjection
from crm.alerts.app import create_app
from crm.alerts.clock import Clock, EventTimeClock, FileClock, WallClock
from crm.alerts.controls import load_controls
from crm.alerts.detector import Detector
from crm.alerts.lifecycle import Shutdown
from crm.alerts.operations import operations_listener
from crm.alerts.pilot_activity import PilotActivity
from crm.alerts.readiness import TableReadiness
from crm.alerts.rules import Controls, Thresholds
from crm.alerts.store import PostgresAlertViews
from crm.alerts.tables import PilotTable, changelog_topic_name, create_pilots_table
from crm.alerts.webhooks import deliver_due, http_post, webhook_client
from crm.contract.decoding import encode_event
from crm.contract.events import AlertEvent
from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.db.migrate import prepare_schema
from crm.errors import InfrastructureError
from crm.logs import configure_logging
from crm.messaging.batch_consumer import BatchConsumer, BatchHandler
from crm.messaging.topic_admin import TopicSpec, contract_topics, ensure_topics
from crm.observability.listener import OperationsListener
from crm.projector.dead_letters import KafkaDeadLetters
from crm.settings import AlertsSettings, Settings

log = structlog.get_logger(__name__)

NEEDED_BY = "The alerts service"

COMPACTED = {"cleanup.policy": "compact", "retention.ms": "-1"}


class FaustAlertPublisher:
    """Publishes to `crm.alerts` keyed `partner_id/pilot_id`; returns once all are acknowledged."""

    def __init__(self, app: faust.App, topic: str) -> None:
        self._app = app
        self._topic = topic

    async def publish(self, events: Sequence[AlertEvent]) -> None:
        producer = self._app.producer
        pending = [
            await producer.send(
                self._topic,
                f"{event.partner_id}/{event.payload.pilot_id}".encode(),
                encode_event(event),
                None,
                None,
                None,
            )
            for event in events
        ]
        await asyncio.gather(*pending)


class FaustProducer:
    """The dead-letter producer's interface (`send_and_wait`) over the Faust app's producer."""

    def __init__(self, app: faust.App) -> None:
        self._app = app

    async def send_and_wait(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, *, headers: Any = None
    ) -> Any:
        return await self._app.producer.send_and_wait(topic, key, value, None, None, headers)


class PostgresControls:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def load(self) -> Controls:
        async with self._engine.connect() as connection:
            return await load_controls(connection)


def alert_clock(settings: AlertsSettings) -> Clock:
    if settings.alerts_clock == "event":
        return EventTimeClock()
    if settings.alerts_clock == "file":
        if settings.alerts_clock_file is None:
            raise InfrastructureError("CRM_ALERTS_CLOCK=file needs CRM_ALERTS_CLOCK_FILE.")
        return FileClock(settings.alerts_clock_file)
    return WallClock()


def thresholds_of(settings: AlertsSettings) -> Thresholds:
    return Thresholds.from_overrides(settings.alerts_threshold_days, settings.alerts_thresholds)


def consumer_group(settings: AlertsSettings | Settings, reads: str) -> str:
    """A consumer's group: not the Faust app's, whose members speak Faust's assignment protocol."""
    return f"{settings.alerts_group}-{reads}"


def build_alerts(
    settings: AlertsSettings,
) -> tuple[faust.App, list[TopicSpec], Shutdown, OperationsListener | None]:
    """Wire the app, its table, consumers and timers. No I/O yet. Also returns the topics it needs,
    the `Shutdown` that records a crashed consumer, and the operations listener (when configured)."""
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    table = create_pilots_table(app, settings.topic_partitions)
    pilots = PilotTable(table, settings.topic_partitions)
    table.on_recover(pilots.reload)
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    readiness = TableReadiness(lambda: recovery.completed.is_set() and not app.rebalancing, pilots)
    app.on_partitions_revoked.connect(readiness.on_partitions_revoked)
    shutdown = Shutdown()
    engine = create_engine(settings.database_url)
    detector = Detector(
        pilots,
        alert_clock(settings),
        thresholds_of(settings),
        timedelta(days=settings.alerts_repeat_days),
        FaustAlertPublisher(app, settings.alerts_topic),
        PostgresControls(engine),
        event_time_step=timedelta(days=1) if settings.alerts_clock == "event" else None,
        backdate=settings.alerts_clock == "event",
    )

    webhooks = webhook_client()
    post = http_post(webhooks, settings.alerts_webhook_timeout_seconds)

    async def deliver() -> int:
        return await deliver_due(
            engine,
            post,
            retry_seconds=settings.alerts_webhook_retry_seconds,
            max_retry_seconds=settings.alerts_webhook_max_retry_seconds,
        )

    async def close_webhooks(*_: Any, **__: Any) -> None:
        await webhooks.aclose()

    app.on_before_shutdown.connect(close_webhooks)

    operations = operations_listener(settings, engine, readiness.is_ready)
    if operations is not None:
        listener, kafka_probe = operations

        async def stop_listener(*_: Any, **__: Any) -> None:
            await listener.stop()
            await kafka_probe.close()

        app.on_before_shutdown.connect(stop_listener)

    def consumer(topic: str, reads: str, handle: BatchHandler) -> BatchConsumer:
        return BatchConsumer(
            settings.kafka,
            topic,
            consumer_group(settings, reads),
            handle,
            batch_size=settings.alerts_batch_size,
            batch_seconds=settings.alerts_batch_seconds,
            session_timeout=settings.alerts_session_timeout_seconds,
        )

    activity = PilotActivity(detector, readiness, pilots.written, UpcastContext(settings.default_programme))
    dead_letters = KafkaDeadLetters(FaustProducer(app), settings.dlq_topic, consumer_group(settings, "read-model"))
    projection = AlertProjection(PostgresAlertViews(engine), dead_letters)
    read_model = consumer(settings.alerts_topic, "read-model", projection.project_alerts)
    projection.stopping = read_model.stopping  # a stop ends its retries (the batch stays uncommitted)
    register_consumer(app, "follow_pilots", consumer(settings.events_topic, "events", activity.follow_pilots), shutdown)
    register_consumer(app, "project_alerts", read_model, shutdown)
    register_timers(
        app,
        detector,
        pilots,
        readiness,
        deliver,
        evaluate_seconds=settings.alerts_evaluate_seconds,
        deliver_seconds=settings.alerts_webhook_poll_seconds,
    )
    topics = [
        *contract_topics(settings),
        TopicSpec(changelog_topic_name(app), settings.topic_partitions, COMPACTED),
    ]
    return app, topics, shutdown, None if operations is None else operations[0]


def run_alerts(settings: Settings) -> None:
    """Check the schema is current (or migrate it), prepare topics, then run the worker until
    SIGINT/SIGTERM, or until a consumer or agent fails for good: then the process exits with
    `EXIT_CRASHED` for a supervisor to restart."""
    alerts = AlertsSettings.of(settings, NEEDED_BY)
    configure_logging(alerts.log_level, alerts.log_format)
    prepare_schema(alerts.database_url, migrate=alerts.migrate_on_start, needed_by=NEEDED_BY)
    asyncio.set_event_loop(asyncio.new_event_loop())
    app, topics, shutdown, listener = build_alerts(alerts)
    asyncio.get_event_loop().run_until_complete(
        ensure_topics(alerts.kafka, topics, accept_config=alerts.kafka_accept_topic_config)
    )
    if listener is not None:  # on the worker's loop: it answers once the worker runs
        asyncio.get_event_loop().run_until_complete(listener.start())
    log.info(
        "alerts.starting",
        topic=alerts.events_topic,
        group=alerts.alerts_group,
        clock=alerts.alerts_clock,
        threshold_days=alerts.alerts_threshold_days,
    )
    worker = faust.Worker(
        app,
        loglevel=alerts.log_level if alerts.log_level != "warning" else "warn",
        override_logging=False,
        quiet=True,
    )
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if shutdown.failure is None:
            raise
    raise SystemExit(shutdown.exit_code())

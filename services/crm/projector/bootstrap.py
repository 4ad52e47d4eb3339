"""Composition root of the projector: settings in, a runnable Faust worker out."""

import asyncio
from collections.abc import Sequence

import faust
import structlog

from crm.db.engine import create_engine
from crm.db.migrate import upgrade_database
from crm.infra.errors import InfrastructureError
from crm.logs import configure_logging
from crm.messaging.messages import ReceivedMessage
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.projector.agents import register_project_events
from crm.projector.app import create_app
from crm.projector.batches import project_batch
from crm.projector.dead_letters import KafkaDeadLetters
from crm.projector.store import PostgresReadModels
from crm.settings import Settings

log = structlog.get_logger(__name__)


def build_projector(settings: Settings) -> faust.App:
    """Wire the app, its topic, the read-model store and the dead-letter sink. No I/O yet."""
    if not settings.kafka_bootstrap or not settings.database_url:
        raise InfrastructureError("The projector needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL.")
    (settings.state_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = create_app(settings, settings.kafka_bootstrap)
    events = app.topic(settings.events_topic, key_serializer="raw", value_serializer="raw")
    store = PostgresReadModels(create_engine(settings.database_url))
    dead_letters = KafkaDeadLetters(app.producer, settings.dlq_topic, consumer_name=settings.projector_group)

    async def handle_batch(messages: Sequence[ReceivedMessage]) -> None:
        await project_batch(messages, store, dead_letters)

    register_project_events(
        app,
        events,
        handle_batch,
        batch_size=settings.projector_batch_size,
        batch_seconds=settings.projector_batch_seconds,
    )
    return app


def run_projector(settings: Settings) -> None:
    """Prepare topics and schema, then run the worker until SIGINT/SIGTERM."""
    configure_logging(settings.log_level, settings.log_format)
    if not settings.kafka_bootstrap or not settings.database_url:
        raise InfrastructureError("The projector needs CRM_KAFKA_BOOTSTRAP and CRM_DATABASE_URL.")
    asyncio.run(ensure_topics(settings.kafka_bootstrap, contract_topics(settings)))
    upgrade_database(settings.database_url)
    asyncio.set_event_loop(asyncio.new_event_loop())
    app = build_projector(settings)
    log.info("projector.starting", topic=settings.events_topic, group=settings.projector_group)
    worker = faust.Worker(
        app,
        loglevel=settings.log_level if settings.log_level != "warning" else "warn",
        override_logging=False,
        quiet=True,
    )
    worker.execute_from_commandline()

"""Composition root of the projector: settings in, a running consumer of `crm.events` out."""

import asyncio
import signal
from collections.abc import Sequence

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.db.migrate import prepare_schema
from crm.logs import configure_logging
from crm.messaging.batch_consumer import BatchConsumer, HandlerFailed
from crm.messaging.connection import client_options
from crm.messaging.messages import ReceivedMessage
from crm.messaging.topic_admin import contract_topics, ensure_topics
from crm.observability.listener import OperationsListener
from crm.observability.metrics import set_partition_lag
from crm.observability.readiness import Readiness, client_answers
from crm.projector.batches import Retry, project_batch
from crm.projector.dead_letters import PRODUCER_MAX_REQUEST_BYTES, KafkaDeadLetters
from crm.projector.store import PostgresReadModels
from crm.settings import ProjectorSettings, Settings

log = structlog.get_logger(__name__)


NEEDED_BY = "The projector"


async def serve_projector(settings: ProjectorSettings) -> None:
    """Project `crm.events` into the read models until SIGINT/SIGTERM. Raises `HandlerFailed`."""
    engine = create_engine(settings.database_url)
    store = PostgresReadModels(engine)
    producer = AIOKafkaProducer(
        **client_options(settings.kafka),
        acks="all",
        enable_idempotence=True,
        max_request_size=PRODUCER_MAX_REQUEST_BYTES,
    )
    dead_letters = KafkaDeadLetters(producer, settings.dlq_topic, consumer_name=settings.projector_group)
    upcasting = UpcastContext(settings.default_programme)

    async def handle_batch(messages: Sequence[ReceivedMessage]) -> None:
        await project_batch(messages, store, dead_letters, retry=retry, upcasting=upcasting)

    consumer = BatchConsumer(
        settings.kafka,
        settings.events_topic,
        settings.projector_group,
        handle_batch,
        batch_size=settings.projector_batch_size,
        batch_seconds=settings.projector_batch_seconds,
        session_timeout=settings.projector_session_timeout,
        client_id=settings.projector_group,
    )
    # Retries of a failing store give up (the batch stays uncommitted) once the consumer is stopping.
    retry = Retry(stopping=consumer.stopping)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, consumer.stop)
    listener = _operations_listener(settings, producer, engine, consumer)
    await producer.start()
    try:
        if listener is not None:
            await listener.start()
        log.info("projector.starting", topic=settings.events_topic, group=settings.projector_group)
        await consumer.run()
    finally:
        if listener is not None:
            await listener.stop()
        await producer.stop()
        await engine.dispose()


def _operations_listener(
    settings: ProjectorSettings, producer: AIOKafkaProducer, engine: AsyncEngine, consumer: BatchConsumer
) -> OperationsListener | None:
    """`/metrics`, `/health`, `/ready` when CRM_PROJECTOR_OPERATIONS_PORT is set; Kafka is checked
    through the dead-letter producer's client (a metadata request)."""
    if settings.projector_operations_port is None:
        return None

    async def refresh_lag() -> None:
        set_partition_lag(consumer.lag())

    return OperationsListener(
        settings.operations_host,
        settings.projector_operations_port,
        Readiness(kafka=client_answers(producer.client), engine=engine),
        before_scrape=refresh_lag,
        service="projector",
    )


def run_projector(settings: Settings) -> int:
    """Check the schema is current (or migrate it), prepare topics, then project until SIGINT/SIGTERM.
    The process's exit code: 0 after a clean stop, 1 when a batch could not be handled (so a
    supervisor sees it died)."""
    projector = ProjectorSettings.of(settings, NEEDED_BY)
    configure_logging(projector.log_level, projector.log_format)
    prepare_schema(projector.database_url, migrate=projector.migrate_on_start, needed_by=NEEDED_BY)
    asyncio.run(
        ensure_topics(projector.kafka, contract_topics(projector), accept_config=projector.kafka_accept_topic_config)
    )
    try:
        asyncio.run(serve_projector(projector))
    except HandlerFailed as failure:
        log.error("projector.exiting", reason=str(failure), exit_code=1)
        return 1
    log.info("projector.stopped", exit_code=0)
    return 0

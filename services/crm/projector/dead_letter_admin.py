"""Operating the dead-letter topic: list what is parked, send it back to `crm.events` after a fix.

Replay keeps its place in the consumer group `<projector group>-dlq-replay`, so each parked message
is sent back once. A message that is still invalid is parked again by the projector (a new entry
at the end of the DLQ), so nothing is lost either way.
"""

from dataclasses import dataclass, field
from datetime import datetime

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord

from crm.contract.decoding import InvalidEvents, decode_alert, decode_event
from crm.messaging.connection import KafkaConnection, client_options
from crm.messaging.reading import records_until, topic_partitions
from crm.settings import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    parked_at: datetime
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        return self.headers.get("dlq.reason", "")

    @property
    def source_topic(self) -> str | None:
        return self.headers.get("dlq.source.topic")

    @property
    def decodes_now(self) -> bool:
        """Whether the message passes the contract as it is now (after a fix, it may): as a
        domain event, or as an alert for one parked by the alerts read model."""
        for decode in (decode_event, decode_alert):
            try:
                decode(self.value or b"")
            except InvalidEvents:
                continue
            return True
        return False


def _dead_letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
    return DeadLetter(
        record.partition,
        record.offset,
        datetime.fromtimestamp(record.timestamp / 1000).astimezone(),
        record.key,
        record.value,
        headers,
    )


def _kafka(settings: Settings) -> KafkaConnection:
    from crm.errors import InfrastructureError

    if not settings.kafka_bootstrap:
        raise InfrastructureError("Set CRM_KAFKA_BOOTSTRAP to the Kafka cluster.")
    return settings.kafka


async def list_dead_letters(settings: Settings) -> list[DeadLetter]:
    """Every message on the DLQ topic, oldest first."""
    consumer = AIOKafkaConsumer(**client_options(_kafka(settings)), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await topic_partitions(consumer, settings.dlq_topic)
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        return [_dead_letter(r) async for batch in records_until(consumer, ends) for r in batch]
    finally:
        await consumer.stop()


async def replay_dead_letters(settings: Settings, *, dry_run: bool = False) -> list[DeadLetter]:
    """Send every not yet replayed dead letter back to the events topic, original key and bytes."""
    kafka = _kafka(settings)
    consumer = AIOKafkaConsumer(
        **client_options(kafka),
        group_id=f"{settings.projector_group}-dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(**client_options(kafka), acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    replayed: list[DeadLetter] = []
    try:
        partitions = await topic_partitions(consumer, settings.dlq_topic)
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        async for batch in records_until(consumer, ends):
            letters = [_dead_letter(r) for r in batch]
            replayed.extend(letters)
            if dry_run:
                continue
            for letter in letters:
                headers = [("dlq.replayed_from", f"{settings.dlq_topic}/{letter.partition}/{letter.offset}".encode())]
                # Back where it came from: crm.events, or crm.alerts for the alerts read model's.
                home = letter.source_topic if letter.source_topic == settings.alerts_topic else settings.events_topic
                await producer.send_and_wait(home, letter.value, key=letter.key, headers=headers)
                log.info("dlq.replayed", partition=letter.partition, offset=letter.offset)
            await consumer.commit()
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed

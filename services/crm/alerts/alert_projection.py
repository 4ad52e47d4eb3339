"""Projecting `crm.alerts` into the PostgreSQL read model and the webhook outbox, one batch at a time.

The batch handler of the alerts service's second consumer (`crm.messaging.batch_consumer`, group
`<alerts group>-read-model`): the consumer commits a batch's offsets only once `project_alerts`
returned, that is once the rows, the outbox entries and the tracking records are committed in
PostgreSQL. An alert read twice (a re-delivery, or the detector publishing it again with the same
id after a crash) is applied once: its tracked event id means "already done".
"""

import asyncio
from collections.abc import Sequence

import structlog

from crm.alerts.store import PostgresAlertViews, ReceivedAlert
from crm.contract.decoding import InvalidEvents, decode_alert
from crm.messaging.messages import ReceivedMessage

log = structlog.get_logger(__name__)


class AlertProjection:
    def __init__(self, views: PostgresAlertViews, *, max_retry_delay: float = 30.0) -> None:
        self._views = views
        self._max_retry_delay = max_retry_delay

    async def project_alerts(self, records: Sequence[ReceivedMessage]) -> None:
        received = decoded(records)
        delay = 1.0
        while True:  # committed to Kafka only once applied: PostgreSQL down means wait
            try:
                await self._views.apply(received)
                return
            except Exception as exc:
                log.error("alerts.read_model_failed", error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._max_retry_delay)


def decoded(records: Sequence[ReceivedMessage]) -> list[ReceivedAlert]:
    received = []
    for record in records:
        try:
            if record.value is None:
                raise InvalidEvents([])
            received.append(ReceivedAlert(decode_alert(record.value), record.value, record.partition, record.offset))
        except InvalidEvents as invalid:
            log.error(
                "alerts.undecodable_alert", partition=record.partition, offset=record.offset, reason=invalid.reason
            )
    return received

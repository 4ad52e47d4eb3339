"""Projecting `crm.alerts` into the PostgreSQL read model and the webhook outbox, one batch at a time.

The batch handler of the alerts service's second consumer (`crm.messaging.batch_consumer`, group
`<alerts group>-read-model`): the consumer commits a batch's offsets only once `project_alerts`
returned, that is once the rows, the outbox entries and the tracking records are committed in
PostgreSQL. An alert read twice (a re-delivery, or the detector publishing it again with the same
id after a crash) is applied once: its tracked event id means "already done".
"""

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from crm.alerts.store import ReceivedAlert
from crm.contract.decoding import InvalidEvents, decode_alert
from crm.db.failures import unstorable_reason
from crm.messaging.batch_consumer import BatchAbandoned
from crm.messaging.messages import ReceivedMessage
from crm.observability.metrics import DEAD_LETTERS
from crm.projector.ports import DeadLetters

log = structlog.get_logger(__name__)


class AlertViews(Protocol):
    async def apply(self, received: Sequence[ReceivedAlert]) -> int: ...


class AlertProjection:
    """Applies a batch of alerts, or parks what can never be stored and applies the rest.

    A failure the data itself causes (`crm.db.failures.unstorable_reason`: SQLSTATE class 22, 23,
    54, an encoding error) fails the same way on every retry: the batch is split in halves until
    the alert is alone, which is parked on the dead-letter topic with its reason. Any other
    failure (PostgreSQL away, a serialization failure) is retried with backoff, and given up
    uncommitted (`BatchAbandoned`) when the service is asked to stop meanwhile.
    """

    def __init__(
        self,
        views: AlertViews,
        dead_letters: DeadLetters,
        *,
        max_retry_delay: float = 30.0,
        first_retry_delay: float = 1.0,
    ) -> None:
        self._views = views
        self._dead_letters = dead_letters
        self._max_retry_delay = max_retry_delay
        self._first_retry_delay = first_retry_delay
        self.stopping: asyncio.Event | None = None  # the consumer's, once it exists

    async def project_alerts(self, records: Sequence[ReceivedMessage]) -> None:
        received: list[ReceivedAlert] = []
        source: dict[int, ReceivedMessage] = {}  # id(alert) -> its message, to park it as it came
        for record in records:
            try:
                if record.value is None:
                    raise InvalidEvents([])
                alert = ReceivedAlert(decode_alert(record.value), record.value, record.partition, record.offset)
            except InvalidEvents as invalid:
                await self._park(record, invalid.reason or "empty message (no value)")
                continue
            received.append(alert)
            source[id(alert)] = record
        for refused, reason in await self._apply_isolating(received):
            await self._park(source[id(refused)], f"unstorable: {reason}")

    async def _apply_isolating(self, alerts: Sequence[ReceivedAlert]) -> list[tuple[ReceivedAlert, str]]:
        """Apply `alerts`; the ones refused as unstorable, each with its reason."""
        if not alerts:
            return []
        reason = await self._apply_retrying(alerts)
        if reason is None:
            return []
        if len(alerts) == 1:
            return [(alerts[0], reason)]
        middle = len(alerts) // 2
        return await self._apply_isolating(alerts[:middle]) + await self._apply_isolating(alerts[middle:])

    async def _apply_retrying(self, alerts: Sequence[ReceivedAlert]) -> str | None:
        """None once applied; why not, when the data cannot be stored. Retries anything else."""
        delay = self._first_retry_delay
        attempts = 0
        while True:  # committed to Kafka only once applied: PostgreSQL down means wait
            try:
                await self._views.apply(alerts)
                return None
            except Exception as exc:
                reason = unstorable_reason(exc)
                if reason is not None:
                    return reason
                attempts += 1
                log.error("alerts.read_model_failed", error=repr(exc), retry_in=delay, attempt=attempts)
            if self.stopping is None:
                await asyncio.sleep(delay)
            else:
                try:
                    await asyncio.wait_for(self.stopping.wait(), delay)
                except TimeoutError:
                    pass
                else:
                    raise BatchAbandoned(
                        f"asked to stop while the alerts read model kept failing ({attempts} attempts)"
                    )
            delay = min(delay * 2, self._max_retry_delay)

    async def _park(self, record: ReceivedMessage, reason: str) -> None:
        await self._dead_letters.park(record, reason)
        DEAD_LETTERS.labels("alerts").inc()
        log.error("alerts.parked", partition=record.partition, offset=record.offset, reason=reason)

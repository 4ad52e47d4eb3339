"""Following pilot activity: each batch of `crm.events` records into the detector.

`crm.events` is read by a plain consumer-group member (`crm.messaging.batch_consumer`), not a
Faust agent: Faust empties its agents' queues when table recovery completes, dropping records
handed over just before (docs/reliability.md, bug 4). The consumer commits a batch's
offsets only once `follow_pilots` returned, and it returns only once Kafka has acknowledged the
changelog writes the batch caused. So a crash leaves either the new pilot states and the offsets
both stored, or the offsets not (the batch is read again; `apply_event` is idempotent, and the
alerts it would emit again carry the same event ids).
"""

from collections.abc import Awaitable, Callable, Sequence
from functools import partial

import structlog

from crm.alerts.detector import Detector
from crm.alerts.readiness import TableReadiness
from crm.contract.decoding import InvalidEvents, decode_event
from crm.contract.upcasting import UpcastContext
from crm.messaging.messages import ReceivedMessage

log = structlog.get_logger(__name__)


class PilotActivity:
    """The batch handler of the alerts service's events consumer."""

    def __init__(
        self,
        detector: Detector,
        readiness: TableReadiness,
        changelog_written: Callable[[], Awaitable[None]],
        upcasting: UpcastContext,
    ) -> None:
        self._detector = detector
        self._upcasting = upcasting
        self._readiness = readiness
        self._written = changelog_written

    async def follow_pilots(self, records: Sequence[ReceivedMessage]) -> None:
        for record in records:
            if record.value is None:
                continue  # a tombstone: nothing a pilot could be named by
            try:
                event = decode_event(record.value, self._upcasting)
            except InvalidEvents as invalid:  # the projector parks it on the DLQ; here it is skipped
                log.warning(
                    "alerts.undecodable_event", partition=record.partition, offset=record.offset, reason=invalid.reason
                )
                continue
            await self._readiness.step(partial(self._detector.on_event, event))
        await self._written()

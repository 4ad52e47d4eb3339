"""The alerts read model in PostgreSQL: rows, outbox and tracking record in one transaction."""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from crm.alerts.rules import alert_id
from crm.contract.events import AlertEvent, PilotStalled, PilotStallResolved
from crm.db.alert_tables import alert_outbox, alerts, applied_alert_events


@dataclass(frozen=True, slots=True)
class ReceivedAlert:
    """An alert read from `crm.alerts`: decoded, with its exact bytes (the webhook body)."""

    event: AlertEvent
    body: bytes
    partition: int | None = None
    offset: int | None = None


class PostgresAlertViews:
    """Applies alert events once each; a tracked event id means 'already applied'."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def apply(self, received: Sequence[ReceivedAlert]) -> int:
        unique = {item.event.event_id: item for item in received}
        if not unique:
            return 0
        async with self._engine.begin() as connection:
            claimed = await connection.execute(
                insert(applied_alert_events)
                .values(
                    [
                        {
                            "event_id": item.event.event_id,
                            "partner_id": item.event.partner_id,
                            "event_type": item.event.event_type,
                            "occurred_at": item.event.occurred_at,
                            "kafka_partition": item.partition,
                            "kafka_offset": item.offset,
                        }
                        for item in unique.values()
                    ]
                )
                .on_conflict_do_nothing(index_elements=["event_id"])
                .returning(applied_alert_events.c.event_id)
            )
            new_ids = set(claimed.scalars())
            fresh: list[ReceivedAlert] = []
            for item in received:  # in topic order: a stall is opened before it is reminded or resolved
                if item.event.event_id in new_ids:
                    new_ids.discard(item.event.event_id)  # a duplicate inside the batch applies once
                    fresh.append(item)
                    await _apply_one(connection, item.event)
            outbox = [{"event_id": i.event.event_id, "partner_id": i.event.partner_id, "body": i.body} for i in fresh]
            if outbox:
                await connection.execute(insert(alert_outbox).on_conflict_do_nothing(), outbox)
        return len(fresh)


async def _apply_one(connection: AsyncConnection, event: AlertEvent) -> None:
    match event:
        case PilotStalled(payload=payload):
            stall_id = alert_id(event.partner_id, payload.pilot_id, payload.last_activity_at, "stalled")
            if stall_id == event.event_id:
                await connection.execute(
                    insert(alerts)
                    .values(
                        alert_id=stall_id,
                        partner_id=event.partner_id,
                        pilot_id=payload.pilot_id,
                        sme_id=event.sme_id,
                        fired_at=event.occurred_at,
                        last_activity_at=payload.last_activity_at,
                        idle_days=payload.idle_days,
                        threshold_days=payload.threshold_days,
                        last_notified_at=event.occurred_at,
                    )
                    .on_conflict_do_nothing()
                )
            else:  # a reminder of that stall
                await connection.execute(
                    update(alerts)
                    .where(alerts.c.alert_id == stall_id)
                    .values(
                        reminders=alerts.c.reminders + 1,
                        idle_days=payload.idle_days,
                        last_notified_at=event.occurred_at,
                    )
                )
        case PilotStallResolved(payload=resolved):
            await connection.execute(
                update(alerts)
                .where(
                    alerts.c.partner_id == event.partner_id,
                    alerts.c.pilot_id == resolved.pilot_id,
                    alerts.c.resolved_at.is_(None),
                )
                .values(resolved_at=event.occurred_at, resolved_by=resolved.resolved_by)
            )

"""What partners and operators tell the alerts service: snooze a pilot, acknowledge an alert,
where to deliver. Plain functions on a connection, shared by the CLI and the query API
(`crm/query/api/routes/alert_controls.py`).

These live in PostgreSQL, the one place the detector reads them from (`load_controls`), so a
snooze is a single transactional write with nothing to keep in step.
"""

from datetime import datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.alerts.rules import Controls
from crm.db.alert_tables import alerts, partner_webhooks, pilot_snoozes


async def snooze_pilot(
    connection: AsyncConnection, partner_id: str, pilot_id: str, until: datetime, by: str | None = None
) -> None:
    """No alert nor reminder for the pilot before `until`; a later snooze replaces it."""
    if until.tzinfo is None:
        raise ValueError("the snooze end needs a time zone")
    values = {"snoozed_until": until, "snoozed_by": by}
    await connection.execute(
        insert(pilot_snoozes)
        .values(partner_id=partner_id, pilot_id=pilot_id, **values)
        .on_conflict_do_update(index_elements=["partner_id", "pilot_id"], set_=values)
    )


async def acknowledge_alert(
    connection: AsyncConnection, alert: UUID, at: datetime, by: str | None = None, *, partner_id: str | None = None
) -> bool:
    """Stop the reminders of a stall (it still resolves). False when no such alert (of that partner)."""
    statement = update(alerts).where(alerts.c.alert_id == alert)
    if partner_id is not None:
        statement = statement.where(alerts.c.partner_id == partner_id)
    result = await connection.execute(
        statement.values(acknowledged_at=at, acknowledged_by=by).returning(alerts.c.alert_id)
    )
    return result.first() is not None


async def set_webhook(connection: AsyncConnection, partner_id: str, url: str, secret: str) -> None:
    values = {"url": url, "secret": secret}
    await connection.execute(
        insert(partner_webhooks)
        .values(partner_id=partner_id, **values)
        .on_conflict_do_update(index_elements=["partner_id"], set_=values)
    )


async def load_controls(connection: AsyncConnection) -> Controls:
    """Every snooze, and the acknowledged alerts still firing (both small sets)."""
    snoozes = await connection.execute(
        select(pilot_snoozes.c.partner_id, pilot_snoozes.c.pilot_id, pilot_snoozes.c.snoozed_until)
    )
    acknowledged = await connection.execute(
        select(alerts.c.alert_id).where(alerts.c.acknowledged_at.is_not(None), alerts.c.resolved_at.is_(None))
    )
    return Controls(
        snoozed_until={(row.partner_id, row.pilot_id): row.snoozed_until for row in snoozes},
        acknowledged=frozenset(acknowledged.scalars()),
    )

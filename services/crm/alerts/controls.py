"""What partners and operators tell the alerts service: snooze a pilot, acknowledge an alert,
where to deliver. Plain functions on a connection, shared by the CLI and the query API
(`crm/query/api/routes/alert_controls.py`).

These live in PostgreSQL, the one place the detector reads them from (`load_controls`), so a
snooze is a single transactional write with nothing to keep in step.
"""

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import func, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.alerts.rules import Controls
from crm.db.alert_tables import alerts, partner_webhooks, pilot_snoozes
from crm.db.tables import pilots


class SnoozeRefused(ValueError):
    """A snooze that is not stored; the message says why."""


class UnknownPilot(SnoozeRefused):
    """The partner has no such pilot (one whose PilotOpened was applied)."""


class TooManySnoozes(SnoozeRefused):
    """The partner already holds as many unended snoozes as it may."""


def snooze_end(until: datetime) -> datetime:
    """`until` as UTC; ValueError without a time zone, or past what UTC can hold (9999-12-31T23:59:59-01:00)."""
    if until.tzinfo is None:
        raise ValueError("the snooze end needs a time zone")
    try:
        return until.astimezone(UTC)
    except OverflowError:
        raise ValueError("the snooze end is out of range (it must be within years 1-9999 in UTC)") from None


async def pilot_exists(connection: AsyncConnection, partner_id: str, pilot_id: str) -> bool:
    """Whether the partner has opened that pilot, as far as PostgreSQL knows.

    The alerts service's own pilot states live in its Faust table (Kafka), which neither the query
    API nor the CLI can read. In the same database are the projector's `pilots` read model (every
    pilot whose PilotOpened was applied; no `unopened` ones, which only later events named) and
    the alerts read model (`alerts`: pilots that stalled, so a pilot is known there even while the
    projector is behind or `crm projections rebuild` refills its tables).
    """
    opened = select(literal(1)).where(
        pilots.c.partner_id == partner_id, pilots.c.pilot_id == pilot_id, pilots.c.opened_at.is_not(None)
    )
    alerted = select(literal(1)).where(alerts.c.partner_id == partner_id, alerts.c.pilot_id == pilot_id)
    return bool(await connection.scalar(select(or_(opened.exists(), alerted.exists()))))


async def snooze_pilot(
    connection: AsyncConnection,
    partner_id: str,
    pilot_id: str,
    until: datetime,
    by: str | None = None,
    *,
    max_snoozes: int,
) -> None:
    """No alert nor reminder for the pilot before `until`; a later snooze replaces it.

    Refused (UnknownPilot) unless the partner has that pilot (`pilot_exists`), and (TooManySnoozes)
    when the partner already holds `max_snoozes` other snoozes that have not ended: re-snoozing a
    snoozed pilot replaces its snooze and does not count twice. ValueError: `until` unusable.
    """
    until = snooze_end(until)
    if not await pilot_exists(connection, partner_id, pilot_id):
        raise UnknownPilot(f"no pilot {pilot_id!r} of partner {partner_id!r}")
    # One snooze of a partner at a time, so that two concurrent ones cannot both pass the count.
    await connection.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"crm.pilot_snoozes/{partner_id}"))))
    active = await connection.scalar(
        select(func.count())
        .select_from(pilot_snoozes)
        .where(
            pilot_snoozes.c.partner_id == partner_id,
            pilot_snoozes.c.pilot_id != pilot_id,
            pilot_snoozes.c.snoozed_until > func.now(),
        )
    )
    if int(active or 0) >= max_snoozes:
        raise TooManySnoozes(
            f"partner {partner_id!r} already has {active} snoozes that have not ended, the most it may hold "
            f"(CRM_ALERTS_MAX_SNOOZES_PER_PARTNER={max_snoozes}); re-snooze one of those pilots or wait for one to end"
        )
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

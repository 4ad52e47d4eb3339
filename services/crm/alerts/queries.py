"""Reading the alerts read model (the query API and the CLI wrap these)."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.db.alert_tables import alerts, pilot_snoozes


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: UUID
    partner_id: str
    pilot_id: str
    sme_id: str
    fired_at: datetime
    last_activity_at: datetime
    idle_days: int
    threshold_days: int
    reminders: int
    last_notified_at: datetime
    resolved_at: datetime | None
    resolved_by: UUID | None
    acknowledged_at: datetime | None
    snoozed_until: datetime | None

    @property
    def status(self) -> str:
        return "resolved" if self.resolved_at else "acknowledged" if self.acknowledged_at else "firing"


def _alerts_query() -> Select[tuple[object, ...]]:
    return select(*alerts.c, pilot_snoozes.c.snoozed_until).outerjoin(
        pilot_snoozes,
        and_(pilot_snoozes.c.partner_id == alerts.c.partner_id, pilot_snoozes.c.pilot_id == alerts.c.pilot_id),
    )


def alert_views(rows: object) -> list[AlertView]:
    """Rows of `partner_alerts` (or of the alerts joined with their snoozes) as views."""
    return [
        AlertView(**{name: getattr(row, name) for name in AlertView.__slots__})  # type: ignore[attr-defined]
        for row in rows  # type: ignore[attr-defined]
    ]


def partner_alerts(partner_id: str, *, open_only: bool = False) -> Select[tuple[object, ...]]:
    """The query of a partner's alerts, newest first (one per stall; resolved ones too unless `open_only`)."""
    query = _alerts_query().where(alerts.c.partner_id == partner_id)
    if open_only:
        query = query.where(alerts.c.resolved_at.is_(None))
    return query.order_by(alerts.c.fired_at.desc(), alerts.c.alert_id)


async def alerts_for_partner(
    connection: AsyncConnection, partner_id: str, *, open_only: bool = False, limit: int = 100, offset: int = 0
) -> list[AlertView]:
    """A partner's alerts, newest first (one per stall; resolved ones too unless `open_only`)."""
    query = partner_alerts(partner_id, open_only=open_only).limit(limit).offset(offset)
    return alert_views(await connection.execute(query))


async def stalled_pilots(connection: AsyncConnection, partner_id: str | None = None) -> list[AlertView]:
    """Pilots stalled now: one unresolved alert each, ordered by partner and pilot."""
    query = _alerts_query().where(alerts.c.resolved_at.is_(None))
    if partner_id is not None:
        query = query.where(alerts.c.partner_id == partner_id)
    return alert_views(await connection.execute(query.order_by(alerts.c.partner_id, alerts.c.pilot_id)))

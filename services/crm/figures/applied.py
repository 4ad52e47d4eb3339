"""What the read models contain: per partner, how many events are applied, the newest of them (in
event time) and when the projector last applied one (wall time); and the same for all partners.

The one reading of the tracking record's maxima: the figures' default `as_of`, the query service's
freshness and `crm status` all take it from here. One scan of `applied_events` serves both the
per-partner and the overall figures.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

_PER_PARTNER = text(
    "SELECT partner_id, count(*) AS events, max(occurred_at) AS newest_event_at, max(applied_at) AS last_applied_at"
    " FROM applied_events GROUP BY partner_id"
)


@dataclass(frozen=True, slots=True)
class Applied:
    """The applied events of one partner, or of all; nothing applied: 0 and two Nones."""

    events: int = 0
    newest_event_at: datetime | None = None  # event time of the newest applied event
    last_applied_at: datetime | None = None  # wall time the projector last applied an event


@dataclass(frozen=True, slots=True)
class AppliedEvents:
    """Each partner's `Applied` (partners with none absent) and the overall one."""

    partners: Mapping[str, Applied]
    overall: Applied = field(init=False)

    def __post_init__(self) -> None:
        values = self.partners.values()
        overall = Applied(
            sum(a.events for a in values),
            max((a.newest_event_at for a in values if a.newest_event_at), default=None),
            max((a.last_applied_at for a in values if a.last_applied_at), default=None),
        )
        object.__setattr__(self, "overall", overall)

    @classmethod
    def from_rows(cls, rows: Iterable[Any]) -> "AppliedEvents":
        """From rows of (partner_id, events, newest_event_at, last_applied_at)."""
        return cls({row.partner_id: Applied(row.events, row.newest_event_at, row.last_applied_at) for row in rows})


async def applied_events(connection: AsyncConnection) -> AppliedEvents:
    """The newest applied event and the last application, per partner and overall."""
    return AppliedEvents.from_rows((await connection.execute(_PER_PARTNER)).all())

"""Projection rules: pure functions from events to read-model rows. No I/O here."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from crm.contract.events import DomainEvent


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    partner_id: str
    sme_id: str
    event_id: UUID
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]


def timeline_entry(event: DomainEvent) -> TimelineEntry:
    """Every applied event appears once on its SME's timeline."""
    return TimelineEntry(
        partner_id=event.partner_id,
        sme_id=event.sme_id,
        event_id=event.event_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        payload=event.payload.model_dump(mode="json", exclude_none=True),
    )

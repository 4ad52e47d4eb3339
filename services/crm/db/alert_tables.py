"""Tables of the alerts read model, snoozes and webhook delivery (migration 0004).

Kept apart from `tables.py` so the alerts service owns its schema; same `metadata`.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID

from crm.db.tables import metadata, tracking_table

alerts = Table(
    "alerts",
    metadata,
    Column("alert_id", UUID(as_uuid=True), primary_key=True),
    Column("partner_id", String(64), nullable=False),
    Column("pilot_id", String(128), nullable=False),
    Column("sme_id", String(128), nullable=False),
    Column("fired_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    Column("idle_days", Integer, nullable=False),
    Column("threshold_days", Integer, nullable=False),
    Column("reminders", Integer, nullable=False, server_default="0"),
    Column("last_notified_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("resolved_by", UUID(as_uuid=True), nullable=True),
    Column("acknowledged_at", DateTime(timezone=True), nullable=True),
    Column("acknowledged_by", String(128), nullable=True),
    comment="One row per stall: opened by PilotStalled (alert_id is its event id), updated by "
    "reminders, closed by PilotStallResolved. Unresolved rows are the stalled pilots.",
)
Index("ix_alerts_partner_pilot", alerts.c.partner_id, alerts.c.pilot_id)
Index("ix_alerts_open", alerts.c.partner_id, postgresql_where=alerts.c.resolved_at.is_(None))

applied_alert_events = tracking_table(
    "applied_alert_events", "Tracking record of the alerts read model; written with the rows it changed."
)

pilot_snoozes = Table(
    "pilot_snoozes",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("pilot_id", String(128), primary_key=True),
    Column("snoozed_until", DateTime(timezone=True), nullable=False),
    Column("snoozed_by", String(128), nullable=True),
    Column("snoozed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="No alert nor reminder for the pilot before snoozed_until (read by the detector).",
)

partner_webhooks = Table(
    "partner_webhooks",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("secret", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="Where a partner's alerts are POSTed, and the HMAC-SHA256 key that signs them.",
)

alert_outbox = Table(
    "alert_outbox",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("partner_id", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("enqueued_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    comment="Every alert event to deliver to its partner's webhook, until a 2xx answer.",
)
Index("ix_alert_outbox_due", alert_outbox.c.next_attempt_at, postgresql_where=text("delivered_at IS NULL"))

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("event_id", UUID(as_uuid=True), nullable=False),
    Column("partner_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("url", Text, nullable=False),
    Column("attempted_at", DateTime(timezone=True), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    comment="The delivery log: every webhook attempt, its answer or error.",
)
Index("ix_webhook_deliveries_event", webhook_deliveries.c.event_id)

__all__ = [
    "alert_outbox",
    "alerts",
    "applied_alert_events",
    "partner_webhooks",
    "pilot_snoozes",
    "webhook_deliveries",
]

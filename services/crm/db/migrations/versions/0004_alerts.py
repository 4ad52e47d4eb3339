"""Alerts read model, pilot snoozes, partner webhooks, the alert outbox and the delivery log.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("alert_id", UUID, primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("pilot_id", sa.String(128), nullable=False),
        sa.Column("sme_id", sa.String(128), nullable=False),
        sa.Column("fired_at", TS, nullable=False),
        sa.Column("last_activity_at", TS, nullable=False),
        sa.Column("idle_days", sa.Integer, nullable=False),
        sa.Column("threshold_days", sa.Integer, nullable=False),
        sa.Column("reminders", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_notified_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by", UUID, nullable=True),
        sa.Column("acknowledged_at", TS, nullable=True),
        sa.Column("acknowledged_by", sa.String(128), nullable=True),
        comment="One row per stall: opened by PilotStalled (alert_id is its event id), updated by "
        "reminders, closed by PilotStallResolved. Unresolved rows are the stalled pilots.",
    )
    op.create_index("ix_alerts_partner_pilot", "alerts", ["partner_id", "pilot_id"])
    op.create_index("ix_alerts_open", "alerts", ["partner_id"], postgresql_where=sa.text("resolved_at IS NULL"))
    op.create_table(
        "applied_alert_events",
        sa.Column("event_id", UUID, primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("kafka_partition", sa.Integer, nullable=True),
        sa.Column("kafka_offset", sa.BigInteger, nullable=True),
        sa.Column("applied_at", TS, nullable=False, server_default=sa.func.now()),
        comment="Tracking record of the alerts read model; written with the rows it changed.",
    )
    op.create_table(
        "pilot_snoozes",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("pilot_id", sa.String(128), primary_key=True),
        sa.Column("snoozed_until", TS, nullable=False),
        sa.Column("snoozed_by", sa.String(128), nullable=True),
        sa.Column("snoozed_at", TS, nullable=False, server_default=sa.func.now()),
        comment="No alert nor reminder for the pilot before snoozed_until (read by the detector).",
    )
    op.create_table(
        "partner_webhooks",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("updated_at", TS, nullable=False, server_default=sa.func.now()),
        comment="Where a partner's alerts are POSTed, and the HMAC-SHA256 key that signs them.",
    )
    op.create_table(
        "alert_outbox",
        sa.Column("event_id", UUID, primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("enqueued_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=False, server_default=sa.func.now()),
        sa.Column("delivered_at", TS, nullable=True),
        comment="Every alert event to deliver to its partner's webhook, until a 2xx answer.",
    )
    op.create_index(
        "ix_alert_outbox_due", "alert_outbox", ["next_attempt_at"], postgresql_where=sa.text("delivered_at IS NULL")
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("event_id", UUID, nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("status_code", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        comment="The delivery log: every webhook attempt, its answer or error.",
    )
    op.create_index("ix_webhook_deliveries_event", "webhook_deliveries", ["event_id"])


def downgrade() -> None:
    for table in ("webhook_deliveries", "alert_outbox", "partner_webhooks", "pilot_snoozes"):
        op.drop_table(table)
    op.drop_table("applied_alert_events")
    op.drop_table("alerts")

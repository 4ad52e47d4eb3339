"""Tracking record of applied events, and the SME timeline.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "applied_events",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kafka_partition", sa.Integer, nullable=True),
        sa.Column("kafka_offset", sa.BigInteger, nullable=True),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        comment="The tracking record: which events the read models contain. Written in the same "
        "transaction as the rows they changed; a duplicate event_id means 'already applied'.",
    )
    op.create_index("ix_applied_events_partner", "applied_events", ["partner_id"])
    op.create_table(
        "sme_timeline",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sme_id", sa.String(128), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("event_type", sa.String(40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", postgresql.JSONB, nullable=False),
        comment="Every applied event of an SME; read ordered by occurred_at.",
    )
    op.create_index("ix_sme_timeline_order", "sme_timeline", ["partner_id", "sme_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("sme_timeline")
    op.drop_table("applied_events")

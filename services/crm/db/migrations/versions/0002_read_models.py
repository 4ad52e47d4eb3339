"""Read models: SMEs, their markets, pilots, agreements, and stalled pilots (from alerts).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "smes",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sme_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("sector", sa.String(200), nullable=True),
        sa.Column("target_markets", sa.ARRAY(sa.String(2)), nullable=False, server_default="{}"),
        sa.Column("profile_key_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("profile_key_event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("stage", sa.String(16), nullable=True),
        sa.Column("selected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("piloting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreement_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matchmaking_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn", sa.Boolean, nullable=False, server_default="false"),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        comment="One row per SME. Stage facts are the earliest time each stage was reached (event time).",
    )
    op.create_table(
        "sme_markets",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sme_id", sa.String(128), primary_key=True),
        sa.Column("market", sa.String(2), primary_key=True),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("piloting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreement_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matchmaking_at", sa.DateTime(timezone=True), nullable=True),
        comment="An SME's funnel within one market: earliest meeting, pilot, agreement, digital meeting there.",
    )
    op.create_table(
        "pilots",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sme_id", sa.String(128), primary_key=True),
        sa.Column("pilot_id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("market", sa.String(2), nullable=True),
        sa.Column("region", sa.String(200), nullable=True),
        sa.Column("counterpart", sa.String(200), nullable=True),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_key_event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("close_note", sa.String(4000), nullable=True),
        sa.Column("outcome_key_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome_key_event_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agreement_ids", sa.ARRAY(sa.String(128)), nullable=False, server_default="{}"),
        comment="Pilots; status is open, closed (with outcome) or unopened (referenced, PilotOpened not seen yet).",
    )
    op.create_index("ix_pilots_partner_pilot", "pilots", ["partner_id", "pilot_id"])
    op.create_table(
        "agreements",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sme_id", sa.String(128), primary_key=True),
        sa.Column("agreement_id", sa.String(128), primary_key=True),
        sa.Column("agreement_type", sa.String(32), nullable=False),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("counterpart", sa.String(200), nullable=False),
        sa.Column("pilot_id", sa.String(128), nullable=True),
        sa.Column("value_eur", sa.Numeric(16, 2), nullable=True),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_key_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version_key_event_id", postgresql.UUID(as_uuid=True), nullable=False),
        comment="Signed agreements; a re-sent agreement_id takes the attributes of its latest event.",
    )


def downgrade() -> None:
    for table in ("agreements", "pilots", "sme_markets", "smes"):
        op.drop_table(table)

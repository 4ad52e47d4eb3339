"""Funder reports, frozen: each submitted revision of a period's report and its lifecycle.

`reports` holds every frozen revision of a programme's period report: the document exactly as
returned (bytes, never rewritten), the programme version it was computed under, the ids of the
events applied when it was frozen (what it was computed from; restatements list the events
applied since), and its basis (what each indicator counted). `report_steps` records each step
of the lifecycle (submitted, reopened) with who and when. Partners' SQL logins get nothing here
(migration 0007's rule: no base-table grants); they read their slice over HTTP.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("programme_id", sa.String(64), primary_key=True),
        sa.Column("period", sa.Integer, primary_key=True),
        sa.Column("revision", sa.Integer, primary_key=True),
        sa.Column("programme_version", sa.Integer, nullable=False),
        sa.Column("document", sa.LargeBinary, nullable=False),
        sa.Column("basis", postgresql.JSONB, nullable=False),
        sa.Column("applied_event_ids", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=False),
        sa.Column("frozen_at", TS, nullable=False),
        sa.Column("frozen_by", sa.String(200), nullable=False),
        sa.CheckConstraint("revision >= 1", name="reports_revision_positive"),
        sa.ForeignKeyConstraint(
            ["programme_id", "programme_version"], ["programme_versions.programme_id", "programme_versions.version"]
        ),
        comment="Every frozen revision of a programme's period report (crm report freeze); never updated.",
    )
    op.create_table(
        "report_steps",
        sa.Column("step_id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("programme_id", sa.String(64), nullable=False),
        sa.Column("period", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("step", sa.String(16), nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.CheckConstraint("step IN ('submitted', 'reopened')", name="report_steps_step_known"),
        sa.ForeignKeyConstraint(
            ["programme_id", "period", "revision"], ["reports.programme_id", "reports.period", "reports.revision"]
        ),
        comment="The lifecycle of each report: who submitted or re-opened which revision, when.",
    )
    op.create_index("ix_report_steps_report", "report_steps", ["programme_id", "period", "step_id"])
    # Frozen means frozen: not even the service's own login may rewrite a revision.
    op.execute("""
        CREATE FUNCTION reports_are_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'a frozen report is never changed (%/% revision %)',
            OLD.programme_id, OLD.period, OLD.revision; END $$
    """)
    op.execute(
        "CREATE TRIGGER reports_frozen BEFORE UPDATE OR DELETE ON reports "
        "FOR EACH ROW EXECUTE FUNCTION reports_are_frozen()"
    )


def downgrade() -> None:
    op.drop_table("report_steps")
    op.execute("DROP TRIGGER reports_frozen ON reports")
    op.drop_table("reports")
    op.execute("DROP FUNCTION reports_are_frozen()")

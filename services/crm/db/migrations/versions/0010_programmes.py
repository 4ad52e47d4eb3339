"""Programme definitions, stored by version.

`crm programme apply FILE` stores a programme's definition (docs/programmes.md) as its next
version when it differs from the current one (by the digest of its canonical JSON): earlier
versions stay, so a report frozen under version 3 can always say what it was computed from.
Partners' SQL logins get nothing here (migration 0007's rule: no base-table grants).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programme_versions",
        sa.Column("programme_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("definition", postgresql.JSONB, nullable=False),
        sa.Column("digest", sa.LargeBinary, nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("applied_by", sa.String(200), nullable=True),
        sa.CheckConstraint("version >= 1", name="programme_versions_version_positive"),
        comment="Every version of every programme's definition (crm programme apply); the newest is current.",
    )


def downgrade() -> None:
    op.drop_table("programme_versions")

"""Bearer tokens of partners and analysts, stored as SHA-256 hashes.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("partner_id", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.CheckConstraint(
            "(role = 'partner' AND partner_id IS NOT NULL) OR (role = 'analyst' AND partner_id IS NULL)",
            name="ck_api_tokens_role_partner",
        ),
        comment="Bearer tokens of partners and analysts: the SHA-256 of the token, never the token itself.",
    )


def downgrade() -> None:
    op.drop_table("api_tokens")

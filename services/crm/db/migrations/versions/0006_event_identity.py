"""Event identity per partner, content hashes, and the gateway's record of accepted ids.

- `applied_events` is keyed by (partner_id, event_id): partners choose event ids, so one
  partner's id must never hide another partner's event. It gains `content_hash` (NULL for the
  rows applied before this revision: a re-sent copy of those still counts as a duplicate).
- `accepted_events`: every (partner_id, event_id) the gateway or an import accepted, with the
  hash of its content; `claim_accepted_events` claims a request's ids in one statement and
  refuses them all (SQLSTATE CRM09) when any id is already known with other content.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One round trip per request: claim every id, then look for ids known with other content; raising
# undoes the claims of the whole request (all or nothing). INSERT ... ON CONFLICT waits for a
# concurrent request claiming the same id, and the check after it (a new snapshot) then sees it,
# so two requests racing with one id and different content cannot both be accepted.
CLAIM_FUNCTION = """
CREATE FUNCTION claim_accepted_events(partner_ids text[], event_ids uuid[], hashes bytea[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    conflicting text;
BEGIN
    INSERT INTO accepted_events (partner_id, event_id, content_hash)
    SELECT * FROM unnest(partner_ids, event_ids, hashes)
    ON CONFLICT (partner_id, event_id) DO NOTHING;
    SELECT string_agg(DISTINCT known.event_id::text, ',') INTO conflicting
    FROM unnest(partner_ids, event_ids, hashes) AS claim(partner_id, event_id, content_hash)
    JOIN accepted_events AS known USING (partner_id, event_id)
    WHERE known.content_hash <> claim.content_hash;
    IF conflicting IS NOT NULL THEN
        RAISE EXCEPTION 'event ids already accepted with other content: %', conflicting
            USING ERRCODE = 'CRM09', DETAIL = conflicting;
    END IF;
END
$$
"""


def upgrade() -> None:
    op.drop_constraint("applied_events_pkey", "applied_events", type_="primary")
    op.drop_index("ix_applied_events_partner", table_name="applied_events")
    op.create_primary_key("applied_events_pkey", "applied_events", ["partner_id", "event_id"])
    op.add_column("applied_events", sa.Column("content_hash", sa.LargeBinary, nullable=True))
    op.execute(
        "COMMENT ON TABLE applied_events IS 'The tracking record: which events the read models contain. "
        "Written in the same transaction as the rows they changed; a known (partner_id, event_id) means "
        "''already applied''.'"
    )
    op.create_table(
        "accepted_events",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), primary_key=True),
        sa.Column("content_hash", sa.LargeBinary, nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        comment="Every event id the gateway (or an import) accepted, with its content hash: the same id "
        "with other content is refused (409). Claimed before the events are published.",
    )
    op.execute(CLAIM_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION claim_accepted_events(text[], uuid[], bytea[])")
    op.drop_table("accepted_events")
    op.drop_column("applied_events", "content_hash")
    op.drop_constraint("applied_events_pkey", "applied_events", type_="primary")
    op.create_primary_key("applied_events_pkey", "applied_events", ["event_id"])
    op.create_index("ix_applied_events_partner", "applied_events", ["partner_id"])

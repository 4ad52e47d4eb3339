"""Which partners still send older contract versions, counted by the gateway as it claims ids.

- `accepted_events.schema_version`: the `schema_version` an accepted event was written in (NULL
  for the rows claimed before this revision).
- `contract_version_usage`: per partner and older `schema_version`, how many distinct events the
  gateway accepted in it, first and last when. `crm status` shows it, so an operator knows who
  still has to upgrade before a version's sunset (docs/contract.md "Versions").
- `claim_accepted_events` gains the events' versions and `count_below`: the events it newly claims
  whose version is below `count_below` are counted, in the same statement (a re-sent event claims
  nothing new and counts nothing). The gateway passes the current version; an import passes NULL
  (history is not a partner still sending an old version).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CHECK_CONFLICTS = """
    SELECT string_agg(DISTINCT known.event_id::text, ',') INTO conflicting
    FROM unnest(partner_ids, event_ids, hashes) AS claim(partner_id, event_id, content_hash)
    JOIN accepted_events AS known USING (partner_id, event_id)
    WHERE known.content_hash <> claim.content_hash;
    IF conflicting IS NOT NULL THEN
        RAISE EXCEPTION 'event ids already accepted with other content: %', conflicting
            USING ERRCODE = 'CRM09', DETAIL = conflicting;
    END IF;
"""

# As in 0006, one round trip per request; the usage rows are upserted from what the INSERT
# actually claimed, so only new events count. Raising on a conflict undoes the counts too.
CLAIM_FUNCTION = f"""
CREATE FUNCTION claim_accepted_events(
    partner_ids text[], event_ids uuid[], hashes bytea[], versions smallint[], count_below smallint
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    conflicting text;
BEGIN
    WITH claimed AS (
        INSERT INTO accepted_events (partner_id, event_id, content_hash, schema_version)
        SELECT * FROM unnest(partner_ids, event_ids, hashes, versions)
        ON CONFLICT (partner_id, event_id) DO NOTHING
        RETURNING partner_id, schema_version
    )
    INSERT INTO contract_version_usage AS usage (partner_id, schema_version, events, first_at, last_at)
    SELECT partner_id, schema_version, count(*), now(), now()
    FROM claimed WHERE schema_version < count_below
    GROUP BY partner_id, schema_version
    ON CONFLICT (partner_id, schema_version)
        DO UPDATE SET events = usage.events + EXCLUDED.events, last_at = EXCLUDED.last_at;
{_CHECK_CONFLICTS}
END
$$
"""

OLD_CLAIM_FUNCTION = f"""
CREATE FUNCTION claim_accepted_events(partner_ids text[], event_ids uuid[], hashes bytea[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    conflicting text;
BEGIN
    INSERT INTO accepted_events (partner_id, event_id, content_hash)
    SELECT * FROM unnest(partner_ids, event_ids, hashes)
    ON CONFLICT (partner_id, event_id) DO NOTHING;
{_CHECK_CONFLICTS}
END
$$
"""


def upgrade() -> None:
    op.add_column("accepted_events", sa.Column("schema_version", sa.SmallInteger, nullable=True))
    op.create_table(
        "contract_version_usage",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("schema_version", sa.SmallInteger, primary_key=True),
        sa.Column("events", sa.BigInteger, nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        comment="Per partner, the events the gateway accepted in an older contract version: who still "
        "has to upgrade before its sunset. Counted by claim_accepted_events.",
    )
    op.execute("DROP FUNCTION claim_accepted_events(text[], uuid[], bytea[])")
    op.execute(CLAIM_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION claim_accepted_events(text[], uuid[], bytea[], smallint[], smallint)")
    op.execute(OLD_CLAIM_FUNCTION)
    op.drop_table("contract_version_usage")
    op.drop_column("accepted_events", "schema_version")

"""Table definitions of the read models (SQLAlchemy Core; the schema itself is Alembic's).

Every table carries `partner_id`, so one partner's rows can be served and rebuilt alone.
"""

from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()


def tracking_table(name: str, comment: str, *extra: Column[Any], primary_key: tuple[str, ...] = ("event_id",)) -> Table:
    """A tracking record: one row per applied event id, written in the same transaction as the
    read-model rows the event changed; a known key means "already applied"."""
    return Table(
        name,
        metadata,
        Column("event_id", UUID(as_uuid=True), nullable=False),
        Column("partner_id", String(64), nullable=False),
        Column("event_type", String(40), nullable=False),
        Column("occurred_at", DateTime(timezone=True), nullable=False),
        Column("kafka_partition", Integer, nullable=True),
        Column("kafka_offset", BigInteger, nullable=True),
        Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        *extra,
        PrimaryKeyConstraint(*primary_key, name=f"{name}_pkey"),
        comment=comment,
    )


# Event ids are chosen by the partners, so they are unique per partner only: keyed by
# (partner_id, event_id), one partner's id can never hide another's event. `content_hash` (of the
# event's canonical encoding, crm.contract.identity) tells a harmless re-send from a reused id;
# rows applied before revision 0006 have none.
applied_events = tracking_table(
    "applied_events",
    "The tracking record: which events the read models contain. Written in the same "
    "transaction as the rows they changed; a known (partner_id, event_id) means 'already applied'.",
    Column("content_hash", LargeBinary, nullable=True),
    primary_key=("partner_id", "event_id"),
)

accepted_events = Table(
    "accepted_events",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("content_hash", LargeBinary, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The contract version the event was written in; NULL for ids claimed before revision 0008.
    Column("schema_version", SmallInteger, nullable=True),
    comment="Every event id the gateway (or an import) accepted, with its content hash: the same id "
    "with other content is refused (409). Claimed before the events are published.",
)

contract_version_usage = Table(
    "contract_version_usage",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("schema_version", SmallInteger, primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    comment="Per partner, the events the gateway accepted in an older contract version: who still "
    "has to upgrade before its sunset. Counted by claim_accepted_events.",
)

sme_timeline = Table(
    "sme_timeline",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("sme_id", String(128), primary_key=True),
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("event_type", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("payload", JSONB, nullable=False),
    comment="Every applied event of an SME; read ordered by occurred_at.",
)
Index("ix_sme_timeline_order", sme_timeline.c.partner_id, sme_timeline.c.sme_id, sme_timeline.c.occurred_at)

# The read models below are folds of the timeline (crm/projector/rules.py). Columns named
# `*_key_at` / `*_key_event_id` hold the (occurred_at, event_id) of the event whose attributes
# won, so that merging in any order gives the same row (see docs/projection-rules.md).

smes = Table(
    "smes",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("sme_id", String(128), primary_key=True),
    # The programme of the SME's selection (crm/projector/rules.py); pilots, agreements, markets
    # and timeline rows belong to their SME's.
    Column("programme_id", String(64), nullable=False),
    Column("name", String(200), nullable=True),
    Column("country", String(2), nullable=True),
    Column("sector", String(200), nullable=True),
    Column("target_markets", ARRAY(String(2)), nullable=False, server_default="{}"),
    Column("profile_key_at", DateTime(timezone=True), nullable=True),
    Column("profile_key_event_id", UUID(as_uuid=True), nullable=True),
    Column("stage", String(16), nullable=True),
    Column("selected_at", DateTime(timezone=True), nullable=True),
    Column("trained_at", DateTime(timezone=True), nullable=True),
    Column("met_at", DateTime(timezone=True), nullable=True),
    Column("piloting_at", DateTime(timezone=True), nullable=True),
    Column("agreement_at", DateTime(timezone=True), nullable=True),
    Column("matchmaking_at", DateTime(timezone=True), nullable=True),
    Column("withdrawn", Boolean, nullable=False, server_default="false"),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("first_activity_at", DateTime(timezone=True), nullable=False),
    Column("last_activity_at", DateTime(timezone=True), nullable=False),
    comment="One row per SME. Stage facts are the earliest time each stage was reached (event time).",
)
# The figures and lists of one programme (docs/benchmarks.md "Per programme").
Index("ix_smes_programme_partner", smes.c.programme_id, smes.c.partner_id)

sme_markets = Table(
    "sme_markets",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("sme_id", String(128), primary_key=True),
    Column("market", String(2), primary_key=True),
    Column("met_at", DateTime(timezone=True), nullable=True),
    Column("piloting_at", DateTime(timezone=True), nullable=True),
    Column("agreement_at", DateTime(timezone=True), nullable=True),
    Column("matchmaking_at", DateTime(timezone=True), nullable=True),
    comment="An SME's funnel within one market: earliest meeting, pilot, agreement, digital meeting there.",
)

pilots = Table(
    "pilots",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("sme_id", String(128), primary_key=True),
    Column("pilot_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("market", String(2), nullable=True),
    Column("region", String(200), nullable=True),
    Column("counterpart", String(200), nullable=True),
    Column("title", String(200), nullable=True),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("opened_key_event_id", UUID(as_uuid=True), nullable=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
    Column("outcome", String(16), nullable=True),
    Column("close_note", String(4000), nullable=True),
    Column("outcome_key_at", DateTime(timezone=True), nullable=True),
    Column("outcome_key_event_id", UUID(as_uuid=True), nullable=True),
    Column("last_activity_at", DateTime(timezone=True), nullable=True),
    Column("agreement_ids", ARRAY(String(128)), nullable=False, server_default="{}"),
    comment="Pilots; status is open, closed (with outcome) or unopened (referenced, PilotOpened not seen yet).",
)
Index("ix_pilots_partner_pilot", pilots.c.partner_id, pilots.c.pilot_id)

agreements = Table(
    "agreements",
    metadata,
    Column("partner_id", String(64), primary_key=True),
    Column("sme_id", String(128), primary_key=True),
    Column("agreement_id", String(128), primary_key=True),
    Column("agreement_type", String(32), nullable=False),
    Column("market", String(2), nullable=False),
    Column("counterpart", String(200), nullable=False),
    Column("pilot_id", String(128), nullable=True),
    Column("value_eur", Numeric(16, 2), nullable=True),
    Column("signed_at", DateTime(timezone=True), nullable=False),
    Column("version_key_at", DateTime(timezone=True), nullable=False),
    Column("version_key_event_id", UUID(as_uuid=True), nullable=False),
    comment="Signed agreements; a re-sent agreement_id takes the attributes of its latest event.",
)

READ_MODEL_TABLES = (applied_events, sme_timeline, smes, sme_markets, pilots, agreements)
"""Everything the projector writes and `crm projections rebuild` replaces."""

__all__ = [
    "READ_MODEL_TABLES",
    "accepted_events",
    "agreements",
    "applied_events",
    "contract_version_usage",
    "metadata",
    "pilots",
    "sme_markets",
    "sme_timeline",
    "smes",
]


programme_versions = Table(
    "programme_versions",
    metadata,
    Column("programme_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("definition", JSONB, nullable=False),
    Column("digest", LargeBinary, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("applied_by", String(200), nullable=True),
    CheckConstraint("version >= 1", name="programme_versions_version_positive"),
    comment="Every version of every programme's definition (crm programme apply); the newest is current.",
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("partner_id", String(64), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Column("label", String(200), nullable=True),
    comment="Bearer tokens of partners and analysts: the SHA-256 of the token, never the token itself.",
)

__all__ = ["api_tokens", "applied_events", "metadata", "sme_timeline"]

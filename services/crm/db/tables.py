"""Table definitions of the read models (SQLAlchemy Core; the schema itself is Alembic's).

Every table carries `partner_id`, so one partner's rows can be served and rebuilt alone.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

applied_events = Table(
    "applied_events",
    metadata,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("partner_id", String(64), nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("kafka_partition", Integer, nullable=True),
    Column("kafka_offset", BigInteger, nullable=True),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    comment="The tracking record: which events the read models contain. Written in the same "
    "transaction as the rows they changed; a duplicate event_id means 'already applied'.",
)
Index("ix_applied_events_partner", applied_events.c.partner_id)

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

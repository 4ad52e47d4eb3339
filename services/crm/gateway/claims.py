"""The gateway's record of accepted event ids: a reused id with other content is refused (409).

One statement per request, however many events it holds (`claim_accepted_events`, migrations
0006 and 0008): it claims every (partner_id, event_id) with the hash of its content, and when any id is
already known with another hash it raises, which undoes the whole request's claims. An identical
re-send claims nothing new and passes (a harmless duplicate the consumers count once). The same
statement counts the newly claimed events of older contract versions per partner.

The claim is made before publishing: a request Kafka then fails to take leaves its ids claimed
with their hashes, which is right, since the sender retries the same events.
"""

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from crm.contract.decoding import Problem
from crm.contract.events import SCHEMA_VERSION, DomainEvent
from crm.contract.identity import EventKey, content_hash, event_key
from crm.db.failures import is_database_failure, unstorable_reason

CONFLICT_SQLSTATE = "CRM09"


class ConflictingEvents(ValueError):
    """Some event ids were already accepted (or appear twice in the request) with other content."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"[{p.index}] {p.field}: {p.message}" for p in self.problems))


class ClaimsUnavailable(RuntimeError):
    """The database holding the accepted ids did not answer; the sender should retry."""


class UnclaimableEvents(ValueError):
    """The database refused the request's ids as data (`crm/db/failures.py`): the same request
    fails the same way however often it is retried."""


def _conflict(index: int, event: DomainEvent, where: str) -> Problem:
    return Problem(index, "event_id", f"event_id {event.event_id} was already {where} with other content")


def conflicts_within(events: Sequence[DomainEvent], hashes: Sequence[bytes]) -> list[Problem]:
    """The same id twice in one request with different content."""
    first: dict[EventKey, bytes] = {}
    problems = []
    for index, (event, digest) in enumerate(zip(events, hashes, strict=True)):
        if first.setdefault(event_key(event), digest) != digest:
            problems.append(_conflict(index, event, "sent earlier in this request"))
    return problems


class PostgresEventClaims:
    """`count_old_versions`: count the newly claimed events written in a contract version older
    than the current one, per partner (`contract_version_usage`, shown by `crm status`). The
    gateway does; an import of history does not."""

    def __init__(self, engine: AsyncEngine, *, count_old_versions: bool = True) -> None:
        self._engine = engine
        self._count_below = SCHEMA_VERSION if count_old_versions else None

    async def claim(self, events: Sequence[DomainEvent]) -> None:
        """Claim the events' ids, or raise ConflictingEvents (nothing claimed), UnclaimableEvents
        (refused as data) or ClaimsUnavailable (the database away, the connection dropped)."""
        if not events:
            return
        hashes = [content_hash(event) for event in events]
        inside = conflicts_within(events, hashes)
        if inside:
            raise ConflictingEvents(inside)
        unique = {event_key(event): (digest, event.written_in) for event, digest in zip(events, hashes, strict=True)}
        try:
            async with self._engine.connect() as connection:
                raw = await connection.get_raw_connection()
                driver: Any = raw.driver_connection
                await driver.execute(
                    "SELECT claim_accepted_events($1::text[], $2::uuid[], $3::bytea[], $4::smallint[], $5::smallint)",
                    [key[0] for key in unique],
                    [key[1] for key in unique],
                    [claim[0] for claim in unique.values()],
                    [claim[1] for claim in unique.values()],
                    self._count_below,
                )
        except Exception as error:
            if getattr(error, "sqlstate", None) == CONFLICT_SQLSTATE:
                known = set(str(getattr(error, "detail", "") or "").split(","))
                raise ConflictingEvents(
                    [_conflict(i, e, "accepted") for i, e in enumerate(events) if str(e.event_id) in known]
                ) from None
            if not is_database_failure(error):
                raise
            reason = unstorable_reason(error)
            if reason is not None:
                raise UnclaimableEvents(reason) from error
            raise ClaimsUnavailable(repr(error)) from error

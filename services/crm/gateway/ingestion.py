"""What the gateway does with a request body, free of HTTP: validate all, check authorship, publish.

Used by `POST /v1/events` and by `crm import`, so both refuse and accept exactly the same things.
A request is all or nothing: any problem and nothing is published.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from crm.auth.principals import Principal, can_write
from crm.contract.decoding import DEFAULT_CONTEXT, InvalidEvents, Problem, decode_events
from crm.contract.events import DomainEvent
from crm.contract.lifecycle import VersionPolicy
from crm.contract.upcasting import UpcastContext
from crm.settings import Settings


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge every event in time; the sender should retry the same events."""


class ForeignEvents(PermissionError):
    """The principal may not write some of the events (another partner's, or an analyst)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"[{p.index}] {p.field}: {p.message}" for p in self.problems))


class EventClaims(Protocol):
    """Where accepted ids are recorded; `claim` raises `ConflictingEvents` for an id already
    accepted with other content (and then claims none of the request's ids)."""

    async def claim(self, events: Sequence[DomainEvent]) -> None: ...


class EventSink(Protocol):
    """Where accepted events go; `publish` returns only once every event is durably stored."""

    async def publish(self, events: Sequence[DomainEvent]) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int
    max_events: int
    max_text_length: int
    body_timeout: float = 30.0
    # How events of older contract versions are upcast (the deployment's default programme).
    upcasting: UpcastContext = DEFAULT_CONTEXT
    # Older contract versions past their sunset are refused (an import of history passes none).
    versions: VersionPolicy = field(default_factory=VersionPolicy)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Limits":
        return cls(
            settings.gateway_max_body_bytes,
            settings.gateway_max_events,
            settings.gateway_max_text_length,
            settings.http_body_timeout,
            UpcastContext(settings.default_programme),
            VersionPolicy(settings.contract_sunsets),
        )


def validate_request(body: bytes, limits: Limits) -> list[DomainEvent]:
    """Every event of the body, or InvalidEvents (TooManyEvents) naming every problem."""
    events = decode_events(body, max_events=limits.max_events, context=limits.upcasting)
    problems = list(oversized_texts(events, limits.max_text_length))
    if limits.versions.sunsets:
        today = datetime.now(UTC).date()
        refused = limits.versions.refusals((event.written_in for event in events), today)
        problems += [Problem(refusal.index, "schema_version", refusal.message) for refusal in refused]
        problems.sort(key=lambda problem: problem.index)
    if problems:
        raise InvalidEvents(problems)
    return events


CONTRACT_TEXT_LIMIT = 4000
"""The contract's own longest free text (`LongText`); a limit at or above it needs no extra pass."""


def oversized_texts(events: Sequence[DomainEvent], limit: int) -> list[Problem]:
    """Free-text payload fields longer than the configured limit (the contract allows up to 4000)."""
    problems: list[Problem] = []
    if limit >= CONTRACT_TEXT_LIMIT:
        return problems
    for index, event in enumerate(events):
        for name, value in event.payload.__dict__.items():
            if isinstance(value, str) and len(value) > limit:
                problems.append(Problem(index, f"payload.{name}", f"at most {limit} characters are accepted"))
    return problems


def foreign_events(events: Sequence[DomainEvent], principal: Principal) -> list[Problem]:
    return [
        Problem(index, "partner_id", f"this token may not send events of partner {event.partner_id!r}")
        for index, event in enumerate(events)
        if not can_write(principal, event.partner_id)
    ]


async def ingest(
    body: bytes, principal: Principal, limits: Limits, claims: EventClaims, sink: EventSink
) -> list[DomainEvent]:
    """Validate the whole body, check the principal may write every event, claim their ids
    (refusing an id reused for other content), then publish them all."""
    events = validate_request(body, limits)
    foreign = foreign_events(events, principal)
    if foreign:
        raise ForeignEvents(foreign)
    await claims.claim(events)
    await sink.publish(events)
    return events

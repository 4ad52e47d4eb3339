"""What the gateway does with a request body, free of HTTP: validate all, check authorship and
programmes, publish.

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
from crm.programmes.membership import Memberships, Refusal
from crm.settings import Settings


class ForeignEvents(PermissionError):
    """The principal may not write some of the events (another partner's, or an analyst)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"[{p.index}] {p.field}: {p.message}" for p in self.problems))


class UnknownProgrammes(InvalidEvents):
    """Some events name a programme that is not defined (and is not the deployment's default)."""

    def __init__(self, problems: Sequence[Problem], programmes: Sequence[str]) -> None:
        super().__init__(problems)
        self.programmes = sorted(set(programmes))


class ForeignProgrammes(ForeignEvents):
    """Some events name a defined programme the sending partner is not a partner of."""

    def __init__(self, problems: Sequence[Problem], programmes: Sequence[str]) -> None:
        super().__init__(problems)
        self.programmes = sorted(set(programmes))


class ProgrammePartners(Protocol):
    """Where the programmes' partners come from: the gateway's refreshed copy, or an import's
    one read (`crm.programmes.membership`)."""

    async def current(self) -> Memberships: ...


@dataclass(frozen=True, slots=True)
class FixedMemberships:
    """The same `Memberships` every time: those an import read once, before checking its file."""

    memberships: Memberships

    async def current(self) -> Memberships:
        return self.memberships


class EventClaims(Protocol):
    """Where accepted ids are recorded; `claim` raises `ConflictingEvents` for an id already
    accepted with other content (and then claims none of the request's ids)."""

    async def claim(self, events: Sequence[DomainEvent]) -> None: ...


class EventSink(Protocol):
    """Where accepted events go; `publish` returns only once every event is durably stored, else
    raises `crm.messaging.publisher.PublishFailed` (the sender should retry the same events)."""

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


def programme_problems(events: Sequence[DomainEvent], memberships: Memberships) -> tuple[list[Problem], list[Problem]]:
    """The events naming an unknown programme, and those naming a programme their partner is not a
    partner of."""
    unknown: list[Problem] = []
    foreign: list[Problem] = []
    # Judged once per (programme, partner): a request is mostly of one programme and one partner.
    refusals = {pair: memberships.refusal(*pair) for pair in {(e.programme_id, e.partner_id) for e in events}}
    if not any(refusals.values()):
        return unknown, foreign
    for index, event in enumerate(events):
        refusal = refusals[event.programme_id, event.partner_id]
        if refusal is Refusal.UNKNOWN:
            unknown.append(
                Problem(
                    index,
                    "programme_id",
                    f"unknown programme '{event.programme_id}': no programme of that id is defined",
                )
            )
        elif refusal is Refusal.NOT_A_PARTNER:
            foreign.append(
                Problem(
                    index,
                    "programme_id",
                    f"partner '{event.partner_id}' is not a partner of programme '{event.programme_id}'",
                )
            )
    return unknown, foreign


def check_programmes(events: Sequence[DomainEvent], memberships: Memberships) -> None:
    """UnknownProgrammes (422) when an event names an unknown programme, else ForeignProgrammes
    (403) when one names a programme its partner is not in."""
    unknown, foreign = programme_problems(events, memberships)
    if unknown:
        raise UnknownProgrammes(unknown, [events[p.index].programme_id for p in unknown])
    if foreign:
        raise ForeignProgrammes(foreign, [events[p.index].programme_id for p in foreign])


async def ingest(
    body: bytes,
    principal: Principal,
    limits: Limits,
    claims: EventClaims,
    sink: EventSink,
    programmes: ProgrammePartners,
) -> list[DomainEvent]:
    """Validate the whole body, check the principal may write every event and that each event's
    programme takes it, claim their ids (refusing an id reused for other content), then publish
    them all."""
    events = validate_request(body, limits)
    foreign = foreign_events(events, principal)
    if foreign:
        raise ForeignEvents(foreign)
    check_programmes(events, await programmes.current())
    await claims.claim(events)
    await sink.publish(events)
    return events

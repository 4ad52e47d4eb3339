"""Projection rules: pure functions from events (and the current rows) to read-model rows. No I/O.

The rule that makes arrival order irrelevant (docs/projection-rules.md): every stored field is
a *merge* that does not care about order or repetition:

- the time a thing first happened is the earliest `occurred_at` seen (`selected_at`, `opened_at`);
- "last activity" is the latest `occurred_at` seen;
- attributes come from one winning event, chosen by its key (occurred_at, event_id): the latest
  for what can be corrected (an SME's profile, a pilot's outcome, an agreement's terms), the
  earliest for how a pilot was opened. The winner's key is stored with the row;
- what is derived (stage, pilot status, linked agreements) is recomputed from the merged fields.

So folding the events of an SME in any order, with repeats, gives the same rows, and a row built
from a reference to something not seen yet (a PilotUpdated before its PilotOpened) simply gains
the missing fields when that event arrives.

An SME's programme is the one of its selection (docs/contract.md "Programmes"): the winning
`SMESelected`'s `programme_id`, like the rest of its profile. Until a selection arrives, it is the
programme of the SME's earliest event (of the earliest ones, the smallest programme id, so that
the order does not matter). Every event applies to its SME whatever programme it names: an SME
and everything under it belong to one programme, and nothing is counted twice.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from crm.contract.events import (
    AgreementSigned,
    AgreementSignedPayload,
    DomainEvent,
    MeetingHeld,
    PilotClosed,
    PilotOpened,
    PilotUpdated,
    SMESelected,
    SMEWithdrawn,
    TrainingCompleted,
)

STAGES = ("selected", "trained", "met", "piloting", "agreement")
"""The funnel, in order (docs/contract.md "Derived figures")."""

Key = tuple[datetime, UUID]
_Row = TypeVar("_Row", "SmeRow", "MarketRow", "PilotRow", "AgreementRow")


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    partner_id: str
    sme_id: str
    event_id: UUID
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]


def timeline_entry(event: DomainEvent) -> TimelineEntry:
    """Every applied event appears once on its SME's timeline."""
    return TimelineEntry(
        partner_id=event.partner_id,
        sme_id=event.sme_id,
        event_id=event.event_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        payload=event.payload.model_dump(mode="json", exclude_none=True),
    )


# Field names equal the column names of crm/db/tables.py, so rows map one to one.


@dataclass(slots=True)
class SmeRow:
    partner_id: str
    sme_id: str
    first_activity_at: datetime
    last_activity_at: datetime
    programme_id: str
    name: str | None = None
    country: str | None = None
    sector: str | None = None
    target_markets: list[str] = field(default_factory=list)
    profile_key_at: datetime | None = None
    profile_key_event_id: UUID | None = None
    stage: str | None = None
    selected_at: datetime | None = None
    trained_at: datetime | None = None
    met_at: datetime | None = None
    piloting_at: datetime | None = None
    agreement_at: datetime | None = None
    matchmaking_at: datetime | None = None
    withdrawn: bool = False
    withdrawn_at: datetime | None = None


@dataclass(slots=True)
class MarketRow:
    partner_id: str
    sme_id: str
    market: str
    met_at: datetime | None = None
    piloting_at: datetime | None = None
    agreement_at: datetime | None = None
    matchmaking_at: datetime | None = None


@dataclass(slots=True)
class PilotRow:
    partner_id: str
    sme_id: str
    pilot_id: str
    status: str = "unopened"
    market: str | None = None
    region: str | None = None
    counterpart: str | None = None
    title: str | None = None
    opened_at: datetime | None = None
    opened_key_event_id: UUID | None = None
    closed_at: datetime | None = None
    outcome: str | None = None
    close_note: str | None = None
    outcome_key_at: datetime | None = None
    outcome_key_event_id: UUID | None = None
    last_activity_at: datetime | None = None
    agreement_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AgreementRow:
    partner_id: str
    sme_id: str
    agreement_id: str
    agreement_type: str
    market: str
    counterpart: str
    signed_at: datetime
    version_key_at: datetime
    version_key_event_id: UUID
    pilot_id: str | None = None
    value_eur: float | None = None


@dataclass(slots=True)
class SmeState:
    """Everything the read models hold about one SME (partner_id, sme_id)."""

    sme: SmeRow
    markets: dict[str, MarketRow] = field(default_factory=dict)
    pilots: dict[str, PilotRow] = field(default_factory=dict)
    agreements: dict[str, AgreementRow] = field(default_factory=dict)


def fold_sme(state: SmeState | None, events: Iterable[DomainEvent]) -> SmeState:
    """The SME's rows after `events` (all of that SME), merged into `state`. Order-independent."""
    pending = list(events)
    if not pending:
        if state is None:
            raise ValueError("nothing to fold: no state and no events")
        return state
    if state is None:
        first = pending[0]
        state = SmeState(
            SmeRow(first.partner_id, first.sme_id, first.occurred_at, first.occurred_at, first.programme_id)
        )
    else:
        state = _copy(state)
    for event in pending:
        _merge(state, event)
    _derive(state)
    return state


def _copy(state: SmeState) -> SmeState:
    # Field by field: `dataclasses.replace` re-validates every field and was a fifth of the fold.
    return SmeState(
        _clone(state.sme),
        {k: _clone(v) for k, v in state.markets.items()},
        {k: _clone(v) for k, v in state.pilots.items()},
        {k: _clone(v) for k, v in state.agreements.items()},
    )


def _clone(row: _Row) -> _Row:
    clone = object.__new__(type(row))
    for name in row.__slots__:
        object.__setattr__(clone, name, getattr(row, name))
    return clone


def _earliest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at < current else current


def _latest(current: datetime | None, at: datetime) -> datetime:
    return at if current is None or at > current else current


def _beats_latest(key: Key, at: datetime | None, event_id: UUID | None) -> bool:
    return at is None or event_id is None or key > (at, event_id)


def _beats_earliest(key: Key, at: datetime | None, event_id: UUID | None) -> bool:
    return at is None or event_id is None or key < (at, event_id)


def _market(state: SmeState, market: str) -> MarketRow:
    row = state.markets.get(market)
    if row is None:
        row = state.markets[market] = MarketRow(state.sme.partner_id, state.sme.sme_id, market)
    return row


def _pilot(state: SmeState, pilot_id: str) -> PilotRow:
    row = state.pilots.get(pilot_id)
    if row is None:
        row = state.pilots[pilot_id] = PilotRow(state.sme.partner_id, state.sme.sme_id, pilot_id)
    return row


def _merge(state: SmeState, event: DomainEvent) -> None:
    sme, at = state.sme, event.occurred_at
    key: Key = (at, event.event_id)
    earliest = at < sme.first_activity_at or (at == sme.first_activity_at and event.programme_id < sme.programme_id)
    if sme.profile_key_at is None and earliest:  # not selected yet: the programme of its earliest event
        sme.programme_id = event.programme_id
    sme.first_activity_at = _earliest(sme.first_activity_at, at)
    sme.last_activity_at = _latest(sme.last_activity_at, at)
    match event:
        case SMESelected(payload=p):
            sme.selected_at = _earliest(sme.selected_at, at)
            if _beats_latest(key, sme.profile_key_at, sme.profile_key_event_id):
                sme.name, sme.country, sme.sector = p.name, p.country, p.sector
                sme.programme_id = event.programme_id
                sme.target_markets = list(p.target_markets)
                sme.profile_key_at, sme.profile_key_event_id = key
        case TrainingCompleted():
            sme.trained_at = _earliest(sme.trained_at, at)
        case MeetingHeld(payload=p):
            market = _market(state, p.market)
            sme.met_at = _earliest(sme.met_at, at)
            market.met_at = _earliest(market.met_at, at)
            if p.format == "digital":
                sme.matchmaking_at = _earliest(sme.matchmaking_at, at)
                market.matchmaking_at = _earliest(market.matchmaking_at, at)
            if p.pilot_id is not None:
                pilot = _pilot(state, p.pilot_id)
                pilot.last_activity_at = _latest(pilot.last_activity_at, at)
        case PilotOpened(payload=p):
            market = _market(state, p.market)
            sme.piloting_at = _earliest(sme.piloting_at, at)
            market.piloting_at = _earliest(market.piloting_at, at)
            pilot = _pilot(state, p.pilot_id)
            if _beats_earliest(key, pilot.opened_at, pilot.opened_key_event_id):
                pilot.opened_at, pilot.opened_key_event_id = key
                pilot.market, pilot.region, pilot.counterpart, pilot.title = p.market, p.region, p.counterpart, p.title
            pilot.last_activity_at = _latest(pilot.last_activity_at, at)
        case PilotUpdated(payload=p):
            pilot = _pilot(state, p.pilot_id)
            pilot.last_activity_at = _latest(pilot.last_activity_at, at)
        case PilotClosed(payload=p):
            pilot = _pilot(state, p.pilot_id)
            pilot.closed_at = _earliest(pilot.closed_at, at)
            if _beats_latest(key, pilot.outcome_key_at, pilot.outcome_key_event_id):
                pilot.outcome, pilot.close_note = p.outcome, p.note
                pilot.outcome_key_at, pilot.outcome_key_event_id = key
        case AgreementSigned(payload=p):
            market = _market(state, p.market)
            sme.agreement_at = _earliest(sme.agreement_at, at)
            market.agreement_at = _earliest(market.agreement_at, at)
            _merge_agreement(state, key, p.agreement_id, p)
            if p.pilot_id is not None:
                pilot = _pilot(state, p.pilot_id)
                pilot.last_activity_at = _latest(pilot.last_activity_at, at)
        case SMEWithdrawn():
            sme.withdrawn = True
            sme.withdrawn_at = _earliest(sme.withdrawn_at, at)


def _merge_agreement(state: SmeState, key: Key, agreement_id: str, p: AgreementSignedPayload) -> None:
    at, event_id = key
    row = state.agreements.get(agreement_id)
    if row is None:
        state.agreements[agreement_id] = AgreementRow(
            state.sme.partner_id,
            state.sme.sme_id,
            agreement_id,
            p.agreement_type,
            p.market,
            p.counterpart,
            signed_at=at,
            version_key_at=at,
            version_key_event_id=event_id,
            pilot_id=p.pilot_id,
            value_eur=p.value_eur,
        )
        return
    row.signed_at = _earliest(row.signed_at, at)
    if _beats_latest(key, row.version_key_at, row.version_key_event_id):
        row.agreement_type, row.market, row.counterpart = p.agreement_type, p.market, p.counterpart
        row.pilot_id, row.value_eur = p.pilot_id, p.value_eur
        row.version_key_at, row.version_key_event_id = key


def stage_of(sme: SmeRow) -> str | None:
    """The furthest stage reached (None when no stage fact is known yet)."""
    reached = (sme.selected_at, sme.trained_at, sme.met_at, sme.piloting_at, sme.agreement_at)
    furthest = None
    for name, at in zip(STAGES, reached, strict=True):
        if at is not None:
            furthest = name
    return furthest


def _derive(state: SmeState) -> None:
    state.sme.stage = stage_of(state.sme)
    linked: dict[str, list[str]] = {}
    for agreement in state.agreements.values():
        if agreement.pilot_id is not None:
            linked.setdefault(agreement.pilot_id, []).append(agreement.agreement_id)
    for pilot in state.pilots.values():
        pilot.status = (
            "closed" if pilot.closed_at is not None else "open" if pilot.opened_at is not None else "unopened"
        )
        pilot.agreement_ids = sorted(linked.get(pilot.pilot_id, ()))


def group_by_sme(events: Iterable[DomainEvent]) -> dict[tuple[str, str], list[DomainEvent]]:
    grouped: dict[tuple[str, str], list[DomainEvent]] = {}
    for event in events:
        grouped.setdefault((event.partner_id, event.sme_id), []).append(event)
    return grouped

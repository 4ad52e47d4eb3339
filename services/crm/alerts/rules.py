"""Stall rules: pure functions from events to pilot state, and from pilot state to alerts.

No I/O here. `apply_event` folds one domain event into a pilot's state whatever the order the
events arrive in; `evaluate` decides, at an instant `now`, which pilots start a stall, are due a
reminder, or have left their stall (activity or closing).
"""

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from hashlib import sha1
from typing import Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from crm.contract.events import (
    ALERT_SCHEMA_VERSION,
    AgreementSigned,
    DomainEvent,
    MeetingHeld,
    PilotClosed,
    PilotOpened,
    PilotStalled,
    PilotStalledPayload,
    PilotStallResolved,
    PilotStallResolvedPayload,
    PilotUpdated,
)

ALERT_NAMESPACE = uuid5(NAMESPACE_URL, "https://smartgrowth.invalid/crm/alerts")
_NAMESPACE_SHA1 = sha1(ALERT_NAMESPACE.bytes, usedforsecurity=False)  # copied, then fed the name


@dataclass(frozen=True, slots=True)
class Stall:
    """A firing alert: the pilot has been idle since `last_activity_at` for too long."""

    alert_id: UUID  # event id of the PilotStalled that opened the stall; acknowledgements name it
    last_activity_at: datetime
    fired_at: datetime
    notified_at: datetime  # the first alert or the latest reminder
    threshold_days: int
    reminders: int = 0


@dataclass(frozen=True, slots=True)
class PilotState:
    """What the alerts service knows of one pilot (identity: partner_id, pilot_id)."""

    partner_id: str
    pilot_id: str
    sme_id: str
    market: str | None = None
    opened: bool = False
    closed_by: UUID | None = None
    last_activity_at: datetime | None = None
    last_activity_event: UUID | None = None
    newest_event_at: datetime | None = None  # any event naming the pilot, closing included
    stall: Stall | None = None

    @property
    def key(self) -> str:
        return pilot_key(self.partner_id, self.pilot_id)

    @property
    def in_discussion(self) -> bool:
        return self.opened and self.closed_by is None and self.last_activity_at is not None


def pilot_key(partner_id: str, pilot_id: str) -> str:
    """The pilot's key on `crm.alerts` and in the service's table (docs/contract.md)."""
    return f"{partner_id}/{pilot_id}"


def pilot_named_by(event: DomainEvent) -> str | None:
    """The pilot an event is about, if any (MeetingHeld and AgreementSigned may name one)."""
    match event:
        case PilotOpened() | PilotUpdated() | PilotClosed():
            return event.payload.pilot_id
        case MeetingHeld() | AgreementSigned():
            return event.payload.pilot_id
        case _:
            return None


def apply_event(state: PilotState | None, event: DomainEvent) -> PilotState | None:
    """Fold one event into the state of the pilot it names; None when it names no pilot.

    Order-independent: the last activity is the latest `occurred_at` of activity events (ties
    broken by event id), closing wins whenever it arrives, and an older activity changes nothing.
    """
    pilot_id = pilot_named_by(event)
    if pilot_id is None:
        return state
    if state is None:
        state = PilotState(partner_id=event.partner_id, pilot_id=pilot_id, sme_id=event.sme_id)
    newest = event.occurred_at if state.newest_event_at is None else max(state.newest_event_at, event.occurred_at)
    state = replace(state, newest_event_at=newest)
    match event:
        case PilotClosed():
            return state if state.closed_by is not None else replace(state, closed_by=event.event_id)
        case PilotOpened():
            state = replace(state, opened=True, market=event.payload.market, sme_id=event.sme_id)
        case MeetingHeld() | AgreementSigned() if state.market is None:
            state = replace(state, market=event.payload.market)
    return _with_activity(state, event)


def _with_activity(state: PilotState, event: DomainEvent) -> PilotState:
    if state.last_activity_at is not None and state.last_activity_event is not None:
        current = (state.last_activity_at, str(state.last_activity_event))
        if (event.occurred_at, str(event.event_id)) <= current:
            return state
    return replace(state, last_activity_at=event.occurred_at, last_activity_event=event.event_id)


@dataclass(frozen=True)
class Thresholds:
    """Idle days before a pilot stalls: the most specific of (partner, market), partner, market,
    default. A partner's own choice wins over a programme-wide market setting."""

    default_days: int = 30
    by_partner_market: Mapping[tuple[str, str], int] = field(default_factory=dict)
    by_partner: Mapping[str, int] = field(default_factory=dict)
    by_market: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_overrides(cls, default_days: int, overrides: Mapping[str, int]) -> "Thresholds":
        """Keys: `tehnopol` (a partner), `CN` (a market), `tehnopol/CN` (a partner in a market)."""
        by_pair: dict[tuple[str, str], int] = {}
        by_partner: dict[str, int] = {}
        by_market: dict[str, int] = {}
        for key, days in overrides.items():
            if days < 1:
                raise ValueError(f"threshold {key!r}: {days} days; must be at least 1")
            partner, slash, market = key.partition("/")
            if slash:
                by_pair[(partner, market.upper())] = days
            elif len(key) == 2 and key.isupper():
                by_market[key] = days
            else:
                by_partner[key] = days
        return cls(default_days, by_pair, by_partner, by_market)

    def days_for(self, partner_id: str, market: str | None) -> int:
        if not (self.by_partner_market or self.by_partner or self.by_market):
            return self.default_days
        if market is not None:
            days = self.by_partner_market.get((partner_id, market))
            if days is not None:
                return days
        days = self.by_partner.get(partner_id)
        if days is not None:
            return days
        if market is not None:
            days = self.by_market.get(market)
            if days is not None:
                return days
        return self.default_days


@dataclass(frozen=True)
class Controls:
    """What partners and operators said: pilots snoozed until an instant, alerts acknowledged."""

    snoozed_until: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    acknowledged: frozenset[UUID] = frozenset()

    def snoozed(self, state: PilotState, now: datetime) -> bool:
        until = self.snoozed_until.get((state.partner_id, state.pilot_id))
        return until is not None and now < until


DecisionKind = Literal["stalled", "reminder", "resolved"]


@dataclass(frozen=True, slots=True)
class Decision:
    """An alert to emit, and the pilot state to keep once it is emitted."""

    kind: DecisionKind
    event_id: UUID
    at: datetime
    state: PilotState
    last_activity_at: datetime
    idle_days: int = 0
    threshold_days: int = 0
    resolved_by: UUID | None = None


def alert_id(partner_id: str, pilot_id: str, idle_since: datetime, kind: str) -> UUID:
    """Deterministic: a re-emission after a crash carries the same event id (a visible duplicate).

    The same value as `uuid.uuid5(ALERT_NAMESPACE, name)`, computed without its overhead.
    """
    name = f"{partner_id}/{pilot_id}/{idle_since.timestamp():.6f}/{kind}".encode()
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name)
    number = int.from_bytes(digest.digest()[:16])
    number = (number & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    return UUID(int=(number & ~(0xF000 << 64)) | (5 << 76))  # version 5


def evaluate(
    states: Iterable[PilotState],
    now: datetime,
    thresholds: Thresholds,
    repeat_interval: timedelta,
    controls: Controls | None = None,
    *,
    backdate: bool = False,
) -> list[Decision]:
    """The alerts due at `now`. Each pilot gives at most one decision per call.

    A stall fires once (one PilotStalled per idle period), is repeated every `repeat_interval`
    while it lasts unless acknowledged or snoozed, and resolves on later activity or closing.
    A snoozed pilot neither fires nor reminds until the snooze ends.

    `backdate` (event time, where "now" jumps from one event to the next): an alert carries the
    instant its threshold or repeat interval was crossed, not the instant it was noticed.
    """
    with _cyclic_gc_paused():
        return _evaluate(states, now, thresholds, repeat_interval, controls or Controls(), backdate)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    # A pass allocates a few objects per pilot, none of them in a reference cycle; meanwhile the
    # cyclic collector would rescan every live pilot state several times (a quarter of a pass
    # at 100,000 pilots all crossing at once). Reference counting still frees everything.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _evaluate(
    states: Iterable[PilotState],
    now: datetime,
    thresholds: Thresholds,
    repeat_interval: timedelta,
    controls: Controls,
    backdate: bool,
) -> list[Decision]:
    decisions: list[Decision] = []
    # Per pass, the threshold and cutoff of each (partner, market) are worked out once: at
    # 100,000 pilots the per-pilot override lookups were a fifth of the pass.
    cutoffs: dict[tuple[str, str | None], tuple[int, datetime]] = {}
    any_snoozed = bool(controls.snoozed_until)
    for state in states:
        stall = state.stall
        if stall is not None:
            decision = _follow_stall(state, stall, now, repeat_interval, controls, backdate)
            if decision is not None:
                decisions.append(decision)
            continue
        if not state.in_discussion:
            continue
        last = state.last_activity_at
        assert last is not None
        where = (state.partner_id, state.market)
        found = cutoffs.get(where)
        if found is None:
            days = thresholds.days_for(*where)
            found = cutoffs[where] = (days, now - timedelta(days=days))
        days, cutoff = found
        if last >= cutoff or (any_snoozed and controls.snoozed(state, now)):
            continue
        event_id = alert_id(state.partner_id, state.pilot_id, last, "stalled")
        when = last + timedelta(days=days) if backdate else now
        new_stall = Stall(event_id, last, fired_at=when, notified_at=when, threshold_days=days)
        fired = _with_stall(state, new_stall)
        decisions.append(Decision("stalled", event_id, when, fired, last, idle_days(last, when), days))
    return decisions


def _follow_stall(
    state: PilotState, stall: Stall, now: datetime, repeat_interval: timedelta, controls: Controls, backdate: bool
) -> Decision | None:
    resolved_by: UUID | None = None
    if state.closed_by is not None:
        resolved_by = state.closed_by
    elif state.last_activity_at is not None and state.last_activity_at > stall.last_activity_at:
        resolved_by = state.last_activity_event
    if resolved_by is not None:
        event_id = alert_id(state.partner_id, state.pilot_id, stall.last_activity_at, "resolved")
        return Decision(
            "resolved", event_id, now, replace(state, stall=None), stall.last_activity_at, resolved_by=resolved_by
        )
    if now - stall.notified_at < repeat_interval:
        return None
    if stall.alert_id in controls.acknowledged or controls.snoozed(state, now):
        return None
    number = stall.reminders + 1
    event_id = alert_id(state.partner_id, state.pilot_id, stall.last_activity_at, f"reminder-{number}")
    now = stall.notified_at + repeat_interval if backdate else now
    reminded = replace(stall, notified_at=now, reminders=number)
    return Decision(
        "reminder",
        event_id,
        now,
        replace(state, stall=reminded),
        stall.last_activity_at,
        idle_days(stall.last_activity_at, now),
        stall.threshold_days,
    )


def _with_stall(state: PilotState, stall: Stall | None) -> PilotState:
    # `dataclasses.replace` costs a few microseconds; at 100,000 pilots that is the budget.
    return PilotState(
        state.partner_id,
        state.pilot_id,
        state.sme_id,
        state.market,
        state.opened,
        state.closed_by,
        state.last_activity_at,
        state.last_activity_event,
        state.newest_event_at,
        stall,
    )


def idle_days(since: datetime, now: datetime) -> int:
    return max(0, (now - since).days)  # whole days, rounded down, as timedelta keeps them


def alert_event(decision: Decision) -> PilotStalled | PilotStallResolved:
    """The contract envelope of a decision, keyed on `crm.alerts` by `partner_id/pilot_id`."""
    state = decision.state
    common = {
        "event_id": decision.event_id,
        "schema_version": ALERT_SCHEMA_VERSION,
        "occurred_at": decision.at,
        "partner_id": state.partner_id,
        "sme_id": state.sme_id,
    }
    if decision.kind == "resolved":
        assert decision.resolved_by is not None
        payload = PilotStallResolvedPayload(pilot_id=state.pilot_id, resolved_by=decision.resolved_by)
        return PilotStallResolved(event_type="PilotStallResolved", payload=payload, **common)  # type: ignore[arg-type]
    stalled = PilotStalledPayload(
        pilot_id=state.pilot_id,
        last_activity_at=decision.last_activity_at,
        idle_days=decision.idle_days,
        threshold_days=decision.threshold_days,
    )
    return PilotStalled(event_type="PilotStalled", payload=stalled, **common)  # type: ignore[arg-type]

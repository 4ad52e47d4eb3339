"""Stall rules without I/O: folding events into pilot state, and deciding alerts at an instant."""

import gc
import itertools
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm.alerts.rules import (
    Controls,
    PilotState,
    Thresholds,
    alert_event,
    apply_event,
    evaluate,
)
from crm.contract.decoding import decode_alert, decode_event, encode_event
from crm.contract.events import DomainEvent
from tests.support.events import envelope

T0 = datetime(2020, 1, 1, tzinfo=UTC)
WEEK = timedelta(days=7)
DEFAULT = Thresholds()


def event(event_type: str, day: float, pilot: str = "p-1", **payload: Any) -> DomainEvent:
    base: dict[str, dict[str, Any]] = {
        "PilotOpened": {"pilot_id": pilot, "market": "CN", "counterpart": "Huangpu"},
        "PilotUpdated": {"pilot_id": pilot, "note": "call"},
        "PilotClosed": {"pilot_id": pilot, "outcome": "lost"},
        "MeetingHeld": {"market": "CN", "counterpart": "Huangpu", "format": "digital", "pilot_id": pilot},
        "AgreementSigned": {
            "agreement_id": "a-1",
            "agreement_type": "sales",
            "market": "CN",
            "counterpart": "Huangpu",
            "pilot_id": pilot,
        },
        "TrainingCompleted": {"training": "Export"},
    }
    when = (T0 + timedelta(days=day)).isoformat().replace("+00:00", "Z")
    return decode_event(json.dumps(envelope(event_type, {**base[event_type], **payload}, occurred_at=when)))


def fold(*events: DomainEvent) -> PilotState:
    state: PilotState | None = None
    for item in events:
        state = apply_event(state, item)
    assert state is not None
    return state


def at(day: float) -> datetime:
    return T0 + timedelta(days=day)


def test_last_activity_is_the_latest_activity_whatever_the_arrival_order() -> None:
    events = [event("PilotOpened", 0), event("PilotUpdated", 10), event("MeetingHeld", 25), event("PilotUpdated", 5)]
    results = {fold(*order) for order in itertools.permutations(events)}
    assert len(results) == 1
    (state,) = results
    assert state.last_activity_at == at(25)
    assert state.in_discussion and state.market == "CN"


def test_closing_wins_whatever_the_arrival_order() -> None:
    events = [event("PilotOpened", 0), event("PilotClosed", 3), event("PilotUpdated", 9)]
    for order in itertools.permutations(events):
        state = fold(*order)
        assert not state.in_discussion
        assert state.closed_by == events[1].event_id


def test_events_naming_no_pilot_change_nothing() -> None:
    state = fold(event("PilotOpened", 0))
    assert apply_event(state, event("TrainingCompleted", 50)) is state
    assert apply_event(None, event("MeetingHeld", 1, pilot=None)) is None  # type: ignore[arg-type]


def test_fires_after_the_threshold_and_not_before() -> None:
    state = fold(event("PilotOpened", 0), event("PilotUpdated", 10))
    assert evaluate([state], at(40), DEFAULT, WEEK) == []  # exactly 30 days idle: not older yet
    (decision,) = evaluate([state], at(40.01), DEFAULT, WEEK)
    assert decision.kind == "stalled"
    assert (decision.idle_days, decision.threshold_days, decision.last_activity_at) == (30, 30, at(10))
    stalled = alert_event(decision)
    assert decode_alert(encode_event(stalled)) == stalled
    assert stalled.payload.pilot_id == "p-1"  # type: ignore[union-attr]


def test_one_alert_per_stall_then_a_reminder_after_the_repeat_interval() -> None:
    state = fold(event("PilotOpened", 0))
    (fired,) = evaluate([state], at(31), DEFAULT, WEEK)
    state = fired.state
    assert evaluate([state], at(32), DEFAULT, WEEK) == []
    assert evaluate([state], at(37.9), DEFAULT, WEEK) == []
    (reminder,) = evaluate([state], at(38), DEFAULT, WEEK)
    assert reminder.kind == "reminder" and reminder.idle_days == 38 and reminder.event_id != fired.event_id
    assert evaluate([reminder.state], at(39), DEFAULT, WEEK) == []
    (second,) = evaluate([reminder.state], at(45), DEFAULT, WEEK)
    assert second.event_id not in (fired.event_id, reminder.event_id)


def test_the_same_stall_always_gets_the_same_event_id() -> None:
    state = fold(event("PilotOpened", 0))
    first = evaluate([state], at(31), DEFAULT, WEEK)[0]
    again = evaluate([state], at(33), DEFAULT, WEEK)[0]  # e.g. re-evaluated after a crash
    assert first.event_id == again.event_id


def test_thresholds_per_partner_per_market_and_per_partner_in_a_market() -> None:
    thresholds = Thresholds.from_overrides(30, {"CN": 60, "tehnopol": 20, "tehnopol/VN": 90, "sisp/CN": 10})
    assert thresholds.days_for("tehnopol", "VN") == 90
    assert thresholds.days_for("tehnopol", "CN") == 20  # the partner's own choice beats the market's
    assert thresholds.days_for("sisp", "CN") == 10
    assert thresholds.days_for("sisp", "VN") == 30
    assert thresholds.days_for("other", "CN") == 60
    tehnopol_cn = fold(event("PilotOpened", 0))
    assert [d.threshold_days for d in evaluate([tehnopol_cn], at(21), thresholds, WEEK)] == [20]
    vn = fold(event("PilotOpened", 0, market="VN"))
    assert evaluate([vn], at(80), thresholds, WEEK) == []
    assert [d.threshold_days for d in evaluate([vn], at(91), thresholds, WEEK)] == [90]
    with pytest.raises(ValueError, match="at least 1"):
        Thresholds.from_overrides(30, {"CN": 0})


def test_a_threshold_change_applies_to_the_kept_state() -> None:
    state = fold(event("PilotOpened", 0))
    assert evaluate([state], at(25), DEFAULT, WEEK) == []
    assert len(evaluate([state], at(25), Thresholds(default_days=20), WEEK)) == 1


def test_resolves_on_later_activity_naming_the_event() -> None:
    fired = evaluate([fold(event("PilotOpened", 0))], at(31), DEFAULT, WEEK)[0]
    meeting = event("MeetingHeld", 33)
    state = apply_event(fired.state, meeting)
    assert state is not None
    (resolved,) = evaluate([state], at(33), DEFAULT, WEEK)
    assert resolved.kind == "resolved" and resolved.resolved_by == meeting.event_id
    assert resolved.state.stall is None
    assert alert_event(resolved).payload.resolved_by == meeting.event_id  # type: ignore[union-attr]
    assert evaluate([resolved.state], at(40), DEFAULT, WEEK) == []
    (again,) = evaluate([resolved.state], at(64), DEFAULT, WEEK)  # a new idle period: a new alert
    assert again.kind == "stalled" and again.event_id != fired.event_id


def test_resolves_on_closing_and_late_old_activity_does_not_resolve() -> None:
    fired = evaluate([fold(event("PilotOpened", 0), event("PilotUpdated", 2))], at(40), DEFAULT, WEEK)[0]
    older = apply_event(fired.state, event("PilotUpdated", 1))  # arrives late, happened before
    assert older is not None and evaluate([older], at(41), DEFAULT, WEEK) == []
    closing = event("PilotClosed", 41)
    closed = apply_event(older, closing)
    assert closed is not None
    (resolved,) = evaluate([closed], at(41), DEFAULT, WEEK)
    assert resolved.resolved_by == closing.event_id
    assert evaluate([resolved.state], at(400), DEFAULT, WEEK) == []


def test_activity_before_the_opening_arrives_is_kept_but_not_alerted() -> None:
    state = fold(event("PilotUpdated", 5))
    assert not state.in_discussion and evaluate([state], at(100), DEFAULT, WEEK) == []
    opened = apply_event(state, event("PilotOpened", 0))
    assert opened is not None and opened.last_activity_at == at(5)
    assert len(evaluate([opened], at(36), DEFAULT, WEEK)) == 1


def test_snooze_holds_alerts_until_it_ends() -> None:
    state = fold(event("PilotOpened", 0))
    controls = Controls(snoozed_until={("tehnopol", "p-1"): at(50)})
    assert evaluate([state], at(40), DEFAULT, WEEK, controls) == []
    assert len(evaluate([state], at(50), DEFAULT, WEEK, controls)) == 1
    fired = evaluate([state], at(31), DEFAULT, WEEK)[0]
    assert evaluate([fired.state], at(45), DEFAULT, WEEK, controls) == []  # no reminder while snoozed


def test_acknowledged_stalls_get_no_reminders_but_still_resolve() -> None:
    fired = evaluate([fold(event("PilotOpened", 0))], at(31), DEFAULT, WEEK)[0]
    controls = Controls(acknowledged=frozenset({fired.event_id}))
    assert evaluate([fired.state], at(60), DEFAULT, WEEK, controls) == []
    closed = apply_event(fired.state, event("PilotClosed", 61))
    assert closed is not None
    assert [d.kind for d in evaluate([closed], at(61), DEFAULT, WEEK, controls)] == ["resolved"]


def test_alert_ids_are_uuid5_of_the_stall() -> None:
    from uuid import uuid5

    from crm.alerts.rules import ALERT_NAMESPACE, alert_id

    name = f"tehnopol/p-1/{at(3).timestamp():.6f}/stalled"
    assert alert_id("tehnopol", "p-1", at(3), "stalled") == uuid5(ALERT_NAMESPACE, name)


def test_a_pass_over_100_000_open_pilots_fires_exactly_those_past_their_threshold() -> None:
    # How long it takes is measured by `bench.alerts` (a timed assertion here would fail on a
    # busy machine and prove nothing on an idle one).
    base = fold(event("PilotOpened", 0))
    # a realistic pass: every pilot checked, one in a hundred crossing its threshold now
    states = [replace(base, pilot_id=f"p-{i}", last_activity_at=at(20 if i % 100 else 0)) for i in range(100_000)]
    thresholds = Thresholds.from_overrides(30, {"VN": 45, "sisp": 20})
    decisions = evaluate(states, at(45), thresholds, WEEK)
    assert sorted(d.state.pilot_id for d in decisions) == sorted(f"p-{i}" for i in range(0, 100_000, 100))
    assert {d.kind for d in decisions} == {"stalled"}


def test_in_event_time_alerts_carry_the_instant_the_threshold_was_crossed() -> None:
    state = fold(event("PilotOpened", 0))
    (fired,) = evaluate([state], at(90), DEFAULT, WEEK, backdate=True)
    assert (fired.at, fired.idle_days) == (at(30), 30)
    (reminder,) = evaluate([fired.state], at(90), DEFAULT, WEEK, backdate=True)
    assert reminder.at == at(37)


def test_a_pass_leaves_the_cyclic_garbage_collector_as_it_found_it() -> None:
    states = [fold(event("PilotOpened", 0))]
    assert gc.isenabled()
    evaluate(states, at(45), DEFAULT, WEEK)
    assert gc.isenabled()
    gc.disable()
    try:
        evaluate(states, at(45), DEFAULT, WEEK)
        assert not gc.isenabled()
    finally:
        gc.enable()

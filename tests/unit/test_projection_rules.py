"""Projection rules are pure: events and the current rows in, rows out. No I/O here."""

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.projector.rules import SmeState, fold_sme, group_by_sme, timeline_entry
from tests.support.events import envelope
from tests.support.histories import history
from tests.support.read_models import models_of_states
from tests.support.reference import reference_models

PROGRAMMES = ("prog-a", "prog-b", "default")


def event(kind: str, payload: dict[str, object] | None = None, **overrides: object) -> DomainEvent:
    return decode_event(json.dumps(envelope(kind, payload, **overrides)))


def fold_all(events: list[DomainEvent], batch: int = 1_000_000) -> list[SmeState]:
    """Fold like the store does: batch by batch, each batch grouped by SME into the current rows."""
    states: dict[tuple[str, str], SmeState] = {}
    for start in range(0, len(events), batch):
        for key, mine in group_by_sme(events[start : start + batch]).items():
            states[key] = fold_sme(states.get(key), mine)
    return list(states.values())


def test_timeline_entry_keeps_identity_time_and_payload_without_absent_optionals() -> None:
    body = envelope("PilotOpened", {"pilot_id": "p-9", "market": "VN", "counterpart": "Da Nang"})
    entry = timeline_entry(decode_event(json.dumps(body)))
    assert (entry.partner_id, entry.sme_id, str(entry.event_id)) == ("tehnopol", "ee-smartlight", body["event_id"])
    assert entry.event_type == "PilotOpened"
    assert entry.occurred_at.isoformat() == "2020-10-05T09:00:00+00:00"
    assert entry.payload == {"pilot_id": "p-9", "market": "VN", "counterpart": "Da Nang"}


def test_the_stage_is_the_furthest_reached_whatever_the_arrival_order() -> None:
    opened = event("PilotOpened", occurred_at="2020-03-01T00:00:00Z")
    selected = event("SMESelected", occurred_at="2020-01-01T00:00:00Z")
    trained = event("TrainingCompleted", occurred_at="2020-02-01T00:00:00Z")
    state = fold_sme(fold_sme(None, [opened]), [trained, selected])
    assert state.sme.stage == "piloting"
    assert state.sme.selected_at is not None and state.sme.name == "SmartLight OÜ"
    assert (state.sme.first_activity_at.month, state.sme.last_activity_at.month) == (1, 3)


def test_a_pilot_updated_before_its_opening_is_kept_and_completed_by_the_opening() -> None:
    update = event("PilotUpdated", {"pilot_id": "p-1", "note": "call"}, occurred_at="2020-06-01T00:00:00Z")
    early = fold_sme(None, [update])
    assert early.pilots["p-1"].status == "unopened"
    assert early.pilots["p-1"].last_activity_at == update.occurred_at
    opened = event(
        "PilotOpened",
        {"pilot_id": "p-1", "market": "CL", "counterpart": "Santiago"},
        occurred_at="2020-05-01T00:00:00Z",
    )
    pilot = fold_sme(early, [opened]).pilots["p-1"]
    assert (pilot.status, pilot.market, pilot.opened_at) == ("open", "CL", opened.occurred_at)
    assert pilot.last_activity_at == update.occurred_at
    assert early.pilots["p-1"].status == "unopened"  # the input state is left alone


def test_closing_wins_over_opening_and_links_agreements_to_their_pilot() -> None:
    events = [
        event("PilotClosed", {"pilot_id": "p-17", "outcome": "won"}, occurred_at="2020-09-01T00:00:00Z"),
        event("AgreementSigned", occurred_at="2020-08-01T00:00:00Z"),
        event("PilotOpened", occurred_at="2020-05-01T00:00:00Z"),
    ]
    state = fold_sme(None, events)
    pilot = state.pilots["p-17"]
    assert (pilot.status, pilot.outcome, pilot.agreement_ids) == ("closed", "won", ["a-1"])
    assert pilot.last_activity_at is not None and pilot.last_activity_at.month == 8  # closing is not activity
    assert state.agreements["a-1"].value_eur == 120000
    assert state.markets["CN"].agreement_at is not None and state.sme.stage == "agreement"


def test_a_re_sent_agreement_takes_its_latest_terms_and_keeps_its_first_signature() -> None:
    first = event("AgreementSigned", occurred_at="2020-08-01T00:00:00Z")
    later = event(
        "AgreementSigned",
        {"agreement_id": "a-1", "agreement_type": "licence", "market": "VN", "counterpart": "X"},
        occurred_at="2020-09-01T00:00:00Z",
    )
    for order in ([first, later], [later, first]):
        agreement = fold_sme(None, order).agreements["a-1"]
        assert (agreement.agreement_type, agreement.market, agreement.signed_at) == ("licence", "VN", first.occurred_at)


def test_withdrawal_is_a_flag_not_a_stage() -> None:
    state = fold_sme(None, [event("MeetingHeld"), event("SMEWithdrawn", {})])
    assert (state.sme.stage, state.sme.withdrawn) == ("met", True)


def test_a_random_history_folds_to_the_reference_in_arrival_order_and_reversed() -> None:
    for events in (history(seed=7, smes=30), history(seed=7, smes=30, programmes=PROGRAMMES)):
        expected = reference_models(events)
        assert models_of_states(fold_all(events, batch=13)) == expected
        assert models_of_states(fold_all(events[::-1], batch=1)) == expected


def test_an_sme_is_in_the_programme_of_its_selection_whatever_its_other_events_name() -> None:
    selected = event("SMESelected", occurred_at="2020-01-01T00:00:00Z", schema_version=2, programme_id="prog-a")
    met = event("MeetingHeld", occurred_at="2020-02-01T00:00:00Z", schema_version=2, programme_id="prog-b")
    for order in ([selected, met], [met, selected]):
        state = fold_sme(None, order)
        assert (state.sme.programme_id, state.sme.met_at) == ("prog-a", met.occurred_at)
    early = fold_sme(None, [met])  # its selection still on its way: the programme its events name
    assert early.sme.programme_id == "prog-b"
    assert fold_sme(early, [selected]).sme.programme_id == "prog-a"
    # A corrected selection (a later SMESelected) moves it, like the rest of its profile.
    moved = event("SMESelected", occurred_at="2020-03-01T00:00:00Z", schema_version=2, programme_id="prog-c")
    assert fold_sme(fold_sme(early, [moved]), [selected]).sme.programme_id == "prog-c"


def test_before_its_selection_an_sme_takes_the_programme_of_its_earliest_event_in_any_order() -> None:
    at = "2020-02-01T00:00:00Z"
    events = [
        event("MeetingHeld", occurred_at="2020-03-01T00:00:00Z", schema_version=2, programme_id="aaa"),
        event("TrainingCompleted", occurred_at=at, schema_version=2, programme_id="prog-b"),
        event("PilotOpened", occurred_at=at, schema_version=2, programme_id="prog-c"),
    ]
    for order in (events, events[::-1], [events[1], events[0], events[2]]):
        assert fold_sme(None, order).sme.programme_id == "prog-b"  # of the earliest two, the smaller id
        assert fold_sme(fold_sme(None, order[:1]), order[1:]).sme.programme_id == "prog-b"
    assert fold_sme(None, [event("MeetingHeld")]).sme.programme_id == "default"  # a version-1 event


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shuffle=st.randoms(use_true_random=False),
    batch=st.integers(1, 40),
    duplicates=st.lists(st.integers(0, 10_000), max_size=20),
)
def test_any_permutation_with_duplicates_gives_the_same_rows(
    seed: int, shuffle: random.Random, batch: int, duplicates: list[int]
) -> None:
    events = history(seed, smes=5, programmes=PROGRAMMES)
    arrival = events + [events[i % len(events)] for i in duplicates]
    shuffle.shuffle(arrival)
    assert models_of_states(fold_all(arrival, batch)) == reference_models(events)

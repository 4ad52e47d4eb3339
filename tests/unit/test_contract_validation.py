"""The event contract refuses what docs/contract.md says it must, naming the field."""

import json
from typing import Any

import pytest

from crm.contract.decoding import InvalidEvents, decode_event, decode_events, encode_event
from crm.contract.events import DOMAIN_EVENT_TYPES
from tests.support.events import EXAMPLES, MINIMAL_PAYLOADS, envelope


def problems_of(body: Any) -> list[tuple[int, str]]:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(json.dumps(body))
    return [(p.index, p.field) for p in refused.value.problems]


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_every_catalogue_event_is_accepted_with_all_fields(event_type: str) -> None:
    event = decode_event(json.dumps(envelope(event_type)))
    assert event.event_type == event_type
    assert type(event).__name__ == event_type


@pytest.mark.parametrize("event_type", sorted(MINIMAL_PAYLOADS))
def test_every_catalogue_event_is_accepted_without_optional_fields(event_type: str) -> None:
    event = decode_event(json.dumps(envelope(event_type, MINIMAL_PAYLOADS[event_type])))
    assert event.payload.model_dump(exclude_none=True) == MINIMAL_PAYLOADS[event_type]


def test_catalogue_covers_every_contract_event_type() -> None:
    assert {model.__name__ for model in DOMAIN_EVENT_TYPES} == set(EXAMPLES)


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_encoding_round_trips(event_type: str) -> None:
    event = decode_event(json.dumps(envelope(event_type)))
    assert decode_event(encode_event(event)) == event


def test_timestamps_with_an_offset_are_normalised_to_utc() -> None:
    event = decode_event(json.dumps(envelope("SMEWithdrawn", {}, occurred_at="2020-10-05T12:00:00+03:00")))
    assert json.loads(encode_event(event))["occurred_at"] == "2020-10-05T09:00:00Z"


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00"])
def test_a_timestamp_outside_utc_is_refused_not_crashing_the_encoder(occurred_at: str) -> None:
    # Found by the fault suite: these parsed, then made encode_event (gateway, projector) raise.
    assert problems_of(envelope("SMEWithdrawn", {}, occurred_at=occurred_at)) == [(0, "occurred_at")]


@pytest.mark.parametrize("occurred_at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_the_extreme_instants_utc_can_hold_round_trip(occurred_at: str) -> None:
    event = decode_event(json.dumps(envelope("SMEWithdrawn", {}, occurred_at=occurred_at)))
    assert json.loads(encode_event(event))["occurred_at"] == occurred_at.replace("Z", "") + "Z"


def test_unknown_event_type_is_refused_naming_event_type() -> None:
    body = envelope("SMEWithdrawn", {}) | {"event_type": "SMEPromoted"}
    assert problems_of(body) == [(0, "event_type")]


def test_missing_event_type_is_refused() -> None:
    body = envelope("SMEWithdrawn", {})
    del body["event_type"]
    assert problems_of(body) == [(0, "event_type")]


@pytest.mark.parametrize("field", ["event_id", "schema_version", "occurred_at", "partner_id", "sme_id", "payload"])
def test_missing_envelope_field_is_named(field: str) -> None:
    body = envelope("SMEWithdrawn", {})
    del body[field]
    assert problems_of(body) == [(0, field)]


def test_missing_payload_field_is_named_with_its_path() -> None:
    payload = dict(EXAMPLES["PilotOpened"])
    del payload["counterpart"]
    assert problems_of(envelope("PilotOpened", payload)) == [(0, "payload.counterpart")]


def test_extra_envelope_field_is_refused() -> None:
    assert problems_of(envelope("SMEWithdrawn", {}, priority="high")) == [(0, "priority")]


def test_extra_payload_field_is_refused() -> None:
    assert problems_of(envelope("PilotUpdated", {"pilot_id": "p-1", "note": "x", "colour": "red"})) == [
        (0, "payload.colour")
    ]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("PilotOpened", "market", "XX"),
        ("PilotOpened", "market", "cn"),
        ("PilotOpened", "market", "CHN"),
        ("SMESelected", "country", "UK"),
        ("MeetingHeld", "format", "hybrid"),
        ("PilotClosed", "outcome", "maybe"),
        ("AgreementSigned", "agreement_type", "handshake"),
        ("AgreementSigned", "value_eur", -5),
        ("TrainingCompleted", "hours", "eight"),
    ],
)
def test_bad_codes_and_values_are_refused_naming_the_field(event_type: str, field: str, value: Any) -> None:
    payload = dict(EXAMPLES[event_type]) | {field: value}
    assert problems_of(envelope(event_type, payload)) == [(0, f"payload.{field}")]


def test_bad_code_inside_a_list_is_located() -> None:
    payload = dict(EXAMPLES["SMESelected"]) | {"target_markets": ["CN", "ZZ"]}
    assert problems_of(envelope("SMESelected", payload)) == [(0, "payload.target_markets.1")]


@pytest.mark.parametrize("timestamp", ["2020-10-05T09:00:00", "2020-10-05", "yesterday", 1601888400])
def test_naive_or_malformed_timestamps_are_refused(timestamp: Any) -> None:
    assert problems_of(envelope("SMEWithdrawn", {}, occurred_at=timestamp)) == [(0, "occurred_at")]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("partner_id", "Tehnopol"),
        ("partner_id", "a/b"),
        ("sme_id", "ee/smartlight"),
        ("event_id", "not-a-uuid"),
        ("schema_version", 3),
    ],
)
def test_bad_identifiers_are_refused(field: str, value: Any) -> None:
    assert problems_of(envelope("SMEWithdrawn", {}, **{field: value})) == [(0, field)]


def test_strings_are_not_coerced_from_numbers() -> None:
    assert problems_of(envelope("PilotUpdated", {"pilot_id": 17, "note": "x"})) == [(0, "payload.pilot_id")]


def test_oversized_strings_are_refused() -> None:
    assert problems_of(envelope("PilotUpdated", {"pilot_id": "p-1", "note": "x" * 5000})) == [(0, "payload.note")]


def test_problems_in_an_array_carry_the_index_of_each_event() -> None:
    good = envelope("SMEWithdrawn", {})
    bad = envelope("PilotOpened", dict(EXAMPLES["PilotOpened"]) | {"market": "XX"})
    naive = envelope("SMEWithdrawn", {}, occurred_at="2020-10-05T09:00:00")
    assert problems_of([good, bad, naive]) == [(1, "payload.market"), (2, "occurred_at")]


def test_messages_say_what_is_wrong() -> None:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(json.dumps(envelope("PilotOpened", dict(EXAMPLES["PilotOpened"]) | {"market": "XX"})))
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in refused.value.problems[0].message


@pytest.mark.parametrize("raw", [b"{", b"", b"\xff\xfe", b"null", b"42", b'"text"'])
def test_non_json_or_non_objects_are_refused(raw: bytes) -> None:
    with pytest.raises(InvalidEvents) as refused:
        decode_event(raw)
    assert refused.value.problems


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("SMESelected", "name"), ("MeetingHeld", "counterpart"), ("MeetingHeld", "notes"), ("PilotUpdated", "note")],
)
def test_a_nul_character_is_refused_in_every_text_field(event_type: str, field: str) -> None:
    # PostgreSQL cannot store U+0000 in text or JSON: accepted, it stopped the projector for everyone.
    payload = {**EXAMPLES[event_type], field: "nul\u0000byte"}
    assert problems_of([envelope(event_type, payload)]) == [(0, f"payload.{field}")]

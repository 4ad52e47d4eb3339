"""Contract versions: version-1 events are upcast to the current version on read, keep their
identity (their bytes as written), and the frozen v1 log's samples upcast one and all."""

import json
from typing import Any

import orjson
import pytest

from crm.contract.decoding import SUPPORTED_VERSIONS, InvalidEvents, decode_event, decode_events, encode_event
from crm.contract.events import SCHEMA_VERSION
from crm.contract.identity import content_hash
from crm.contract.upcasting import DOWN, IMPLICIT_PROGRAMME, STEPS, UpcastContext
from tests.support.v1_log import READ_MODELS_FILE, load_records

V1: dict[str, Any] = {
    "event_id": "6f1c2a4e-8d0b-4c1e-9a57-3f9e2b1d7c10",
    "event_type": "PilotOpened",
    "schema_version": 1,
    "occurred_at": "2020-10-05T09:00:00Z",
    "partner_id": "tehnopol",
    "sme_id": "ee-smartlight",
    "payload": {"pilot_id": "p-17", "market": "CN", "region": "Guangzhou", "counterpart": "Huangpu District"},
}
V2 = {**V1, "schema_version": 2, "programme_id": "4smartgrowth"}


def _problems(body: Any) -> list[tuple[int, str, str]]:
    with pytest.raises(InvalidEvents) as refused:
        decode_events(orjson.dumps(body))
    return [(p.index, p.field, p.message) for p in refused.value.problems]


def test_every_older_version_has_an_upcaster_and_its_inverse() -> None:
    assert tuple(range(1, SCHEMA_VERSION + 1)) == SUPPORTED_VERSIONS
    assert set(STEPS) == set(range(1, SCHEMA_VERSION)) and set(DOWN) == set(range(2, SCHEMA_VERSION + 1))


def test_a_version_1_event_is_upcast_into_the_default_programme_and_keeps_its_bytes() -> None:
    raw = orjson.dumps(V1)
    implicit = decode_event(raw)
    assert (implicit.schema_version, implicit.programme_id, implicit.written_in) == (2, IMPLICIT_PROGRAMME, 1)
    chosen = decode_event(raw, UpcastContext(default_programme="4smartgrowth"))
    assert chosen.programme_id == "4smartgrowth"
    # Written, hashed and re-sent as its sender wrote it: the same bytes as the v1 release gave.
    assert encode_event(implicit) == encode_event(chosen) == raw
    assert content_hash(implicit) == content_hash(chosen)


def test_a_version_2_event_is_read_as_written() -> None:
    event = decode_event(orjson.dumps(V2))
    assert (event.programme_id, event.written_in) == ("4smartgrowth", 2)
    assert json.loads(encode_event(event)) == V2
    assert content_hash(event) != content_hash(decode_event(orjson.dumps(V1)))  # it says more


def test_each_version_refuses_what_it_does_not_have() -> None:
    assert _problems({**V1, "programme_id": "4smartgrowth"}) == [(0, "programme_id", "unexpected field")]
    assert _problems({k: v for k, v in V2.items() if k != "programme_id"}) == [(0, "programme_id", "field required")]
    assert _problems({**V1, "schema_version": 3}) == [
        (0, "schema_version", "unsupported schema_version 3; supported: 1, 2")
    ]
    assert [p[:2] for p in _problems({k: v for k, v in V1.items() if k != "schema_version"})] == [(0, "schema_version")]


def test_a_request_may_mix_versions_and_its_problems_keep_their_index() -> None:
    mixed = decode_events(orjson.dumps([V1, V2, {**V1, "event_id": "7f1c2a4e-8d0b-4c1e-9a57-3f9e2b1d7c10"}]))
    assert [(e.schema_version, e.programme_id, e.written_in) for e in mixed] == [
        (2, IMPLICIT_PROGRAMME, 1),
        (2, "4smartgrowth", 2),
        (2, IMPLICIT_PROGRAMME, 1),
    ]
    bad_v2 = {**V2, "payload": {**V2["payload"], "market": "XX"}}
    assert [p[:2] for p in _problems([V1, bad_v2, {**V1, "schema_version": 9}])] == [
        (1, "payload.market"),
        (2, "schema_version"),
    ]


def test_the_committed_version_1_log_upcasts_record_by_record_and_keeps_its_identity() -> None:
    """The samples of the released version: every record of the frozen v1 log reads as a current
    event, and those the v1 gateway wrote encode again to exactly their bytes."""
    expected = json.loads(READ_MODELS_FILE.read_text(encoding="utf-8"))
    same_bytes = 0
    for _, value in load_records():
        event = decode_event(value)
        assert (event.schema_version, event.programme_id, event.written_in) == (2, IMPLICIT_PROGRAMME, 1)
        same_bytes += encode_event(event) == value
    assert same_bytes == expected["log"]["forms"]["gateway_encoded"]

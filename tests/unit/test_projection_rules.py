"""Projection rules are pure: an event in, rows out."""

import json

from crm.contract.decoding import decode_event
from crm.projector.rules import timeline_entry
from tests.support.events import envelope


def test_timeline_entry_keeps_identity_time_and_payload_without_absent_optionals() -> None:
    body = envelope("PilotOpened", {"pilot_id": "p-9", "market": "VN", "counterpart": "Da Nang"})
    entry = timeline_entry(decode_event(json.dumps(body)))
    assert (entry.partner_id, entry.sme_id, str(entry.event_id)) == ("tehnopol", "ee-smartlight", body["event_id"])
    assert entry.event_type == "PilotOpened"
    assert entry.occurred_at.isoformat() == "2020-10-05T09:00:00+00:00"
    assert entry.payload == {"pilot_id": "p-9", "market": "VN", "counterpart": "Da Nang"}

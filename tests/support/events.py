"""Valid example envelopes of every catalogue type, as JSON-ready dicts."""

import copy
import uuid
from typing import Any

EXAMPLES: dict[str, dict[str, Any]] = {
    "SMESelected": {
        "name": "SmartLight OÜ",
        "country": "EE",
        "sector": "smart lighting",
        "target_markets": ["CN", "VN"],
    },
    "TrainingCompleted": {"training": "Export readiness", "hours": 12.5},
    "MeetingHeld": {
        "market": "CN",
        "region": "Guangzhou",
        "counterpart": "Huangpu District",
        "format": "digital",
        "pilot_id": "p-17",
        "notes": "good fit",
    },
    "PilotOpened": {
        "pilot_id": "p-17",
        "market": "CN",
        "region": "Guangzhou",
        "counterpart": "Huangpu District",
        "title": "Street lights",
    },
    "PilotUpdated": {"pilot_id": "p-17", "note": "spec agreed"},
    "PilotClosed": {"pilot_id": "p-17", "outcome": "won", "note": "signed"},
    "AgreementSigned": {
        "agreement_id": "a-1",
        "agreement_type": "sales",
        "market": "CN",
        "counterpart": "Huangpu District",
        "pilot_id": "p-17",
        "value_eur": 120000,
    },
    "SMEWithdrawn": {"reason": "left the programme"},
}

MINIMAL_PAYLOADS: dict[str, dict[str, Any]] = {
    "SMESelected": EXAMPLES["SMESelected"],
    "TrainingCompleted": {"training": "Export readiness"},
    "MeetingHeld": {"market": "VN", "counterpart": "Da Nang city", "format": "physical"},
    "PilotOpened": {"pilot_id": "p-1", "market": "CL", "counterpart": "Santiago"},
    "PilotUpdated": {"pilot_id": "p-1", "note": "call"},
    "PilotClosed": {"pilot_id": "p-1", "outcome": "lost"},
    "AgreementSigned": {
        "agreement_id": "a-2",
        "agreement_type": "commercial_representation",
        "market": "CL",
        "counterpart": "Agent Ltda",
    },
    "SMEWithdrawn": {},
}


def envelope(event_type: str, payload: dict[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": "2020-10-05T09:00:00Z",
        "partner_id": "tehnopol",
        "sme_id": "ee-smartlight",
        "payload": copy.deepcopy(EXAMPLES[event_type] if payload is None else payload),
    }
    body.update(overrides)
    return body

"""One event of each catalogue type, for a first look at the pipeline."""

import json
import uuid

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent

_NAMESPACE = uuid.UUID("3b0c8f9e-5a0f-4f56-9b43-5c1d0a6e2f10")


def one_of_each(partner_id: str = "tehnopol", sme_id: str = "ee-smartlight") -> list[DomainEvent]:
    """The life of one SME, from selection to an agreement (and then withdrawal)."""
    raw = [
        (
            "SMESelected",
            "2019-09-02T09:00:00Z",
            {"name": "SmartLight OÜ", "country": "EE", "sector": "smart lighting", "target_markets": ["CN", "VN"]},
        ),
        ("TrainingCompleted", "2019-11-14T15:00:00Z", {"training": "Export readiness: China", "hours": 16}),
        (
            "MeetingHeld",
            "2020-06-10T08:00:00Z",
            {"market": "CN", "region": "Guangzhou", "counterpart": "Huangpu District", "format": "digital"},
        ),
        (
            "PilotOpened",
            "2020-10-05T09:00:00Z",
            {
                "pilot_id": "p-17",
                "market": "CN",
                "region": "Guangzhou",
                "counterpart": "Huangpu District",
                "title": "Street lighting pilot",
            },
        ),
        ("PilotUpdated", "2020-12-01T09:00:00Z", {"pilot_id": "p-17", "note": "Technical specification agreed"}),
        (
            "AgreementSigned",
            "2021-03-15T10:00:00Z",
            {
                "agreement_id": "a-1",
                "agreement_type": "sales",
                "market": "CN",
                "counterpart": "Huangpu District",
                "pilot_id": "p-17",
                "value_eur": 120000,
            },
        ),
        ("PilotClosed", "2021-03-16T10:00:00Z", {"pilot_id": "p-17", "outcome": "won"}),
        ("SMEWithdrawn", "2021-12-20T10:00:00Z", {"reason": "programme ended"}),
    ]
    events = []
    for event_type, occurred_at, payload in raw:
        envelope = {
            "event_id": str(uuid.uuid5(_NAMESPACE, f"{partner_id}/{sme_id}/{event_type}")),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": occurred_at,
            "partner_id": partner_id,
            "sme_id": sme_id,
            "payload": payload,
        }
        events.append(decode_event(json.dumps(envelope)))
    return events

"""Random but plausible programme histories: several partners, SMEs with meetings, pilots, deals.

Deterministic for a seed. Some references are dangling on purpose (a meeting naming a pilot that
is never opened), and events of one SME share timestamps now and then (tie-break by event_id).
"""

import random
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent

PARTNERS = ["tehnopol", "sisp", "business-tampere"]
MARKETS = ["CN", "VN", "CL", "IN", "BR"]
START = datetime(2020, 1, 1, tzinfo=UTC)


def history(
    seed: int,
    smes: int = 6,
    *,
    partners: list[str] = PARTNERS,
    programmes: Sequence[str] = (),
    max_meetings: int = 2,
    max_pilots: int = 2,
    shared_ids: float = 0.5,
) -> list[DomainEvent]:
    """Version-1 events (the default programme); with `programmes`, version-2 events naming them:
    an SME's events name its programme mostly, another one now and then (a partner's mistake).

    Each SME holds 0 to `max_meetings` meetings and opens 0 to `max_pilots` pilots (about 6
    events per SME with the defaults), and takes one of four shared ids (`sme-0` .. `sme-3`, so
    one id under several partners, and many SMEs' events under one id) with probability
    `shared_ids`. The same draws whatever these are, so a caller leaving them at their defaults
    gets the same history."""
    rng = random.Random(seed)
    naming = random.Random(f"programmes-{seed}")  # its own, so the history is the same either way
    events: list[DomainEvent] = []
    programme = ""

    def emit(partner: str, sme: str, kind: str, day: int, payload: dict[str, Any]) -> None:
        body = {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
            "event_type": kind,
            "schema_version": 1,
            "occurred_at": (START + timedelta(days=day, hours=rng.choice([0, 0, 5]))).isoformat(),
            "partner_id": partner,
            "sme_id": sme,
            "payload": payload,
        }
        if programmes:
            named = programme if naming.random() < 0.8 else naming.choice(programmes)
            body |= {"schema_version": 2, "programme_id": named}
        events.append(decode_event(_json(body)))

    for n in range(smes):
        partner = partners[n % len(partners)]
        sme = f"sme-{n % 4}" if rng.random() < shared_ids else f"sme-{n}"  # same sme_id under two partners
        programme = naming.choice(programmes) if programmes else ""
        day = rng.randrange(0, 60)
        if rng.random() < 0.9:  # some SMEs are never selected (their selection is "still on its way")
            targets = sorted(rng.sample(MARKETS, 2))
            emit(
                partner,
                sme,
                "SMESelected",
                day,
                {"name": f"SME {n}", "country": "EE", "sector": "tech", "target_markets": targets},
            )
        if rng.random() < 0.7:
            emit(partner, sme, "TrainingCompleted", day + rng.randrange(1, 40), {"training": "Export readiness"})
        for m in range(rng.randrange(0, max_meetings + 1)):
            market = rng.choice(MARKETS)
            meeting: dict[str, Any] = {
                "market": market,
                "counterpart": f"buyer-{m}",
                "format": rng.choice(["digital", "physical"]),
            }
            if rng.random() < 0.3:
                meeting["pilot_id"] = f"p-{n}-{rng.randrange(0, max_pilots + 1)}"
            emit(partner, sme, "MeetingHeld", day + rng.randrange(1, 200), meeting)
        for k in range(rng.randrange(0, max_pilots + 1)):
            pilot_id, market = f"p-{n}-{k}", rng.choice(MARKETS)
            opened = day + rng.randrange(10, 300)
            emit(partner, sme, "PilotOpened", opened, {"pilot_id": pilot_id, "market": market, "counterpart": "city"})
            for _ in range(rng.randrange(0, 3)):
                emit(
                    partner, sme, "PilotUpdated", opened + rng.randrange(0, 100), {"pilot_id": pilot_id, "note": "call"}
                )
            if rng.random() < 0.5:
                emit(
                    partner,
                    sme,
                    "PilotClosed",
                    opened + rng.randrange(0, 200),
                    {"pilot_id": pilot_id, "outcome": rng.choice(["won", "lost", "withdrawn"])},
                )
            if rng.random() < 0.4:
                emit(
                    partner,
                    sme,
                    "AgreementSigned",
                    opened + rng.randrange(0, 200),
                    {
                        "agreement_id": f"a-{n}-{k}",
                        "agreement_type": rng.choice(["sales", "licence", "distribution"]),
                        "market": market,
                        "counterpart": "buyer",
                        "pilot_id": pilot_id,
                        "value_eur": rng.randrange(1, 10) * 1000,
                    },
                )
        if rng.random() < 0.2:
            emit(
                partner,
                sme,
                "AgreementSigned",
                day + rng.randrange(0, 400),
                {
                    "agreement_id": f"a-{n}-x",
                    "agreement_type": "commercial_representation",
                    "market": rng.choice(MARKETS),
                    "counterpart": "agent",
                },
            )
        if rng.random() < 0.15:
            emit(partner, sme, "SMEWithdrawn", day + rng.randrange(0, 500), {})
    return events


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)

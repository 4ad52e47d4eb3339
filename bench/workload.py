"""A synthetic programme history as Kafka message values (valid contract JSON), deterministic.

About 20 events per SME (selection, trainings, meetings, pilots with updates and closings,
agreements), SMEs interleaved in time as real partners would send them, and about one event in
ten arriving out of order.
"""

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

PARTNERS = ["tehnopol", "sisp", "business-tampere", "turku-science-park", "vasteras-science-park"]
MARKETS = ["CN", "VN", "CL", "IN", "BR", "US", "ZA"]
START = datetime(2019, 1, 1, tzinfo=UTC)


def programme_history(events: int, seed: int = 42) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs: at least `events` of them."""
    rng = random.Random(seed)
    out: list[tuple[datetime, bytes, bytes]] = []
    n = 0
    while len(out) < events:
        partner, sme = PARTNERS[n % len(PARTNERS)], f"sme-{n}"
        day = rng.uniform(0, 900)
        key = f"{partner}/{sme}".encode()

        def emit(
            kind: str, at: float, payload: dict[str, Any], partner: str = partner, sme: str = sme, key: bytes = key
        ) -> None:
            occurred = START + timedelta(days=at)
            body = {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "event_type": kind,
                "schema_version": 1,
                "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
                "partner_id": partner,
                "sme_id": sme,
                "payload": payload,
            }
            out.append((occurred, key, json.dumps(body, separators=(",", ":")).encode()))

        emit(
            "SMESelected",
            day,
            {"name": f"SME {n}", "country": "EE", "sector": "tech", "target_markets": sorted(rng.sample(MARKETS, 2))},
        )
        for t in range(2):
            emit("TrainingCompleted", day + rng.uniform(1, 60), {"training": f"Training {t}", "hours": 8.0})
        for m in range(4):
            emit(
                "MeetingHeld",
                day + rng.uniform(30, 300),
                {
                    "market": rng.choice(MARKETS),
                    "counterpart": f"buyer {m}",
                    "format": rng.choice(["digital", "physical"]),
                },
            )
        for p in range(2):
            pilot_id, market, opened = f"p-{n}-{p}", rng.choice(MARKETS), day + rng.uniform(60, 400)
            emit("PilotOpened", opened, {"pilot_id": pilot_id, "market": market, "counterpart": "city"})
            for _ in range(3):
                emit("PilotUpdated", opened + rng.uniform(1, 120), {"pilot_id": pilot_id, "note": "progress"})
            emit(
                "MeetingHeld",
                opened + rng.uniform(1, 90),
                {"market": market, "counterpart": "city", "format": "physical", "pilot_id": pilot_id},
            )
            if rng.random() < 0.5:
                emit(
                    "PilotClosed",
                    opened + rng.uniform(100, 300),
                    {"pilot_id": pilot_id, "outcome": rng.choice(["won", "lost"])},
                )
            if rng.random() < 0.3:
                emit(
                    "AgreementSigned",
                    opened + rng.uniform(50, 300),
                    {
                        "agreement_id": f"a-{n}-{p}",
                        "agreement_type": rng.choice(["sales", "distribution", "licence"]),
                        "market": market,
                        "counterpart": "buyer",
                        "pilot_id": pilot_id,
                        "value_eur": 25000.0,
                    },
                )
        if rng.random() < 0.05:
            emit("SMEWithdrawn", day + rng.uniform(100, 900), {"reason": "left"})
        n += 1
    out.sort(key=lambda item: item[0])
    for i in range(0, len(out), 10):  # one in ten arrives late, up to a few hundred positions on
        j = min(len(out) - 1, i + rng.randrange(1, 500))
        out[i], out[j] = out[j], out[i]
    return [(key, value) for _, key, value in out]

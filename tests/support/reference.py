"""A deliberately simple reference fold, written apart from crm.projector.rules.

It sorts every distinct event of the whole history by (occurred_at, event_id) and walks it once:
"the first time" is whatever is set first, "the latest" is whatever is written last. Figures are
computed by re-running the fold on the events that happened by `as_of`. Slow and obvious on
purpose: the projector must agree with it whatever the arrival order.
"""

from collections import Counter
from datetime import datetime
from typing import Any

from crm.contract.events import DomainEvent, rfc3339

STAGES = ["selected", "trained", "met", "piloting", "agreement"]


def reference_models(events: list[DomainEvent]) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """Expected rows per table, keyed by primary key, with the columns clients read."""
    distinct = {event.event_id: event for event in events}
    smes: dict[tuple[str, ...], dict[str, Any]] = {}
    markets: dict[tuple[str, ...], dict[str, Any]] = {}
    pilots: dict[tuple[str, ...], dict[str, Any]] = {}
    agreements: dict[tuple[str, ...], dict[str, Any]] = {}
    for e in sorted(distinct.values(), key=lambda x: (x.occurred_at, x.event_id)):
        p = e.payload.model_dump()
        who = (e.partner_id, e.sme_id)
        at = e.occurred_at
        sme = smes.setdefault(
            who,
            {
                "name": None,
                "country": None,
                "sector": None,
                "target_markets": [],
                "withdrawn": False,
                "first_activity_at": at,
                "reached": set(),
            },
        )
        sme["last_activity_at"] = at

        def pilot(pilot_id: str, who: tuple[str, str] = who) -> dict[str, Any]:
            return pilots.setdefault(
                (*who, pilot_id),
                {
                    "market": None,
                    "region": None,
                    "counterpart": None,
                    "opened_at": None,
                    "closed_at": None,
                    "outcome": None,
                    "last_activity_at": None,
                },
            )

        def market(code: str, who: tuple[str, str] = who) -> dict[str, Any]:
            return markets.setdefault((*who, code), {"reached": set(), "digital": False})

        if e.event_type == "SMESelected":
            sme["programme_id"] = e.programme_id  # the latest selection's, walking in key order
            sme.update(name=p["name"], country=p["country"], sector=p["sector"], target_markets=p["target_markets"])
            sme["reached"].add("selected")
        elif e.event_type == "TrainingCompleted":
            sme["reached"].add("trained")
        elif e.event_type == "MeetingHeld":
            sme["reached"].add("met")
            market(p["market"])["reached"].add("met")
            if p["format"] == "digital":
                sme["digital"] = True
                market(p["market"])["digital"] = True
            if p["pilot_id"]:
                pilot(p["pilot_id"])["last_activity_at"] = at
        elif e.event_type == "PilotOpened":
            sme["reached"].add("piloting")
            market(p["market"])["reached"].add("piloting")
            row = pilot(p["pilot_id"])
            if row["opened_at"] is None:
                row.update(market=p["market"], region=p["region"], counterpart=p["counterpart"], opened_at=at)
            row["last_activity_at"] = at
        elif e.event_type == "PilotUpdated":
            pilot(p["pilot_id"])["last_activity_at"] = at
        elif e.event_type == "PilotClosed":
            row = pilot(p["pilot_id"])
            row["outcome"] = p["outcome"]
            if row["closed_at"] is None:
                row["closed_at"] = at
        elif e.event_type == "AgreementSigned":
            sme["reached"].add("agreement")
            market(p["market"])["reached"].add("agreement")
            old = agreements.get((*who, p["agreement_id"]))
            agreements[(*who, p["agreement_id"])] = {
                "agreement_type": p["agreement_type"],
                "market": p["market"],
                "counterpart": p["counterpart"],
                "pilot_id": p["pilot_id"],
                "value_eur": p["value_eur"],
                "signed_at": old["signed_at"] if old else at,
            }
            if p["pilot_id"]:
                pilot(p["pilot_id"])["last_activity_at"] = at
        elif e.event_type == "SMEWithdrawn":
            sme["withdrawn"] = True
    for who, row in smes.items():
        if "programme_id" not in row:  # never selected: its earliest events' (the smallest id of them)
            row["programme_id"] = min(
                e.programme_id
                for e in distinct.values()
                if (e.partner_id, e.sme_id) == who and e.occurred_at == row["first_activity_at"]
            )
        reached = row.pop("reached")
        row["stage"] = max(reached, key=STAGES.index) if reached else None
        row["in_matchmaking"] = row.pop("digital", False)
    for key, row in pilots.items():
        row["status"] = "closed" if row["closed_at"] else "open" if row["opened_at"] else "unopened"
        row["agreement_ids"] = sorted(
            a_key[2] for a_key, a in agreements.items() if a_key[:2] == key[:2] and a["pilot_id"] == key[2]
        )
    return {"smes": smes, "sme_markets": markets, "pilots": pilots, "agreements": agreements}


def reference_kpis(
    events: list[DomainEvent], as_of: datetime | None = None, programme_id: str | None = None
) -> dict[str, Any]:
    """The programme KPIs (without `as_of` and `progress`), from the events that happened by `as_of`;
    of the SMEs whose programme (of all events, not only those by `as_of`) is `programme_id`."""
    happened = [e for e in events if as_of is None or e.occurred_at <= as_of]
    models = reference_models(happened)
    programmes = {key: row["programme_id"] for key, row in reference_models(events)["smes"].items()}
    selected = {
        key
        for key in models["smes"]
        if "selected" in _reached(happened, key) and programme_id in (None, programmes[key])
    }
    per_partner: dict[str, dict[str, Any]] = {}
    for partner_id in sorted({key[0] for key in selected}):
        mine = {key for key in selected if key[0] == partner_id}
        per_partner[partner_id] = _kpis_of(models, mine)
    overall = _kpis_of(models, selected)
    overall["partners"] = per_partner
    return overall


def _reached(events: list[DomainEvent], key: tuple[str, ...]) -> set[str]:
    return {"selected" for e in events if (e.partner_id, e.sme_id) == key and e.event_type == "SMESelected"}


def _kpis_of(
    models: dict[str, dict[tuple[str, ...], dict[str, Any]]], selected: set[tuple[str, ...]]
) -> dict[str, Any]:
    smes = {k: v for k, v in models["smes"].items() if k in selected}
    agreements = [a for k, a in models["agreements"].items() if k[:2] in selected]
    return {
        "smes_selected": len(smes),
        "smes_withdrawn": sum(1 for s in smes.values() if s["withdrawn"]),
        "smes_in_matchmaking": sum(1 for s in smes.values() if s["in_matchmaking"]),
        "matchmaking_markets": sorted(
            {k[2] for k, m in models["sme_markets"].items() if k[:2] in selected and m["digital"]}
        ),
        "agreements_by_type": dict(sorted(Counter(a["agreement_type"] for a in agreements).items())),
        "agreements_by_market": dict(sorted(Counter(a["market"] for a in agreements).items())),
        "pilots_in_discussion": sum(
            1 for k, p in models["pilots"].items() if k[:2] in selected and p["status"] == "open"
        ),
        "pilots_stalled": 0,
    }


def reference_funnel(events: list[DomainEvent], partner_id: str, as_of: datetime | None = None) -> dict[str, Any]:
    happened = [e for e in events if as_of is None or e.occurred_at <= as_of]
    models = reference_models(happened)
    selected = {k for k in models["smes"] if k[0] == partner_id and "selected" in _reached(happened, k)}
    rank = {k: STAGES.index(models["smes"][k]["stage"]) for k in selected}
    stages = {name: sum(1 for r in rank.values() if r >= i) for i, name in enumerate(STAGES)}
    by_market: dict[str, dict[str, int]] = {}
    for (partner, sme, code), row in sorted(models["sme_markets"].items()):
        if (partner, sme) not in selected:
            continue
        furthest = max(STAGES.index(s) for s in row["reached"])
        counts = by_market.setdefault(code, {"met": 0, "piloting": 0, "agreement": 0})
        for name in ("met", "piloting", "agreement"):
            counts[name] += furthest >= STAGES.index(name)
    return {"partner_id": partner_id, "stages": stages, "by_market": dict(sorted(by_market.items()))}


def as_of_text(at: datetime) -> str:
    return rfc3339(at)

"""An independent fold of the measure catalogue, straight from the events (no read model, no SQL).

Written from docs/projection-rules.md and docs/programmes.md, not from crm.programmes.measures, so
the two can disagree: each measure's items are (partner_id, key, event_id, counts_from,
counts_until), compared as sets with what the SQL reads back from the projector's tables.
"""

import json
import random
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from crm.contract.decoding import decode_event, encode_event
from crm.contract.events import DomainEvent
from tests.support.histories import history

RefItem = tuple[str, str, UUID, datetime, datetime | None]

# Valid registry codes (compact): a few companies that several partners select.
SHARED_COMPANIES = [("FI", "15728600"), ("EE", "10137025"), ("SE", "5560125790")]


def programme_history(
    seed: int,
    smes: int,
    programmes: list[str],
    *,
    max_meetings: int = 2,
    max_pilots: int = 2,
    shared_ids: float = 0.5,
) -> list[DomainEvent]:
    """`history(seed, smes)` in version 2: each SME in one of `programmes` (all its events name it;
    now and then a later event names another, which must not move it), and about a third of the
    selections carry the business id of one of a few companies several partners share.
    `max_meetings`, `max_pilots` and `shared_ids` as for `history` (the benchmark's SMEs are busier,
    and nearly all of their own)."""
    rng = random.Random(f"programmes-{seed}")  # not `seed`: history() draws its event ids from that
    programme_of: dict[tuple[str, str], str] = {}
    company_of: dict[tuple[str, str], tuple[str, str] | None] = {}
    out = []
    for event in history(seed, smes, max_meetings=max_meetings, max_pilots=max_pilots, shared_ids=shared_ids):
        sme = (event.partner_id, event.sme_id)
        programme = programme_of.setdefault(sme, rng.choice(programmes))
        body: dict[str, Any] = json.loads(encode_event(event))
        named = programme
        if event.event_type != "SMESelected" and rng.random() < 0.05:
            named = rng.choice(programmes)  # a stray programme on a later event
        body |= {"schema_version": 2, "programme_id": named}
        if event.event_type == "SMESelected":
            company = company_of.setdefault(sme, rng.choice(SHARED_COMPANIES) if rng.random() < 0.35 else None)
            if company is not None:
                body["payload"] |= {"country": company[0], "business_id": company[1]}
            if rng.random() < 0.25:  # selected late: facts of the SME count from its selection on
                body["occurred_at"] = (event.occurred_at + timedelta(days=rng.randrange(30, 250))).isoformat()
            if rng.random() < 0.15:  # a later selection corrects the profile (another company)
                later = datetime.fromisoformat(body["occurred_at"]) + timedelta(days=3)
                correction = body | {
                    "event_id": str(UUID(int=rng.getrandbits(128))),
                    "occurred_at": later.isoformat(),
                    "payload": {**body["payload"], "business_id": None},
                }
                out.append(decode_event(json.dumps({**correction, "payload": _without_none(correction["payload"])})))
        out.append(decode_event(json.dumps(body)))
    return out


def _without_none(payload: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if value is not None}


def _key(event: DomainEvent) -> tuple[datetime, UUID]:
    return event.occurred_at, event.event_id


def _unique(events: Iterable[DomainEvent]) -> list[DomainEvent]:
    seen: dict[tuple[str, UUID], DomainEvent] = {}
    for event in events:
        seen.setdefault((event.partner_id, event.event_id), event)
    return sorted(seen.values(), key=_key)


def reference_items(
    events: Iterable[DomainEvent],
    programme_id: str,
    measure: str,
    *,
    agreement_type: str | None = None,
    market: str | None = None,
) -> set[RefItem]:
    events = _unique(events)
    by_sme: dict[tuple[str, str], list[DomainEvent]] = {}
    for event in events:
        by_sme.setdefault((event.partner_id, event.sme_id), []).append(event)

    items: set[RefItem] = set()
    for (partner, sme), own in by_sme.items():
        selections = [e for e in own if e.event_type == "SMESelected"]
        if not selections:
            continue  # not selected (yet): counts nowhere
        first, profile = min(selections, key=_key), max(selections, key=_key)
        if profile.programme_id != programme_id:
            continue
        selected_at = first.occurred_at

        def since(at: datetime) -> datetime:
            return max(at, selected_at)  # noqa: B023

        def earliest(events: list[DomainEvent]) -> DomainEvent | None:
            return min(events, key=_key) if events else None

        digital = [e for e in own if e.event_type == "MeetingHeld" and e.payload.format == "digital"]  # type: ignore[union-attr]
        if measure == "smes_selected":
            items.add((partner, f"{partner}/{sme}", first.event_id, selected_at, None))
        elif measure == "distinct_enterprises_supported":
            business_id = profile.payload.business_id  # type: ignore[union-attr]
            country = profile.payload.country  # type: ignore[union-attr]
            key = f"{partner}/{sme}" if business_id is None else f"{country}:{business_id}"
            items.add((partner, key, first.event_id, selected_at, None))
        elif measure in ("smes_trained", "smes_in_matchmaking"):
            wanted = (
                digital if measure == "smes_in_matchmaking" else [e for e in own if e.event_type == "TrainingCompleted"]
            )
            hit = earliest(wanted)
            if hit is not None:
                items.add((partner, f"{partner}/{sme}", hit.event_id, since(hit.occurred_at), None))
        elif measure == "matchmaking_markets":
            for where in {e.payload.market for e in digital}:  # type: ignore[union-attr]
                hit = earliest([e for e in digital if e.payload.market == where])  # type: ignore[union-attr]
                assert hit is not None
                items.add((partner, where, hit.event_id, since(hit.occurred_at), None))
        elif measure == "meetings_held":
            for e in own:
                if e.event_type == "MeetingHeld":
                    items.add((partner, f"{partner}/{e.event_id}", e.event_id, since(e.occurred_at), None))
        elif measure in ("pilots_opened", "pilots_in_discussion"):
            for pilot in {e.payload.pilot_id for e in own if e.event_type == "PilotOpened"}:  # type: ignore[union-attr]
                of_pilot = [e for e in own if getattr(e.payload, "pilot_id", None) == pilot]
                opened = earliest([e for e in of_pilot if e.event_type == "PilotOpened"])
                closed = earliest([e for e in of_pilot if e.event_type == "PilotClosed"])
                assert opened is not None
                until = closed.occurred_at if closed and measure == "pilots_in_discussion" else None
                items.add((partner, f"{partner}/{sme}/{pilot}", opened.event_id, since(opened.occurred_at), until))
        elif measure in ("agreements", "agreement_markets"):
            signed = [e for e in own if e.event_type == "AgreementSigned"]
            for agreement in {e.payload.agreement_id for e in signed}:  # type: ignore[union-attr]
                copies = [e for e in signed if e.payload.agreement_id == agreement]  # type: ignore[union-attr]
                terms = max(copies, key=_key)
                if agreement_type is not None and terms.payload.agreement_type != agreement_type:  # type: ignore[union-attr]
                    continue
                if market is not None and terms.payload.market != market:  # type: ignore[union-attr]
                    continue
                key = f"{partner}/{sme}/{agreement}" if measure == "agreements" else terms.payload.market  # type: ignore[union-attr]
                signed_at = min(copies, key=_key).occurred_at
                items.add((partner, key, terms.event_id, since(signed_at), None))
        else:
            raise ValueError(f"no reference for measure {measure}")
    return items

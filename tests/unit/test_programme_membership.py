"""Which events a programme takes (`crm.programmes.membership`) and how the gateway's ingestion
refuses the others: 422 for an unknown programme, 403 for a programme without the partner,
whole requests, nothing claimed or published."""

import json
from collections.abc import Sequence

import pytest

from crm.auth.principals import Principal
from crm.contract.events import DomainEvent
from crm.gateway.ingestion import (
    FixedMemberships,
    ForeignProgrammes,
    Limits,
    UnknownProgrammes,
    ingest,
)
from crm.programmes.membership import Memberships, Refusal
from tests.support.events import envelope

MEMBERSHIPS = Memberships({"prog-a": frozenset({"tehnopol", "sisp"}), "prog-b": frozenset({"sisp"})}, "default")
LIMITS = Limits(max_body_bytes=1 << 20, max_events=1000, max_text_length=4000)
TEHNOPOL = Principal(token_id="t", role="partner", partner_id="tehnopol")


def test_a_defined_programme_takes_its_partners_only_and_an_undefined_one_none_but_the_default() -> None:
    assert MEMBERSHIPS.refusal("prog-a", "tehnopol") is None
    assert MEMBERSHIPS.refusal("prog-b", "tehnopol") is Refusal.NOT_A_PARTNER
    assert MEMBERSHIPS.refusal("prog-z", "tehnopol") is Refusal.UNKNOWN
    assert MEMBERSHIPS.refusal("default", "anyone") is None  # no file: the deployment's implicit programme
    defined_default = Memberships({"default": frozenset({"sisp"})}, "default")
    assert defined_default.refusal("default", "sisp") is None
    assert defined_default.refusal("default", "tehnopol") is Refusal.NOT_A_PARTNER  # once defined, its file rules


class Recorder:
    def __init__(self) -> None:
        self.calls: list[list[DomainEvent]] = []

    async def claim(self, events: Sequence[DomainEvent]) -> None:
        self.calls.append(list(events))

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        self.calls.append(list(events))


def v2(programme: str, **overrides: object) -> dict[str, object]:
    return envelope("SMEWithdrawn", schema_version=2, programme_id=programme, **overrides)


async def _ingest(bodies: list[dict[str, object]], recorder: Recorder) -> list[DomainEvent]:
    return await ingest(
        json.dumps(bodies).encode(), TEHNOPOL, LIMITS, recorder, recorder, FixedMemberships(MEMBERSHIPS)
    )


async def test_a_request_with_an_unknown_programme_is_refused_whole_naming_each_event() -> None:
    recorder = Recorder()
    with pytest.raises(UnknownProgrammes) as refused:
        await _ingest([v2("prog-a"), v2("nope"), v2("prog-b"), v2("nope-2")], recorder)
    assert [(p.index, p.field) for p in refused.value.problems] == [(1, "programme_id"), (3, "programme_id")]
    assert refused.value.programmes == ["nope", "nope-2"]
    assert "unknown programme 'nope'" in refused.value.problems[0].message
    assert recorder.calls == []  # nothing claimed, nothing published


async def test_a_request_with_a_programme_without_the_partner_is_refused_whole() -> None:
    recorder = Recorder()
    with pytest.raises(ForeignProgrammes) as refused:
        await _ingest([v2("prog-a"), envelope("SMEWithdrawn"), v2("prog-b")], recorder)
    assert [(p.index, p.field) for p in refused.value.problems] == [(2, "programme_id")]
    assert refused.value.programmes == ["prog-b"]
    assert refused.value.problems[0].message == "partner 'tehnopol' is not a partner of programme 'prog-b'"
    assert recorder.calls == []


async def test_events_of_programmes_that_take_them_are_claimed_and_published() -> None:
    recorder = Recorder()
    events = await _ingest([v2("prog-a"), envelope("SMEWithdrawn"), v2("default")], recorder)
    assert [e.programme_id for e in events] == ["prog-a", "default", "default"]  # the v1 one: the default
    assert recorder.calls == [events, events]

"""Figures and lists per programme, on the real PostgreSQL: events of two programmes (v2) and of the
default one (v1), the same partners in each, written by the projector's store and read by the
figures and the query API (docs/contract.md "Programmes")."""

import json
from collections import Counter
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.db.engine import create_engine
from crm.figures.kpis import partner_funnel, programme_kpis
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.histories import history
from tests.support.query import load_into_read_models, running_query_api
from tests.support.reference import reference_kpis

pytestmark = pytest.mark.infra

PROGRAMMES = ("prog-a", "prog-b", "default")
COUNTS = ("smes_selected", "smes_withdrawn", "smes_in_matchmaking", "pilots_in_discussion", "pilots_stalled")


def v2(event_type: str, programme: str, payload: dict[str, Any] | None = None, **overrides: Any) -> DomainEvent:
    body = envelope(event_type, payload, schema_version=2, programme_id=programme, **overrides)
    return decode_event(json.dumps(body))


def v1(event_type: str, payload: dict[str, Any] | None = None, **overrides: Any) -> DomainEvent:
    return decode_event(json.dumps(envelope(event_type, payload, **overrides)))


def pilot(pilot_id: str, market: str = "CL") -> dict[str, Any]:
    return {"pilot_id": pilot_id, "market": market, "counterpart": "Santiago"}


def agreement(agreement_id: str, agreement_type: str, market: str) -> dict[str, Any]:
    return {"agreement_id": agreement_id, "agreement_type": agreement_type, "market": market, "counterpart": "X"}


def digital(market: str) -> dict[str, Any]:
    return {"market": market, "counterpart": "buyer", "format": "digital"}


# tehnopol and sisp in both programmes; tehnopol in the default one through version-1 events.
EARLY = [
    # sisp/si-late: its pilot and a meeting arrive before its selection, naming prog-b.
    v2("PilotOpened", "prog-b", pilot("p-late", "IN"), partner_id="sisp", sme_id="si-late"),
    v2("MeetingHeld", "prog-b", digital("IN"), partner_id="sisp", sme_id="si-late"),
]
LATER = [
    v2("SMESelected", "prog-a", sme_id="ee-a1", occurred_at="2020-01-10T09:00:00Z"),
    v2("MeetingHeld", "prog-a", digital("CN"), sme_id="ee-a1", occurred_at="2020-02-10T09:00:00Z"),
    v2("PilotOpened", "prog-a", pilot("p-a1"), sme_id="ee-a1", occurred_at="2020-03-10T09:00:00Z"),
    # A partner's mistake: an event of ee-a1 naming prog-b. It applies to ee-a1, in prog-a.
    v2("AgreementSigned", "prog-b", agreement("ag-a1", "sales", "CN"), sme_id="ee-a1"),
    v2("SMESelected", "prog-b", sme_id="ee-b1", occurred_at="2020-01-11T09:00:00Z"),
    v2("PilotOpened", "prog-b", pilot("p-b1", "VN"), sme_id="ee-b1", occurred_at="2020-03-11T09:00:00Z"),
    v2("AgreementSigned", "prog-b", agreement("ag-b1", "licence", "VN"), sme_id="ee-b1"),
    v2("SMEWithdrawn", "prog-b", {}, sme_id="ee-b1", occurred_at="2020-06-11T09:00:00Z"),
    v2("SMESelected", "prog-a", partner_id="sisp", sme_id="si-a2", occurred_at="2020-01-12T09:00:00Z"),
    v2("SMESelected", "prog-b", partner_id="sisp", sme_id="si-b2", occurred_at="2020-01-13T09:00:00Z"),
    v2("MeetingHeld", "prog-b", digital("BR"), partner_id="sisp", sme_id="si-b2"),
    v2("SMESelected", "prog-a", partner_id="sisp", sme_id="si-late", occurred_at="2020-01-01T09:00:00Z"),
    v1("SMESelected", sme_id="ee-d1", occurred_at="2020-01-14T09:00:00Z"),
    v1("PilotOpened", pilot("p-d1", "BR"), sme_id="ee-d1", occurred_at="2020-03-14T09:00:00Z"),
    v1("AgreementSigned", agreement("ag-d1", "sales", "BR"), sme_id="ee-d1"),
]


def _sum(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures of disjoint sets of SMEs added up, in the shape of one report's figures."""
    total: dict[str, Any] = {name: sum(r[name] for r in reports) for name in COUNTS}
    total["matchmaking_markets"] = sorted({m for r in reports for m in r["matchmaking_markets"]})
    for name in ("agreements_by_type", "agreements_by_market"):
        counted: Counter[str] = Counter()
        for report in reports:
            counted.update(report[name])
        total[name] = dict(sorted(counted.items()))
    return total


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    return {
        name: report[name] for name in (*COUNTS, "matchmaking_markets", "agreements_by_type", "agreements_by_market")
    }


async def test_each_programme_counts_its_own_smes_and_the_programmes_add_up_to_the_whole(isolated: Settings) -> None:
    await load_into_read_models(isolated, EARLY, [])
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            early = await programme_kpis(connection, programme_id="prog-b")
            assert early["smes_selected"] == 0  # si-late is in prog-b until its selection, but unselected
        await load_into_read_models(isolated, LATER, [])
        async with engine.connect() as connection:
            whole = await programme_kpis(connection)
            by_programme = {p: await programme_kpis(connection, programme_id=p) for p in PROGRAMMES}
            funnels = {p: await partner_funnel(connection, "tehnopol", programme_id=p) for p in PROGRAMMES}
            unknown = await programme_kpis(connection, programme_id="prog-z")
    finally:
        await engine.dispose()

    a, b, default = by_programme["prog-a"], by_programme["prog-b"], by_programme["default"]
    # prog-a: ee-a1 (its agreement named prog-b), si-a2, si-late (moved there by its selection).
    assert (a["smes_selected"], a["pilots_in_discussion"]) == (3, 2)
    assert a["agreements_by_type"] == {"sales": 1} and a["agreements_by_market"] == {"CN": 1}
    assert a["matchmaking_markets"] == ["CN", "IN"]
    assert sorted(a["partners"]) == ["sisp", "tehnopol"]
    assert (a["partners"]["tehnopol"]["smes_selected"], a["partners"]["sisp"]["smes_selected"]) == (1, 2)
    assert a["partners"]["sisp"]["pilots_in_discussion"] == 1  # si-late's pilot, opened before its selection
    # prog-b: ee-b1 (withdrawn), si-b2.
    assert (b["smes_selected"], b["smes_withdrawn"], b["pilots_in_discussion"]) == (2, 1, 1)
    assert b["agreements_by_type"] == {"licence": 1} and b["matchmaking_markets"] == ["BR"]
    # default: ee-d1, from version-1 events.
    assert (default["smes_selected"], default["agreements_by_market"]) == (1, {"BR": 1})
    assert list(default["partners"]) == ["tehnopol"]
    # Nothing counted twice, nothing lost: the programmes add up to the unfiltered figures.
    assert _sum([a, b, default]) == _figures(whole)
    for partner_id, figures in whole["partners"].items():
        parts = [r["partners"][partner_id] for r in by_programme.values() if partner_id in r["partners"]]
        assert _sum(parts) == _figures(figures), partner_id
    assert unknown["smes_selected"] == 0 and unknown["partners"] == {}
    assert {p: f["stages"]["selected"] for p, f in funnels.items()} == {"prog-a": 1, "prog-b": 1, "default": 1}
    # "At that stage or beyond" per market: CN met and signed, CL piloting.
    assert funnels["prog-a"]["by_market"] == {
        "CL": {"met": 1, "piloting": 1, "agreement": 0},
        "CN": {"met": 1, "piloting": 1, "agreement": 1},
    }
    assert funnels["prog-b"]["stages"]["agreement"] == 1 and "CN" not in funnels["prog-b"]["by_market"]


async def test_the_api_answers_per_programme_as_the_figures_do(isolated: Settings) -> None:
    await load_into_read_models(isolated, EARLY + LATER, [])
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            expected = {p: await programme_kpis(connection, programme_id=p) for p in PROGRAMMES}
            everything = await programme_kpis(connection)
    finally:
        await engine.dispose()
    async with running_query_api(isolated) as api:
        for programme, kpis in expected.items():
            answer = await api.get("/v1/programme/kpis", params={"programme": programme})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body.pop("freshness") and body == kpis, programme
        unfiltered = (await api.get("/v1/programme/kpis")).json()
        assert set(unfiltered) == set(answer.json())  # the same shape, with or without `programme`
        assert unfiltered["smes_selected"] == everything["smes_selected"] == 6

        smes = (await api.get("/v1/partners/sisp/smes", params={"programme": "prog-a"})).json()
        assert [(s["sme_id"], s["programme_id"]) for s in smes["items"]] == [("si-a2", "prog-a"), ("si-late", "prog-a")]
        assert smes["total"] == 2
        every = (await api.get("/v1/partners/tehnopol/smes", api.partner_token)).json()["items"]
        assert {s["sme_id"]: s["programme_id"] for s in every} == {
            "ee-a1": "prog-a",
            "ee-b1": "prog-b",
            "ee-d1": "default",
        }
        detail = (await api.get("/v1/partners/sisp/smes/si-late")).json()
        assert detail["programme_id"] == "prog-a" and len(detail["timeline"]) == 3
        csv = await api.get("/v1/partners/tehnopol/smes", params={"programme": "default", "format": "csv"})
        header, row = csv.text.splitlines()[:2]
        assert "programme_id" in header.split(",") and "ee-d1" in row and "default" in row.split(",")

        pilots = (await api.get("/v1/partners/tehnopol/pilots", params={"programme": "prog-b"})).json()
        assert [p["pilot_id"] for p in pilots["items"]] == ["p-b1"] and pilots["total"] == 1
        deals = (await api.get("/v1/partners/tehnopol/agreements", params={"programme": "prog-a"})).json()
        assert [d["agreement_id"] for d in deals["items"]] == ["ag-a1"]  # named prog-b, of a prog-a SME
        assert (await api.get("/v1/partners/tehnopol/agreements", params={"programme": "prog-b"})).json()["total"] == 1
        funnel = await api.get("/v1/partners/sisp/funnel", api.other_partner_token, params={"programme": "prog-b"})
        assert funnel.status_code == 200 and funnel.json()["stages"]["selected"] == 1

        # Roles as without the parameter; a bad programme is a 422 naming it.
        refused = await api.get("/v1/programme/kpis", api.partner_token, params={"programme": "prog-a"})
        assert refused.status_code == 403
        for path in ("/v1/programme/kpis", "/v1/partners/tehnopol/smes", "/v1/partners/tehnopol/pilots"):
            for bad in ("Prog_A", "x", "a" * 65):
                answer = await api.get(path, params={"programme": bad})
                assert answer.status_code == 422 and "programme" in answer.text, (path, bad, answer.text)


async def test_random_histories_of_several_programmes_give_the_reference_figures_per_programme(
    isolated: Settings,
) -> None:
    events = history(seed=11, smes=40, programmes=PROGRAMMES)
    await load_into_read_models(isolated, events[::-1], [])  # their SMEs' selections last
    engine = create_engine(isolated.database_url, pool_size=1)
    try:
        async with engine.connect() as connection:
            for programme in PROGRAMMES:
                found = await programme_kpis(connection, programme_id=programme)
                expected = reference_kpis(events, programme_id=programme)
                assert found["smes_selected"] > 0, programme
                assert _figures(found) == _figures(expected), programme
                assert {p: _figures(f) for p, f in found["partners"].items()} == {
                    p: _figures(f) for p, f in expected["partners"].items()
                }, programme
    finally:
        await engine.dispose()

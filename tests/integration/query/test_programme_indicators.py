"""`GET /v1/programmes/{id}/indicators` and `.../evidence` on the real PostgreSQL, with the
4SmartGrowth replay and its programme file: the seed's figures, per period, and each role's slice."""

from pathlib import Path
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.contract.upcasting import UpcastContext
from crm.db.engine import create_engine
from crm.demo.scenario import default_scenario_path, load_scenario
from crm.programmes.loading import load_programme
from crm.programmes.store import ProgrammeStore
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.query import load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

PROGRAMME = Path(__file__).resolve().parents[3] / "scenario" / "4smartgrowth" / "programme.toml"
INDICATORS = "/v1/programmes/4smartgrowth/indicators"


async def load(settings: Settings) -> dict[str, Any]:
    scenario = load_scenario(default_scenario_path())
    context = UpcastContext("4smartgrowth")  # the replay's version-1 lines belong to the programme
    events = [
        decode_event(line, context)
        for partner_id, feed in scenario.feeds.items()
        for number, line in feed.numbered()
        if scenario.refused(partner_id, number) is None
    ]
    await load_into_read_models(settings, events, [])
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await ProgrammeStore(engine).apply(load_programme(PROGRAMME), "test")
    finally:
        await engine.dispose()
    return scenario.expected.kpis


def by_code(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {indicator["code"]: indicator for indicator in body["indicators"]}


async def test_the_indicators_reproduce_the_seed_per_period_and_each_partner_sees_its_own(isolated: Settings) -> None:
    kpis = await load(isolated)
    _, outsider = await create_token(isolated, "vasteras-science-park")
    _, stranger = await create_token(isolated, "not-in-it")
    async with running_query_api(isolated) as api:
        analyst = await api.get(INDICATORS)
        partner = await api.get(INDICATORS, token=api.partner_token)  # tehnopol
        vasteras = await api.get(INDICATORS, token=outsider)
        refused = await api.get(INDICATORS, token=stranger)
        unknown = await api.get("/v1/programmes/nope/indicators")
        no_period = await api.get(INDICATORS, params={"period": 7})
        early = await api.get(INDICATORS, params={"as_of": "2020-06-30T23:59:59Z", "period": 3})

    assert analyst.status_code == 200, analyst.text
    figures = by_code(analyst.json())
    final = {code: indicator["periods"][-1]["value"] for code, indicator in figures.items()}
    assert final["OUT-2"] == kpis["smes_selected"] == 54
    assert final["OUT-1"] == kpis["smes_in_matchmaking"] == 35
    assert final["RES-1"] == kpis["agreements_by_type"]["sales"] == 3
    assert final["RES-2"] == 2  # sales in CN and CL: the funder's target of 3 markets is not met
    assert final["RES-3"] == kpis["agreements_by_type"]["commercial_representation"] == 2
    assert final["OUT-5"] == kpis["pilots_in_discussion"] == 41
    # Each period's cumulative value never falls; the per-partner values add up (SMEs are not shared).
    selected = [p["value"] for p in figures["OUT-2"]["periods"]]
    assert selected == sorted(selected) and selected[0] > 0
    for period in figures["OUT-1"]["periods"]:
        assert sum(period["by_partner"].values()) == period["value"]
    assert figures["OUT-1"]["target"] == 30 and figures["OUT-1"]["periods"][3]["milestone"] == 20
    # In-period meetings add up to every meeting.
    assert sum(p["value"] for p in figures["OUT-4"]["periods"]) > 0

    assert partner.status_code == 200
    own = by_code(partner.json())
    assert partner.json()["partner_id"] == "tehnopol"
    for code, indicator in own.items():
        assert "by_partner" not in indicator["periods"][-1]
        assert indicator["partner_targets"] is None
        assert [p["value"] for p in indicator["periods"]] == [
            p["by_partner"]["tehnopol"] for p in figures[code]["periods"]
        ]
    assert by_code(vasteras.json())["RES-1"]["periods"][-1]["value"] == 1  # se-kraftbyte, Santiago
    assert (refused.status_code, unknown.status_code, no_period.status_code) == (403, 404, 404)
    assert early.status_code == 200
    (period_3,) = by_code(early.json())["OUT-1"]["periods"]
    assert period_3["number"] == 3 and 0 < period_3["value"] < 35


async def test_the_evidence_lists_what_counts_with_its_event_and_only_ones_own(isolated: Settings) -> None:
    await load(isolated)
    path = f"{INDICATORS}/RES-1/evidence"
    async with running_query_api(isolated) as api:
        everything = await api.get(path, params={"period": 6})
        one = await api.get(path, params={"period": 6, "partner": "tehnopol"})
        mine = await api.get(path, params={"period": 6}, token=api.partner_token)
        theirs = await api.get(path, params={"period": 6, "partner": "sisp"}, token=api.partner_token)
        missing = await api.get(f"{INDICATORS}/NOPE/evidence", params={"period": 1})
        before = await api.get(path, params={"period": 4, "as_of": "2019-01-01T00:00:00Z"})

    assert everything.status_code == 200, everything.text
    body = everything.json()
    assert body["count"] == 3
    assert {(i["partner_id"], i["sme_id"]) for i in body["items"]} == {
        ("tehnopol", "ee-valgus"),
        ("turku-science-park", "fi-aurajoki"),
        ("vasteras-science-park", "se-kraftbyte"),
    }
    assert all(i["kind"] == "agreement" and i["event_id"] for i in body["items"])
    assert [i["sme_id"] for i in one.json()["items"]] == ["ee-valgus"]
    assert mine.json()["items"] == one.json()["items"]
    assert theirs.status_code == 403
    assert missing.status_code == 404
    assert before.json()["items"] == []

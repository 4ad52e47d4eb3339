"""The query API over the 4SmartGrowth scenario: the funder's figures, as of a date, reproducibly."""

import json
from pathlib import Path
from typing import Any

import pytest

from crm.contract.decoding import decode_event
from crm.programmes.definition import Indicator, Programme
from crm.programmes.loading import load_programme
from crm.settings import Settings
from tests.support.events import envelope
from tests.support.programmes import apply_programme
from tests.support.query import load_4smartgrowth, load_into_read_models, running_query_api

pytestmark = pytest.mark.infra

_EXTRA = ("progress", "freshness")
PROGRAMME = Path(__file__).resolve().parents[3] / "scenario" / "4smartgrowth" / "programme.toml"


def by_code(programme: Programme) -> dict[str, Indicator]:
    return {indicator.code: indicator for indicator in programme.indicators}


def contract_fields(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures without the fields this API adds to the contract shape."""
    kept = {k: v for k, v in figures.items() if k not in _EXTRA}
    if "partners" in kept:
        kept["partners"] = {p: contract_fields(f) for p, f in kept["partners"].items()}
    return kept


async def test_kpis_and_funnels_equal_the_scenario_figures_and_are_reproducible_as_of_a_date(
    isolated: Settings,
) -> None:
    scenario = await load_4smartgrowth(isolated, "4smartgrowth")
    async with running_query_api(isolated) as api:
        unset = (await api.get("/v1/programme/kpis", params={"programme": "4smartgrowth"})).json()
        await apply_programme(isolated, PROGRAMME.read_text())
        kpis = (await api.get("/v1/programme/kpis", params={"as_of": "2021-12-31T23:59:59Z"})).json()
        assert contract_fields(kpis) == scenario.expected.kpis
        ours = (await api.get("/v1/programme/kpis", params={"programme": "4smartgrowth"})).json()
        # The targets are the programme file's, once it is applied; none before, nor for the
        # deployment's default programme (`default`), which has no file here.
        targets = {code: indicator.target for code, indicator in by_code(load_programme(PROGRAMME)).items()}
        assert {figure: value["target"] for figure, value in ours["progress"].items()} == {
            "smes_on_export_missions": targets["OUT-1"],
            "sales_agreements": targets["RES-1"],
            "sales_agreement_markets": targets["RES-2"],
        }
        assert ours["progress"]["sales_agreements"]["actual"] == scenario.expected.kpis["agreements_by_type"]["sales"]
        assert {value["target"] for value in unset["progress"].values()} == {None}
        assert {value["target"] for value in kpis["progress"].values()} == {None}
        assert kpis["freshness"]["newest_event_at"] is not None
        for partner_id, expected in scenario.expected.funnels.items():
            funnel = (await api.get(f"/v1/partners/{partner_id}/funnel", params={"as_of": "2021-12-31"})).json()
            expected_markets = {m: s for m, s in expected["by_market"].items() if any(s.values())}
            assert funnel["stages"] == expected["stages"], partner_id
            assert funnel["by_market"] == expected_markets, partner_id

        earlier = (await api.get("/v1/programme/kpis", params={"as_of": "2019-12-31"})).json()
        assert earlier["as_of"] == "2019-12-31T23:59:59.999999Z"
        assert 0 < earlier["smes_selected"] < kpis["smes_selected"]
        csv_before = (await api.get("/v1/programme/kpis", params={"as_of": "2019-12-31", "format": "csv"})).text

        before = (await api.get("/v1/programme/kpis")).json()  # cached from here on, until a write
        assert (await api.get("/v1/programme/kpis")).json()["smes_selected"] == before["smes_selected"]
        # Events arriving later about 2022 do not change the report for 2019.
        later = [
            envelope("SMESelected", partner_id="sisp", sme_id="late-sme", occurred_at="2022-03-01T09:00:00Z"),
            envelope("AgreementSigned", partner_id="sisp", sme_id="late-sme", occurred_at="2022-03-02T09:00:00Z"),
        ]
        await load_into_read_models(isolated, [decode_event(json.dumps(e)) for e in later], [])
        again = (await api.get("/v1/programme/kpis", params={"as_of": "2019-12-31"})).json()
        assert contract_fields(again) == contract_fields(earlier)
        assert (await api.get("/v1/programme/kpis", params={"as_of": "2019-12-31", "format": "csv"})).text == csv_before
        now = (await api.get("/v1/programme/kpis")).json()
        assert now["smes_selected"] == before["smes_selected"] + 1  # the cache never serves stale figures
        assert now["as_of"] == "2022-03-02T09:00:00Z"  # the newest event time when none is given

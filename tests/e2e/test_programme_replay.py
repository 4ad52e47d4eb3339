"""The whole programme through the real pipeline: gateway, Kafka, projector, alerts, query API."""

import io

import pytest
from rich.console import Console

from crm.demo.runner import replay_programme
from crm.demo.scenario import default_scenario_path, load_scenario
from crm.programmes.loading import load_programme
from crm.settings import Settings

pytestmark = pytest.mark.infra


def test_the_replayed_programme_shows_the_seed_figures_through_the_query_api(isolated: Settings) -> None:
    scenario = load_scenario(default_scenario_path())
    result = replay_programme(isolated, scenario, Console(file=io.StringIO()), timeout=240)

    # The seed's published results, read back from GET /v1/programme/kpis.
    assert result.kpis["smes_in_matchmaking"] == 35
    assert result.kpis["matchmaking_markets"] == ["CL", "CN", "VN"]
    assert result.kpis["agreements_by_type"] == {"sales": 3, "commercial_representation": 2}
    assert {k: v for k, v in result.kpis["agreements_by_market"].items() if v} == scenario.expected.kpis[
        "agreements_by_market"
    ]
    assert result.kpis["pilots_in_discussion"] == 41
    # The targets, from the scenario's programme file the replay applied (the default programme).
    target = {i.code: i.target for i in load_programme(scenario.path / "programme.toml").indicators}
    assert result.kpis["progress"] == {
        "smes_on_export_missions": {"actual": 35, "target": target["OUT-1"]},
        "sales_agreements": {"actual": 3, "target": target["RES-1"]},
        "sales_agreement_markets": {"actual": 2, "target": target["RES-2"]},
    }
    # Everything else the scenario states, overall, per partner and per funnel, and the refusals.
    mismatches = [c for c in result.checks if not c.matches]
    assert mismatches == []
    assert len(result.stalled) == scenario.expected.kpis["pilots_stalled"]
    assert [(r.partner_id, r.line) for r in result.replay.refused] == sorted(
        (i.partner_id, i.line) for i in scenario.expected.invalid
    )
    # Each period's report frozen at its deadline; the late events restate, never change, them.
    assert sorted(result.reports.frozen) == [1, 2, 3, 4, 5, 6]
    assert len([c for c in result.checks if c.scope == "reports"]) >= 6 + 4  # unchanged x6, the seed's 4
    restated = [change for changes in result.reports.restatements.values() for change in changes]
    assert restated and all(change["events"] for change in restated)
    assert (result.reports_dir / "4smartgrowth-period-6.json").read_bytes() == result.reports.frozen[6]

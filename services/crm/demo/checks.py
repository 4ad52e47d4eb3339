"""Compare what the pipeline shows with what the scenario expects (pure; no I/O)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm.demo.replay import Refusal
from crm.demo.scenario import Scenario

KPI_FIGURES = (
    "smes_selected",
    "smes_withdrawn",
    "smes_in_matchmaking",
    "matchmaking_markets",
    "agreements_by_type",
    "agreements_by_market",
    "pilots_in_discussion",
    "pilots_stalled",
)


@dataclass(frozen=True, slots=True)
class FigureCheck:
    scope: str  # "programme" or a partner id
    figure: str
    expected: Any
    actual: Any

    @property
    def matches(self) -> bool:
        return bool(_normalised(self.expected) == _normalised(self.actual))


def _normalised(value: Any) -> Any:
    """Zero counts may be omitted from `*_by_*` maps (docs/contract.md): compare them as absent."""
    if isinstance(value, Mapping):
        return {key: _normalised(item) for key, item in value.items() if item not in (0, None)}
    if isinstance(value, list):
        return sorted(value)
    return value


def check_kpis(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[FigureCheck]:
    checks = [FigureCheck("programme", name, expected.get(name), actual.get(name)) for name in KPI_FIGURES]
    actual_partners = actual.get("partners", {})
    for partner_id, figures in sorted(expected.get("partners", {}).items()):
        mine = actual_partners.get(partner_id, {})
        checks += [FigureCheck(partner_id, name, figures.get(name), mine.get(name)) for name in KPI_FIGURES]
    return checks


def check_funnels(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[FigureCheck]:
    checks = []
    for partner_id, funnel in sorted(expected.items()):
        mine = actual.get(partner_id, {})
        checks.append(FigureCheck(partner_id, "funnel.stages", funnel["stages"], mine.get("stages")))
        checks.append(FigureCheck(partner_id, "funnel.by_market", funnel["by_market"], mine.get("by_market")))
    return checks


def check_refusals(scenario: Scenario, refusals: list[Refusal]) -> list[FigureCheck]:
    """Exactly the intended invalid lines were refused, each naming the intended field."""
    expected = sorted((i.partner_id, i.line, i.field) for i in scenario.expected.invalid)
    actual = sorted(
        (r.partner_id, r.line, str(r.problems[0].get("field", "?")) if r.problems else "?") for r in refusals
    )
    return [FigureCheck("gateway", "refused lines (partner, line, field)", expected, actual)]

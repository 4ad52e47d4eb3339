"""Print the demo's report: the funder's figures beside the expected ones, funnels, stalled pilots."""

from typing import Any

from rich.console import Console
from rich.table import Table

from crm.demo.checks import FigureCheck
from crm.demo.replay import ReplayReport
from crm.demo.scenario import Scenario

STAGES = ("selected", "trained", "met", "piloting", "agreement")
# The figures the seed (the programme's published results) states, as opposed to the ones the
# scenario adds around them.
SEED_FIGURES = {
    "smes_in_matchmaking",
    "matchmaking_markets",
    "agreements_by_type",
    "agreements_by_market",
    "pilots_in_discussion",
}


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()) if v) or "—"
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)


def _mark(check: FigureCheck) -> str:
    return "[green]match[/green]" if check.matches else "[bold red]MISMATCH[/bold red]"


def print_report(
    console: Console,
    scenario: Scenario,
    replay: ReplayReport,
    kpis: dict[str, Any],
    funnels: dict[str, dict[str, Any]],
    stalled: list[dict[str, Any]],
    checks: list[FigureCheck],
) -> None:
    programme = Table(title=f"Programme KPIs as of {kpis.get('as_of', '?')} (GET /v1/programme/kpis)")
    for column in ("figure", "expected", "source", "pipeline", ""):
        programme.add_column(column)
    for check in (c for c in checks if c.scope == "programme"):
        source = "seed" if check.figure in SEED_FIGURES else "scenario"
        programme.add_row(check.figure, _show(check.expected), source, _show(check.actual), _mark(check))
    console.print(programme)

    targets = Table(title="Against the programme's targets (GET /v1/programme/kpis)")
    for column in ("figure", "pipeline", "target"):
        targets.add_column(column)
    for figure, progress in kpis.get("progress", {}).items():
        targets.add_row(figure, _show(progress.get("actual")), _show(progress.get("target")))
    console.print(targets)

    partners = Table(title="Per partner (pipeline figures; every one checked against the scenario)")
    for column in (
        "partner",
        "selected",
        "withdrawn",
        "in matchmaking",
        "markets",
        "agreements",
        "pilots open",
        "stalled",
        "",
    ):
        partners.add_column(column)
    for partner_id, figures in sorted(kpis.get("partners", {}).items()):
        mine = [c for c in checks if c.scope == partner_id]
        ok = all(c.matches for c in mine)
        partners.add_row(
            partner_id,
            _show(figures.get("smes_selected")),
            _show(figures.get("smes_withdrawn")),
            _show(figures.get("smes_in_matchmaking")),
            _show(figures.get("matchmaking_markets")),
            _show(figures.get("agreements_by_type")),
            _show(figures.get("pilots_in_discussion")),
            _show(figures.get("pilots_stalled")),
            "[green]match[/green]" if ok else "[bold red]MISMATCH[/bold red]",
        )
    console.print(partners)

    funnel_table = Table(
        title="Funnel per partner: SMEs that reached each stage or beyond (GET /v1/partners/{id}/funnel)"
    )
    funnel_table.add_column("partner")
    for stage in STAGES:
        funnel_table.add_column(stage, justify="right")
    funnel_table.add_column("by market (met/piloting/agreement)")
    funnel_table.add_column("")
    for partner_id, funnel in sorted(funnels.items()):
        stages = funnel.get("stages", {})
        by_market = "; ".join(
            f"{m} {v.get('met', 0)}/{v.get('piloting', 0)}/{v.get('agreement', 0)}"
            for m, v in sorted(funnel.get("by_market", {}).items())
        )
        ok = all(c.matches for c in checks if c.scope == partner_id and c.figure.startswith("funnel"))
        funnel_table.add_row(
            partner_id,
            *(str(stages.get(s, 0)) for s in STAGES),
            by_market,
            "[green]match[/green]" if ok else "[bold red]MISMATCH[/bold red]",
        )
    console.print(funnel_table)

    stalled_table = Table(title=f"Pilots stalled at the end of the programme ({len(stalled)}, event time)")
    for column in ("partner", "pilot", "SME", "market", "counterpart", "last activity", "idle days"):
        stalled_table.add_column(column)
    for pilot in sorted(
        stalled, key=lambda p: (-(p.get("idle_days") or 0), p.get("partner_id", ""), p.get("pilot_id", ""))
    ):
        stalled_table.add_row(
            pilot.get("partner_id", ""),
            pilot.get("pilot_id", ""),
            pilot.get("sme_id", ""),
            " · ".join(filter(None, [pilot.get("market"), pilot.get("region")])),
            pilot.get("counterpart") or "",
            str(pilot.get("last_activity_at", ""))[:10],
            str(pilot.get("idle_days", "")),
        )
    console.print(stalled_table)

    refused = Table(title=f"Refused by the gateway ({len(replay.refused)} of {replay.sent} requests)")
    for column in ("partner", "line", "status", "field", "reason"):
        refused.add_column(column)
    for refusal in replay.refused:
        for problem in refusal.problems:
            refused.add_row(
                refusal.partner_id,
                str(refusal.line),
                str(refusal.status),
                str(problem.get("field", "")),
                str(problem.get("message", "")),
            )
    console.print(refused)
    for check in checks:
        if check.scope in ("gateway", "projector"):
            console.print(
                f"{check.figure}: expected {_show(check.expected)}, got {_show(check.actual)} — {_mark(check)}"
            )
    console.print(
        f"Sent {replay.sent} requests ({scenario.expected.feed['total']['duplicates']} duplicate sends among them), "
        f"{replay.accepted} events accepted, {replay.retried} retried after a 503."
    )
    console.print(
        "To explore the data yourself: [bold]make up[/bold], then `crm tokens create --analyst` and open "
        "http://127.0.0.1:8001/ (the dashboard) and paste the token; the demo's own stack has been stopped."
    )

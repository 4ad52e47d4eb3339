"""The demo's funder reports: each period frozen at its deadline, then restated and written out.

`freeze_period` is called by the replay when every partner's clock passed a period's report
deadline (`crm.demo.periods`): the lead partner freezes it over HTTP, as a consortium would.
After the replay, `collect` reads each report back (the bytes must not have changed), its
restatements and its exports, and writes them under `.crm/demo/reports/`.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.table import Table

from crm.demo.checks import FigureCheck
from crm.programmes.definition import Measure, Programme

WRITTEN_FORMATS = ("json", "html", "xlsx")
"""What the demo writes per period (those the exports know)."""
# The seed's results, as the final report's indicators show them (their measure and filter).
FINAL_FIGURES = {
    (Measure.SMES_IN_MATCHMAKING, None): ("smes_in_matchmaking", None),
    (Measure.AGREEMENTS, "sales"): ("agreements_by_type", "sales"),
    (Measure.AGREEMENTS, "commercial_representation"): ("agreements_by_type", "commercial_representation"),
    (Measure.PILOTS_IN_DISCUSSION, None): ("pilots_in_discussion", None),
}


@dataclass
class DemoReports:
    programme: Programme
    frozen: dict[int, bytes] = field(default_factory=dict)
    restatements: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    """What `write` puts in the reports directory, by file name."""
    unchanged: dict[int, bool] = field(default_factory=dict)


async def freeze_period(query_url: str, token: str, programme_id: str, period: int) -> bytes:
    async with httpx.AsyncClient(base_url=query_url, timeout=60.0) as client:
        response = await client.post(
            f"/v1/programmes/{programme_id}/reports/{period}/freeze", headers={"Authorization": f"Bearer {token}"}
        )
        response.raise_for_status()
        return response.content


async def collect(query_url: str, analyst: str, reports: DemoReports) -> None:
    """Read every frozen report back, its restatements and exports (into `reports.files`)."""
    programme_id = reports.programme.id
    headers = {"Authorization": f"Bearer {analyst}"}
    async with httpx.AsyncClient(base_url=query_url, timeout=60.0, headers=headers) as client:
        for period, frozen in sorted(reports.frozen.items()):
            base = f"/v1/programmes/{programme_id}/reports/{period}"
            now = await client.get(base)
            reports.unchanged[period] = now.content == frozen
            restated = await client.get(f"{base}/restatements")
            restated.raise_for_status()
            reports.restatements[period] = restated.json()["restatements"]
            for name in WRITTEN_FORMATS:
                exported = await client.get(f"{base}/export", params={"format": name})
                if exported.status_code == 422:  # a format this build cannot export
                    continue
                exported.raise_for_status()
                reports.files[f"{programme_id}-period-{period}.{name}"] = exported.content
            restatements = orjson.dumps(restated.json(), option=orjson.OPT_INDENT_2)
            reports.files[f"{programme_id}-period-{period}-restatements.json"] = restatements


def write(reports: DemoReports, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in reports.files.items():
        (directory / name).write_bytes(content)


def check_reports(reports: DemoReports, expected_kpis: dict[str, Any]) -> list[FigureCheck]:
    """Each period frozen and unchanged since; the last one shows the seed's results."""
    checks = [
        FigureCheck("reports", f"period {p.number} frozen at its deadline, unchanged since", True,
                    reports.unchanged.get(p.number, False))
        for p in reports.programme.periods
    ]  # fmt: skip
    last = reports.programme.periods[-1].number
    if last not in reports.frozen:
        return checks
    final = orjson.loads(reports.frozen[last])
    for indicator in final["indicators"]:
        seed = FINAL_FIGURES.get((Measure(indicator["measure"]), indicator["agreement_type"]))
        if seed is None or indicator["market"] is not None:
            continue
        figure, key = seed
        expected = expected_kpis[figure] if key is None else expected_kpis[figure].get(key, 0)
        checks.append(
            FigureCheck("reports", f"final report {indicator['code']} ({figure})", expected, indicator["cumulative"])
        )
    return checks


def print_reports(console: Console, reports: DemoReports, directory: Path) -> None:
    periods = [p for p in reports.programme.periods if p.number in reports.frozen]
    documents = {p.number: orjson.loads(reports.frozen[p.number]) for p in periods}
    table = Table(title=f"Funder reports of {reports.programme.id}, each frozen at its report deadline (event time)")
    table.add_column("indicator")
    table.add_column("target", justify="right")
    for period in periods:
        table.add_column(f"P{period.number}", justify="right")
    for indicator in reports.programme.indicators:
        cells = []
        for period in periods:
            found = next(i for i in documents[period.number]["indicators"] if i["code"] == indicator.code)
            cells.append(f"{found['cumulative']} +{found['this_period']}")
        table.add_row(indicator.code, _number(indicator.target), *cells)
    table.add_row("restated figures", "", *(str(len(reports.restatements.get(p.number, []))) for p in periods))
    console.print(table)
    console.print("Each cell: the cumulative value at the period's end, +this period's, as frozen.")
    restated = [(p, r) for p, changes in sorted(reports.restatements.items()) for r in changes]
    if restated:
        changes = Table(title="Restatements: what late events changed after their report was frozen")
        for column in ("P", "indicator", "figure", "whose", "frozen", "today", "events responsible"):
            changes.add_column(column)
        for number, change in restated:
            changes.add_row(
                str(number),
                change["indicator"],
                change["figure"].replace("_", " "),
                change["partner_id"] or "all",
                str(change["frozen"]),
                str(change["today"]),
                "; ".join(f"{e['event_type']} {e['occurred_at'][:10]} ({e['partner_id']})" for e in change["events"]),
            )
        console.print(changes)
    else:
        console.print("No late event changed a frozen report.")
    console.print(f"Reports and restatements written to {directory} ({len(reports.files)} files).")


def _number(value: object) -> str:
    text = str(value)
    return text[:-3] if text.endswith(".00") else text

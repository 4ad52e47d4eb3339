"""`crm demo`: replay the 4SmartGrowth programme through the whole pipeline and check every figure.

Starts Kafka, PostgreSQL and every service as separate processes (fresh state under
`.crm/demo/`), creates one token per partner, sends each partner's feed through the HTTP gateway,
waits until the read models are current, then sets the alerts clock to the end of the programme
and prints the funder's report beside the expected figures. Exit code 0 only if all match.

The programme's definition (`scenario/<name>/programme.toml`) is applied first, and the feeds are
sent in stretches cut at the report deadlines (`crm.demo.periods`): after each, the lead partner
freezes the period's report, so the late events arrive after their period was frozen and show as
restatements. The reports (JSON, HTML, XLSX) and their restatements end up in `.crm/demo/reports/`.
"""

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import structlog
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select

from crm.auth.tokens import TokenStore
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.demo.checks import FigureCheck, check_funnels, check_kpis, check_refusals
from crm.demo.periods import stretches
from crm.demo.replay import ReplayReport, replay_scenario
from crm.demo.report import print_report
from crm.demo.reports import DemoReports, check_reports, collect, freeze_period, print_reports, write
from crm.demo.scenario import Scenario, default_scenario_path, load_scenario
from crm.local.pipeline import RunningPipeline, running_pipeline, stack_record, wait_for_http_services
from crm.local.processes import free_port
from crm.local.stack_file import published_stack, stack_file_path
from crm.logs import configure_logging
from crm.programmes.definition import Programme
from crm.programmes.loading import load_programme
from crm.programmes.store import ProgrammeStore
from crm.settings import Settings

log = structlog.get_logger(__name__)
T = TypeVar("T")

SERVICES = ("projector", "alerts", "gateway", "query")
PROGRAMME_FILE = "programme.toml"


@dataclass
class DemoResult:
    replay: ReplayReport
    kpis: dict[str, Any]
    funnels: dict[str, dict[str, Any]]
    stalled: list[dict[str, Any]]
    checks: list[FigureCheck]
    logs: Path
    reports: DemoReports
    reports_dir: Path


def demo_settings(settings: Settings) -> Settings:
    """A fresh, private run: its own state directory, free HTTP ports, the alerts clock in a file."""
    state_dir = settings.state_dir / "demo"
    shutil.rmtree(state_dir, ignore_errors=True)
    suffix = str(int(time.time()))
    updates: dict[str, Any] = {
        "state_dir": state_dir,
        "gateway_port": free_port(settings.bind_host),
        "query_port": free_port(settings.bind_host),
        "alerts_clock": "file",
        "alerts_clock_file": (state_dir / "alerts-clock").resolve(),
    }
    if settings.kafka_bootstrap:  # an external cluster: keep this run's events to itself
        updates |= {
            "events_topic": f"crm-demo-{suffix}.events",
            "alerts_topic": f"crm-demo-{suffix}.alerts",
            "dlq_topic": f"crm-demo-{suffix}.events.dlq",
            "projector_group": f"crm-demo-{suffix}-projector",
            "alerts_group": f"crm-demo-{suffix}-alerts",
        }
    return settings.model_copy(update=updates)


def run_demo(settings: Settings, *, timeout: float = 180.0) -> int:
    """`crm demo`: returns the exit code, 0 only when every figure matches."""
    configure_logging("warning", "console")
    console = Console()
    scenario = load_scenario(default_scenario_path())
    console.rule(f"SmartGrowth CRM demo: the {scenario.name} programme, replayed")
    result = replay_programme(settings, scenario, console, timeout=timeout)
    print_report(console, scenario, result.replay, result.kpis, result.funnels, result.stalled, result.checks)
    print_reports(console, result.reports, result.reports_dir)
    failed = [check for check in result.checks if not check.matches]
    if failed:
        console.print(f"[bold red]{len(failed)} figure(s) do not match.[/bold red] Logs: {result.logs}")
        return 1
    console.print(f"[bold green]Every figure matches ({len(result.checks)} checks).[/bold green]")
    return 0


def replay_programme(settings: Settings, scenario: Scenario, console: Console, *, timeout: float = 180.0) -> DemoResult:
    """Start the pipeline on a fresh state, replay `scenario` through it, stop it; the figures."""
    programme = load_programme(scenario.path / PROGRAMME_FILE)
    # While it runs, other `crm` commands find the demo's stack where they find `crm up`'s.
    stack_file = stack_file_path(settings.state_dir)
    embedded_database = settings.database_url is None
    # The replay's version-1 lines name no programme: they are the scenario's, the default here.
    settings = demo_settings(settings).model_copy(update={"default_programme": programme.id})
    with console.status("Starting Kafka, PostgreSQL, projector, alerts, gateway and query API..."):
        context = running_pipeline(settings, services=SERVICES)
        pipeline = context.__enter__()
    try:
        with published_stack(stack_file, stack_record(pipeline, embedded_database=embedded_database)):
            return _run(console, scenario, pipeline, timeout, programme)
    finally:
        with console.status("Stopping every process started..."):
            context.__exit__(None, None, None)


def _run(
    console: Console, scenario: Scenario, pipeline: RunningPipeline, timeout: float, programme: Programme
) -> DemoResult:
    live = pipeline.settings
    gateway_url = f"http://{live.bind_host}:{live.gateway_port}"
    query_url = f"http://{live.bind_host}:{live.query_port}"
    wait_for_http_services(pipeline)
    tokens, analyst = asyncio.run(_create_tokens(live, list(scenario.feeds)))
    console.print(f"Created {len(tokens)} partner tokens and one analyst token.")
    version = asyncio.run(_apply_programme(live, programme))
    console.print(f"Applied the programme {programme.id} ({PROGRAMME_FILE}), version {version}: "
                  f"{len(programme.periods)} periods, {len(programme.indicators)} indicators, "
                  f"lead partner {programme.lead}.")  # fmt: skip
    reports = DemoReports(programme)
    by_deadline = {p.report_deadline: p.number for p in programme.periods}

    total_lines = sum(len(feed.lines) for feed in scenario.feeds.values())
    replay = ReplayReport()
    with Progress(
        TextColumn("Sending partner feeds through the gateway"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console,
    ) as progress:  # fmt: skip
        task = progress.add_task("send", total=total_lines)
        for stretch in stretches(scenario, list(by_deadline)):
            asyncio.run(
                replay_scenario(
                    scenario, gateway_url, tokens, on_sent=lambda: progress.advance(task), lines=stretch.lines,
                    report=replay,
                )
            )  # fmt: skip
            if stretch.deadline is None:
                continue
            wanted = len(replay.accepted_ids)
            asyncio.run(_wait_for(lambda: _applied_count(live), lambda n: n >= wanted, timeout))  # noqa: B023
            period = by_deadline[stretch.deadline]
            reports.frozen[period] = asyncio.run(freeze_period(query_url, tokens[programme.lead], programme.id, period))
            progress.console.print(
                f"Period {period} frozen at its deadline {stretch.deadline} by {programme.lead} "
                f"({wanted} events applied by then)"
            )
    distinct = int(scenario.expected.feed["total"]["distinct_events"])
    with console.status(f"Waiting for the projector to apply {distinct} distinct events..."):
        applied = asyncio.run(_wait_for(lambda: _applied_count(live), lambda n: n >= distinct, timeout))
    console.print(f"Projector applied {applied} distinct events ({replay.accepted} accepted, duplicates ignored).")

    as_of = scenario.expected.kpis["as_of"]
    assert live.alerts_clock_file is not None
    live.alerts_clock_file.write_text(as_of + "\n")  # the alerts service now evaluates at the programme's end

    async def current_kpis() -> dict[str, Any]:
        return await _get(query_url, f"/v1/programme/kpis?as_of={as_of}", analyst)

    with console.status("Waiting for the alerts service to evaluate the pilots at the programme's end..."):
        kpis = asyncio.run(
            _wait_for(
                current_kpis,
                lambda k: all(c.matches for c in check_kpis(scenario.expected.kpis, k)),
                timeout=30,
                settle=True,
            )
        )
    funnels = {
        partner_id: asyncio.run(_get(query_url, f"/v1/partners/{partner_id}/funnel?as_of={as_of}", analyst))
        for partner_id in scenario.feeds
    }
    stalled = [
        item
        for partner_id in scenario.feeds
        for item in asyncio.run(_get(query_url, f"/v1/partners/{partner_id}/pilots?status=stalled&limit=500", analyst))[
            "items"
        ]
    ]
    checks = [
        *check_kpis(scenario.expected.kpis, kpis),
        *check_funnels(scenario.expected.funnels, funnels),
        *check_refusals(scenario, replay.refused),
        FigureCheck("projector", "distinct events applied", distinct, applied),
    ]
    reports_dir = live.state_dir / "reports"
    with console.status("Reading the frozen reports back, their restatements and exports..."):
        asyncio.run(collect(query_url, analyst, reports))
    write(reports, reports_dir)
    checks += check_reports(reports, scenario.expected.kpis)
    return DemoResult(replay, kpis, funnels, stalled, checks, live.state_dir / "logs", reports, reports_dir)


async def _apply_programme(settings: Settings, programme: Programme) -> int:
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        return (await ProgrammeStore(engine).apply(programme, "demo")).version
    finally:
        await engine.dispose()


async def _create_tokens(settings: Settings, partners: list[str]) -> tuple[dict[str, str], str]:
    engine = create_engine(settings.database_url)
    store = TokenStore(engine)
    try:
        tokens = {p: (await store.create("partner", p, label="demo"))[1] for p in partners}
        analyst = (await store.create("analyst", None, label="demo"))[1]
        return tokens, analyst
    finally:
        await store.close()
        await engine.dispose()


async def _applied_count(settings: Settings) -> int:
    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(applied_events)) or 0)
    finally:
        await engine.dispose()


async def _get(base_url: str, path: str, token: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


async def _wait_for(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, *, settle: bool = False
) -> T:
    """Poll `probe` until `done` says so, or until `timeout`; returns the last value either way.

    With `settle`, a value that stopped changing for a few seconds also ends the wait, so a
    wrong figure is reported promptly instead of after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    value = await probe()
    unchanged_since = time.monotonic()
    while not done(value) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        latest = await probe()
        if latest != value:
            value, unchanged_since = latest, time.monotonic()
        elif settle and time.monotonic() - unchanged_since > 10:
            break
    return value

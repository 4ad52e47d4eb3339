"""A small benchmark harness: a registry of benchmarks, one Rich table, one JSON file per run.

A benchmark is an async function registered with `@benchmark("name")`. It gets a `BenchContext`
(running Kafka and PostgreSQL, a scale) and returns a `BenchResult`: measurements, each with a
role (`subject`, `ceiling`, `baseline`, `other`), and targets on the subject's rate and ratios.
Add a module under bench/ and import it in `BENCHMARK_MODULES` to add a benchmark.
"""

import asyncio
import importlib
import json
import os
import platform
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import asyncpg
import structlog
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from crm.db.migrate import upgrade_database
from crm.infra.stack import running_infrastructure
from crm.logs import configure_logging
from crm.settings import Settings

log = structlog.get_logger(__name__)

BENCHMARK_MODULES = ["bench.projector_replay"]
RESULTS = Path(__file__).with_name("results")

Role = Literal["subject", "ceiling", "baseline", "other"]


@dataclass(frozen=True)
class Measurement:
    name: str
    role: Role
    items: int
    seconds: float
    unit: str = "events"
    note: str = ""

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


@dataclass
class BenchResult:
    name: str
    measurements: list[Measurement]
    targets: dict[str, float] = field(default_factory=dict)
    """`rate` (items/s of the subject), `vs_baseline` and `vs_ceiling` (subject rate ratios)."""
    parameters: dict[str, Any] = field(default_factory=dict)

    def role(self, role: Role) -> Measurement | None:
        return next((m for m in self.measurements if m.role == role), None)

    def figures(self) -> dict[str, float]:
        subject, baseline, ceiling = self.role("subject"), self.role("baseline"), self.role("ceiling")
        out: dict[str, float] = {}
        if subject:
            out["rate"] = subject.rate
            if baseline and baseline.rate:
                out["vs_baseline"] = subject.rate / baseline.rate
            if ceiling and ceiling.rate:
                out["vs_ceiling"] = subject.rate / ceiling.rate
        return out

    def as_json(self) -> dict[str, Any]:
        figures = self.figures()
        return {
            "parameters": self.parameters,
            "measurements": [
                {
                    "name": m.name,
                    "role": m.role,
                    "items": m.items,
                    "unit": m.unit,
                    "seconds": round(m.seconds, 3),
                    "rate_per_s": round(m.rate, 1),
                    "note": m.note,
                }
                for m in self.measurements
            ],
            "figures": {k: round(v, 3) for k, v in figures.items()},
            "targets": {
                name: {
                    "target": target,
                    "measured": round(figures.get(name, 0.0), 3),
                    "met": figures.get(name, 0.0) >= target,
                }
                for name, target in self.targets.items()
            },
        }


@dataclass
class BenchContext:
    settings: Settings
    quick: bool

    async def fresh_database(self) -> str:
        """A new, migrated database on the benchmark's PostgreSQL; its URL."""
        url = make_url(self.settings.database_url)
        name = f"crm_bench_{uuid.uuid4().hex[:8]}"
        connection = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        database_url = url.set(database=name).render_as_string(hide_password=False)
        await asyncio.to_thread(upgrade_database, database_url)
        return database_url


Benchmark = Callable[[BenchContext], Awaitable[BenchResult]]
REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    def register(function: Benchmark) -> Benchmark:
        REGISTRY[name] = function
        return function

    return register


def render(results: list[BenchResult], console: Console) -> None:
    for result in results:
        table = Table(title=f"{result.name}  {result.parameters}")
        for column in ("measurement", "role", "items", "seconds", "rate /s", "note"):
            table.add_column(column, justify="right" if column in ("items", "seconds", "rate /s") else "left")
        for m in result.measurements:
            table.add_row(m.name, m.role, f"{m.items:,}", f"{m.seconds:.2f}", f"{m.rate:,.0f}", m.note)
        console.print(table)
        for name, verdict in result.as_json()["targets"].items():
            mark = "[green]met[/]" if verdict["met"] else "[red]NOT met[/]"
            console.print(f"  {name}: {verdict['measured']:,.2f} (target {verdict['target']:,}) {mark}")


def run(names: list[str] | None, quick: bool) -> Path:
    configure_logging("warning", "console")
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    chosen = names or list(REGISTRY)
    state_dir = (Path(".crm") / f"bench-{os.getpid()}").resolve()
    base = Settings().model_copy(update={"state_dir": state_dir})
    results: list[BenchResult] = []
    started, load_before = time.time(), os.getloadavg()
    try:
        with running_infrastructure(base) as live:
            context = BenchContext(live, quick)
            for name in chosen:
                results.append(asyncio.run(REGISTRY[name](context)))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    console = Console()
    render(results, console)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-quick' if quick else ''}.json"
    document = {
        "run_at": datetime.fromtimestamp(started, UTC).isoformat(),
        "quick": quick,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # The machine may be shared: the 1/5/15-minute load averages say how much it was.
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "benchmarks": {r.name: r.as_json() for r in results},
    }
    path.write_text(json.dumps(document, indent=2) + "\n")
    console.print(f"results written to {path}")
    return path


cli = typer.Typer(add_completion=False)


@cli.command()
def main_command(
    name: list[str] = typer.Argument(None, help="Benchmarks to run (default: all)."),
    quick: bool = typer.Option(False, help="A small run to check the harness, not to quote."),
) -> None:
    """Run the benchmarks on embedded (or CRM_*-configured) Kafka and PostgreSQL."""
    run(name or None, quick)


def main() -> None:
    cli()

"""The benchmark suite: a registry of benchmarks, one table, one JSON file per run.

A benchmark is a function registered with `@benchmark("name")`. It gets a `BenchContext` (running
Kafka and PostgreSQL, quick or full, shared measurements) and returns `Row`s (bench/report.py):
figures, each beside its ceiling and baseline measured in the same run, with targets. It may be a
coroutine function (run in its own event loop) or a plain one (to start services that need the
main thread). Add a module to `BENCHMARK_MODULES` to add a benchmark.
"""

import asyncio
import importlib
import inspect
import json
import os
import shutil
import sys
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import structlog
import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from bench.machine import load_average, machine, versions
from bench.memory import PeakMemory
from bench.report import Reference, Row, RunRecord, Target, markdown, table
from crm.db.migrate import upgrade_database
from crm.local.servers import running_infrastructure
from crm.logs import configure_logging
from crm.settings import Settings

log = structlog.get_logger(__name__)

# In this order: the replay measures the Kafka ceilings and the naive baseline the others reuse;
# the end-to-end freshness runs last, with every service at once.
BENCHMARK_MODULES = [
    "bench.projector_replay",
    "bench.rebuild",
    "bench.gateway",
    "bench.query",
    "bench.exports",
    "bench.indicators",
    "bench.alerts",
    "bench.freshness",
]
RESULTS = Path(__file__).with_name("results")
SERVICES = ("projector", "gateway", "alerts", "query")
MEMORY_LIMIT_MB = 300.0

T = TypeVar("T")


@dataclass
class BenchContext:
    settings: Settings
    quick: bool
    memory: PeakMemory = field(default_factory=PeakMemory)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per benchmark: parameters and every raw figure, written to the JSON beside the rows."""
    _shared: dict[str, Any] = field(default_factory=dict)

    def scale(self, quick: T, full: T) -> T:
        return quick if self.quick else full

    async def shared(self, key: str, make: Callable[[], Awaitable[T]]) -> T:
        """Measure once per run what several benchmarks compare with (a ceiling, a baseline)."""
        if key not in self._shared:
            self._shared[key] = await make()
        value: T = self._shared[key]
        return value

    def isolated(self, label: str) -> Settings:
        """The run's settings with topics and consumer groups of their own."""
        suffix = f"{label}-{uuid.uuid4().hex[:6]}"
        return self.settings.model_copy(
            update={
                "events_topic": f"bench-{suffix}.events",
                "alerts_topic": f"bench-{suffix}.alerts",
                "dlq_topic": f"bench-{suffix}.events.dlq",
                "projector_group": f"bench-{suffix}-projector",
                "alerts_group": f"bench-{suffix}-alerts",
            }
        )

    async def fresh_database(self) -> str:
        """A new, migrated database on the benchmark's PostgreSQL; its URL."""
        assert self.settings.database_url
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


Benchmark = Callable[[BenchContext], Awaitable[list[Row]] | list[Row]]
REGISTRY: dict[str, Benchmark] = {}


def benchmark(name: str) -> Callable[[Benchmark], Benchmark]:
    def register(function: Benchmark) -> Benchmark:
        REGISTRY[name] = function
        return function

    return register


def memory_rows(memory: PeakMemory, *, only_observed: bool) -> list[Row]:
    rows = []
    for service in SERVICES:
        peak = memory.by_service.get(service)
        if peak is None and only_observed:
            continue
        rows.append(
            Row(
                "memory",
                f"{service} peak RSS",
                float("nan") if peak is None else peak,
                "MB",
                targets=(Target(MEMORY_LIMIT_MB, at_least=False),),
                note=f"VmHWM, {memory.where[service]}" if peak is not None else "not observed",
            )
        )
    return rows


def _run_one(function: Benchmark, context: BenchContext) -> list[Row]:
    outcome = function(context)
    if inspect.isawaitable(outcome):
        return asyncio.run(_awaited(outcome))
    return outcome


async def _awaited(outcome: Awaitable[list[Row]]) -> list[Row]:
    return await outcome


def _recorded_settings(live: Settings, base: Settings) -> dict[str, Any]:
    names = (
        "topic_partitions",
        "kafka_heap",
        "projector_batch_size",
        "projector_batch_seconds",
        "query_pool_size",
        "token_cache_seconds",
        "gateway_max_events",
        "alerts_evaluate_seconds",
    )
    return {name: getattr(live, name) for name in names} | {
        "external_kafka": base.kafka_bootstrap is not None,
        "external_postgres": base.database_url is not None,
    }


def _fast_event_loops() -> None:
    """uvloop, when installed, for every benchmark's loop: the load generator shares the cores."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(names: list[str] | None, quick: bool) -> int:
    configure_logging("warning", "console")
    _fast_event_loops()
    for module in BENCHMARK_MODULES:
        importlib.import_module(module)
    chosen = names or list(REGISTRY)
    unknown = [name for name in chosen if name not in REGISTRY]
    if unknown:
        raise typer.BadParameter(f"unknown benchmark(s) {unknown}; known: {list(REGISTRY)}")
    console = Console() if sys.stdout.isatty() else Console(width=220)  # a log file: no wrapping
    state_dir = (Path(".crm") / f"bench-{os.getpid()}").resolve()
    base = Settings().model_copy(update={"state_dir": state_dir, "log_level": "warning"})
    rows: list[Row] = []
    errors: dict[str, str] = {}
    started, load_before = time.time(), load_average()
    try:
        with running_infrastructure(base) as live:
            context = BenchContext(live, quick)
            load_by_benchmark: dict[str, Any] = {}
            context.details["load_average_by_benchmark"] = load_by_benchmark
            for name in chosen:
                console.print(f"[bold]{name}[/] …", highlight=False)
                begin, load_at_start = time.perf_counter(), load_average()
                try:
                    rows.extend(_run_one(REGISTRY[name], context))
                except Exception as error:
                    errors[name] = "".join(traceback.format_exception_only(error)).strip()
                    console.print(f"[red]{name} failed[/]:\n{traceback.format_exc()}", highlight=False)
                seconds = time.perf_counter() - begin
                load_by_benchmark[name] = {"start": load_at_start, "end": load_average(), "seconds": round(seconds, 1)}
                console.print(f"  {name}: {seconds:.0f} s, load average {load_average()}", highlight=False)
            rows.extend(memory_rows(context.memory, only_observed=bool(names)))
            assert live.database_url
            record = RunRecord(
                run_at=datetime.fromtimestamp(started, UTC).isoformat(),
                quick=quick,
                duration_seconds=time.time() - started,
                machine=machine() | {"load_average_before": load_before, "load_average_after": load_average()},
                versions=asyncio.run(versions(live.database_url, external_kafka=base.kafka_bootstrap is not None)),
                settings=_recorded_settings(live, base),
                rows=rows,
                details=context.details,
                errors=errors,
            )
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    write(record, console)
    return 1 if errors else 0


def write(record: RunRecord, console: Console) -> Path:
    load = record.machine
    title = (
        f"{'QUICK (smoke, not to quote) ' if record.quick else ''}run {record.run_at[:19]}Z, "
        f"{record.duration_seconds:.0f} s, {load['cpus']} CPUs, load average "
        f"{load['load_average_before']} → {load['load_average_after']}"
    )
    console.print(table(record.rows, title))
    for name, error in record.errors.items():
        console.print(f"[red]{name} failed:[/] {error}", highlight=False)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.fromisoformat(record.run_at).strftime("%Y-%m-%dT%H%M%SZ")
    path = RESULTS / f"{stamp}{'-quick' if record.quick else ''}.json"
    path.write_text(json.dumps(record.as_json(), indent=2, default=str) + "\n")
    path.with_suffix(".md").write_text(f"{title}\n\n{markdown(record.rows)}")
    console.print(f"results written to {path} (and the table as Markdown beside it)")
    return path


cli = typer.Typer(add_completion=False)


@cli.command()
def main_command(
    name: list[str] = typer.Argument(None, help="Benchmarks to run (default: all)."),
    quick: bool = typer.Option(False, help="A small smoke run of every benchmark, not to quote."),
) -> None:
    """Run the benchmarks on embedded (or CRM_*-configured) Kafka and PostgreSQL."""
    sys.exit(run(name or None, quick))


def main() -> None:
    cli()


__all__ = ["REGISTRY", "BenchContext", "Reference", "Row", "Target", "benchmark", "main", "run"]

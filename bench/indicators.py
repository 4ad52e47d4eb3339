"""Programme indicators: every indicator of a programme per period, uncached, on a large history.

Applies a generated history (10,000 SMEs with about 10 events each: 99,562 events; a tenth in
quick mode) through the projector's own store into a fresh database, stores a programme of 6
periods and 12 indicators, then times `indicator_values` (what `GET /v1/programmes/{id}/indicators`
computes), uncached: p99 and p50 in ms, each held to the issue's 500 ms. Ceiling: one plain scan,
in PostgreSQL, of every table the values read (the timeline, smes, sme_markets, pilots,
agreements; one statement, nothing sent back but the counts): the least reading those rows once
costs. Baseline: the same values computed naively, every item of the measure read into Python
again for each period (72 reads instead of 12) and cut there.

    PYTHONPATH=. python -m bench indicators
"""

import asyncio
import time
import uuid
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from tests.support.histories import PARTNERS  # the tests' history generator: plausible, deterministic
from tests.support.indicator_reference import programme_history

from bench.harness import BenchContext, benchmark
from bench.report import Reference, Row, Target
from bench.stats import latency_summary
from crm.db.engine import create_engine
from crm.db.migrate import upgrade_database
from crm.programmes.counting import counted, value_of
from crm.programmes.definition import Indicator, Measure, Partner, Period, Programme
from crm.programmes.indicators import indicator_values, items_of, window
from crm.programmes.measures import MEASURES
from crm.programmes.store import ProgrammeStore
from crm.projector.ports import ConsumedEvent
from crm.projector.store import PostgresReadModels
from crm.reports.store import ReportStore, draft_document

PROGRAMME_ID = "bench-programme"
TARGET_MS = 500.0
FREEZE_TARGET_MS = 2000.0
# Busier SMEs than the tests' default (up to 7 meetings and 3 pilots each, not 2 and 2): about 10
# events per SME, the 100,000 events for 10,000 SMEs; and 1 % of them, not half, under one
# of the four ids several partners share (half would fold 5,000 SMEs into 12 rows of the tables).
SHAPE: dict[str, Any] = {"max_meetings": 7, "max_pilots": 3, "shared_ids": 0.01}
# Every row of the tables the values read, from the heap (columns no index holds).
TABLE_SCANS = """SELECT (SELECT count(event_type) FROM sme_timeline), (SELECT count(selected_at) FROM smes),
       (SELECT count(matchmaking_at) FROM sme_markets), (SELECT count(opened_at) FROM pilots),
       (SELECT count(signed_at) FROM agreements)"""


def bench_programme() -> Programme:
    periods = [
        Period(number=n + 1, start=date(2020 + n // 2, 1 + 6 * (n % 2), 1), end=end, report_deadline=end)
        for n, end in enumerate(
            date(2020 + n // 2, 6 if n % 2 == 0 else 12, 30 if n % 2 == 0 else 31) for n in range(6)
        )
    ]
    specs: list[tuple[Measure, dict[str, Any]]] = [
        (Measure.SMES_SELECTED, {}),
        (Measure.DISTINCT_ENTERPRISES_SUPPORTED, {}),
        (Measure.SMES_TRAINED, {}),
        (Measure.SMES_IN_MATCHMAKING, {}),
        (Measure.MATCHMAKING_MARKETS, {}),
        (Measure.MEETINGS_HELD, {"mode": "in_period"}),
        (Measure.PILOTS_OPENED, {}),
        (Measure.PILOTS_IN_DISCUSSION, {}),
        (Measure.AGREEMENTS, {}),
        (Measure.AGREEMENTS, {"agreement_type": "sales"}),
        (Measure.AGREEMENT_MARKETS, {"agreement_type": "sales"}),
        (Measure.AGREEMENTS, {"agreement_type": "commercial_representation", "market": "CN"}),
    ]
    return Programme(
        id=PROGRAMME_ID,
        name="Benchmark programme",
        funding_programme="F",
        objective="O",
        start=periods[0].start,
        end=periods[-1].end,
        partners=[
            Partner(id=p, legal_name=p, short_name=p, country="EE", role="lead" if i == 0 else "partner")
            for i, p in enumerate(PARTNERS)
        ],
        periods=periods,
        indicators=[
            Indicator(code=f"I-{n}", name=measure.value, unit="u", measure=measure, target=100, **extra)
            for n, (measure, extra) in enumerate(specs, start=1)
        ],
    )


async def naive_values(connection: Any, programme: Programme) -> None:
    for indicator in programme.indicators:
        for period in programme.periods:
            items = await items_of(connection, programme.id, indicator)
            cut = window(period, None)
            assert cut is not None
            value_of(counted(items, cut, indicator.mode, stock=MEASURES[indicator.measure.value].stock))


async def bench_indicators(database_url: str, *, smes: int, requests: int) -> dict[str, Any]:
    name = f"crm_bench_{uuid.uuid4().hex[:8]}"
    admin_dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(admin_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, pool_size=1)
    try:
        await asyncio.to_thread(upgrade_database, url)
        events = programme_history(seed=5, smes=smes, programmes=[PROGRAMME_ID], **SHAPE)
        started = time.perf_counter()
        store = PostgresReadModels(engine)
        for start in range(0, len(events), 5000):
            await store.apply([ConsumedEvent(e, 0, start + i) for i, e in enumerate(events[start : start + 5000])])
        seed_seconds = time.perf_counter() - started
        settled = await asyncpg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await settled.execute("VACUUM ANALYZE")  # what autovacuum does to a settled database
        finally:
            await settled.close()
        programme = bench_programme()
        await ProgrammeStore(engine).apply(programme, None)
        async with engine.connect() as connection:
            samples, scans, naive = [], [], []
            for _ in range(3):  # warm-up: plans, caches
                await indicator_values(connection, programme, 1)
            for _ in range(requests):
                begin = time.perf_counter()
                await indicator_values(connection, programme, 1)
                samples.append(time.perf_counter() - begin)
                begin = time.perf_counter()
                await connection.execute(text(TABLE_SCANS))
                scans.append(time.perf_counter() - begin)
            for _ in range(max(3, requests // 5)):
                begin = time.perf_counter()
                await naive_values(connection, programme)
                naive.append(time.perf_counter() - begin)
        freezes, drafts = await time_freezes(engine, programme, max(3, requests // 4))
        return {
            "smes": smes,
            "events": len(events),
            "seed_seconds": round(seed_seconds, 1),
            "periods": len(programme.periods),
            "indicators": len(programme.indicators),
            "indicators_ms": latency_summary(samples),
            "tables_scan_ms": latency_summary(scans),
            "naive_ms": latency_summary(naive),
            "freeze_ms": latency_summary(freezes),
            "draft_ms": latency_summary(drafts),
        }
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def time_freezes(engine: Any, programme: Programme, runs: int) -> tuple[list[float], list[float]]:
    """Freeze the last period's report (the most to count) `runs` times, re-opening it between;
    and, as a reference, compute the same report as a draft, not stored."""
    reports, last = ReportStore(engine), programme.periods[-1].number
    freezes, drafts = [], []
    for _ in range(runs):
        begin = time.perf_counter()
        await reports.freeze(programme.id, last, "bench")
        freezes.append(time.perf_counter() - begin)
        await reports.reopen(programme.id, last, "bench")
        async with engine.connect() as connection:
            begin = time.perf_counter()
            await draft_document(connection, programme, 1, last)
            drafts.append(time.perf_counter() - begin)
    return freezes, drafts


@benchmark("indicators")
async def indicators(context: BenchContext) -> list[Row]:
    assert context.settings.database_url
    smes, requests = context.scale(1_000, 10_000), context.scale(5, 20)
    results = await bench_indicators(context.settings.database_url, smes=smes, requests=requests)
    context.details["indicators"] = results
    figures = results["indicators_ms"]
    scans = results["tables_scan_ms"]
    workload = (
        f"{results['smes']:,} SMEs, {results['events']:,} events, "
        f"{results['indicators']} indicators x {results['periods']} periods"
    )
    return [
        Row(
            "programmes",
            f"indicators, uncached, {percentile}",
            figures[f"{percentile}_ms"],
            "ms",
            ceiling=Reference(f"tables scan {percentile}", scans[f"{percentile}_ms"]),
            baseline=Reference("naive: a read per period, p50", results["naive_ms"]["p50_ms"]),
            targets=(Target(TARGET_MS, at_least=False),),
            note=f"{workload}; {int(figures['samples'])} requests" if percentile == "p99" else workload,
        )
        for percentile in ("p99", "p50")
    ] + [
        Row(
            "programmes",
            f"freeze a report, {percentile}",
            results["freeze_ms"][f"{percentile}_ms"],
            "ms",
            ceiling=Reference("the figures alone (indicators), p50", figures["p50_ms"]),
            baseline=Reference("the same report as a draft, not stored, p50", results["draft_ms"]["p50_ms"]),
            targets=(Target(FREEZE_TARGET_MS, at_least=False),),
            note=f"the last of {results['periods']} periods; {workload}; {int(results['freeze_ms']['samples'])} freezes"
            if percentile == "p99"
            else "computed in one snapshot, stored with its basis and every applied event id",
        )
        for percentile in ("p99", "p50")
    ]

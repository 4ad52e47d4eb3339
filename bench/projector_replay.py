"""Projector throughput replaying the topic, with 1 and 2 worker processes.

- the projector: `crm projector run` started as a user starts it (ServiceProcess), default
  settings, into a fresh database, from its first applied event to the last (start-up and the
  group join are not throughput); with 2 workers, both processes in one consumer group;
- beside it, measured in the same run (bench/replay_source.py): the raw aiokafka consume-and-decode
  ceiling and the naive one-transaction-per-event baseline;
- its writes in rows/s beside PostgreSQL's COPY of the same rows (bench/copy_ceiling.py).
"""

import asyncio
import time

from sqlalchemy import func, select

from bench.copy_ceiling import copy_rows, read_model_rows
from bench.harness import BenchContext, benchmark
from bench.replay_source import Timed, consume_ceiling, naive_baseline, replay_topic
from bench.report import Reference, Row, Target
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.infra.services import ServiceProcess, service_environment
from crm.settings import Settings

TARGET_RATE = 20_000
TARGET_VS_CEILING = 0.4


@benchmark("projector_replay")
async def projector_replay(context: BenchContext) -> list[Row]:
    topic = await replay_topic(context)
    ceiling = await consume_ceiling(context)
    naive = await naive_baseline(context)
    one_db = await context.fresh_database()
    one = await run_projector(context, topic.settings, one_db, topic.events, workers=1)
    two = await run_projector(context, topic.settings, await context.fresh_database(), topic.events, workers=2)
    rows = await read_model_rows(one_db)
    copied = await copy_rows(await context.fresh_database(), rows)
    # Rows in the read model per second of projector time (the timed share of the events).
    written = Timed(round(copied.items * one.items / topic.events), one.seconds)
    consume = Reference("raw consume+decode", ceiling.rate)
    context.details["projector_replay"] = {
        "events": topic.events,
        "partitions": topic.settings.topic_partitions,
        "batch_size": topic.settings.projector_batch_size,
        "projector_1_worker": {"events": one.items, "seconds": round(one.seconds, 3)},
        "projector_2_workers": {"events": two.items, "seconds": round(two.seconds, 3)},
        "consume_ceiling": {"events": ceiling.items, "seconds": round(ceiling.seconds, 3)},
        "naive_baseline": {"events": naive.items, "seconds": round(naive.seconds, 3)},
        "copy_ceiling": {"rows": copied.items, "seconds": round(copied.seconds, 3)},
        "rows_per_table": {name: len(records) for name, (_, records) in rows.items()},
    }
    return [
        Row(
            "projector replay",
            "projector, 1 worker",
            one.rate,
            "events/s",
            ceiling=consume,
            baseline=Reference("naive 1 tx/event", naive.rate),
            targets=(Target(TARGET_RATE), Target(TARGET_VS_CEILING, on="vs_ceiling")),
            note=f"{one.items:,} events in {one.seconds:.1f} s; naive on first {naive.items:,}",
        ),
        Row(
            "projector replay",
            "projector, 2 workers",
            two.rate,
            "events/s",
            ceiling=consume,
            baseline=Reference("1 worker", one.rate),
            note=f"{two.items:,} events in {two.seconds:.1f} s; x base = speed-up",
        ),
        Row(
            "projector replay",
            "read-model rows written",
            written.rate,
            "rows/s",
            ceiling=Reference("COPY same rows", copied.rate),
            note=f"{copied.items:,} rows; COPY in {copied.seconds:.1f} s",
        ),
    ]


async def run_projector(
    context: BenchContext, settings: Settings, database_url: str, count: int, *, workers: int
) -> Timed:
    """Start `workers` projector processes on the topic; time them from the first applied event to `count`."""
    live = settings.model_copy(
        update={"database_url": database_url, "projector_group": f"{settings.projector_group}-{workers}w"}
    )
    env = service_environment(live, CRM_LOG_LEVEL="warning")
    logs = live.state_dir / "logs"
    services = [
        ServiceProcess("projector", ["projector", "run"], env, logs / f"bench-projector-{workers}w-{n}.log")
        for n in range(workers)
    ]
    engine = create_engine(database_url, pool_size=1)

    async def applied() -> int:
        async with engine.connect() as connection:
            return int(await connection.scalar(select(func.count()).select_from(applied_events)) or 0)

    def check_alive() -> None:
        for service in services:
            if not service.alive():
                raise RuntimeError(f"a projector worker died; see {service.log_path}")

    deadline = time.monotonic() + context.scale(120, 900)
    try:
        for service in services:
            service.start()
        first = 0
        while first == 0:
            await asyncio.sleep(0.02)
            first = await applied()
            check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError("the projector applied nothing")
        started = time.perf_counter()
        done = first
        while done < count:
            await asyncio.sleep(0.05)
            done = await applied()
            check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the projector applied {done:,} of {count:,} events in time")
        return Timed(count - first, time.perf_counter() - started)
    finally:
        for service in services:
            context.memory.observe("projector", service.pid, f"replay, {workers} worker(s)")
            service.stop()
        await engine.dispose()

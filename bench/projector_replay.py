"""Projector throughput replaying the topic, with 1 and 2 worker processes.

- the projector: `crm projector run` started as a user starts it (ServiceProcess), default
  settings, into a fresh database, timed from the moment its consumer group is Stable with every
  worker to the last event (start-up and the joins' rebalances are not throughput); with 2
  workers, both processes in one consumer group;
- beside it, measured in the same run (bench/replay_source.py): the raw aiokafka consume-and-decode
  ceiling and the naive one-transaction-per-event baseline;
- its writes in rows/s beside PostgreSQL's COPY of the same rows (bench/copy_ceiling.py).
"""

import asyncio
import time

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from bench.copy_ceiling import copy_rows, read_model_rows
from bench.harness import BenchContext, benchmark
from bench.replay_source import Timed, consume_ceiling, naive_baseline, replay_topic
from bench.report import Reference, Row, Target
from crm.db.engine import create_engine
from crm.db.tables import applied_events
from crm.local.services import ServiceProcess, service_environment
from crm.messaging.connection import client_options
from crm.settings import Settings

log = structlog.get_logger(__name__)

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
    admin = AIOKafkaAdminClient(**client_options(live.kafka))
    try:
        await admin.start()
        for service in services:
            service.start()
        # The clock starts once every worker holds its partitions (the group is Stable with all
        # of them), so start-up and the joins' rebalances are not throughput. Should the topic be
        # done first (a small quick run), it falls back to the first applied event.
        done, first_applied, settled = 0, None, None
        while done < count:
            await asyncio.sleep(0.05)
            done = await applied()
            now = time.perf_counter()
            if first_applied is None and done:
                first_applied = (done, now)
            if settled is None and await group_settled(admin, live.projector_group, workers):
                settled = (done, now)
            check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the projector applied {done:,} of {count:,} events in time")
        start = settled if settled is not None and settled[0] < count else first_applied
        assert start is not None
        if start is not settled:
            log.warning("bench.projector_group_settled_late", workers=workers)
        return Timed(count - start[0], time.perf_counter() - start[1])
    finally:
        for service in services:
            context.memory.observe("projector", service.pid, f"replay, {workers} worker(s)")
            service.stop()
        await engine.dispose()
        await admin.close()


async def group_settled(admin: AIOKafkaAdminClient, group: str, members: int) -> bool:
    """Whether the consumer group is Stable with `members` members (DescribeGroups, raw response)."""
    try:
        (response,) = await admin.describe_consumer_groups([group])
    except Exception:  # the coordinator not known yet
        return False
    # Each group: (error_code, group_id, state, protocol_type, protocol, members, ...).
    described = response.groups[0]
    return bool(described[2] == "Stable" and len(described[5]) == members)

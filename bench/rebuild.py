"""`crm projections rebuild` of 1,000,000 events (30,000 in quick mode).

The same history generator as the replay, a topic of its own, a fresh database; then the
rebuild's own entry point (`rebuild_projections`, what the CLI command calls, minus its progress
bar), in this process: shadow tables, replay, swap. Its duration is the rebuild's own clock.
Compared with the replay's consume-and-decode ceiling and naive baseline (same kind of events).
"""

from bench.harness import BenchContext, benchmark
from bench.replay_source import consume_ceiling, naive_baseline, publish
from bench.report import Reference, Row, Target
from bench.workload import programme_history
from crm.projector.rebuild import rebuild_projections

TARGET_EVENTS = 1_000_000
TARGET_SECONDS = 60.0


@benchmark("rebuild")
async def rebuild(context: BenchContext) -> list[Row]:
    ceiling = await consume_ceiling(context)
    naive = await naive_baseline(context)
    settings = context.isolated("rebuild").model_copy(update={"database_url": await context.fresh_database()})
    events = context.scale(30_000, TARGET_EVENTS)
    produced = await publish(settings, programme_history(events, seed=7))
    outcome = await rebuild_projections(settings, batch_size=settings.projector_batch_size)
    rate = outcome.read / outcome.seconds
    context.details["rebuild"] = {
        "events": outcome.read,
        "applied": outcome.applied,
        "seconds": round(outcome.seconds, 2),
        "batch_size": settings.projector_batch_size,
        "publish_seconds": round(produced.seconds, 2),
    }
    return [
        Row(
            "rebuild",
            f"rebuild of {outcome.read:,} events",
            rate,
            "events/s",
            ceiling=Reference("raw consume+decode", ceiling.rate),
            baseline=Reference("naive 1 tx/event", naive.rate),
            # 1,000,000 events in under 60 s, as a rate, so that the quick run is held to it too.
            targets=(Target(TARGET_EVENTS / TARGET_SECONDS),),
            note=f"{outcome.seconds:.1f} s (target: 1M in < {TARGET_SECONDS:.0f} s)",
        )
    ]

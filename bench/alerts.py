"""Stalled-pilot alerting figures.

- `evaluate_100k_*`: time to evaluate 100,000 open pilots (target: under 1 s), for a typical
  pass (1 % crossing their threshold) and the worst case (all of them at once).
- `threshold_to_alert_*`: delay from the controlled clock crossing a pilot's threshold to its
  PilotStalled being readable on `crm.alerts`, through the real alerts service process, Kafka
  and the default evaluation interval.

Run: `PYTHONPATH=. python -m bench alerts` (part of `make bench`).
"""

import asyncio
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import BenchContext, benchmark
from bench.memory import PeakMemory
from bench.report import Row, Target
from crm.alerts.detector import Detector
from crm.alerts.rules import Controls, PilotState, Thresholds, evaluate
from crm.settings import Settings

T0 = datetime(2020, 1, 1, tzinfo=UTC)
PILOTS = 100_000


def _open_pilots(stalling_share: float) -> list[PilotState]:
    stalling = int(PILOTS * stalling_share)
    markets = ("CN", "VN", "CL", "BR")
    return [
        PilotState(
            partner_id=f"partner-{i % 12}",
            pilot_id=f"p-{i}",
            sme_id=f"sme-{i // 3}",
            market=markets[i % 4],
            opened=True,
            last_activity_at=T0 if i < stalling else T0 + timedelta(days=20),
            last_activity_event=None,
            newest_event_at=T0,
        )
        for i in range(PILOTS)
    ]


def evaluation_seconds(stalling_share: float, repeats: int = 5) -> float:
    """Median wall time of one `evaluate` over 100,000 open pilots."""
    thresholds = Thresholds.from_overrides(30, {"VN": 45, "partner-3": 20, "partner-5/CN": 60})
    states = _open_pilots(stalling_share)
    now = T0 + timedelta(days=35)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        evaluate(states, now, thresholds, timedelta(days=7), Controls())
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


class _NullPublisher:
    async def publish(self, events: Any) -> None:
        pass


class _NoControls:
    async def load(self) -> Controls:
        return Controls()


class _FixedClock:
    def now(self) -> datetime | None:
        return T0 + timedelta(days=35)

    def observe(self, occurred_at: datetime) -> None:
        pass


async def detector_tick_seconds() -> float:
    """One detector pass (1 % firing), building alert envelopes; publishing is a no-op."""
    pilots = {replace(s).key: s for s in _open_pilots(0.01)}
    detector = Detector(pilots, _FixedClock(), Thresholds(), timedelta(days=7), _NullPublisher(), _NoControls())
    started = time.perf_counter()
    await detector.tick()
    return time.perf_counter() - started


async def threshold_to_alert_seconds(settings: Settings, memory: PeakMemory, samples: int = 5) -> list[float]:
    """Start the alerts service on a controlled clock; cross a threshold `samples` times."""
    from tests.support.alerts import AlertReader, ControlledClock, alerts_service, day, pilot_event, publish
    from tests.support.isolation import isolated_settings

    from crm.messaging.topic_admin import contract_topics, ensure_topics

    live = await isolated_settings(settings)
    await ensure_topics(live.kafka, contract_topics(live))
    workdir = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    clock = ControlledClock(workdir / "now")
    clock.set(day(0))
    env = {
        "CRM_ALERTS_CLOCK": "file",
        "CRM_ALERTS_CLOCK_FILE": str(clock.path),
        "CRM_ALERTS_EVALUATE_SECONDS": "1.0",  # the production default
        "CRM_ALERTS_REPEAT_DAYS": "10000",
    }
    delays = []
    with alerts_service(live, workdir, **env) as service:
        async with AlertReader(live) as reader:
            await publish(live, *(pilot_event("PilotOpened", day(i), f"p-{i}") for i in range(samples)))
            await publish(live, pilot_event("PilotOpened", day(-29.9), "p-warmup"))
            clock.set(day(0.2))  # the warm-up pilot fires once the service is running
            await reader.until(lambda seen: len(seen) == 1, timeout=120)
            for i in range(samples):
                await asyncio.sleep(0.1 + (i * 0.23) % 1.0)  # cross at varied phases of the 1 s timer
                clock.set(day(i + 30.01))
                started = time.perf_counter()
                await reader.until(lambda seen, n=i: len(seen) == n + 2, timeout=60)
                delays.append(time.perf_counter() - started)
        memory.observe("alerts", service.pid, "threshold-to-alert benchmark")
    return delays


EVALUATION_TARGET_SECONDS = 1.0


@benchmark("alerts")
async def alerts(context: BenchContext) -> list[Row]:
    repeats = context.scale(1, 5)
    typical = evaluation_seconds(0.01, repeats=repeats)
    worst = evaluation_seconds(1.0, repeats=context.scale(1, 3))
    tick = await detector_tick_seconds()
    delays = await threshold_to_alert_seconds(context.settings, context.memory, samples=context.scale(3, 5))
    context.details["alerts"] = {
        "evaluate_100k_1pct_firing_s": typical,
        "evaluate_100k_all_firing_s": worst,
        "detector_tick_100k_1pct_s": tick,
        "threshold_to_alert_s": delays,
        "evaluate_interval_s": 1.0,
    }
    under_a_second = (Target(EVALUATION_TARGET_SECONDS, at_least=False),)
    return [
        Row(
            "alerts",
            "evaluate 100k open pilots, 1% firing",
            typical,
            "s",
            targets=under_a_second,
            note=f"median of {repeats}",
        ),
        Row("alerts", "evaluate 100k open pilots, all firing", worst, "s", targets=under_a_second),
        Row("alerts", "detector tick, 100k pilots, 1% firing", tick, "s", note="builds the alert envelopes"),
        Row(
            "alerts",
            "threshold crossed → PilotStalled on Kafka, median",
            statistics.median(delays),
            "s",
            note=f"max {max(delays):.2f} s over {len(delays)}; the service evaluates every 1 s",
        ),
    ]

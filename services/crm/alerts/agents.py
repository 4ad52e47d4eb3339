"""The alerts service's consumers and timers (its Faust app has no stream agents).

- `follow_pilots` runs the events consumer: `crm.events` into the detector
  (`crm.alerts.pilot_activity`).
- `project_alerts` runs the alerts consumer: `crm.alerts` into the PostgreSQL read model and the
  webhook outbox (`crm.alerts.alert_projection`).
- `evaluate_pilots` (timer) runs the detector over every pilot.
- `deliver_webhooks` (timer) posts due alerts to partners' webhooks.

Both consumers are plain consumer-group members (`crm.messaging.batch_consumer`), not Faust agents:
when table recovery completes, Faust resumes flow control, which empties every agent's incoming
queue; records the fetcher handed over in the moments before were dropped without being
processed (docs/reliability.md). A consumer that fails for good stops the worker
(`crm.alerts.lifecycle`).
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust
import structlog

from crm.alerts.detector import Detector
from crm.alerts.lifecycle import Shutdown
from crm.alerts.readiness import TableReadiness
from crm.alerts.tables import PilotTable

log = structlog.get_logger(__name__)


class Consumer(Protocol):
    async def run(self) -> None: ...

    def stop(self) -> None: ...


def register_consumer(
    app: faust.App, name: str, consumer: Consumer, shutdown: Shutdown, *, stop_seconds: float = 30.0
) -> None:
    """Run `consumer` from the moment the table is recovered (Faust starts app tasks then) until
    the worker stops; its failure stops the worker."""
    running: list[asyncio.Future[Any]] = []

    async def consume() -> None:
        task = asyncio.current_task()
        assert task is not None
        running.append(task)
        try:
            await consumer.run()
        except Exception as error:  # the handler failed, or Kafka refused us for good
            shutdown.fail(name, error)

    async def stop(*_: Any, **__: Any) -> None:
        # Sent while Faust's producer still runs: the batch in hand finishes, its changelog
        # writes land and its offsets are committed.
        consumer.stop()
        if running:
            await asyncio.wait(running, timeout=stop_seconds)

    consume.__name__ = consume.__qualname__ = name  # Faust names the task after the function
    app.task(consume)
    app.on_before_shutdown.connect(stop)


def register_timers(
    app: faust.App,
    detector: Detector,
    pilots: PilotTable,
    readiness: TableReadiness,
    deliver: Callable[[], Awaitable[int]],
    *,
    evaluate_seconds: float,
    deliver_seconds: float,
) -> None:
    async def evaluate() -> None:
        if not pilots.loaded:
            await pilots.reload()
        await detector.tick()
        await pilots.written()  # a write that failed shows here, and the futures are let go

    @app.timer(evaluate_seconds, name="evaluate_pilots")  # type: ignore[untyped-decorator]
    async def evaluate_pilots() -> None:
        # Judging a half-recovered table could re-fire alerts it has not read back yet.
        if not readiness.is_ready():
            return
        try:
            await readiness.step(evaluate)
        except Exception as exc:  # Kafka unavailable: nothing was recorded, the next pass retries
            log.error("alerts.evaluation_failed", error=repr(exc))

    @app.timer(deliver_seconds, name="deliver_webhooks")  # type: ignore[untyped-decorator]
    async def deliver_webhooks() -> None:
        try:
            await deliver()
        except Exception as exc:  # PostgreSQL down: the outbox waits, detection goes on
            log.error("alerts.delivery_failed", error=repr(exc))

"""The alerts service killed and restarted: no firing alert forgotten, none repeated, webhooks
delivered once.

"Repeated" is judged the way partners see alerts: by event id. After a SIGKILL the service may
publish an alert again with the same id (at-least-once on `crm.alerts`, docs/reliability.md);
the read model and the webhooks must still show each distinct alert once.
"""

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from crm.alerts.controls import set_webhook
from crm.alerts.lifecycle import EXIT_CRASHED
from crm.alerts.queries import stalled_pilots
from crm.contract.events import AlertEvent
from crm.db.alert_tables import alerts, applied_alert_events, webhook_deliveries
from crm.db.engine import create_engine
from crm.local.services import ServiceProcess
from crm.settings import Settings
from tests.support.alerts import (
    AlertReader,
    ControlledClock,
    alerts_service,
    count,
    day,
    describe,
    eventually,
    pilot_event,
    publish,
)
from tests.support.webhook_receiver import WebhookReceiver, free_port

pytestmark = pytest.mark.infra


async def test_a_restart_neither_forgets_nor_repeats_and_a_webhook_down_then_up_gets_each_alert_once(
    isolated: Settings, tmp_path: Path
) -> None:
    clock = ControlledClock(tmp_path / "now")
    clock.set(day(0))
    receiver = WebhookReceiver(free_port(), secret="s3cret")
    engine = create_engine(isolated.database_url)
    env = {"CRM_ALERTS_CLOCK": "file", "CRM_ALERTS_CLOCK_FILE": str(clock.path), "CRM_ALERTS_REPEAT_DAYS": "100"}
    try:
        async with engine.begin() as connection:
            await set_webhook(connection, "tehnopol", receiver.url, receiver.secret)  # nothing listens yet
        async with AlertReader(isolated) as reader:
            with alerts_service(isolated, tmp_path, "alerts-1", **env) as first:
                await publish(isolated, *(pilot_event("PilotOpened", day(0), f"p-{i}") for i in (1, 2, 3)))
                await publish(isolated, pilot_event("PilotOpened", day(2.5), "p-canary"))  # 30 days: day 32.5
                clock.set(day(31))
                await reader.until(lambda s: len(s) == 3)
                async with engine.connect() as connection:  # the webhook is down: attempts fail, logged
                    failures = await eventually(lambda: failed_attempts(connection), lambda n: n >= 6, timeout=30)
                assert failures >= 6
                first.kill()  # SIGKILL: no goodbye

            # restarted with a lower threshold: it applies to the recovered state
            with alerts_service(isolated, tmp_path, "alerts-2", **env, CRM_ALERTS_THRESHOLD_DAYS="28") as second:
                update = pilot_event("PilotUpdated", day(32), "p-1")
                await publish(isolated, update)
                # It still knows p-1 is firing: activity resolves it, naming the update.
                seen = await reader.until(lambda s: any(a.event_type == "PilotStallResolved" for a in s))
                (resolved,) = [a for a in distinct(seen) if a.event_type == "PilotStallResolved"]
                assert resolved.payload.resolved_by == update.event_id  # type: ignore[union-attr]
                # the canary fires (28 days since day 2.5): passes ran after the restart
                seen = await reader.until(lambda s: count(s, "PilotStalled", "p-canary") >= 1)
                canary = next(a for a in seen if a.payload.pilot_id == "p-canary")
                assert canary.payload.threshold_days == 28  # type: ignore[union-attr]
                alerts_seen = distinct(seen)
                assert [a.event_type for a in alerts_seen].count("PilotStalled") == 4, describe(seen)
                assert len(alerts_seen) == 5, describe(seen)  # one per stall, one resolution

                await receiver.start()  # the webhook comes back
                await eventually(lambda: _delivered(receiver), lambda n: n == len(alerts_seen), timeout=60)
                assert second.alive(), (tmp_path / "alerts-2.log").read_text()[-3000:]
        alert_ids = {a.event_id for a in alerts_seen}
        assert set(receiver.accepted) == {str(i) for i in alert_ids}
        assert all(n == 1 for n in receiver.deliveries.values()), receiver.deliveries
        assert receiver.bad_signatures == 0
        assert {json.loads(body)["event_id"] for body in receiver.accepted.values()} == set(receiver.accepted)
        async with engine.connect() as connection:
            log = (await connection.execute(select(webhook_deliveries))).all()
            stalled = await stalled_pilots(connection, "tehnopol")
            applied = (await connection.execute(select(applied_alert_events.c.event_id))).scalars().all()
            stalls = (await connection.execute(select(alerts.c.alert_id, alerts.c.pilot_id))).all()
        assert sum(1 for row in log if row.status_code == 204) == len(alert_ids)
        assert all(row.error for row in log if row.status_code is None)
        assert {s.pilot_id for s in stalled} == {"p-2", "p-3", "p-canary"}
        # the read model applied each distinct alert once, and holds one row per stall
        assert sorted(applied) == sorted(alert_ids)
        assert sorted(pilot for _, pilot in stalls) == ["p-1", "p-2", "p-3", "p-canary"]
    finally:
        await receiver.stop()
        await engine.dispose()


async def test_a_consumer_that_fails_ends_the_process_with_a_failure_status_and_loses_nothing(
    isolated: Settings, tmp_path: Path
) -> None:
    """A supervisor restarts a process that exits, not one that stays alive consuming nothing."""
    clock = ControlledClock(tmp_path / "now")
    clock.path.write_text("2020-02-01T00:00:00")  # no time zone: the detector cannot tell the time
    env = {"CRM_ALERTS_CLOCK": "file", "CRM_ALERTS_CLOCK_FILE": str(clock.path)}
    opened = pilot_event("PilotOpened", day(0), "p-1")
    async with AlertReader(isolated) as reader:
        with alerts_service(isolated, tmp_path, "alerts-1", **env) as failing:
            await publish(isolated, opened)
            code = await eventually(_exit_code(failing), lambda c: c is not None, timeout=90)
            assert code == EXIT_CRASHED, (tmp_path / "alerts-1.log").read_text()[-3000:]
        assert "alerts.component_crashed" in (tmp_path / "alerts-1.log").read_text()

        clock.set(day(31))  # fixed: the restarted service reads the event again (never committed)
        with alerts_service(isolated, tmp_path, "alerts-2", **env) as restarted:
            seen = await reader.until(lambda s: count(s, "PilotStalled", "p-1") >= 1)
            assert restarted.alive()
    assert distinct(seen)[0].payload.last_activity_at == opened.occurred_at  # type: ignore[union-attr]


def _exit_code(service: ServiceProcess) -> Callable[[], Awaitable[int | None]]:
    async def probe() -> int | None:
        return service.exit_code()

    return probe


def distinct(seen: list[AlertEvent]) -> list[AlertEvent]:
    """The alerts as partners count them: by event id (a re-publication is the same alert)."""
    return list({a.event_id: a for a in seen}.values())


async def _delivered(receiver: WebhookReceiver) -> int:
    return len(receiver.accepted)


async def failed_attempts(connection: AsyncConnection) -> int:
    return int(
        await connection.scalar(
            select(func.count()).select_from(webhook_deliveries).where(webhook_deliveries.c.status_code.is_(None))
        )
        or 0
    )

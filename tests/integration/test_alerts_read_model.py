"""The alerts read model on the real PostgreSQL: idempotent by alert event id; the CLI on top."""

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from crm.alerts.controls import set_webhook
from crm.alerts.queries import alerts_for_partner, stalled_pilots
from crm.alerts.rules import Decision, PilotState, Stall, alert_event, alert_id
from crm.alerts.store import PostgresAlertViews, ReceivedAlert
from crm.alerts.webhooks import Answer, Delivery, deliver_due
from crm.cli.main import app
from crm.contract.decoding import encode_event
from crm.db.alert_tables import alert_outbox, alerts, applied_alert_events
from crm.db.engine import create_engine
from crm.settings import Settings
from tests.support.alerts import pilot_event, stalled_alert
from tests.support.query import load_into_read_models

pytestmark = pytest.mark.infra

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def received(decision: Decision) -> ReceivedAlert:
    event = alert_event(decision)
    return ReceivedAlert(event, encode_event(event))


def decisions() -> list[Decision]:
    state = PilotState("tehnopol", "p-1", "sme-1", "CN", True, None, T0, uuid4(), T0)
    stalled_id = alert_id("tehnopol", "p-1", T0, "stalled")
    at = T0 + timedelta(days=31)
    stall = Stall(stalled_id, T0, at, at, 30)
    later = at + timedelta(days=7)
    return [
        Decision("stalled", stalled_id, at, PilotState(**{**vars_of(state), "stall": stall}), T0, 31, 30),
        Decision("reminder", alert_id("tehnopol", "p-1", T0, "reminder-1"), later, state, T0, 38, 30),
        Decision("resolved", alert_id("tehnopol", "p-1", T0, "resolved"), later, state, T0, resolved_by=uuid4()),
    ]


def vars_of(state: PilotState) -> dict[str, object]:
    return {name: getattr(state, name) for name in PilotState.__slots__}  # type: ignore[attr-defined]


async def test_alert_events_apply_once_with_their_tracking_record_and_outbox_entry(isolated: Settings) -> None:
    engine = create_engine(isolated.database_url)
    views = PostgresAlertViews(engine)
    stalled, reminder, resolved = (received(d) for d in decisions())
    try:
        assert await views.apply([stalled, stalled]) == 1
        assert await views.apply([stalled, reminder]) == 1  # a redelivery, then the reminder
        async with engine.connect() as connection:
            (open_alert,) = await stalled_pilots(connection, "tehnopol")
            assert (open_alert.reminders, open_alert.idle_days, open_alert.status) == (1, 38, "firing")
        assert await views.apply([resolved, reminder]) == 1
        async with engine.connect() as connection:
            assert await stalled_pilots(connection) == []
            (closed,) = await alerts_for_partner(connection, "tehnopol")
            tracked = await connection.scalar(select(func.count()).select_from(applied_alert_events))
            outbox = await connection.scalar(select(func.count()).select_from(alert_outbox))
        assert closed.resolved_by == resolved.event.payload.resolved_by  # type: ignore[union-attr]
        assert closed.reminders == 1
        assert tracked == outbox == 3
    finally:
        await engine.dispose()


async def test_an_alert_published_again_after_a_crash_reaches_the_webhook_once(isolated: Settings) -> None:
    """At-least-once on crm.alerts (a SIGKILL between publishing and storing the state re-emits
    the same event id): neither the read model nor the webhook sees it twice, whether the copy
    comes before or after the first delivery."""
    engine = create_engine(isolated.database_url)
    views = PostgresAlertViews(engine)
    stalled, reminder, _ = (received(d) for d in decisions())
    posted: list[UUID] = []

    async def webhook(delivery: Delivery) -> Answer:
        posted.append(delivery.event_id)
        return Answer(204, None)

    async def deliver() -> int:
        return await deliver_due(engine, webhook, retry_seconds=0.1, max_retry_seconds=1)

    try:
        async with engine.begin() as connection:
            await set_webhook(connection, "tehnopol", "http://127.0.0.1:9/hook", "s3cret")
        assert await views.apply([stalled]) == 1
        assert await views.apply([stalled, reminder]) == 1  # the copy, in the next batch
        assert await deliver() == 2
        assert await views.apply([reminder]) == 0  # a copy arriving after the delivery
        assert await deliver() == 0
        async with engine.connect() as connection:
            (row,) = await stalled_pilots(connection, "tehnopol")
            tracked = await connection.scalar(select(func.count()).select_from(applied_alert_events))
        assert sorted(posted) == sorted([stalled.event.event_id, reminder.event.event_id])
        assert row.reminders == 1  # the reminder counted once
        assert tracked == 2
    finally:
        await engine.dispose()


async def test_the_cli_snoozes_acknowledges_and_lists(isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(isolated.database_url)
    try:
        await PostgresAlertViews(engine).apply([received(decisions()[0])])
    finally:
        await engine.dispose()

    monkeypatch.setenv("CRM_DATABASE_URL", isolated.database_url or "")
    runner = CliRunner()
    alert = alert_id("tehnopol", "p-1", T0, "stalled")
    snoozed = await _run(runner, ["alerts", "snooze", "tehnopol", "p-1", "--until", "2020-03-01"])
    assert "snoozed until 2020-03-01T00:00:00+00:00" in snoozed
    assert f"alert {alert} acknowledged" in await _run(runner, ["alerts", "ack", str(alert), "--by", "ops"])
    header, listed = (await _run(runner, ["alerts", "list", "--partner", "tehnopol"])).splitlines()
    assert header.split("\t")[:4] == ["alert id", "status", "partner", "pilot"]
    assert listed.split("\t")[:4] == [str(alert), "acknowledged", "tehnopol", "p-1"]
    assert "2020-03-01T00:00:00+00:00" in listed
    missing = await asyncio.to_thread(runner.invoke, app, ["alerts", "ack", str(uuid4())])
    assert (missing.exit_code == 1 and missing.exception is None) or isinstance(missing.exception, SystemExit)
    assert "no alert" in missing.output


async def test_the_cli_snoozes_only_an_opened_pilot_and_at_most_the_cap(
    isolated: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Finding 9 of issue 13: `crm alerts snooze` stored a snooze for any pilot id, without limit.
    await load_into_read_models(isolated, [pilot_event("PilotOpened", T0, p) for p in ("p-1", "p-2")], [])

    monkeypatch.setenv("CRM_DATABASE_URL", isolated.database_url or "")
    monkeypatch.setenv("CRM_ALERTS_MAX_SNOOZES_PER_PARTNER", "1")
    runner = CliRunner()

    async def refused(args: list[str], code: int = 1) -> str:
        result = await asyncio.to_thread(runner.invoke, app, ["alerts", "snooze", *args])
        assert result.exit_code == code, result.output
        return result.output

    assert "no pilot 'ghost' of partner 'tehnopol'" in await refused(["tehnopol", "ghost", "--until", "2999-01-01"])
    assert "no pilot 'p-1' of partner 'sisp'" in await refused(["sisp", "p-1", "--until", "2999-01-01"])
    assert "snoozed until" in await _run(runner, ["alerts", "snooze", "tehnopol", "p-1", "--until", "2999-01-01"])
    assert "snoozed until" in await _run(runner, ["alerts", "snooze", "tehnopol", "p-1", "--until", "2999-02-01"])
    full = await refused(["tehnopol", "p-2", "--until", "2999-01-01"])
    assert "CRM_ALERTS_MAX_SNOOZES_PER_PARTNER=1" in full
    assert "out of range" in await refused(["tehnopol", "p-1", "--until", "9999-12-31T23:59:59-01:00"], code=2)


async def _run(runner: CliRunner, args: list[str]) -> str:
    # the commands run their own event loop: keep them off the test's
    result = await asyncio.to_thread(runner.invoke, app, args)
    assert result.exit_code == 0, result.output
    return result.output


async def test_an_alert_postgresql_cannot_store_is_parked_and_the_others_applied(isolated: Settings) -> None:
    """Written to crm.alerts around the alerts service: `idle_days` past PostgreSQL's integer
    (a data error, SQLSTATE class 22). The consumer retried it forever before, and no later alert
    was applied."""
    from crm.alerts.alert_projection import AlertProjection
    from crm.messaging.messages import ReceivedMessage

    class Parked:
        def __init__(self) -> None:
            self.reasons: dict[int, str] = {}

        async def park(self, message: ReceivedMessage, reason: str) -> None:
            self.reasons[message.offset] = reason

    records = [
        stalled_alert(n, f"p-{n}", idle_days=2**40 if n == 3 else 60, topic=isolated.alerts_topic) for n in range(6)
    ]
    engine = create_engine(isolated.database_url, pool_size=1)
    parked = Parked()
    try:
        await asyncio.wait_for(AlertProjection(PostgresAlertViews(engine), parked).project_alerts(records), 60)
        async with engine.connect() as connection:
            applied = set(await connection.scalars(select(alerts.c.pilot_id)))
    finally:
        await engine.dispose()
    assert list(parked.reasons) == [3] and "SQLSTATE 22" in parked.reasons[3], parked.reasons
    assert applied == {"p-0", "p-1", "p-2", "p-4", "p-5"}

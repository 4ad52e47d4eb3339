"""The alerts service as a process on the real Kafka and PostgreSQL, with a controlled clock."""

import json
from datetime import datetime
from pathlib import Path

import pytest

from crm.alerts.controls import acknowledge_alert, snooze_pilot
from crm.alerts.queries import alerts_for_partner, stalled_pilots
from crm.alerts.rules import alert_id
from crm.db.engine import create_engine
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
from tests.support.query import load_into_read_models

pytestmark = pytest.mark.infra


async def test_thresholds_overrides_resolution_snooze_and_acknowledge(isolated: Settings, tmp_path: Path) -> None:
    clock = ControlledClock(tmp_path / "now")
    clock.set(day(0))
    engine = create_engine(isolated.database_url)
    opened = [
        pilot_event("PilotOpened", day(0), "p-cn"),  # default: 30 days
        pilot_event("PilotOpened", day(0), "p-cn", partner="sisp"),  # partner override: 10
        pilot_event("PilotOpened", day(0), "p-vn", market="VN"),  # market override: 20
        pilot_event("PilotOpened", day(0), "p-cl", market="CL"),  # partner-in-market override: 45
        pilot_event("PilotOpened", day(0), "p-closed"),
        pilot_event("PilotClosed", day(5), "p-closed"),
        pilot_event("PilotOpened", day(0), "p-snoozed"),
    ]
    env = {
        "CRM_ALERTS_CLOCK": "file",
        "CRM_ALERTS_CLOCK_FILE": str(clock.path),
        "CRM_ALERTS_THRESHOLDS": json.dumps({"sisp": 10, "VN": 20, "tehnopol/CL": 45}),
        "CRM_ALERTS_REPEAT_DAYS": "7",
    }
    try:
        await load_into_read_models(isolated, [opened[-1]], [])  # only a pilot the projector knows is snoozed
        async with engine.begin() as connection:
            await snooze_pilot(connection, "tehnopol", "p-snoozed", day(40), "test", max_snoozes=10)
        with alerts_service(isolated, tmp_path, **env) as service:
            async with AlertReader(isolated) as reader:
                await publish(isolated, *opened)
                # the sisp pilot is the canary: once it fired, the pass at day 10.5 is done
                clock.set(day(10.5))
                seen = await reader.until(lambda s: count(s, "PilotStalled", "p-cn", "sisp") == 1)
                assert describe(seen) == [("PilotStalled", "sisp", "p-cn")]
                first = seen[0]
                assert first.payload.threshold_days == 10 and first.payload.idle_days == 10  # type: ignore[union-attr]
                assert first.event_id == alert_id("sisp", "p-cn", day(0), "stalled")

                async with engine.connect() as connection:
                    await eventually(lambda: stalled_pilots(connection, "sisp"), lambda rows: len(rows) == 1)
                async with engine.begin() as connection:
                    assert await acknowledge_alert(connection, first.event_id, day(11), "ops")

                clock.set(day(20.5))
                seen = await reader.until(lambda s: count(s, "PilotStalled", "p-vn") == 1)
                assert len(seen) == 2  # the acknowledged sisp alert got no reminder

                clock.set(day(30.5))
                seen = await reader.until(
                    lambda s: count(s, "PilotStalled", "p-cn") == 1 and count(s, "PilotStalled", "p-vn") == 2
                )
                assert len(seen) == 4  # p-cn fired, p-vn reminded; p-snoozed snoozed, p-cl not yet

                update = pilot_event("PilotUpdated", day(31), "p-cn")
                closing = pilot_event("PilotClosed", day(31), "p-vn")
                await publish(isolated, update, closing)
                seen = await reader.until(lambda s: sum(a.event_type == "PilotStallResolved" for a in s) == 2)
                resolved = {a.payload.pilot_id: a.payload.resolved_by for a in seen[4:]}  # type: ignore[union-attr]
                assert resolved == {"p-cn": update.event_id, "p-vn": closing.event_id}

                clock.set(day(45.5))
                seen = await reader.until(
                    lambda s: count(s, "PilotStalled", "p-snoozed") == 1 and count(s, "PilotStalled", "p-cl") == 1
                )
                assert len(seen) == 8, describe(seen)
                assert count(seen, "PilotStalled", "p-closed") == 0
                assert len({a.event_id for a in seen}) == len(seen)
            assert service.alive(), (tmp_path / "alerts.log").read_text()[-3000:]

            async with engine.connect() as connection:
                stalled = await eventually(lambda: stalled_pilots(connection), lambda rows: len(rows) == 3, timeout=30)
                tehnopol = {a.pilot_id: a for a in await alerts_for_partner(connection, "tehnopol")}
        assert {(s.partner_id, s.pilot_id) for s in stalled} == {
            ("sisp", "p-cn"),
            ("tehnopol", "p-snoozed"),
            ("tehnopol", "p-cl"),
        }
        assert {s.pilot_id: s.status for s in stalled}["p-cn"] == "acknowledged"
        assert tehnopol["p-vn"].reminders == 1 and tehnopol["p-vn"].resolved_by == closing.event_id
        assert tehnopol["p-cn"].resolved_by == update.event_id and tehnopol["p-cn"].resolved_at is not None
        assert tehnopol["p-snoozed"].snoozed_until == day(40)
        assert tehnopol["p-cl"].threshold_days == 45
    finally:
        await engine.dispose()


async def test_replaying_history_in_event_time_shows_which_pilots_were_stalled_back_then(
    isolated: Settings, tmp_path: Path
) -> None:
    def at(text: str) -> datetime:
        return datetime.fromisoformat(f"{text}T09:00:00+00:00")

    # one SME, so the history arrives in the order it happened (one partition)
    sme = {"sme_id": "ee-smartlight"}
    history = [
        pilot_event("PilotOpened", at("2019-09-02"), "p-17"),
        pilot_event("PilotUpdated", at("2019-12-02"), "p-17"),  # 91 idle days: stalled in October
        pilot_event("PilotOpened", at("2020-03-02"), "p-21", market="VN"),  # never touched again
        pilot_event("PilotClosed", at("2020-06-01"), "p-17"),  # idle again from December: closed
        pilot_event("PilotOpened", at("2021-01-04"), "p-30"),
        pilot_event("PilotUpdated", at("2021-01-20"), "p-30"),  # never idle for 30 days
        pilot_event("TrainingCompleted", at("2021-02-10"), "-"),
    ]
    history = [e.model_copy(update=sme) for e in history]
    env = {"CRM_ALERTS_CLOCK": "event", "CRM_ALERTS_REPEAT_DAYS": "10000"}
    with alerts_service(isolated, tmp_path, **env):
        async with AlertReader(isolated) as reader:
            await publish(isolated, *history)
            seen = await reader.until(lambda s: len(s) == 5)
    timeline = [(a.event_type, a.payload.pilot_id, a.occurred_at.date().isoformat()) for a in seen]
    assert sorted(timeline, key=lambda t: t[2]) == [
        ("PilotStalled", "p-17", "2019-10-02"),  # 30 days after the opening, as it was then
        ("PilotStallResolved", "p-17", "2019-12-02"),
        ("PilotStalled", "p-17", "2020-01-01"),
        ("PilotStalled", "p-21", "2020-04-01"),
        ("PilotStallResolved", "p-17", "2020-06-01"),
    ]
    last_activity = {
        (a.payload.pilot_id, a.occurred_at.year): a.payload.last_activity_at
        for a in seen
        if a.event_type == "PilotStalled"
    }  # type: ignore[union-attr]
    assert last_activity[("p-17", 2020)] == at("2019-12-02")

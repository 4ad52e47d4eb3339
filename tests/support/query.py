"""The query app wired to the real PostgreSQL, and the scenario fed into the read models in-process."""

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx

from crm.alerts.clock import EventTimeClock
from crm.alerts.detector import Detector
from crm.alerts.rules import Controls, PilotState, Thresholds
from crm.alerts.store import PostgresAlertViews, ReceivedAlert
from crm.contract.decoding import decode_event, encode_event
from crm.contract.events import AlertEvent, DomainEvent
from crm.contract.upcasting import IMPLICIT_PROGRAMME, UpcastContext
from crm.db.engine import create_engine
from crm.demo.scenario import Scenario, default_scenario_path, load_scenario
from crm.projector.ports import ConsumedEvent
from crm.projector.store import PostgresReadModels
from crm.query.bootstrap import build_query_app
from crm.settings import Settings
from tests.support.gateway import create_token
from tests.support.in_process import in_process_client

SCENARIO_END = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)


@dataclass
class QueryApi:
    client: httpx.AsyncClient
    settings: Settings
    partner_token: str  # tehnopol
    other_partner_token: str  # sisp
    analyst_token: str

    def auth(self, token: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def get(self, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
        headers = {**self.auth(token or self.analyst_token), **kwargs.pop("headers", {})}  # type: ignore[dict-item]
        return await self.client.get(path, headers=headers, **kwargs)  # type: ignore[arg-type]


@asynccontextmanager
async def running_query_api(settings: Settings) -> AsyncIterator[QueryApi]:
    """The real app (lifespan included) behind an in-process httpx client."""
    _, partner = await create_token(settings, "tehnopol")
    _, other = await create_token(settings, "sisp")
    _, analyst = await create_token(settings, None)
    app = build_query_app(settings)
    async with in_process_client(app, "http://query") as client:
        yield QueryApi(client, settings, partner, other, analyst)


def scenario_events(scenario: Scenario, programme: str = IMPLICIT_PROGRAMME) -> list[DomainEvent]:
    """Every line the gateway would accept, in send order (duplicates included); the (version-1)
    lines in `programme`, as a deployment of that default programme has them."""
    context = UpcastContext(programme)
    events = []
    for partner_id, feed in scenario.feeds.items():
        for number, line in feed.numbered():
            if scenario.refused(partner_id, number) is None:
                events.append(decode_event(line, context))
    return events


class _Collect:
    def __init__(self) -> None:
        self.events: list[AlertEvent] = []

    async def publish(self, events: Sequence[AlertEvent]) -> None:
        self.events.extend(events)


class _NoControls:
    async def load(self) -> Controls:
        return Controls()


async def stall_alerts(events: Sequence[DomainEvent], at: datetime, threshold_days: int) -> list[AlertEvent]:
    """What the alerts service emits replaying `events` in event time, evaluated last at `at`."""
    clock = EventTimeClock()
    collected = _Collect()
    pilots: dict[str, PilotState] = {}
    detector = Detector(
        pilots,
        clock,
        Thresholds.from_overrides(threshold_days, {}),
        timedelta(days=7),
        collected,
        _NoControls(),
        event_time_step=timedelta(days=1),
    )
    for event in sorted(events, key=lambda e: e.occurred_at):
        await detector.on_event(event)
    clock.observe(at)
    await detector.tick()
    return collected.events


async def apply_in_batches(store: PostgresReadModels, events: Sequence[DomainEvent], size: int) -> None:
    """`events` through the projector's store, `size` at a time, in order (offsets as they come)."""
    for start in range(0, len(events), size):
        await store.apply([ConsumedEvent(e, 0, start + i) for i, e in enumerate(events[start : start + size])])


async def load_into_read_models(
    settings: Settings, events: Sequence[DomainEvent], alerts: Sequence[AlertEvent]
) -> None:
    """Through the projector's and the alerts service's own stores (the writers the services use)."""
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await apply_in_batches(PostgresReadModels(engine), events, 200)
        if alerts:
            await PostgresAlertViews(engine).apply([ReceivedAlert(a, encode_event(a)) for a in alerts])
    finally:
        await engine.dispose()


async def load_4smartgrowth(settings: Settings, programme: str = IMPLICIT_PROGRAMME) -> Scenario:
    scenario = load_scenario(default_scenario_path())
    events = scenario_events(scenario, programme)
    alerts = await stall_alerts(events, SCENARIO_END, scenario.expected.stall_threshold_days)
    await load_into_read_models(settings, events, alerts)
    return scenario

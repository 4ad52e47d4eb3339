"""The PostgreSQL store applies each event once, with its tracking record, atomically, and its
read models and figures equal the reference fold's, whatever the arrival order and batching."""

import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.contract.decoding import decode_event
from crm.contract.events import DomainEvent
from crm.db.engine import create_engine
from crm.db.tables import READ_MODEL_TABLES, applied_events, sme_timeline
from crm.projector.ports import DecodedEvent
from crm.projector.store import PostgresReadModels
from crm.read_models.figures import partner_funnel, programme_kpis
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope
from tests.support.histories import PARTNERS, history
from tests.support.read_models import models_in_database
from tests.support.reference import reference_funnel, reference_kpis, reference_models

pytestmark = pytest.mark.infra


@pytest.fixture
async def engine(isolated: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(isolated.database_url)
    yield engine
    await engine.dispose()


def decoded(events: list[DomainEvent]) -> list[DecodedEvent]:
    return [DecodedEvent(event, 0, offset) for offset, event in enumerate(events)]


async def apply_in_batches(store: PostgresReadModels, events: list[DomainEvent], batch: int) -> None:
    for start in range(0, len(events), batch):
        await store.apply(decoded(events[start : start + batch]))


def without_progress(kpis: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in kpis.items() if k not in ("progress", "as_of")}
    out["partners"] = {p: {k: v for k, v in f.items() if k != "progress"} for p, f in kpis["partners"].items()}  # type: ignore[attr-defined]
    return out


async def test_events_are_applied_once_with_their_tracking_record(engine: AsyncEngine) -> None:
    store = PostgresReadModels(engine)
    events = [DecodedEvent(decode_event(json.dumps(envelope(t))), 0, i) for i, t in enumerate(sorted(EXAMPLES))]
    assert await store.apply(events) == len(events)
    assert await store.apply(events) == 0  # redelivery
    assert await store.apply([events[0], events[0]]) == 0  # duplicates inside one batch
    async with engine.connect() as connection:
        timeline = await connection.scalar(select(func.count()).select_from(sme_timeline))
        tracked = await connection.scalar(select(func.count()).select_from(applied_events))
        models = await models_in_database(connection)
    assert timeline == tracked == len(events)
    assert models == reference_models([e.event for e in events])


async def test_a_failed_batch_leaves_neither_rows_nor_tracking_records(engine: AsyncEngine) -> None:
    store = PostgresReadModels(engine)
    event = DecodedEvent(decode_event(json.dumps(envelope("SMEWithdrawn", {}))), 0, 0)
    async with engine.begin() as connection:  # make the last write of the batch fail
        await connection.exec_driver_sql("ALTER TABLE smes ADD CONSTRAINT no_withdrawals CHECK (NOT withdrawn)")
    with pytest.raises(Exception, match="no_withdrawals"):
        await store.apply([event])
    async with engine.connect() as connection:
        for table in READ_MODEL_TABLES:
            assert await connection.scalar(select(func.count()).select_from(table)) == 0, table.name


async def test_read_models_and_figures_match_the_reference_in_shuffled_batches(engine: AsyncEngine) -> None:
    events = history(seed=3, smes=40)
    arrival = events + events[::7]
    random.Random(1).shuffle(arrival)
    store = PostgresReadModels(engine)
    await apply_in_batches(store, arrival, 17)
    as_of = datetime(2020, 6, 1, tzinfo=UTC)
    async with engine.connect() as connection:
        assert await models_in_database(connection) == reference_models(events)
        kpis = await programme_kpis(connection)
        assert without_progress(kpis) == reference_kpis(events)
        assert kpis["as_of"] == max(e.occurred_at for e in events).isoformat().replace("+00:00", "Z")
        assert without_progress(await programme_kpis(connection, as_of)) == reference_kpis(events, as_of)
        for partner_id in PARTNERS:
            assert await partner_funnel(connection, partner_id) == reference_funnel(events, partner_id)
            assert await partner_funnel(connection, partner_id, as_of) == reference_funnel(events, partner_id, as_of)


async def test_stalled_pilots_are_counted_from_the_alerts_table(engine: AsyncEngine) -> None:
    events = [decode_event(json.dumps(envelope(t))) for t in ("SMESelected", "PilotOpened")]
    await PostgresReadModels(engine).apply(decoded(events))
    async with engine.begin() as connection:
        assert (await programme_kpis(connection))["pilots_stalled"] == 0
        await connection.execute(
            text(
                "INSERT INTO alerts (alert_id, partner_id, pilot_id, sme_id, fired_at, last_activity_at, idle_days,"
                " threshold_days, last_notified_at) VALUES (gen_random_uuid(), 'tehnopol', 'p-17', 'ee-smartlight',"
                " '2020-12-01T00:00:00Z', '2020-10-05T09:00:00Z', 57, 30, '2020-12-01T00:00:00Z')"
            )
        )
        kpis = await programme_kpis(connection)
    assert (kpis["pilots_in_discussion"], kpis["pilots_stalled"]) == (1, 1)
    assert kpis["partners"]["tehnopol"]["pilots_stalled"] == 1


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10_000),
    shuffle=st.randoms(use_true_random=False),
    batch=st.integers(1, 30),
    duplicates=st.lists(st.integers(0, 10_000), max_size=15),
)
async def test_any_permutation_with_duplicates_gives_the_same_read_models_in_postgres(
    engine: AsyncEngine, seed: int, shuffle: random.Random, batch: int, duplicates: list[int]
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(t.name for t in READ_MODEL_TABLES)}"))
    events = history(seed, smes=5)
    arrival = events + [events[i % len(events)] for i in duplicates]
    shuffle.shuffle(arrival)
    await apply_in_batches(PostgresReadModels(engine), arrival, batch)
    async with engine.connect() as connection:
        assert await models_in_database(connection) == reference_models(events)
        assert await connection.scalar(select(func.count()).select_from(sme_timeline)) == len(events)

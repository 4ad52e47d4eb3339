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
from crm.figures.kpis import partner_funnel, programme_kpis
from crm.projector.ports import ConsumedEvent, UnstorableEvents
from crm.projector.store import PostgresReadModels
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


def decoded(events: list[DomainEvent]) -> list[ConsumedEvent]:
    return [ConsumedEvent(event, 0, offset) for offset, event in enumerate(events)]


async def apply_in_batches(store: PostgresReadModels, events: list[DomainEvent], batch: int) -> None:
    for start in range(0, len(events), batch):
        await store.apply(decoded(events[start : start + batch]))


def without_progress(kpis: dict[str, object]) -> dict[str, object]:
    out = {k: v for k, v in kpis.items() if k not in ("progress", "as_of")}
    out["partners"] = {p: {k: v for k, v in f.items() if k != "progress"} for p, f in kpis["partners"].items()}  # type: ignore[attr-defined]
    return out


async def test_events_are_applied_once_with_their_tracking_record(engine: AsyncEngine) -> None:
    store = PostgresReadModels(engine)
    events = [ConsumedEvent(decode_event(json.dumps(envelope(t))), 0, i) for i, t in enumerate(sorted(EXAMPLES))]
    assert (await store.apply(events)).applied == len(events)
    assert (await store.apply(events)).applied == 0  # redelivery
    assert (await store.apply([events[0], events[0]])).applied == 0  # duplicates inside one batch
    async with engine.connect() as connection:
        timeline = await connection.scalar(select(func.count()).select_from(sme_timeline))
        tracked = await connection.scalar(select(func.count()).select_from(applied_events))
        models = await models_in_database(connection)
    assert timeline == tracked == len(events)
    assert models == reference_models([e.event for e in events])


async def test_a_failed_batch_leaves_neither_rows_nor_tracking_records(engine: AsyncEngine) -> None:
    store = PostgresReadModels(engine)
    event = ConsumedEvent(decode_event(json.dumps(envelope("SMEWithdrawn", {}))), 0, 0)
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


def _event(event_type: str, payload: dict[str, object] | None = None, **overrides: object) -> DomainEvent:
    return decode_event(json.dumps(envelope(event_type, payload, **overrides)))


async def test_another_partners_event_with_the_same_id_hides_nothing(engine: AsyncEngine) -> None:
    # Finding 2: ids were global, so partner B's event claimed A's id and A's was never applied.
    store = PostgresReadModels(engine)
    shared_id = "6f1d2c3b-4a59-4e8d-9c7b-1a2b3c4d5e6f"
    theirs = _event("SMESelected", partner_id="business-tampere", sme_id="b-1", event_id=shared_id)
    ours = _event("SMESelected", partner_id="tehnopol", sme_id="a-1", event_id=shared_id)
    assert (await store.apply(decoded([theirs]))).applied == 1
    result = await store.apply([ConsumedEvent(ours, 0, 1)])
    assert (result.applied, result.conflicts) == (1, [])
    async with engine.connect() as connection:
        smes = (await connection.execute(text("SELECT partner_id, sme_id FROM smes ORDER BY 1"))).all()
    assert [tuple(row) for row in smes] == [("business-tampere", "b-1"), ("tehnopol", "a-1")]


@pytest.mark.parametrize("batching", ["one batch", "two batches"])
async def test_a_reused_id_with_other_content_is_refused_and_the_first_copy_stays(
    engine: AsyncEngine, batching: str
) -> None:
    # Finding 3: which copy won depended on batching (first across batches, last inside one).
    store = PostgresReadModels(engine)
    reused_id = "0b7c4a2e-9d3f-4c1a-8e5b-7f6a5b4c3d2e"
    first = ConsumedEvent(_event("SMESelected", sme_id="sme-first", event_id=reused_id), 0, 0)
    reused = ConsumedEvent(_event("SMESelected", sme_id="sme-second", event_id=reused_id), 0, 1)
    resent = ConsumedEvent(first.event, 0, 2)
    if batching == "one batch":
        results = [await store.apply([first, reused, resent])]
    else:
        results = [await store.apply([first]), await store.apply([reused, resent])]
    assert sum(r.applied for r in results) == 1
    conflicts = [c for r in results for c in r.conflicts]
    assert [c.item.offset for c in conflicts] == [1]  # the identical re-send is a plain duplicate
    assert "already applied with other content" in conflicts[0].reason
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT string_agg(sme_id, ',') FROM smes")) == "sme-first"


async def test_a_value_the_database_cannot_hold_is_refused_as_unstorable(engine: AsyncEngine) -> None:
    # What the contract cannot rule out (a database-side limit) must surface as UnstorableEvents,
    # not as a failure the projector would retry forever. A CHECK stands in for such a limit.
    store = PostgresReadModels(engine)
    async with engine.begin() as connection:
        await connection.exec_driver_sql("ALTER TABLE smes ADD CONSTRAINT short_names CHECK (length(name) < 30)")
    with pytest.raises(UnstorableEvents, match="SQLSTATE 23514"):
        await store.apply(decoded([_event("SMESelected", {**EXAMPLES["SMESelected"], "name": "x" * 40})]))

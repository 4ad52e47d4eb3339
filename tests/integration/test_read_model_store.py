"""The PostgreSQL store applies each event once, with its tracking record, atomically."""

import json

import pytest
from sqlalchemy import func, select

from crm.contract.decoding import decode_event
from crm.db.engine import create_engine
from crm.db.tables import applied_events, sme_timeline
from crm.projector.ports import DecodedEvent
from crm.projector.store import PostgresReadModels
from crm.settings import Settings
from tests.support.events import EXAMPLES, envelope

pytestmark = pytest.mark.infra


async def test_events_are_applied_once_with_their_tracking_record(isolated: Settings) -> None:
    engine = create_engine(isolated.database_url)
    store = PostgresReadModels(engine)
    events = [DecodedEvent(decode_event(json.dumps(envelope(t))), 0, i) for i, t in enumerate(sorted(EXAMPLES))]
    try:
        assert await store.apply(events) == len(events)
        assert await store.apply(events) == 0  # redelivery
        assert await store.apply([events[0], events[0]]) == 0  # duplicates inside one batch
        async with engine.connect() as connection:
            timeline = await connection.scalar(select(func.count()).select_from(sme_timeline))
            tracked = await connection.scalar(select(func.count()).select_from(applied_events))
        assert timeline == tracked == len(events)
    finally:
        await engine.dispose()


async def test_a_failed_batch_leaves_neither_rows_nor_tracking_records(isolated: Settings) -> None:
    engine = create_engine(isolated.database_url)
    store = PostgresReadModels(engine)
    event = DecodedEvent(decode_event(json.dumps(envelope("SMEWithdrawn", {}))), 0, 0)
    try:
        async with engine.begin() as connection:  # make the timeline insert fail after the claim
            await connection.exec_driver_sql(
                "ALTER TABLE sme_timeline ADD CONSTRAINT no_withdrawals CHECK (event_type <> 'SMEWithdrawn')"
            )
        with pytest.raises(Exception, match="no_withdrawals"):
            await store.apply([event])
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(applied_events)) == 0
    finally:
        await engine.dispose()

"""Every measure of the catalogue, read by SQL from the projector's tables, equals an independent
fold of the events (tests/support/indicator_reference.py), per programme, with shared enterprises
and programmes that share partners."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.engine import create_engine
from crm.programmes.counting import Window, counted, value_of
from crm.programmes.measures import MEASURES, measure_items
from crm.projector.store import PostgresReadModels
from crm.settings import Settings
from tests.support.indicator_reference import programme_history, reference_items
from tests.support.query import apply_in_batches

pytestmark = pytest.mark.infra

PROGRAMMES = ["prog-a", "prog-b"]
FILTERS = [(None, None), ("sales", None), ("commercial_representation", None), (None, "CN"), ("licence", "VN")]


@pytest.fixture
async def engine(isolated: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(isolated.database_url)
    yield engine
    await engine.dispose()


async def test_every_measure_equals_the_independent_fold_per_programme_partner_and_period(engine: AsyncEngine) -> None:
    events = programme_history(seed=21, smes=160, programmes=PROGRAMMES)
    arrival = events + random.Random(3).sample(events, 40)  # redeliveries
    random.Random(4).shuffle(arrival)
    await apply_in_batches(PostgresReadModels(engine), arrival, 97)

    shared = 0
    async with engine.connect() as connection:
        for programme in PROGRAMMES:
            for name, measure in sorted(MEASURES.items()):
                for agreement_type, market in FILTERS if measure.filters else [(None, None)]:
                    found = await measure_items(
                        connection, programme, name, agreement_type=agreement_type, market=market
                    )
                    expected = reference_items(events, programme, name, agreement_type=agreement_type, market=market)
                    got = {(i.partner_id, i.key, i.event_id, i.counts_from, i.counts_until) for i in found}
                    assert got == expected, (programme, name, agreement_type, market)
                    assert expected or name in ("agreement_markets", "agreements"), f"{name} found nothing to count"
                    for month in (3, 7, 12):
                        window = Window(datetime(2020, month - 2, 1, tzinfo=UTC), datetime(2020, month, 28, tzinfo=UTC))
                        for mode in ("cumulative", "in_period"):
                            value = value_of(counted(found, window, mode, stock=measure.stock))  # type: ignore[arg-type]
                            assert value.total <= sum(value.by_partner.values())
            enterprises = await measure_items(connection, programme, "distinct_enterprises_supported")
            smes = await measure_items(connection, programme, "smes_selected")
            shared += len(smes) - len({i.key for i in enterprises})
    assert shared > 0, "the history should hold companies selected by two partners"

"""An indicator's values, counted in SQL from the read models' earliest-time columns
(`measure_values`), equal its evidence counted in Python (`value_of(counted(measure_items(...)))`):
every measure and filter, both modes, per partner and programme-wide, for a programme's periods, an
as-of cut, windows that end on an event's very instant, and windows that overlap."""

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crm.db.engine import create_engine
from crm.programmes.counting import Window, counted, value_of
from crm.programmes.measures import MEASURES, measure_items, measure_values
from crm.projector.store import PostgresReadModels
from crm.settings import Settings
from tests.support.histories import PARTNERS
from tests.support.indicator_reference import programme_history
from tests.support.query import apply_in_batches

pytestmark = pytest.mark.infra

PROGRAMMES = ["prog-a", "prog-b"]
FILTERS = [(None, None), ("sales", None), ("commercial_representation", None), (None, "CN"), ("licence", "VN")]
US = timedelta(microseconds=1)


def at(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def halves() -> list[Window]:
    """Half-years from 2020 to 2021, as a programme's periods are cut (end: the last microsecond)."""
    starts = [at(2020, 1), at(2020, 7), at(2021, 1), at(2021, 7), at(2022, 1)]
    return [Window(start, after - US) for start, after in pairwise(starts)]


WINDOWS = {
    "periods": halves(),
    "as of 2020-09-15": [halves()[0], Window(at(2020, 7), at(2020, 9, 15))],
    # The generated events happen at midnight or 05:00: ends on such an instant count it.
    "ends at midnight": [Window(at(2020, 1), at(2020, 3)), Window(at(2020, 3) + US, at(2020, 6))],
    "overlapping": [
        Window(at(2020, 1), at(2020, 8)),
        Window(at(2020, 3), at(2020, 5)),
        Window(at(2020, 2), at(2021, 1)),
    ],
    "one": [Window(at(2019, 1), at(2030, 1))],
}


@pytest.fixture
async def engine(isolated: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(isolated.database_url)
    yield engine
    await engine.dispose()


async def test_values_counted_in_sql_equal_the_evidence_counted_in_python(engine: AsyncEngine) -> None:
    events = programme_history(seed=22, smes=160, programmes=PROGRAMMES)
    arrival = events + random.Random(5).sample(events, 40)  # redeliveries
    random.Random(6).shuffle(arrival)
    await apply_in_batches(PostgresReadModels(engine), arrival, 89)

    compared = 0
    async with engine.connect() as connection:
        for programme in PROGRAMMES:
            for name, measure in sorted(MEASURES.items()):
                for agreement_type, market in FILTERS if measure.filters else [(None, None)]:
                    for partner in (None, PARTNERS[1]):
                        partners = PARTNERS if partner is None else [partner]
                        filters = {"partner_id": partner, "agreement_type": agreement_type, "market": market}
                        items = await measure_items(connection, programme, name, **filters)
                        assert partner is None or {i.partner_id for i in items} <= {partner}
                        if measure.one_per_key:
                            assert len({i.key for i in items}) == len(items), name
                        if not measure.stock:
                            assert all(i.counts_until is None for i in items), name
                        for label, windows in WINDOWS.items():
                            for mode in ("cumulative", "in_period"):
                                expected = [
                                    value_of(counted(items, w, mode, stock=measure.stock), partners)  # type: ignore[arg-type]
                                    for w in windows
                                ]
                                got = await measure_values(
                                    connection,
                                    programme,
                                    name,
                                    windows,
                                    in_period=mode == "in_period",
                                    partners=partners,
                                    **filters,
                                )
                                assert got == expected, (programme, name, agreement_type, market, partner, label, mode)
                                compared += sum(value.total for value in expected)
    assert compared > 1000, "the history should give something to count"

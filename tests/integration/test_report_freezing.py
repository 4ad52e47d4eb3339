"""A frozen report never changes, and its restatements are exactly what the late events changed.

A property-based test on the real PostgreSQL: for any history, period and set of late events
(delivered after the freeze, in any order and in batches), the frozen report stays byte-identical,
its figures are those of an independent fold (tests/support/indicator_reference.py) of the events
applied before the freeze, and its restatements are exactly (recomputed - frozen) for every figure
that changed, each with the events docs/reports.md names responsible.
"""

import asyncio
import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from crm.contract.events import DomainEvent
from crm.db.engine import create_engine
from crm.programmes.definition import Indicator, Measure, Partner, Period, Programme
from crm.programmes.measures import MEASURES
from crm.programmes.store import ProgrammeStore
from crm.projector.store import PostgresReadModels
from crm.reports.reading import report_body, report_restatements
from crm.reports.store import ReportStore
from crm.settings import Settings
from tests.support.histories import PARTNERS
from tests.support.indicator_reference import RefItem, programme_history, reference_items
from tests.support.query import apply_in_batches

pytestmark = pytest.mark.infra

PROGRAMME_ID = "freeze-test"
TABLES = "reports, report_steps, programme_versions, applied_events, sme_timeline, smes, sme_markets, pilots"
TABLES += ", agreements"


def programme() -> Programme:
    halves = [(date(2020, 1, 1), date(2020, 6, 30)), (date(2020, 7, 1), date(2020, 12, 31))]
    halves += [(date(2021, 1, 1), date(2021, 6, 30)), (date(2021, 7, 1), date(2021, 12, 31))]
    indicators = [
        Indicator(code=f"I-{n}", name=name, unit="number", measure=Measure(name), target=10, mode=mode, **filters)
        for n, (name, mode, filters) in enumerate(
            [(name, "cumulative", {}) for name in sorted(MEASURES)]
            + [
                ("meetings_held", "in_period", {}),
                ("agreements", "cumulative", {"agreement_type": "sales"}),
                ("agreement_markets", "cumulative", {"agreement_type": "sales"}),
            ]
        )
    ]
    return Programme(
        id=PROGRAMME_ID,
        name="Freeze test",
        funding_programme="Test",
        objective="Test",
        start=date(2020, 1, 1),
        end=date(2021, 12, 31),
        partners=[
            Partner(id=p, legal_name=p, short_name=p, country="EE", role="lead" if i == 0 else "partner")
            for i, p in enumerate(PARTNERS)
        ],
        periods=[Period(number=i + 1, start=s, end=e, report_deadline=e) for i, (s, e) in enumerate(halves)],
        indicators=indicators,
    )


# -- the independent side: figures and responsible events from the reference fold -------------


def _end(period: Period) -> datetime:
    return datetime.combine(period.end + timedelta(days=1), time(), tzinfo=UTC) - timedelta(microseconds=1)


def _start(period: Period) -> datetime:
    return datetime.combine(period.start, time(), tzinfo=UTC)


def _subject(event: DomainEvent) -> str | None:
    return getattr(event.payload, "pilot_id", None) or getattr(event.payload, "agreement_id", None)


def reference_figures(events: list[DomainEvent], indicator: Indicator, period: Period) -> dict[str, set[RefItem]]:
    """The reference items behind each figure: this period (began counting in it; a stock: at the
    end) and cumulative (counting at the end)."""
    items = reference_items(
        events, PROGRAMME_ID, indicator.measure.value, agreement_type=indicator.agreement_type, market=indicator.market
    )
    start, end = _start(period), _end(period)
    at_end = {i for i in items if i[3] <= end and (i[4] is None or i[4] > end)}
    stock = indicator.measure == Measure.PILOTS_IN_DISCUSSION
    return {"this_period": at_end if stock else {i for i in items if start <= i[3] <= end}, "cumulative": at_end}


def _count(items: Iterable[RefItem], partner: str | None) -> int:
    return len({i[1] for i in items if partner in (None, i[0])})


def expected_restatements(
    before: list[DomainEvent], after: list[DomainEvent], late: list[DomainEvent], period: Period
) -> dict[tuple[str, str | None, str], tuple[int, int, list[str]]]:
    """(indicator, partner, figure) -> (frozen, today, responsible event ids), by the rule of
    docs/reports.md applied to the reference items."""
    by_id = {e.event_id: e for e in after}
    late_ids = {e.event_id for e in late}
    end = _end(period)
    expected = {}
    for indicator in programme().indicators:
        then, now = reference_figures(before, indicator, period), reference_figures(after, indicator, period)
        kind = MEASURES[indicator.measure.value].kind
        for figure in ("this_period", "cumulative"):
            for partner in [None, *PARTNERS]:
                frozen, today = _count(then[figure], partner), _count(now[figure], partner)
                if frozen == today:
                    continue
                mine_then = [i for i in then[figure] if partner in (None, i[0])]
                mine_now = [i for i in now[figure] if partner in (None, i[0])]
                keys_then, keys_now = {i[1] for i in mine_then}, {i[1] for i in mine_now}
                responsible: set[UUID] = set()
                for item in (i for i in mine_now if i[1] not in keys_then):
                    sme = by_id[item[2]]
                    responsible |= {
                        e.event_id
                        for e in late
                        if (e.partner_id, e.sme_id) == (sme.partner_id, sme.sme_id)
                        and (e.event_id == item[2] or e.event_type == "SMESelected")
                    }
                for item in (i for i in mine_then if i[1] not in keys_now):
                    sme = by_id[item[2]]
                    responsible |= {
                        e.event_id
                        for e in late
                        if (e.partner_id, e.sme_id) == (sme.partner_id, sme.sme_id)
                        and e.occurred_at <= end
                        and (kind not in ("pilot", "agreement") or _subject(e) == _subject(sme))
                    }
                ordered = sorted(responsible & late_ids, key=lambda i: (by_id[i].occurred_at, str(i)))
                expected[(indicator.code, partner, figure)] = (frozen, today, [str(i) for i in ordered])
    return expected


def document_figures(document: dict[str, Any]) -> dict[tuple[str, str | None, str], int]:
    figures = {}
    for indicator in document["indicators"]:
        for figure in ("this_period", "cumulative"):
            figures[(indicator["code"], None, figure)] = indicator[figure]
            for partner, own in indicator["by_partner"].items():
                figures[(indicator["code"], partner, figure)] = own[figure]
    return figures


# -- the property ------------------------------------------------------------------------------


async def _freeze_then_deliver_late(database_url: str, seed: int, period_number: int, share: float, order: int) -> None:
    rng = random.Random(order)
    events = programme_history(seed=seed, smes=24, programmes=[PROGRAMME_ID])
    definition = programme()
    period = definition.periods[period_number - 1]
    candidates = [e for e in events if e.occurred_at <= _end(period)]
    late = [e for e in candidates if rng.random() < share]
    late_ids = {e.event_id for e in late}
    before = [e for e in events if e.event_id not in late_ids]
    rng.shuffle(late)

    engine = create_engine(database_url, pool_size=2)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {TABLES}"))
        store = PostgresReadModels(engine)
        await apply_in_batches(store, before, 50)
        await ProgrammeStore(engine).apply(definition, "test")
        frozen = await ReportStore(engine).freeze(PROGRAMME_ID, period_number, "test")
        document = orjson.loads(frozen.document)
        # What was frozen is what the events applied by then give.
        reference_then = {
            (i.code, partner, figure): _count(reference_figures(before, i, period)[figure], partner)
            for i in definition.indicators
            for figure in ("this_period", "cumulative")
            for partner in [None, *PARTNERS]
        }
        assert document_figures(document) == reference_then

        delivered: list[DomainEvent] = []
        cuts = sorted(rng.sample(range(len(late) + 1), min(2, len(late) + 1)))
        for batch in [late[a:b] for a, b in zip([0, *cuts], [*cuts, len(late)], strict=True)]:
            await apply_in_batches(store, batch, 50)
            delivered += batch
            async with engine.connect() as connection:
                body = await report_body(connection, PROGRAMME_ID, period_number)
                found = await report_restatements(connection, PROGRAMME_ID, period_number)
            assert body.frozen and body.body == frozen.document  # byte-identical
            got = {
                (r["indicator"], r["partner_id"], r["figure"]): (
                    r["frozen"],
                    r["today"],
                    [e["event_id"] for e in r["events"]],
                )
                for r in found["restatements"]
            }
            for change in found["restatements"]:
                assert change["difference"] == change["today"] - change["frozen"]
            assert got == expected_restatements(before, before + delivered, delivered, period)
        explained = sum(bool(v[2]) for v in got.values())
        event(f"restated figures after every late event: {len(got)}, with responsible events: {explained}")
    finally:
        await engine.dispose()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(
    seed=st.integers(0, 10_000),
    period_number=st.integers(1, 3),
    share=st.sampled_from([0.05, 0.2, 0.5]),
    order=st.integers(0, 10_000),
)
def test_a_frozen_report_stays_byte_identical_and_restates_exactly_what_late_events_changed(
    isolated: Settings, seed: int, period_number: int, share: float, order: int
) -> None:
    asyncio.run(_freeze_then_deliver_late(isolated.database_url, seed, period_number, share, order))

"""The one reading of what the read models contain (`crm.figures.applied`): its overall
figures, and the freshness snapshot the query service builds from it."""

from datetime import UTC, datetime
from types import SimpleNamespace

from crm.figures.applied import Applied, AppliedEvents
from crm.query.freshness import snapshot_of

T = datetime(2026, 3, 1, tzinfo=UTC)


def _row(partner_id: str, events: int, newest_day: int, applied_day: int) -> SimpleNamespace:
    return SimpleNamespace(
        partner_id=partner_id,
        events=events,
        newest_event_at=T.replace(day=newest_day),
        last_applied_at=T.replace(day=applied_day),
    )


def test_the_overall_figures_are_the_sum_and_the_newest_of_the_partners() -> None:
    applied = AppliedEvents.from_rows([_row("tehnopol", 3, 9, 2), _row("vaasa", 4, 5, 7)])

    assert applied.overall == Applied(7, T.replace(day=9), T.replace(day=7))
    assert applied.partners["vaasa"] == Applied(4, T.replace(day=5), T.replace(day=7))


def test_nothing_applied_is_zero_events_and_no_times() -> None:
    assert AppliedEvents.from_rows([]).overall == Applied(0, None, None)


def test_freshness_gives_the_programme_the_lag_and_a_partner_only_its_own_figures() -> None:
    applied = AppliedEvents.from_rows([_row("tehnopol", 3, 9, 2), _row("vaasa", 4, 5, 7)])

    snapshot = snapshot_of(applied, 12, T)

    programme = snapshot.for_partner(None)
    assert (programme.newest_event_at, programme.last_applied_at, programme.projector_lag) == (
        T.replace(day=9),
        T.replace(day=7),
        12,
    )
    vaasa = snapshot.for_partner("vaasa")
    assert (vaasa.newest_event_at, vaasa.projector_lag, vaasa.partner_id) == (T.replace(day=5), None, "vaasa")
    assert snapshot.for_partner("nobody").newest_event_at is None

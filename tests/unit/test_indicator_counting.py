"""Cutting a measure's items by period: cumulative, in-period, stocks, distinct keys."""

from datetime import UTC, datetime
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from crm.programmes.counting import Item, Window, counted, cumulative_values, value_of


def at(month: int) -> datetime:
    return datetime(2020, month, 1, tzinfo=UTC)


def item(partner: str, key: str, begins: int, ends: int | None = None) -> Item:
    return Item(partner, key, "sme", key, key, uuid4(), at(begins), None if ends is None else at(ends))


PERIOD_2 = Window(at(4), at(6))  # April to June, both ends inclusive


def test_cumulative_counts_everything_by_the_end_and_in_period_what_began_inside() -> None:
    items = [item("a", "a/1", 1), item("a", "a/2", 4), item("a", "a/3", 6), item("a", "a/4", 7)]
    assert [i.key for i in counted(items, PERIOD_2, "cumulative")] == ["a/1", "a/2", "a/3"]
    assert [i.key for i in counted(items, PERIOD_2, "in_period")] == ["a/2", "a/3"]


def test_a_stock_counts_what_is_open_at_the_end_whatever_the_mode() -> None:
    pilots = [item("a", "p1", 1, 5), item("a", "p2", 2, 6), item("a", "p3", 3, 7), item("a", "p4", 5)]
    for mode in ("cumulative", "in_period"):
        assert [i.key for i in counted(pilots, PERIOD_2, mode, stock=True)] == ["p3", "p4"]  # type: ignore[arg-type]


def test_a_key_two_partners_share_counts_once_for_the_programme_and_once_for_each() -> None:
    markets = [item("a", "CN", 1), item("a", "CN", 2), item("b", "CN", 3), item("b", "VN", 3)]
    value = value_of(markets, partners=["a", "b", "c"])
    assert value.total == 2
    assert value.by_partner == {"a": 1, "b": 2, "c": 0}


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from(["k1", "k2", "k3", "k4"]), st.integers(1, 12)), max_size=40
    ),
    st.lists(st.integers(1, 12), min_size=1, max_size=6),
)
def test_the_one_pass_cumulative_values_equal_cutting_each_window(
    raw: list[tuple[str, str, int]], ends: list[int]
) -> None:
    items = [item(partner, key, month) for partner, key, month in raw]
    windows = [Window(at(1), at(end)) for end in sorted(ends)]
    expected = [value_of(counted(items, w, "cumulative"), partners=["a", "z"]) for w in windows]
    assert cumulative_values(items, [w.end for w in windows], partners=["a", "z"]) == expected

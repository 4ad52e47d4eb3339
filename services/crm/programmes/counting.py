"""What an indicator's value is, given the items its measure found: pure, no I/O.

A measure (`crm.programmes.measures`) turns the read models into *items*: each thing that can be
counted once (an SME, an enterprise, a meeting, a pilot, an agreement, a market) with the event
that made it count and from when it counts (for a pilot in discussion, also until when). A value
is then the number of distinct keys among the items that count in a window: per partner, and for
the programme (where a market or an enterprise two partners share counts once).
"""

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

Mode = Literal["cumulative", "in_period"]
Kind = Literal["sme", "enterprise", "meeting", "pilot", "agreement", "market"]


@dataclass(frozen=True, slots=True)
class Item:
    """One countable thing. `key` is what is counted once programme-wide (`tehnopol/ee-x` for an
    SME, `EE:10137025` for an enterprise with a business id, `CN` for a market)."""

    partner_id: str
    key: str
    kind: Kind
    sme_id: str
    subject: str
    event_id: UUID
    counts_from: datetime
    counts_until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """A reporting period cut at `end` (its end, or an earlier as-of instant), both inclusive."""

    start: datetime
    end: datetime


def counted(items: Iterable[Item], window: Window, mode: Mode, *, stock: bool = False) -> list[Item]:
    """The items that count: cumulative, everything counting by the window's end; in-period, what
    began counting inside the window. A stock (pilots in discussion) is what counts at the end,
    whatever the mode."""
    end, start = window.end, window.start
    if stock or mode == "cumulative":
        return [
            item for item in items if item.counts_from <= end and (item.counts_until is None or item.counts_until > end)
        ]
    return [item for item in items if start <= item.counts_from <= end]


@dataclass(frozen=True, slots=True)
class Value:
    total: int
    by_partner: dict[str, int]


def value_of(items: Sequence[Item], partners: Iterable[str] = ()) -> Value:
    """Distinct keys per partner (every partner of `partners` listed, 0 when it has none) and
    programme-wide."""
    by_partner: dict[str, set[str]] = {partner: set() for partner in partners}
    for item in items:
        by_partner.setdefault(item.partner_id, set()).add(item.key)
    return Value(
        total=len({item.key for item in items}),
        by_partner={partner: len(keys) for partner, keys in sorted(by_partner.items())},
    )


def cumulative_values(items: Iterable[Item], ends: Sequence[datetime], partners: Iterable[str] = ()) -> list[Value]:
    """`value_of(counted(items, window, "cumulative"))` for windows ending at each of `ends`, for
    items that never stop counting: each key counts from its earliest item on, so one pass and a
    binary search per window replace a pass over every item per window."""
    listed = set(partners)
    first: dict[str, datetime] = {}
    first_of_partner: dict[str, dict[str, datetime]] = {partner: {} for partner in listed}
    for item in items:
        if item.counts_until is not None:
            raise ValueError("cumulative_values is for items that never stop counting")
        if item.key not in first or item.counts_from < first[item.key]:
            first[item.key] = item.counts_from
        own = first_of_partner.setdefault(item.partner_id, {})
        if item.key not in own or item.counts_from < own[item.key]:
            own[item.key] = item.counts_from
    totals = sorted(first.values())
    per_partner = {partner: sorted(keys.values()) for partner, keys in sorted(first_of_partner.items())}
    values = []
    for end in ends:
        counts = {partner: bisect_right(times, end) for partner, times in per_partner.items()}
        # As value_of: every listed partner, and any other that has something counted by then.
        counts = {partner: n for partner, n in counts.items() if n or partner in listed}
        values.append(Value(total=bisect_right(totals, end), by_partner=counts))
    return values

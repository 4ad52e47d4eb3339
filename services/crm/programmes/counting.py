"""What an indicator's value is, given the items its measure found: pure, no I/O.

A measure (`crm.programmes.measures`) turns the read models into *items*: each thing that can be
counted once (an SME, an enterprise, a meeting, a pilot, an agreement, a market) with the event
that made it count and from when it counts (for a pilot in discussion, also until when). A value
is then the number of distinct keys among the items that count in a window: per partner, and for
the programme (where a market or an enterprise two partners share counts once).
"""

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

"""The replay cut at the report deadlines: what each partner had sent by each deadline (pure).

A partner's system sends in its own order; its clock is the latest event time it has sent so far.
A line belongs to the first stretch whose deadline its partner's clock has not passed yet, so a
late event (one that happened before a deadline but is sent after the partner's clock passed it)
arrives after that period's report was frozen, as it would in a real programme.
"""

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from crm.demo.scenario import Scenario


@dataclass(frozen=True, slots=True)
class Stretch:
    """The lines sent before `deadline` (None: after the last one), per partner, in send order."""

    deadline: date | None
    lines: dict[str, list[tuple[int, bytes]]]

    @property
    def size(self) -> int:
        return sum(len(lines) for lines in self.lines.values())


def _occurred_at(raw: bytes) -> datetime | None:
    """The line's event time, when it has a readable one (a refused line may not)."""
    try:
        value = json.loads(raw).get("occurred_at")
        at = datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    except (ValueError, AttributeError):
        return None
    return at if at is not None and at.tzinfo is not None else None


def stretches(scenario: Scenario, deadlines: list[date]) -> list[Stretch]:
    """One stretch per deadline (in order) and a last one for what is sent after them all."""
    ends = [datetime.combine(d + timedelta(days=1), time(), tzinfo=UTC) for d in sorted(deadlines)]
    cut: list[dict[str, list[tuple[int, bytes]]]] = [{} for _ in range(len(ends) + 1)]
    for partner_id, feed in scenario.feeds.items():
        clock: datetime | None = None
        for number, raw in feed.numbered():
            at = _occurred_at(raw)
            if at is not None and (clock is None or at > clock):
                clock = at
            passed = 0 if clock is None else sum(1 for end in ends if clock >= end)
            cut[passed].setdefault(partner_id, []).append((number, raw))
    return [Stretch(deadline, lines) for deadline, lines in zip([*sorted(deadlines), None], cut, strict=True)]


def late_lines(scenario: Scenario) -> int:
    """How many lines are sent after a line of the same partner that happened later."""
    late = 0
    for feed in scenario.feeds.values():
        clock: datetime | None = None
        for _, raw in feed.numbered():
            at = _occurred_at(raw)
            if at is None:
                continue
            if clock is not None and at < clock:
                late += 1
            clock = at if clock is None or at > clock else clock
    return late

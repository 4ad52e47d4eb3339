"""The alerts read model's consumer (issue 13, finding 1 for the alerts service): an alert the
database can never store is parked with its reason and the rest applied; any other failure is
retried with backoff, and a stop during the retries gives the batch up uncommitted. It retried
every failure forever before, data errors included."""

import asyncio
from collections.abc import Sequence

import pytest

from crm.alerts.alert_projection import AlertProjection
from crm.alerts.store import ReceivedAlert
from crm.messaging.batch_consumer import BatchAbandoned
from crm.messaging.messages import ReceivedMessage
from tests.support.alerts import stalled_alert


class DataError(Exception):
    sqlstate = "22P05"  # untranslatable character: fails the same way every time


class ConnectionDown(Exception):
    sqlstate = "08006"  # connection failure: may pass later


class Views:
    def __init__(self, *, bad: set[str] = frozenset(), outages: int = 0) -> None:  # type: ignore[assignment]
        self.bad, self.outages, self.applied, self.calls = bad, outages, list[str](), 0

    async def apply(self, received: Sequence[ReceivedAlert]) -> int:
        self.calls += 1
        if self.outages:
            self.outages -= 1
            raise ConnectionDown("connection lost")
        if any(item.event.payload.pilot_id in self.bad for item in received):
            raise DataError("unstorable")
        self.applied += [item.event.payload.pilot_id for item in received]
        return len(received)


class DeadLetters:
    def __init__(self) -> None:
        self.parked: list[tuple[int, str]] = []

    async def park(self, message: ReceivedMessage, reason: str) -> None:
        self.parked.append((message.offset, reason))


async def test_an_unstorable_alert_is_parked_with_its_reason_and_the_others_applied() -> None:
    views, letters = Views(bad={"p-5"}), DeadLetters()
    records = [stalled_alert(n, f"p-{n}") for n in range(8)] + [ReceivedMessage("crm.alerts", 0, 8, None, b"{not json")]
    await AlertProjection(views, letters, first_retry_delay=0.001).project_alerts(records)
    assert sorted(views.applied) == sorted(f"p-{n}" for n in range(8) if n != 5)
    assert [offset for offset, _ in letters.parked] == [8, 5]
    assert "Invalid JSON" in letters.parked[0][1]
    assert letters.parked[1][1].startswith("unstorable: ") and "22P05" in letters.parked[1][1]


async def test_other_failures_are_retried_until_they_pass() -> None:
    views, letters = Views(outages=3), DeadLetters()
    await AlertProjection(views, letters, first_retry_delay=0.001).project_alerts(
        [stalled_alert(0, "p-0"), stalled_alert(1, "p-1")]
    )
    assert (views.applied, views.calls, letters.parked) == (["p-0", "p-1"], 4, [])


async def test_a_stop_during_the_retries_gives_the_batch_up_uncommitted() -> None:
    views, letters = Views(outages=10**6), DeadLetters()
    projection = AlertProjection(views, letters, first_retry_delay=0.01)
    projection.stopping = asyncio.Event()
    handling = asyncio.ensure_future(projection.project_alerts([stalled_alert(0, "p-0")]))
    await asyncio.sleep(0.05)
    projection.stopping.set()
    with pytest.raises(BatchAbandoned):
        await asyncio.wait_for(handling, 5)
    assert views.applied == [] and letters.parked == []

"""Batch handling with hand-written fakes of the ports (no Kafka, no PostgreSQL)."""

import json
from collections.abc import Sequence

from crm.messaging.messages import ReceivedMessage
from crm.projector.batches import project_batch
from crm.projector.ports import DecodedEvent
from tests.support.events import envelope


class FakeStore:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.applied: dict[str, DecodedEvent] = {}
        self.calls = 0

    async def apply(self, events: Sequence[DecodedEvent]) -> int:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is down")
        new = [e for e in events if str(e.event.event_id) not in self.applied]
        self.applied.update({str(e.event.event_id): e for e in new})
        return len(new)


class FakeDeadLetters:
    def __init__(self) -> None:
        self.parked: list[tuple[ReceivedMessage, str]] = []

    async def park(self, message: ReceivedMessage, reason: str) -> None:
        self.parked.append((message, reason))


def message(value: bytes | None, offset: int = 0) -> ReceivedMessage:
    return ReceivedMessage("crm.events", 0, offset, b"tehnopol/ee-smartlight", value)


async def test_valid_events_are_applied_and_invalid_ones_parked_with_their_reason() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    good = json.dumps(envelope("SMEWithdrawn", {})).encode()
    bad = json.dumps(envelope("PilotOpened", {"pilot_id": "p-1", "market": "XX", "counterpart": "c"})).encode()
    outcome = await project_batch(
        [message(good, 0), message(b"not json", 1), message(bad, 2), message(None, 3)], store, dead
    )
    assert (outcome.applied, outcome.parked) == (1, 3)
    assert [m.offset for m, _ in dead.parked] == [1, 2, 3]
    assert "Invalid JSON" in dead.parked[0][1]
    assert "payload.market" in dead.parked[1][1]
    assert dead.parked[1][0].value == bad  # the original bytes are kept


async def test_duplicates_are_counted_not_applied_twice() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    raw = json.dumps(envelope("SMEWithdrawn", {})).encode()
    first = await project_batch([message(raw, 0)], store, dead)
    second = await project_batch([message(raw, 1)], store, dead)
    assert (first.applied, second.applied, second.duplicates) == (1, 0, 1)


async def test_a_failing_store_is_retried_until_it_succeeds() -> None:
    store, dead = FakeStore(failures=2), FakeDeadLetters()
    raw = json.dumps(envelope("SMEWithdrawn", {})).encode()
    outcome = await project_batch([message(raw)], store, dead, retry_delay=0.001)
    assert outcome.applied == 1
    assert store.calls == 3

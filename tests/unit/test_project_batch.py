"""Batch handling with hand-written fakes of the ports (no Kafka, no PostgreSQL)."""

import asyncio
import json
from collections.abc import Sequence

import pytest
import structlog
from prometheus_client import REGISTRY

from crm.messaging.batch_consumer import BatchAbandoned
from crm.messaging.messages import ReceivedMessage
from crm.observability.request_ids import RECORD_HEADER
from crm.projector.batches import Retry, project_batch
from crm.projector.ports import Applied, ConsumedEvent, UnstorableEvents
from tests.support.events import EXAMPLES, envelope


class FakeStore:
    """Fails `failures` times as an outage would; refuses as data any batch holding a name in
    `unstorable` (all or nothing, as one transaction)."""

    def __init__(self, failures: int = 0, unstorable: frozenset[str] = frozenset()) -> None:
        self.failures = failures
        self.unstorable = unstorable
        self.applied: dict[str, ConsumedEvent] = {}
        self.calls = 0

    async def apply(self, events: Sequence[ConsumedEvent]) -> Applied:
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database is down")
        if any(getattr(e.event.payload, "name", None) in self.unstorable for e in events):
            raise UnstorableEvents("the database refused it (SQLSTATE 22P05): unsupported Unicode escape")
        new = [e for e in events if str(e.event.event_id) not in self.applied]
        self.applied.update({str(e.event.event_id): e for e in new})
        return Applied(len(new))


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
    outcome = await project_batch([message(raw)], store, dead, retry=Retry(delay=0.001))
    assert outcome.applied == 1
    assert store.calls == 3


def selected(name: str) -> bytes:
    return json.dumps(envelope("SMESelected", {**EXAMPLES["SMESelected"], "name": name})).encode()


async def test_an_unstorable_event_is_parked_and_the_rest_of_its_batch_applied() -> None:
    # Finding 1: one event the database refuses used to be retried forever, stopping every partner.
    store, dead = FakeStore(unstorable=frozenset({"poison"})), FakeDeadLetters()
    names = [f"sme {i}" for i in range(9)]
    names[5] = "poison"
    outcome = await project_batch([message(selected(n), i) for i, n in enumerate(names)], store, dead)
    assert (outcome.applied, outcome.parked) == (8, 1)
    assert [(m.offset, reason.split(":")[0]) for m, reason in dead.parked] == [(5, "unstorable")]
    assert "SQLSTATE 22P05" in dead.parked[0][1]


async def test_a_stop_ends_the_retries_of_a_failing_store_without_finishing_the_batch() -> None:
    store, dead, stopping = FakeStore(failures=10**6), FakeDeadLetters(), asyncio.Event()
    handling = asyncio.create_task(
        project_batch([message(selected("a"))], store, dead, retry=Retry(delay=0.01, max_delay=0.01, stopping=stopping))
    )
    while store.calls < 3:  # noqa: ASYNC110 - waiting for the fake's retries to happen
        await asyncio.sleep(0.01)
    stopping.set()
    with pytest.raises(BatchAbandoned):
        await asyncio.wait_for(handling, 5)
    assert store.applied == {} and dead.parked == []


async def test_a_batch_that_applied_events_names_its_request_ids_and_is_counted() -> None:
    store, dead = FakeStore(), FakeDeadLetters()
    raws = [json.dumps(envelope("SMEWithdrawn", {}, sme_id=f"s-{i}")).encode() for i in range(3)]
    messages = [
        ReceivedMessage("crm.events", 0, 0, b"k", raws[0], ((RECORD_HEADER, b"req-a"),)),
        ReceivedMessage("crm.events", 0, 1, b"k", raws[1], ((RECORD_HEADER, b"req-a"),)),
        ReceivedMessage("crm.events", 0, 2, b"k", raws[2]),  # imported: no request id
        ReceivedMessage("crm.events", 0, 3, b"k", b"not json", ((RECORD_HEADER, b"req-b"),)),
    ]
    before = {name: REGISTRY.get_sample_value(name) or 0.0 for name in COUNTED}
    parked_before = REGISTRY.get_sample_value("crm_dead_letters_parked_total", {"consumer": "projector"}) or 0.0
    with structlog.testing.capture_logs() as lines:
        await project_batch(messages, store, dead)
        await project_batch(messages[:1], store, dead)  # only a duplicate: nothing applied
    batch = [line for line in lines if line["event"].startswith("projector.batch")]
    assert [(line["event"], line["log_level"]) for line in batch] == [
        ("projector.batch_applied", "info"),
        ("projector.batch", "debug"),
    ]
    assert (batch[0]["applied"], batch[0]["request_ids"], batch[0]["more_request_ids"]) == (3, ["req-a", "req-b"], 0)
    after = {name: REGISTRY.get_sample_value(name) or 0.0 for name in COUNTED}
    assert {name: after[name] - before[name] for name in COUNTED} == {
        "crm_projector_batches_total": 2,
        "crm_projector_events_applied_total": 3,
        "crm_projector_events_duplicate_total": 1,
        "crm_projector_batch_duration_seconds_count": 2,
    }
    assert REGISTRY.get_sample_value("crm_dead_letters_parked_total", {"consumer": "projector"}) == parked_before + 1


COUNTED = (
    "crm_projector_batches_total",
    "crm_projector_events_applied_total",
    "crm_projector_events_duplicate_total",
    "crm_projector_batch_duration_seconds_count",
)

"""The alerts service's events handling without Kafka: table readiness, changelog acknowledgements,
the batch handler, and the worker stopping on a crash (hand-written fakes of the ports)."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from crm.alerts.detector import Detector
from crm.alerts.lifecycle import EXIT_CRASHED, Shutdown
from crm.alerts.pilot_activity import PilotActivity
from crm.alerts.readiness import TableReadiness
from crm.alerts.rules import Controls, PilotState, Thresholds, apply_event
from crm.alerts.tables import ChangelogWriteFailed, PilotTable
from crm.contract.decoding import decode_event, encode_event
from crm.contract.events import DomainEvent
from crm.contract.upcasting import UpcastContext
from crm.messaging.messages import ReceivedMessage
from tests.support.events import envelope

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def pilot_event(event_type: str, day: float, pilot: str = "p-1", **payload: Any) -> DomainEvent:
    base: dict[str, dict[str, Any]] = {
        "PilotOpened": {"pilot_id": pilot, "market": "CN", "counterpart": "Huangpu"},
        "PilotUpdated": {"pilot_id": pilot, "note": "call"},
        "PilotClosed": {"pilot_id": pilot, "outcome": "won"},
        "MeetingHeld": {"market": "VN", "counterpart": "Da Nang", "format": "digital", "pilot_id": pilot},
    }
    when = (T0 + timedelta(days=day)).isoformat().replace("+00:00", "Z")
    return decode_event(json.dumps(envelope(event_type, {**base[event_type], **payload}, occurred_at=when)))


class ChangelogTable:
    """Faust's table as PilotTable uses it; each changelog write is a future Kafka resolves later."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.sent: list[asyncio.Future[object]] = []

    def items(self) -> Any:
        return self.data.items()

    def send_changelog(self, partition: int, key: str, value: bytes) -> asyncio.Future[object]:
        self.sent.append(asyncio.get_running_loop().create_future())
        return self.sent[-1]


def opened_state(pilot: str) -> PilotState:
    return PilotState("tehnopol", pilot, "sme-1", market="CN", opened=True, last_activity_at=T0)


async def test_written_waits_for_every_changelog_acknowledgement_and_a_lost_write_keeps_failing() -> None:
    table = ChangelogTable()
    pilots = PilotTable(table, partitions=2)  # type: ignore[arg-type]
    pilots["tehnopol/p-1"] = opened_state("p-1")
    pilots["tehnopol/p-2"] = opened_state("p-2")
    waiting = asyncio.ensure_future(pilots.written())
    table.sent[0].set_result("acknowledged")
    await asyncio.sleep(0)
    assert not waiting.done()  # one write still unacknowledged
    table.sent[1].set_result("acknowledged")
    await waiting

    pilots["tehnopol/p-3"] = opened_state("p-3")
    table.sent[2].set_exception(ConnectionError("the broker refused the write"))
    with pytest.raises(ChangelogWriteFailed):
        await pilots.written()
    with pytest.raises(ChangelogWriteFailed):  # not only the caller that happened to see it
        await pilots.written()


async def test_a_second_caller_also_waits_for_writes_the_first_one_is_waiting_for() -> None:
    table = ChangelogTable()
    pilots = PilotTable(table, partitions=2)  # type: ignore[arg-type]
    pilots["tehnopol/p-1"] = opened_state("p-1")
    first = asyncio.ensure_future(pilots.written())
    second = asyncio.ensure_future(pilots.written())
    await asyncio.sleep(0)
    assert not first.done() and not second.done()
    table.sent[0].set_result("acknowledged")
    await asyncio.gather(first, second)


class Switch:
    def __init__(self, ready: bool) -> None:
        self.ready = ready

    def __call__(self) -> bool:
        return self.ready


class CountingChangelog:
    def __init__(self) -> None:
        self.flushes = 0

    async def written(self) -> None:
        self.flushes += 1


async def test_a_step_waits_until_the_table_is_recovered() -> None:
    switch = Switch(ready=False)
    readiness = TableReadiness(switch, CountingChangelog())
    done: list[str] = []

    async def act() -> str:
        done.append("step")
        return "result"

    stepping = asyncio.ensure_future(readiness.step(act))
    for _ in range(3):
        await asyncio.sleep(0)
    assert done == []
    switch.ready = True
    assert await stepping == "result"
    assert done == ["step"]


async def test_a_rebalance_waits_for_the_step_in_progress_then_flushes_the_changelog() -> None:
    changelog = CountingChangelog()
    switch = Switch(ready=True)
    readiness = TableReadiness(switch, changelog)
    inside = asyncio.Event()
    release = asyncio.Event()
    order: list[str] = []

    async def slow_step() -> None:
        inside.set()
        await release.wait()
        order.append("step finished")

    stepping = asyncio.ensure_future(readiness.step(slow_step))
    await inside.wait()
    switch.ready = False  # Faust: rebalancing
    revoking = asyncio.ensure_future(readiness.on_partitions_revoked(object(), revoked=set()))
    await asyncio.sleep(0)
    assert not revoking.done() and changelog.flushes == 0
    release.set()
    await asyncio.gather(stepping, revoking)
    order.append("flushed")
    assert order == ["step finished", "flushed"] and changelog.flushes == 1


class RecordingDetector:
    def __init__(self, fail_on: DomainEvent | None = None) -> None:
        self.seen: list[DomainEvent] = []
        self._fail_on = fail_on

    async def on_event(self, event: DomainEvent) -> int:
        if self._fail_on is not None and event.event_id == self._fail_on.event_id:
            raise ValueError("the clock file holds no valid instant")
        self.seen.append(event)
        return 0


def record(value: bytes | None, offset: int = 0) -> ReceivedMessage:
    return ReceivedMessage(topic="crm.events", partition=0, offset=offset, key=None, value=value)


async def test_a_batch_skips_what_it_cannot_decode_and_returns_only_once_the_changelog_has_everything() -> None:
    good = [pilot_event("PilotOpened", 0), pilot_event("PilotUpdated", 3)]
    detector = RecordingDetector()
    calls: list[str] = []

    async def written() -> None:
        calls.append(f"written after {len(detector.seen)} events")

    activity = PilotActivity(detector, TableReadiness(Switch(True), CountingChangelog()), written, UpcastContext())  # type: ignore[arg-type]
    records = [
        record(encode_event(good[0]), 0),
        record(b"\x00garbage", 1),
        record(None, 2),
        record(encode_event(good[1]), 3),
    ]
    await activity.follow_pilots(records)
    assert [e.event_id for e in detector.seen] == [e.event_id for e in good]
    assert calls == ["written after 2 events"]


async def test_a_failing_event_fails_the_batch_so_its_offsets_are_not_committed() -> None:
    events = [pilot_event("PilotOpened", 0), pilot_event("PilotUpdated", 3)]
    detector = RecordingDetector(fail_on=events[1])
    calls: list[str] = []

    async def written() -> None:
        calls.append("written")

    activity = PilotActivity(detector, TableReadiness(Switch(True), CountingChangelog()), written, UpcastContext())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await activity.follow_pilots([record(encode_event(e), i) for i, e in enumerate(events)])
    assert calls == []


def test_a_batch_read_again_after_a_crash_changes_no_pilot_state() -> None:
    events = [
        pilot_event("PilotOpened", 0),
        pilot_event("MeetingHeld", 4),
        pilot_event("PilotUpdated", 9),
        pilot_event("PilotClosed", 12),
        pilot_event("PilotUpdated", 2),
    ]
    for crash_after in range(len(events) + 1):
        state: PilotState | None = None
        for event in events:
            state = apply_event(state, event)
        for event in events[:crash_after]:  # the uncommitted batch comes again
            again = apply_event(state, event)
            assert again == state, (crash_after, event.event_type)


async def test_the_detector_repeats_no_alert_when_a_batch_is_read_again() -> None:
    published: list[Any] = []

    class Publisher:
        async def publish(self, events: Any) -> None:
            published.extend(events)

    class Clock:
        def now(self) -> datetime:
            return T0 + timedelta(days=32)  # idle 32 days since the opening, 27 since the update

        def observe(self, occurred_at: datetime) -> None:
            pass

    class NoControls:
        async def load(self) -> Controls:
            return Controls()

    pilots: dict[str, PilotState] = {}
    found = Detector(pilots, Clock(), Thresholds(), timedelta(days=7), Publisher(), NoControls())
    batch = [pilot_event("PilotOpened", 0), pilot_event("PilotUpdated", 5)]
    for event in batch:
        await found.on_event(event)
    first = [(a.event_type, a.event_id) for a in published]
    for event in batch:
        await found.on_event(event)
    assert [(a.event_type, a.event_id) for a in published] == first
    assert [kind for kind, _ in first] == ["PilotStalled", "PilotStallResolved"]


def test_a_crashed_component_stops_the_worker_once_and_sets_a_failure_exit_code() -> None:
    stops: list[str] = []
    shutdown = Shutdown(stop_worker=lambda: stops.append("SIGTERM"))
    assert shutdown.exit_code() == 0
    shutdown.fail("follow_pilots", RuntimeError("handler failed"))
    shutdown.fail("project_alerts", RuntimeError("then this one"))
    assert stops == ["SIGTERM"]
    assert shutdown.exit_code() == EXIT_CRASHED
    assert str(shutdown.failure) == "handler failed"
